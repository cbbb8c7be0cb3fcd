"""Path signatures from coarse observations (`basis-compiler signatures`, the paper's third application).

Random degree-5 polynomial curves in R^D (paths.py: drawing, the signature of a piecewise-linear
path by Chen's identity, group actions on signature levels); the coarse-path signature, a plain
MLP and EquivariantNet under O(D) and O(1,3) (models.py); data, training and errors as drawn and
in random frames (training.py); the run's configuration and presets (config.py); the resumable
runner (runner.py, results.jsonl with recovery's conventions) and the Markdown/CSV/LaTeX/PNG
report (report.py). Imports flow one way: paths <- config <- models, training <- report <- runner.
"""
