"""Where generated modules live: output folders with a manifest, their --check, and the cache.

An output folder (`basis-compiler generate --out DIR`, default ./codegen_out) is a Python
package: `__init__.py`, one NAME.py per module and `manifest.json` recording what each module
was generated from. Writers take a lock on the folder around "write the module, then its
manifest entry", so concurrent runs end as a serial run would. Nothing is overwritten that the
user did not ask for: a module generated from another signature, degree or kind, or a file the
manifest does not know, needs --force.

`compile_module` imports the repository's checked-in module for a key when there is one, and
otherwise generates the module once into a user cache folder (`$BASIS_COMPILER_CACHE`, default
~/.cache/basis_compiler) under a name derived from the key and a hash of the generator's source, so later
calls, in this process or another, are a key lookup and models built on it can be pickled.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import keyword
import re
from pathlib import Path

from ..errors import CodegenError, OutputError
from ..files import write_text
from ..symbolic.signature import Signature
from . import generated
from .emit import CLASS_NAMES, GENERATOR_VERSION, GeneratedModule, degree_text, generate_module, generate_source
from .planning import plan_module

__all__ = ["CODEGEN_DIR", "DEFAULT_OUT", "read_manifest", "generate", "remove", "check", "compile_module",
           "cache_dir", "plan_module", "generate_source"]

CODEGEN_DIR = Path(__file__).resolve().parents[2] / "codegen_out"
"""The repository's checked-in modules (read by compile_module; written only by maintainers)."""
DEFAULT_OUT = Path("codegen_out")
"""Default output folder of `generate`, relative to the current directory."""
MANIFEST = "manifest.json"
RESERVED = ("__init__", "manifest")
_INIT_TEXT = '"""Generated PyTorch modules (written by `basis-compiler generate`; do not edit)."""\n'


def check_module_name(name: str) -> None:
    """A module name must be a lowercase identifier that is not a keyword or reserved."""
    if not isinstance(name, str) or not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise CodegenError(f"module name {name!r} must be a lowercase Python identifier, e.g. svh_covariant")
    if name in RESERVED:
        raise CodegenError(f"module name {name!r} is reserved in an output folder; pick another, e.g. my_layer")


def _folder(folder) -> Path:
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"cannot use {folder} as the output folder: it is a file; pass --out DIR with a folder")
    return folder


def read_manifest(folder=CODEGEN_DIR) -> dict:
    """The manifest of an output folder (empty when there is none)."""
    path = _folder(folder) / MANIFEST
    if not path.exists():
        return {"generator_version": GENERATOR_VERSION, "modules": []}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest.get("modules"), list):
            raise ValueError("no 'modules' list")
    except (ValueError, AttributeError) as exc:
        raise CodegenError(f"{path} is not a manifest written by basis-compiler ({exc}); "
                           "restore it from version control or remove the folder") from None
    return manifest


def _entry(module: GeneratedModule, name: str, signature: Signature, degree, kind: str, channels=None) -> dict:
    entry = {"name": name, "signature": str(signature), "degree": list(degree) if isinstance(degree, tuple) else degree,
             "kind": kind}
    if channels is not None:  # recorded only when set: entries without channels read as before
        entry["channels"] = channels
    return dict(entry, terms=module.n_terms, **{module.count_name: module.count}, content_hash=module.content_hash)


