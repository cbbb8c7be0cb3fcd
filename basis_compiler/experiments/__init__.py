"""Planted sparse vector recovery experiments: data (data.py), training (training.py), the
resumable, parallel grid of `basis-compiler recover` (recovery.py) and its tables and figure (report.py)."""
