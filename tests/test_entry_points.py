"""The command runs the same way as `basis-compiler`, `python -m basis_compiler` and
`python -m basis_compiler.cli` (the last one used to exit 0 without doing anything)."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["basis_compiler", "basis_compiler.cli"])
def test_python_dash_m_runs_the_command(module, tmp_path):
    done = subprocess.run([sys.executable, "-m", module, "show", "O(2): v:1 -> 0", "--degree", "2"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "⟨v,v⟩" in done.stdout
    bad = subprocess.run([sys.executable, "-m", module, "show", "O(2): v:9q -> 0"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert bad.returncode == 2 and "error" in bad.stderr
