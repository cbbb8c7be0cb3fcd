"""Shared fixtures: every test gets the same seeds; `@pytest.mark.time_limit(seconds)` fails a
test that runs too long (a hang in a rank step then fails in seconds, not at a CI timeout)."""

import contextlib
import random
import signal
import threading
import time

import numpy as np
import pytest
import torch

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _module_cache(tmp_path_factory):
    """compile_module's cache of generated modules goes to a temporary folder, not ~/.cache."""
    import os

    folder = tmp_path_factory.mktemp("module_cache")
    old = os.environ.get("BASIS_COMPILER_CACHE")
    os.environ["BASIS_COMPILER_CACHE"] = str(folder)
    yield folder
    if old is None:
        del os.environ["BASIS_COMPILER_CACHE"]
    else:
        os.environ["BASIS_COMPILER_CACHE"] = old


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


# ---------------------------------------------------------------------------------------------
# Per-test time limit, dependency-free: SIGALRM from setitimer. Where there is no SIGALRM
# (Windows) or the test does not run in the main thread, the limit is not enforced.
# ---------------------------------------------------------------------------------------------


def time_limit_supported() -> bool:
    """Whether a time limit can be enforced here (SIGALRM exists and we are the main thread)."""
    return hasattr(signal, "SIGALRM") and hasattr(signal, "setitimer") and (
        threading.current_thread() is threading.main_thread()
    )


class TimeLimitExceeded(BaseException):
    """Raised when a guarded test or block runs past its limit.

    A BaseException, like KeyboardInterrupt: `except Exception` in the code under test cannot
    swallow it, and hypothesis does not catch it to shrink (shrinking would run unguarded).
    pytest reports it as a failure with the traceback of the point the alarm interrupted."""


@contextlib.contextmanager
def time_limit(seconds: float, what: str = "test"):
    """Raise TimeLimitExceeded when the body runs longer than `seconds`.

    Nests: an enclosing limit is re-armed with what is left of it. The alarm interrupts Python
    code and sleeps; one long C call (a big BLAS product) is interrupted when it returns."""
    if not seconds > 0:
        raise ValueError(f"time_limit needs a positive number of seconds, not {seconds!r}")
    if not time_limit_supported():
        yield
        return

    def on_alarm(signum, frame):
        raise TimeLimitExceeded(f"{what} exceeded its {seconds:g} s limit")

    start = time.monotonic()
    old_handler = signal.signal(signal.SIGALRM, on_alarm)
    old_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_delay > 0:  # an enclosing limit: give it back what is left (at least 1 ms)
            signal.setitimer(signal.ITIMER_REAL, max(old_delay - (time.monotonic() - start), 1e-3))


@pytest.fixture(name="time_limit")
def _time_limit_fixture():
    """The time_limit context manager (its exception class as `.exceeded`), to guard one block."""
    return time_limit


time_limit.exceeded = TimeLimitExceeded


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "time_limit(seconds): fail the test when its call phase runs longer than `seconds` "
        "(SIGALRM; not enforced where SIGALRM is missing)",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    marker = item.get_closest_marker("time_limit")
    if marker is None:
        yield
        return
    seconds = marker.args[0] if marker.args else marker.kwargs["seconds"]
    with time_limit(seconds):
        yield
