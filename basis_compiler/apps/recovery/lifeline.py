"""Worker processes exit when the driver that started them dies, even by SIGKILL.

A killed driver runs no cleanup. Its pool workers hold their own copies of the task pipes, so
they never see end-of-file: they would finish their task, wait on the pipe forever and keep
their memory (hundreds of MB each). Each worker therefore starts a daemon thread that waits on
the driver: multiprocessing's parent sentinel (the spawn pipe's end the driver keeps open, which
closes when it dies; a process handle on Windows), and on POSIX a change of os.getppid() (the
orphan is re-parented). Not prctl(PR_SET_PDEATHSIG): it fires when the *thread* that started
the worker exits, and the pool may start replacement workers from a helper thread; it is also
Linux-only.
"""

from __future__ import annotations

import multiprocessing
import os
import threading

POLL_SECONDS = 0.25
"""How often the getppid() check runs; the sentinel wakes the thread at once."""

EXIT_CODE = 70
"""Exit status of a worker that stopped because its driver died (EX_SOFTWARE)."""


def exit_with_parent(parent_pid: int) -> None:
    """Call in a worker (e.g. as the pool initializer): exit at once when process parent_pid dies.

    parent_pid is the driver's os.getpid(), passed by the driver, so a driver that died before
    this call is noticed too (os.getppid() would already name the new parent).
    """
    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid != parent_pid:
        parent = None  # not started by that process: rely on getppid alone
    if not _alive(parent_pid, parent, timeout=0):
        os._exit(EXIT_CODE)
    threading.Thread(target=_watch, args=(parent_pid, parent), name="exit-with-parent", daemon=True).start()


def _alive(parent_pid: int, parent, timeout: float) -> bool:
    if parent is not None:
        parent.join(timeout)  # returns early when the sentinel closes
        if not parent.is_alive():
            return False
    elif timeout:
        threading.Event().wait(timeout)
    return os.name != "posix" or os.getppid() == parent_pid


def _watch(parent_pid: int, parent) -> None:
    while _alive(parent_pid, parent, POLL_SECONDS):
        pass
    os._exit(EXIT_CODE)  # no cleanup: nothing of a dead driver's run is left to save
