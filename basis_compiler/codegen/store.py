"""Generate standalone PyTorch modules into codegen_out/, check them, and import them."""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

from .kinds import CompiledKind, compile_kind, needs_symmetrization
from .emit import _HELPERS, GENERATOR_VERSION, _Program, constant_buffers, emit_term, finish_term, header
from ..errors import CodegenError
from ..files import write_text
from .planning import _FAMILY_LETTERS, TermPlan, plan_term
from ..symbolic.signature import Signature

CODEGEN_DIR = Path(__file__).resolve().parents[2] / "codegen_out"
MANIFEST = "manifest.json"
_CLASS = {"polynomial": "PolynomialLayer", "covariant": "CovariantLayer", "invariants": "InvariantFeatures"}


def plan_module(compiled: CompiledKind) -> list[TermPlan]:
    """One contraction plan per term, with the symmetrization decided at generation time."""
    rng = np.random.default_rng(0)
    plans = []
    channels = compiled.kind == "polynomial"
    for i, (term, js) in enumerate(zip(compiled.terms, compiled.orbits)):
        plan = plan_term(term, compiled.kind, i, channels, symmetrize=False)
        if compiled.kind != "invariants" and needs_symmetrization(term, js, plan, rng):
            plan = dataclasses.replace(plan, symmetrize=True)
        plans.append(plan)
    return plans


def _term_doc(term, js) -> str:
    names = " ".join(term.operand_names) or "1"
    if term.diagram.labels is None:
        return f"{term.einsum.subscripts}  [{names}]  (1)"
    return f"{term.einsum.subscripts}  [{names}]  over J = {js[0]}..{js[-1]} ({len(js)})"


