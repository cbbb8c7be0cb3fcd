"""Swept parameters: `--param eps --values 0.05:0.5:10` and the grid of points they make."""

from __future__ import annotations

import itertools
import math

from ...errors import DataError

VALUES_HELP = ("a:b:k means k evenly spaced values from a to b inclusive (e.g. 0.05:0.5:10); "
               "a comma list is taken literally (e.g. 50,100,200)")

DIGITS = 12
"""Evenly spaced values are rounded to this many decimals (0.15, not 0.15000000000000002)."""


def parse_values(name: str, text: str, kind: str) -> tuple:
    """The values of one swept parameter; kind "int" or "float". DataError names the problem.

    "a:b:k" gives k evenly spaced values from a to b inclusive; "x,y,z" gives those values.
    Int parameters must come out integral (50:200:4 is 50, 100, 150, 200; 50:100:4 is not).
    """
    example = "50:200:4 or 50,100,200" if kind == "int" else "0.05:0.5:10 or 0.1,0.2,0.3"
    text = str(text).strip()
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise DataError(f"--values {text!r} for {name}: a range is a:b:k (three numbers), e.g. {example}")
        a, b = (_number(name, p, example) for p in parts[:2])
        k = _number(name, parts[2], example)
        if k != int(k) or k < 1:
            raise DataError(f"--values {text!r} for {name}: the count k in a:b:k must be an int >= 1, e.g. {example}")
        k = int(k)
        if k == 1 and a != b:
            raise DataError(f"--values {text!r} for {name}: one value cannot span {a} to {b}; use k >= 2, e.g. {example}")
        values = [a] if k == 1 else [round(a + (b - a) * i / (k - 1), DIGITS) for i in range(k)]
    else:
        values = [_number(name, p, example) for p in text.split(",") if p.strip()]
        if not values:
            raise DataError(f"--values for {name} is empty; e.g. {example}")
    if kind == "int":
        bad = [v for v in values if v != int(v)]
        if bad:
            raise DataError(f"{name} takes integers, but --values {text!r} gives {bad[0]:g}; e.g. {example}")
        values = [int(v) for v in values]
    elif kind != "float":
        raise DataError(f"unknown parameter kind {kind!r}; valid: int, float")
    else:
        values = [float(v) for v in values]
    if len(set(values)) != len(values):
        raise DataError(f"--values {text!r} for {name} repeats a value; e.g. {example}")
    return tuple(values)


def _number(name: str, text: str, example: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise DataError(f"--values for {name}: {text.strip()!r} is not a number; e.g. {example}") from None
    if not math.isfinite(value):
        raise DataError(f"--values for {name}: {text.strip()!r} is not finite; e.g. {example}")
    return value


def check_params(params: dict[str, tuple], sweepable: dict[str, str], app: str) -> None:
    """DataError unless params names at least one sweepable parameter, each with values."""
    names = ", ".join(sweepable)
    if not params:
        raise DataError(f"a sweep needs at least one --param with --values; sweepable for {app}: {names} "
                        f"(e.g. --param eps --values 0.05:0.5:10)")
    for name, values in params.items():
        if name not in sweepable:
            raise DataError(f"{app} cannot sweep {name!r}; sweepable: {names} (e.g. --param eps --values 0.05:0.5:10)")
        if not isinstance(values, tuple) or not values:
            raise DataError(f"parameter {name} needs at least one value (e.g. --param {name} --values ...)")


def pair_params(names: list[str], texts: list[str], sweepable: dict[str, str], app: str) -> dict[str, tuple]:
    """--param/--values pairs (in order) -> {name: values}; DataError for unequal counts or a repeated name."""
    if len(names) != len(texts):
        raise DataError(f"each --param needs one --values (got {len(names)} --param and {len(texts)} --values); "
                        "e.g. --param eps --values 0.05:0.5:10 --param n --values 50,100")
    params: dict[str, tuple] = {}
    for name, text in zip(names, texts):
        if name in params:
            raise DataError(f"--param {name} is given twice; give all its values once, e.g. --values 50,100,200")
        if name not in sweepable:
            check_params({name: (0,)}, sweepable, app)
        params[name] = parse_values(name, text, sweepable[name])
    check_params(params, sweepable, app)
    return params


def points(params: dict[str, tuple]) -> list[dict]:
    """Every combination of the values, the first parameter varying slowest."""
    names = list(params)
    return [dict(zip(names, combo)) for combo in itertools.product(*params.values())]


def point_text(point: dict) -> str:
    """'eps=0.1 n=50'."""
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in point.items())
