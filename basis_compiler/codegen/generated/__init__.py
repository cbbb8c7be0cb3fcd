"""Modules generated on demand by `compile_module`, imported from the user cache folder.

This package has no files of its own: its search path is the cache folder
($BASIS_COMPILER_CACHE, else ~/.cache/basis_compiler), so `basis_compiler.codegen.generated.m_<key>`
imports the same way in every process. That is what lets a model built on a cached module be
pickled in one process and loaded in a fresh one.
"""

import os
from pathlib import Path


def default_folder() -> str:
    """$BASIS_COMPILER_CACHE, else basis_compiler under $XDG_CACHE_HOME or ~/.cache."""
    if os.environ.get("BASIS_COMPILER_CACHE"):
        return os.environ["BASIS_COMPILER_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "basis_compiler")


__path__ = [default_folder()]


def use_folder(folder) -> None:
    """Look for generated modules in `folder` first (the cache folder may change at run time)."""
    folder = str(Path(folder))
    if folder in __path__:
        __path__.remove(folder)
    __path__.insert(0, folder)