def generate_source(signature: Signature | str, degree, kind: str, name: str) -> str:
    """The full source of one generated module (deterministic)."""
    compiled = compile_kind(signature, degree, kind)
    plans = plan_module(compiled)
    sig = compiled.signature
    cls = _CLASS[kind]
    prog = _Program()
    inputs = list(sig.inputs)
    names = [s.name for s in inputs]
    # __init__: buffers and parameters
    init = ["super().__init__()"]
    if kind == "polynomial":
        init += ["self.in_channels = in_channels", "self.out_channels = out_channels"]
    init += constant_buffers(compiled, plans)
    offsets, total = [], 0
    for i, (term, js) in enumerate(zip(compiled.terms, compiled.orbits)):
        offsets.append(total)
        total += len(js)
    family_terms = [i for i, term in enumerate(compiled.terms) if term.diagram.labels is not None]
    negative = any(sign < 0 for i in family_terms for _, sign in compiled.terms[i].index_symmetry)
    # Only a sign -1 relabelling can make an index tuple J vanish; then J reads an appended zero
    # slot (and negated copies), otherwise the coefficients are used as they come.
    zero_slot = negative and kind != "invariants"
    if family_terms and kind != "invariants":
        # coefficients are scaled once by 1/orbit size, then each Q is one index_select
        init.append(f"scale = torch.ones({total + zero_slot}, dtype=torch.float64)")
        if zero_slot:
            init.append(f"scale[{total}] = 0")
    for i in family_terms:
        term, js = compiled.terms[i], compiled.orbits[i]
        m, n = len(js[0]), plan_sizes_family(plans[i])
        init.append(f"index, size, count = _orbit_index({n}, {m}, {list(term.index_symmetry)}, "
                    f"{0 if kind == 'invariants' else offsets[i]}, {total})")
        init.append(f"if count != {len(js)}:")
        init.append(f"    raise RuntimeError('orbit count of term {i} differs from generation time: regenerate')")
        if kind == "invariants":
            init.append("keep = index < count")
            init.append("pick = torch.full((count,), index.numel()).scatter_reduce("
                        "0, index[keep], torch.arange(index.numel())[keep], 'amin')")
            init.append(f"self.register_buffer('pick{i}', pick, persistent=False)")
        else:
            init.append(f"scale[{offsets[i]}:{offsets[i] + len(js)}] = 1.0 / size.double()")
            init.append(f"self.register_buffer('flat{i}', index, persistent=False)")
    if family_terms and kind != "invariants":
        init.append("self.register_buffer('scale', scale, persistent=False)  # float64: cast per call")
    if kind == "polynomial":
        init.append(f"self.weight = torch.nn.Parameter(torch.randn(out_channels or 1, in_channels or 1, {total}) "
                    f"/ {total} ** 0.5)")
    # forward: validate, coefficient tensors, contractions
    fwd = []
    first = names[0] if names else None
    for s in inputs:
        trailing = ((s.family,) if s.is_family else ()) + (sig.d,) * s.type.order
        ch = "1 if self.in_channels is not None else 0" if kind == "polynomial" else "0"
        fwd.append(f"_check({s.name!r}, {s.name}, {trailing}, {ch})")
        if kind == "polynomial":
            fwd.append("if self.in_channels is None:")
            fwd.append(f"    {s.name} = {s.name}.unsqueeze({s.name}.dim() - {len(trailing)})")
    source = {"covariant": "coeffs", "polynomial": "self.weight"}.get(kind)
    if kind == "covariant":
        fwd.append(f"if coeffs.shape[-1] != {total}:")
        fwd.append(f"    raise ValueError(f'coeffs must have {total} entries in its last axis, got {{tuple(coeffs.shape)}}')")
    if source:
        fwd.append(f"ext = torch.cat([{source}, {source}.new_zeros({source}.shape[:-1] + (1,))], -1)"
                   if zero_slot else f"ext = {source}")
    if family_terms and kind != "invariants":
        fwd.append("sext = ext * self.scale.to(ext.dtype)")
        if zero_slot:
            fwd.append("sext = torch.cat([sext, -sext], -1)")
    outs = []
    out_sym = sig.output.symmetry
    lead_batch = "" if kind != "polynomial" else "o"
    for i, (term, js, plan) in enumerate(zip(compiled.terms, compiled.orbits, plans)):
        operand_vars = []
        for op in plan.operands:
            if op.source[0] == "input":
                operand_vars.append((op.source[1], op.source))
            elif op.source[0] == "eps":
                operand_vars.append(("self.eps.to(dtype)", ("eps",)))
            elif op.source[0] == "det":
                expr = _determinant_expr(op, sig)
                operand_vars.append((prog.value(("det", op.source), expr), ("det", op.source)))
            else:
                if term.diagram.labels is None:
                    expr = f"ext[..., {offsets[i]}]"
                else:
                    m, n = len(js[0]), plan_sizes_family(plan)
                    expr = f"sext.index_select(-1, self.flat{i}).view(*sext.shape[:-1], {', '.join([str(n)] * m)})"
                var = prog.new("q")
                prog.lines.append(f"{var} = {expr}")
                operand_vars.append((var, ("coeff", i)))
        var, letters, batch = emit_term(prog, plan, operand_vars)
        if kind == "invariants":
            outs.append(_flatten_invariant(prog, term, js, var, i))
        else:
            outs.append(finish_term(prog, plan, var, letters, batch, lead_batch, out_sym))
    if kind == "invariants":
        fwd += [f"dtype = {first}.dtype" if first else "dtype = torch.get_default_dtype()"]
        body = prog.lines + [f"return torch.cat([{', '.join(outs)}], dim=-1)"]
    else:
        fwd += [f"dtype = {first}.dtype" if first else "dtype = torch.get_default_dtype()"]
        body = prog.lines + ["out = " + " + ".join(outs)]
        if kind == "polynomial":
            body += ["if self.out_channels is None:", f"    out = out.squeeze(out.dim() - {sig.output.order + 1})"]
        body += ["return out"]
    fwd += body
    args = ", ".join(names)
    if kind == "covariant":
        signature_line = f"def forward(self, coeffs, *, {args}):"
    else:
        signature_line = f"def forward(self, *, {args}):"
    init_sig = "def __init__(self, in_channels=None, out_channels=None):" if kind == "polynomial" else "def __init__(self):"
    doc = _class_doc(compiled, offsets)
    count_name = "n_features" if kind == "invariants" else "n_coeffs"
    lines = [
        '"""Generated by basis_compiler: see the class docstring. Imports torch only."""',
        "",
        "import torch",
        _helpers_used("\n".join(init + fwd)),
        "",
        "",
        _CHECK.strip(),
        "",
        "",
        f"class {cls}(torch.nn.Module):",
        _indent(doc, 4),
        "",
        f"    signature = {str(sig)!r}",
        f"    degree = {compiled.degree!r}",
        f"    kind = {kind!r}",
        f"    n_terms = {len(compiled.terms)}",
        f"    {count_name} = {total}",
        "",
        f"    {init_sig}",
        _indent("\n".join(init), 8),
        "",
        f"    {signature_line}",
        _indent("\n".join(fwd), 8),
        "",
    ]
    body_text = "\n".join(lines)
    command = f"basis-compiler generate {str(Signature.parse(signature))!r} --degree {_deg(degree)} --kind {kind} --name {name}"
    return header(compiled, body_text, command) + body_text


_CHECK = '''
def _check(name, x, trailing, channels):
    """Inputs are (*batch, [channels,] *trailing); say which input is wrong and what it needs."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"input {name!r} must be a torch.Tensor, got {type(x).__name__}")
    k = len(trailing)
    if x.dim() < k + channels or tuple(x.shape[x.dim() - k:]) != tuple(trailing):
        raise ValueError(f"input {name!r} has shape {tuple(x.shape)}; it needs (*batch, "
                         f"{'channels, ' if channels else ''}{', '.join(map(str, trailing))})")
'''