def _write_manifest(folder: Path, modules: list[dict]) -> None:
    manifest = {"generator_version": GENERATOR_VERSION, "modules": sorted(modules, key=lambda m: m["name"])}
    write_text(folder / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def _locked(folder: Path):
    """Hold an exclusive lock on the folder (a .lock file) while reading and writing its manifest."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / ".lock", "a+")
    except OSError as exc:
        raise OutputError(f"cannot write into {folder}: {exc.strerror or exc}") from None
    try:
        try:
            import fcntl
        except ImportError:  # no advisory locks on this platform: concurrent writers may race
            fcntl = None
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield
    finally:
        handle.close()


def _key(entry: dict) -> tuple:
    return entry["signature"], _degree_value(entry["degree"]), entry["kind"], entry.get("channels")


def generate(signature: Signature | str, degree, kind: str, name: str, folder=CODEGEN_DIR, *,
             force: bool = False, channels: int | None = None) -> Path:
    """Generate one module into folder/NAME.py and record it in the folder's manifest
    (channels: a polynomial layer's input channel count, fixed at generation).

    Refuses (CodegenError) to replace a module generated from another signature, degree, kind or
    channel count, or a NAME.py the manifest does not list, unless force=True.
    """
    check_module_name(name)
    sig = Signature.parse(signature)
    module = generate_module(sig, degree, kind, name, channels)  # before touching the folder: errors leave it as it was
    folder = _folder(folder)
    path = folder / f"{name}.py"
    with _locked(folder):
        if not (folder / "__init__.py").exists():
            write_text(folder / "__init__.py", _INIT_TEXT)
        modules = read_manifest(folder)["modules"]
        old = next((m for m in modules if m["name"] == name), None)
        wanted = (str(sig), _degree_value(degree), kind, channels)
        if not force and old is not None and _key(old) != wanted:
            raise CodegenError(
                f"{path} was generated from {old['signature']!r} (degree {degree_text(_degree_value(old['degree']))}, "
                f"kind {old['kind']}, channels {old.get('channels')}); pass --force to replace it, or choose another --name"
            )
        if not force and old is None and path.exists():
            raise CodegenError(f"{path} exists and is not in {folder / MANIFEST}; pass --force to replace it, "
                               "or choose another --name")
        write_text(path, module.source)
        _write_manifest(folder, [m for m in modules if m["name"] != name]
                        + [_entry(module, name, sig, degree, kind, channels)])
    return path


def remove(name: str, folder=DEFAULT_OUT) -> Path:
    """Delete folder/NAME.py and its manifest entry."""
    check_module_name(name)
    folder = _folder(folder)
    path = folder / f"{name}.py"
    with _locked(folder):
        modules = read_manifest(folder)["modules"]
        if not any(m["name"] == name for m in modules):
            raise CodegenError(f"no module {name!r} in {folder / MANIFEST}; listed: "
                               f"{', '.join(m['name'] for m in modules) or 'none'}")
        path.unlink(missing_ok=True)
        _write_manifest(folder, [m for m in modules if m["name"] != name])
    return path


def _degree_value(degree):
    return tuple(degree) if isinstance(degree, list) else degree


def check(folder=CODEGEN_DIR) -> list[str]:
    """Problems of an output folder, one line each (empty: every module is current).

    Finds modules that differ from a fresh regeneration ('stale'), files listed but gone
    ('missing file'), manifest entries whose recorded facts differ from the regeneration
    ('manifest entry edited'), and module files the manifest does not list.
    """
    folder = _folder(folder)
    problems = []
    modules = read_manifest(folder)["modules"]
    listed = set()
    for m in modules:
        listed.add(m["name"])
        current = folder / f"{m['name']}.py"
        if not current.exists():
            problems.append(f"{current}: missing file (listed in {MANIFEST}; regenerate or `generate --remove`)")
            continue
        sig = Signature.parse(m["signature"])
        fresh = generate_module(sig, _degree_value(m["degree"]), m["kind"], m["name"], m.get("channels"))
        if current.read_text(encoding="utf-8") != fresh.source:
            problems.append(f"{current}: stale (regenerate with the command in its header)")
        if m != _entry(fresh, m["name"], sig, _degree_value(m["degree"]), m["kind"], m.get("channels")):
            problems.append(f"{current}: manifest entry edited (it differs from what generation records)")
    for path in sorted(folder.glob("*.py")):
        if path.stem != "__init__" and path.stem not in listed:
            problems.append(f"{path}: not in {MANIFEST} (generate it, or delete the file)")
    return problems


def cache_dir() -> Path:
    """The user cache of generated modules: $BASIS_COMPILER_CACHE, else the user's cache folder
    (~/.cache/basis_compiler, or under $XDG_CACHE_HOME)."""
    return Path(generated.default_folder())


_LOADED: dict[tuple, type] = {}


def compile_module(signature: Signature | str, degree, kind: str = "covariant", channels: int | None = None) -> type:
    """The generated module class for a signature (concrete family sizes), degree and kind.

    channels (polynomial layers only): the input channel count C, fixed at generation; the layer
    spans the polynomials of the family signature (every input a family of size C), see
    kinds.compile_kind. None: inputs without a channel axis.

    Imports the repository's checked-in module for this key when there is one (their currency
    is what `generate --check` guarantees); otherwise generates it once into the user cache
    (see cache_dir) and imports it from there as basis_compiler.codegen.generated.m_<key hash>.
    """
    sig = Signature.parse(signature)
    degree = _degree_value(degree)
    key = (str(sig), degree, kind, channels)
    if key in _LOADED:
        return _LOADED[key]
    if kind not in CLASS_NAMES:
        raise CodegenError(f"unknown module kind {kind!r}; valid kinds: {', '.join(CLASS_NAMES)}")
    manifest = read_manifest(CODEGEN_DIR)
    entry = next((m for m in manifest["modules"] if _key(m) == key), None)
    if entry and manifest["generator_version"] == GENERATOR_VERSION and (CODEGEN_DIR / f"{entry['name']}.py").exists():
        module = importlib.import_module(f"codegen_out.{entry['name']}")
    else:
        module = _cached_module(sig, degree, kind, channels)
    cls = getattr(module, CLASS_NAMES[kind])
    _LOADED[key] = cls
    return cls


@functools.lru_cache(maxsize=1)
def generator_fingerprint() -> str:
    """A hash of the source of every stage that shapes a generated module (symbolic, exact,
    inspect formulas, codegen): a cached module made by other code is never reused, even
    when GENERATOR_VERSION was not bumped."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for folder in ("symbolic", "exact", "inspect", "codegen"):
        for path in sorted((root / folder).glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update((root / "basis.py").read_bytes())
    return digest.hexdigest()[:16]


def _cached_module(sig: Signature, degree, kind: str, channels):
    key = (str(sig), degree, kind, GENERATOR_VERSION, generator_fingerprint()) + (() if channels is None else (channels,))
    digest = hashlib.sha256(repr(key).encode()).hexdigest()[:20]
    name = f"m_{digest}"
    folder = cache_dir()
    path = folder / f"{name}.py"
    if not path.exists():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the module cache {folder} ({exc.strerror or exc}); "
                              "set BASIS_COMPILER_CACHE to a writable folder") from None
        write_text(path, generate_module(sig, degree, kind, name, channels).source)
    generated.use_folder(folder)
    return importlib.import_module(f"{generated.__name__}.{name}")

