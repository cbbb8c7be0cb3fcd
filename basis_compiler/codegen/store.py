"""Generate standalone PyTorch modules into codegen_out/, check them, and import them."""

from __future__ import annotations

import importlib
import json
import re
import sys
import tempfile
import types
from pathlib import Path


from ..errors import CodegenError
from ..files import write_text
from ..symbolic.signature import Signature
from .emit import CLASS_NAMES, GENERATOR_VERSION, GeneratedModule, generate_module, generate_source
from .planning import plan_module

__all__ = ["CODEGEN_DIR", "read_manifest", "generate", "check", "compile_module", "plan_module", "generate_source"]

CODEGEN_DIR = Path(__file__).resolve().parents[2] / "codegen_out"
MANIFEST = "manifest.json"


def _atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and rename, so no half-written file remains."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(str(path), text)


def _check_name(name: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise CodegenError(f"module name {name!r} must be a lowercase Python identifier, e.g. svh_covariant")


def read_manifest(folder: Path = CODEGEN_DIR) -> dict:
    """The manifest of checked-in modules (empty when there is none)."""
    path = folder / MANIFEST
    if not path.exists():
        return {"generator_version": GENERATOR_VERSION, "modules": []}
    return json.loads(path.read_text(encoding="utf-8"))


def _entry(module: GeneratedModule, name: str, signature: Signature, degree, kind: str) -> dict:
    return {"name": name, "signature": str(signature), "degree": list(degree) if isinstance(degree, tuple) else degree,
            "kind": kind, "terms": module.n_terms, module.count_name: module.count,
            "content_hash": module.content_hash}


def generate(signature: Signature | str, degree, kind: str, name: str, folder: Path = CODEGEN_DIR) -> Path:
    """Generate one module into folder/NAME.py and record it in the manifest."""
    _check_name(name)
    sig = Signature.parse(signature)
    module = generate_module(sig, degree, kind, name)
    path = folder / f"{name}.py"
    _atomic_write(path, module.source)
    manifest = read_manifest(folder)
    modules = [m for m in manifest["modules"] if m["name"] != name]
    modules.append(_entry(module, name, sig, degree, kind))
    manifest = {"generator_version": GENERATOR_VERSION, "modules": sorted(modules, key=lambda m: m["name"])}
    _atomic_write(folder / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return path


def _degree_value(degree):
    return tuple(degree) if isinstance(degree, list) else degree


def check(folder: Path = CODEGEN_DIR) -> list[str]:
    """Names of checked-in modules that differ from a fresh regeneration (empty: all current)."""
    stale = []
    with tempfile.TemporaryDirectory() as tmp:
        for m in read_manifest(folder)["modules"]:
            fresh = generate(m["signature"], _degree_value(m["degree"]), m["kind"], m["name"], Path(tmp))
            current = folder / f"{m['name']}.py"
            if not current.exists() or current.read_bytes() != fresh.read_bytes():
                stale.append(str(current))
    return stale


_LOADED: dict[tuple, type] = {}


def compile_module(signature: Signature | str, degree, kind: str = "covariant") -> type:
    """The generated module class for a signature (concrete family sizes), degree and kind.

    Imports the checked-in codegen_out module when it is current; otherwise generates the source
    in memory and loads it under a private module name (nothing is written).
    """
    sig = Signature.parse(signature)
    sig_text = str(sig)
    degree = _degree_value(degree)
    key = (sig_text, degree, kind)
    if key in _LOADED:
        return _LOADED[key]
    entry = next((m for m in read_manifest()["modules"]
                  if (m["signature"], _degree_value(m["degree"]), m["kind"]) == key), None)
    name = entry["name"] if entry else "m_" + re.sub(r"[^a-z0-9]+", "_", f"{kind}_{sig_text}_{degree}".lower())
    source = generate_module(sig, degree, kind, name).source
    path = CODEGEN_DIR / f"{name}.py"
    if entry and path.exists() and path.read_text(encoding="utf-8") == source:
        module = importlib.import_module(f"codegen_out.{name}")
    else:
        module = types.ModuleType(f"basis_compiler._generated.{name}")
        exec(compile(source, f"<basis_compiler generated {name}>", "exec"), module.__dict__)
        sys.modules[module.__name__] = module
    cls = getattr(module, CLASS_NAMES[kind])
    _LOADED[key] = cls
    return cls
