"""Small pieces the applications' runners share (the start of their common runner code)."""

from __future__ import annotations


def invocation_time(seconds: float | None) -> str:
    """The wall time of the run that wrote a table; None when it ran no task (tables rewritten
    from saved results, whose own wall time the table cannot know)."""
    if seconds is None:
        return "no task run by this invocation (tables written from the saved results)"
    return f"wall time of this invocation {seconds:.0f} s"
