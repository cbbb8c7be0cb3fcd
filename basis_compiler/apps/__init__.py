"""Applications built on generated modules (the top of the pipeline; nothing below imports them)."""