def _helpers_used(code: str) -> str:
    """The shared helper functions this module calls (each module stays standalone)."""
    blocks = _HELPERS.strip("\n").split("\n\n\n")
    used = [b for b in blocks if b.split("(", 1)[0].replace("def ", "").strip() + "(" in code]
    return "".join("\n\n" + b for b in used)


def _deg(degree) -> str:
    return ",".join(map(str, degree)) if isinstance(degree, tuple) else str(degree)


def _indent(text: str, n: int) -> str:
    return "\n".join((" " * n + line) if line else "" for line in text.splitlines())


def plan_sizes_family(plan: TermPlan) -> int:
    """The family size n of a shape's index letters."""
    fam = [c for op in plan.operands for c in op.letters if c in _FAMILY_LETTERS]
    return plan.sizes[fam[0]]


def _determinant_expr(op, sig: Signature) -> str:
    """Call of _eps_contract with each vector column broadcast over the term's family axes."""
    _, columns, free = op.source
    family = "".join(sorted(c for _, c, _ in columns if c))
    cols = []
    for name, letter, eta in columns:
        x = f"_eta({name}, self.eta_sign.to(dtype), -1)" if eta else name
        if family:
            index = ", ".join(":" if c == letter else "None" for c in family)
            x = f"{x}[..., {index}, :]"
        cols.append(x)
    return f"_eps_contract([{', '.join(cols)}], {free})"


def _flatten_invariant(prog: _Program, term, js, var: str, i: int) -> str:
    """Invariant features of a shape: its value at every J, flattened, then one entry per orbit."""
    out = prog.new("f")
    if term.diagram.labels is None:
        prog.lines.append(f"{out} = {var}.unsqueeze(-1)")
    else:
        prog.lines.append(f"{out} = {var}.flatten(-{len(js[0])})[..., self.pick{i}]")
    return out


def _class_doc(compiled: CompiledKind, offsets: list[int]) -> str:
    sig = compiled.signature
    what = {
        "polynomial": "out = sum_b w_b * term_b(inputs); weight has shape (out_channels, in_channels, n_coeffs).",
        "covariant": "out = sum over terms of contraction(Q_term, inputs); coeffs has shape (*batch, n_coeffs).",
        "invariants": "features of shape (*batch, n_features): each invariant at every index tuple J.",
    }[compiled.kind]
    lines = [f'"""{compiled.kind.capitalize()} module for {sig}, degree {compiled.degree}.', "", what,
             "Inputs are keyword arguments by signature name, batch axes first.",
             "Coefficient / feature order (offset: einsum [operands] (count)):"]
    for off, term, js in zip(offsets, compiled.terms, compiled.orbits):
        lines.append(f"  {off}: {_term_doc(term, js)}")
    lines.append("Within a family term, index tuples J run in lexicographic order (least J of each orbit).")
    lines.append('"""')
    return "\n".join(lines)


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


def _entry(source: str, name: str, signature: str, degree, kind: str) -> dict:
    head = dict(re.findall(r"^# (terms|content-hash): (.*)$", source, flags=re.M))
    count = re.search(r"^    (n_coeffs|n_features) = (\d+)$", source, flags=re.M)
    return {"name": name, "signature": signature, "degree": list(degree) if isinstance(degree, tuple) else degree,
            "kind": kind, "terms": int(head["terms"]), count.group(1): int(count.group(2)),
            "content_hash": head["content-hash"]}


def generate(signature: str, degree, kind: str, name: str, folder: Path = CODEGEN_DIR) -> Path:
    """Generate one module into folder/NAME.py and record it in the manifest."""
    _check_name(name)
    sig_text = str(Signature.parse(signature))
    source = generate_source(sig_text, degree, kind, name)
    path = folder / f"{name}.py"
    _atomic_write(path, source)
    manifest = read_manifest(folder)
    modules = [m for m in manifest["modules"] if m["name"] != name]
    modules.append(_entry(source, name, sig_text, degree, kind))
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
    sig_text = str(Signature.parse(signature))
    degree = _degree_value(degree)
    key = (sig_text, degree, kind)
    if key in _LOADED:
        return _LOADED[key]
    entry = next((m for m in read_manifest()["modules"]
                  if (m["signature"], _degree_value(m["degree"]), m["kind"]) == key), None)
    name = entry["name"] if entry else "m_" + re.sub(r"[^a-z0-9]+", "_", f"{kind}_{sig_text}_{degree}".lower())
    source = generate_source(sig_text, degree, kind, name)
    path = CODEGEN_DIR / f"{name}.py"
    if entry and path.exists() and path.read_text(encoding="utf-8") == source:
        module = importlib.import_module(f"codegen_out.{name}")
    else:
        module = types.ModuleType(f"basis_compiler._generated.{name}")
        exec(compile(source, f"<basis_compiler generated {name}>", "exec"), module.__dict__)
        sys.modules[module.__name__] = module
    cls = getattr(module, _CLASS[kind])
    _LOADED[key] = cls
    return cls
