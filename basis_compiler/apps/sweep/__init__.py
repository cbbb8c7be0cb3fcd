"""Sweeps: a grid of points over named parameters of an application (recover, ...), on top of its
preset; every (point, task) is an independent task, run serially, in local worker processes or on
a Ray cluster, saved to one resumable results file and summarised as CSV, Markdown and phase
diagrams.

In: an application registered in apps.py (its config, tasks, run_task, record check); out:
OUT/results.jsonl, OUT/runs.jsonl (one line per driver run), OUT/sweep.{csv,md}, OUT/sweep_*.png.
spec.py parses the swept values, runner.py runs the tasks (backends.py: where), report.py writes
the outputs.
"""
