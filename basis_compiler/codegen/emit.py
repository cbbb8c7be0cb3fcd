"""Print the IR of one module (lower.ModuleIR) as a standalone PyTorch source file.

The only place source text is made. Every identifier comes from a Namespace seeded with the
user's input names, so generated names never collide with them; the runtime helpers a module
calls are copied from codegen/runtime.py (their source, renamed to the module's names). The
output is deterministic: the same signature, degree, kind and GENERATOR_VERSION give the same
bytes, and the header carries a hash of the body so --check can name a stale file.
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass

import numpy as np

from ..inspect.formulas import formula
from ..symbolic.evaluate import levi_civita
from ..symbolic.signature import Signature
from . import ir, runtime
from .kinds import compile_kind
from .lower import ModuleIR, check_sizes, lower
from .namespace import Namespace, check_input_names
from .partition_emit import partition_layer_source
from .planning import plan_module

GENERATOR_VERSION = "7"
API_ATTRIBUTES = ("weight", "in_channels", "out_channels", "sizes", "size_symbols")
"""Attributes of a polynomial layer that are part of its API, never renamed."""
CLASS_NAMES = {"polynomial": "PolynomialLayer", "covariant": "CovariantLayer", "invariants": "InvariantFeatures"}


@dataclass(frozen=True)
class GeneratedModule:
    """The source of one module and the facts the manifest records (never parsed back from text)."""

    source: str
    class_name: str
    n_terms: int
    count_name: str
    """'n_coeffs' or 'n_features'."""
    count: int
    content_hash: str


def generate_module(signature: Signature, degree, kind: str, name: str, channels: int | None = None) -> GeneratedModule:
    """Select the terms, plan, lower to the IR and print one module (channels: a polynomial
    layer's input channel count, see kinds.compile_kind)."""
    check_input_names(signature)
    if signature.group.partition_diagrams:  # S(n): partition diagrams, printed from their einsum specs
        source, cls, n_terms, count, digest = partition_layer_source(signature, degree, kind, name, channels,
                                                                     GENERATOR_VERSION)
        return GeneratedModule(source, cls, n_terms, "n_coeffs", count, digest)
    compiled = compile_kind(signature, degree, kind, channels)
    check_sizes(compiled)
    return _Printer(lower(compiled, plan_module(compiled), signature), name).module()


def generate_source(signature: Signature | str, degree, kind: str, name: str, channels: int | None = None) -> str:
    """The full source of one generated module (deterministic)."""
    return generate_module(Signature.parse(signature), degree, kind, name, channels).source


def degree_text(degree) -> str:
    """A degree as the command line takes it: 3 or 1,1."""
    return ",".join(map(str, degree)) if isinstance(degree, tuple) else str(degree)


_HELPER_USE = {ir.FormSigns: runtime.eta, ir.HalfSwap: runtime.omega, ir.Determinant: runtime.eps_contract,
               ir.CheckInput: runtime.check, ir.CheckCoefficients: runtime.check_coeffs}


def _uses_helper(node):
    if type(node) in _HELPER_USE:
        return _HELPER_USE[type(node)]
    if isinstance(node, ir.DType) and len(node.sources) > 1:
        return runtime.common_dtype
    return None


class _Printer:
    def __init__(self, m: ModuleIR, name: str):
        self.m, self.name = m, name
        self.kind = m.compiled.kind
        self.nodes = m.graph.hoisted(m.graph.live(m.result))
        inputs = [s.name for s in m.compiled.signature.inputs]
        self.inputs = set(inputs)
        # forward's locals (and the names of module-level helpers), attributes, __init__'s locals
        self.ns, self.attrs, self.init_ns = Namespace(inputs), Namespace(inputs), Namespace(inputs)
        self.self_ = "self"  # an input named self is refused (namespace.check_input_names)
        self.torch = "torch" if "torch" not in self.inputs else self.ns.create("torch")
        self.helpers = {fn: self.ns.create("_" + fn.__name__) for fn in runtime.HELPERS}
        self.coeffs = self.ns.create("coeffs")
        for n in ("in_channels", "out_channels"):
            self.init_ns.reserve(n)
        # the weight and channel counts are API (state_dict keys, attributes users read): they
        # keep their names; buffer names are generated (attributes never shadow forward's locals,
        # but a buffer named like an input would read as that input)
        self.attr = {key: self.attrs.reserve(key) for key in API_ATTRIBUTES}
        self.buffers = [b for b in _buffers(self.nodes)]
        for b in self.buffers:
            self.attr[b] = self.attrs.create(_buffer_hint(b))
        self.names: dict[ir.Value, str] = {}
        self.init_locals: dict[str, str] = {}
        # symbolic family sizes: the layout (offsets, index maps, scale) is computed per size at
        # run time and kept in a plain dict on the module, never in its state_dict
        self.symbols = m.compiled.symbols
        if self.symbols:
            for key in ("terms", "layouts", "layout"):
                self.attr[key] = self.attrs.create("_" + key)
            self.size_names = {sym: self.ns.create(sym) for sym in self.symbols}
            self.layout_names = [self.ns.create(n) for n in ("total", "offsets", "index", "scale")]

    # -- the file ------------------------------------------------------------------------------

    def module(self) -> GeneratedModule:
        forward = self.forward()
        init = self.init()
        needed = {_uses_helper(node) for _, node in self.nodes} - {None}
        if any(isinstance(b, ir.OrbitBuffer) for b in self.buffers):
            needed.add(runtime.orbit_index)
        if any(isinstance(b, ir.OrbitBuffer) and b.dropped for b in self.buffers):
            needed.add(runtime.drop_orbits)
        if self.symbols:
            needed |= {runtime.orbit_index, runtime.read_sizes, runtime.size_arguments, runtime.coefficient_layout}
        used = [fn for fn in runtime.HELPERS if fn in needed]
        c = self.m.compiled
        cls = CLASS_NAMES[self.kind]
        count_name = "n_features" if self.kind == "invariants" else "n_coeffs"
        params = [self.coeffs] if self.kind == "covariant" else []
        kwargs = [s.name for s in c.signature.inputs]
        args = ", ".join([self.self_] + params + (["*"] + kwargs if kwargs else []))
        init_args = "self, in_channels=None, out_channels=None" if self.kind == "polynomial" else "self"
        lines = ['"""Generated by basis_compiler: see the class docstring. Imports torch only."""', "", "import torch"]
        if self.torch != "torch":
            lines.append(f"import torch as {self.torch}  # an input is named torch")
        for fn in used:
            src = inspect.getsource(fn).replace(f"def {fn.__name__}(", f"def {self.helpers[fn]}(", 1)
            lines += ["", "", src.rstrip("\n")]
        lines += ["", "", f"class {cls}(torch.nn.Module):", _indent(self.docstring(), 4), "",
                  f"    signature = {str(self.m.requested)!r}", f"    degree = {c.degree!r}", f"    kind = {self.kind!r}",
                  f"    n_terms = {len(c.terms)}"]
        if self.kind == "polynomial":
            lines.append(f"    {self.attr['in_channels']} = {c.channels!r}")
        if self.symbols:
            lines += [f"    {self.attr['size_symbols']} = {self.symbols!r}", f"    {self.attr['terms']} = {self.layout_terms()!r}",
                      "", _indent(self.sizes_methods(count_name), 4)]
        else:
            lines.append(f"    {count_name} = {self.m.count}")
        if self.symbols and self.kind == "polynomial":
            init_args += ", **sizes"
        lines += ["", f"    def __init__({init_args}):", _indent("\n".join(init), 8), "",
                  f"    def forward({args}):", _indent("\n".join(forward), 8), ""]
        body = "\n".join(lines)
        digest = hashlib.sha256(body.encode()).hexdigest()[:16]
        return GeneratedModule(self.header(digest) + body, cls, len(c.terms), count_name, self.m.count, digest)

    def header(self, digest: str) -> str:
        c, sig = self.m.compiled, self.m.requested
        command = (f"basis-compiler generate {str(sig)!r} --degree {degree_text(c.degree)} "
                   f"--kind {self.kind}{'' if c.channels is None else f' --channels {c.channels}'} --name {self.name}")
        lines = [f"# DO NOT EDIT: generated by basis_compiler (generator version {GENERATOR_VERSION}).",
                 f"# signature: {sig}", f"# degree: {c.degree}", f"# kind: {self.kind}"]
        if c.channels is not None:
            lines.append(f"# channels: {c.channels} (the terms are those of {c.signature})")
        if self.kind == "invariants":
            count = self.m.count if self.m.count is not None else "n_features_for(sizes)"
            lines.append(f"# output: scalar invariant features (n_features = {count}), not the type {sig.output}")
        lines += [f"# terms: {len(c.terms)}", f"# content-hash: {digest}", f"# regenerate: {command}"]
        return "\n".join(lines) + "\n"

    def docstring(self) -> str:
        c = self.m.compiled
        what = {
            "polynomial": self.polynomial_doc(),
            "covariant": "out = sum over terms of contraction(Q_term, inputs); coeffs has shape (*batch, n_coeffs).",
            "invariants": "features of shape (*batch, n_features): each scalar invariant at every index tuple J.",
        }[self.kind]
        lines = [f"{self.kind.capitalize()} module for {self.m.requested}, degree {c.degree}.", "", what]
        if c.signature.inputs:
            lines.append("Inputs are keyword arguments by signature name, batch axes first.")
            what = "inputs" + (" and coeffs" if self.kind == "covariant" else "")
            lines += [f"Dtypes: the {what} share one real floating dtype (float16, bfloat16, float32, float64)",
                      "and the result has it" + (" (the weight is cast to it)" if self.kind == "polynomial" else "")
                      + ". Integer inputs raise TypeError: convert them with .double() or .float()."]
        else:
            lines.append("No inputs: the result is the constant (isotropic) tensor"
                         + (" for each row of coeffs." if self.kind == "covariant" else ", without batch axes."))
        members = [s for s in c.signature.inputs if s.is_set_family]
        if members:
            stacks = ", ".join(f"{s.name} (*batch, {s.family}, ...)" for s in members)
            lines += [f"Set families: {stacks} hold exchangeable members"
                      + (", any number n >= 1 at each call" if c.member_symbols else "") + "; every term sums",
                      "over them (one coefficient per term at every n), contracted one member block at a time,",
                      "so the work is linear in n."]
        if not c.terms:
            lines.append("The basis is empty: forward returns zeros of the output's shape.")
        else:
            noun = "Features" if self.kind == "invariants" else "Coefficients"
            where = "term by term" if self.symbols else "offset: formula"
            lines.append(f"{noun} ({where}, as `basis-compiler show` prints it):")
        for off, term, js in zip(self.m.offsets, c.terms, c.orbits):
            text = formula(term).replace("\\", "\\\\")
            if js is None:
                o = next(b for b in self.buffers if isinstance(b, ir.OrbitBuffer) and b.term == c.terms.index(term))
                lines.append(f"  - {text}, one per orbit of J in [{o.n}]^{o.m}")
            elif self.symbols:
                lines.append(f"  - {text}")
            elif js == ((),):
                lines.append(f"  {off}: {text}")
            else:
                gone = c.dropped[c.terms.index(term)] if c.dropped else ()
                kept = f"{len(js)} of {len(js) + len(gone)} orbits: the others depend on earlier terms at d" if gone \
                    else f"{len(js)} orbits"
                lines.append(f"  {off}..{off + len(js) - 1}: {text}, J = {js[0]}..{js[-1]} ({kept})")
        if any(js != ((),) for js in c.orbits):
            lines.append("Within a family term, index tuples J run in lexicographic order (least J of each orbit).")
        if self.symbols:
            lines += self.sizes_doc()
        return '"""' + "\n".join(lines) + '\n"""'

    def polynomial_doc(self) -> str:
        c = self.m.compiled
        if c.channels is None:
            return ("out[o] = sum_k weight[o, k] * term_k(inputs); weight has shape (out_channels, n_coeffs).\n"
                    "Inputs carry no channel axis (generate with channels=C for C input channels);\n"
                    "without out_channels the output has no channel axis either.")
        C = c.channels
        return "\n".join([
            f"{C} input channels: the channel axis is a family axis. Every input is (*batch, {C}, *its axes),",
            f"the output (*batch, out_channels, *output axes), and out[o] is a combination of the basis",
            f"of {c.signature} (every product across channels):",
            f"out[o] = sum over kept (shape, J) of weight[o, k] * shape_J(inputs), J a tuple of channels.",
            "One coefficient per orbit of J that the exact rank step keeps (the other orbits are linear",
            "combinations of kept terms at this d), shared by the orbit's members with weight 1/orbit size",
            "and the sign of the index symmetry. So the parameters are independent and",
            f"  weight.numel() = out_channels * n_coeffs, n_coeffs = len(enumerate_basis({str(c.signature)!r}, "
            f"{c.degree!r})) = {self.m.count};",
            "weight has shape (out_channels, n_coeffs) (one output channel when out_channels is None).",
        ])

    # -- symbolic family sizes -----------------------------------------------------------------

    def sizes_doc(self) -> list[str]:
        count = "n_features" if self.kind == "invariants" else "n_coeffs"
        symbols = ", ".join(self.symbols)
        example = ", ".join(f"{sym}=50" for sym in self.symbols)
        lines = ["", f"Family sizes ({symbols}) are read from the inputs at each call (any size >= 1; families",
                 "sharing a symbol must agree). The terms come in the order above, each with as many",
                 f"{'features' if self.kind == 'invariants' else 'coefficients'} as it has orbits at that size: "
                 f"{count}_for({example}) counts them",
                 "(a dict by symbol also works). The index maps are computed once per (sizes, device) and",
                 "kept on the module, outside its state_dict."]
        if self.kind == "polynomial":
            lines += ["The weights run over index tuples, so their number depends on the sizes: the",
                      f"constructor takes them, PolynomialLayer(out_channels=8, {example}), and",
                      "forward refuses inputs of other sizes (build one layer per size)."]
        return lines

    def layout_terms(self) -> list:
        """Per term: None (one coefficient) or (size symbol, copies m, index symmetry)."""
        out = []
        for term, js in zip(self.m.compiled.terms, self.m.compiled.orbits):
            if term.diagram.labels is None:
                out.append(None)
                continue
            o = next(b for b in self.buffers if isinstance(b, ir.OrbitBuffer) and b.term == len(out))
            out.append((o.n, o.m, list(o.symmetry)))
        return out

    def sizes_methods(self, count_name: str) -> str:
        """The class method counting coefficients (features) per size, and the cached layout."""
        h, a = self.helpers, self.attr
        pick = self.kind == "invariants"
        zero_slot = any(isinstance(b, ir.ScaleBuffer) and b.zero_slot for b in self.buffers)
        example = ", ".join(f"{sym}=50" for sym in self.symbols)
        return "\n".join([
            "@classmethod",
            f"def {count_name}_for(cls, *sizes, **named):",
            f'    """{count_name} at the given family sizes: {count_name}_for({example}), a dict by symbol,'
            + (f" or {count_name}_for(50)." if len(self.symbols) == 1 else ".") + '"""',
            f"    sizes = {h[runtime.size_arguments]}(cls.{a['size_symbols']}, sizes, named)",
            f"    return {h[runtime.coefficient_layout]}(cls.{a['terms']}, dict(zip(cls.{a['size_symbols']}, sizes)), "
            f"False, False, 'cpu', {h[runtime.orbit_index]})[0]",
            "",
            f"def {a['layout']}(self, sizes, device):",
            '    """(total, offsets, index per term, scale) at these sizes, computed once per (sizes, device)."""',
            "    key = (sizes, str(device))",
            f"    if key not in self.{a['layouts']}:",
            f"        self.{a['layouts']}[key] = {h[runtime.coefficient_layout]}(self.{a['terms']}, "
            f"dict(zip(self.{a['size_symbols']}, sizes)), {zero_slot}, {pick}, device, {h[runtime.orbit_index]})",
            f"    return self.{a['layouts']}[key]",
        ])

    # -- __init__ -------------------------------------------------------------------------------

    def init(self) -> list[str]:
        out = ["super().__init__()"]
        if self.kind == "polynomial":
            C = self.m.compiled.channels
            if C is None:
                out += ["if in_channels is not None:",
                        "    raise ValueError(f'this layer was generated without input channels (inputs carry no channel '",
                        "                     f'axis); for {in_channels} channels generate it with channels={in_channels}: '",
                        "                     f\"compile_module(signature, degree, 'polynomial', channels={in_channels})\")"]
            else:
                out += [f"if in_channels is not None and in_channels != {C}:",
                        f"    raise ValueError(f'this layer was generated for {C} input channels, not {{in_channels}}; '",
                        f"                     f'generate one with channels={{in_channels}}')"]
            out += [f"self.{self.attr['out_channels']} = out_channels"]
        if self.symbols:
            out.append(f"self.{self.attr['layouts']} = {{}}  # per (sizes, device): index maps, not in the state_dict")
            if self.kind == "polynomial":
                out.append(f"self.{self.attr['sizes']} = {self.helpers[runtime.size_arguments]}"
                           f"(self.{self.attr['size_symbols']}, (), sizes)")
        dflt = "dtype=torch.get_default_dtype()"
        for b in self.buffers:
            if self.symbols and isinstance(b, (ir.ScaleBuffer, ir.OrbitBuffer)):
                continue
            attr = self.attr[b]
            if isinstance(b, ir.SignBuffer):
                out.append(f"self.register_buffer({attr!r}, torch.tensor({list(b.signs)}, {dflt}), persistent=False)")
            elif isinstance(b, ir.MatrixBuffer):
                mat = np.array(b.rows)
                if np.array_equal(mat, np.eye(len(mat))):
                    value = f"torch.eye({len(mat)})"
                elif np.array_equal(mat, np.diag(mat.diagonal())):
                    value = f"torch.diag(torch.tensor({mat.diagonal().tolist()}, {dflt}))"
                else:
                    value = f"torch.tensor({mat.tolist()}, {dflt})"
                out.append(f"self.register_buffer({attr!r}, {value}, persistent=False)")
            elif isinstance(b, ir.EpsilonBuffer):
                eps = levi_civita(b.d)
                nz = [(tuple(int(i) for i in idx), int(eps[idx])) for idx in zip(*eps.nonzero())]
                e, idx, sign = (self.local(n) for n in ("eps", "idx", "sign"))
                out += [f"{e} = torch.zeros({(b.d,) * b.d})", f"for {idx}, {sign} in {nz}:", f"    {e}[{idx}] = {sign}",
                        f"self.register_buffer({attr!r}, {e}, persistent=False)"]
            elif isinstance(b, ir.ScaleBuffer):
                s = self.local("scale")
                out.append(f"{s} = torch.ones({b.total + b.zero_slot}, dtype=torch.float64)")
                if b.zero_slot:
                    out.append(f"{s}[{b.total}] = 0")
                for o in b.orbits:
                    index, size = self.orbit_lines(o, out)
                    out.append(f"{s}[{o.offset}:{o.offset + o.count}] = 1.0 / {size}.double()")
                    out.append(f"self.register_buffer({self.attr[o]!r}, {index}, persistent=False)")
                out.append(f"self.register_buffer({attr!r}, {s}, persistent=False)  # float64: cast per call")
            elif isinstance(b, ir.OrbitBuffer) and b.pick:
                index, _ = self.orbit_lines(b, out)
                keep, pick = self.local("keep"), self.local("pick")
                out += [f"{keep} = {index} < {b.count}",
                        f"{pick} = torch.full(({b.count},), {index}.numel()).scatter_reduce("
                        f"0, {index}[{keep}], torch.arange({index}.numel())[{keep}], 'amin')",
                        f"self.register_buffer({attr!r}, {pick}, persistent=False)"]
        if self.kind == "polynomial":
            total = self.m.count
            scale = f" / {total} ** 0.5" if total else ""
            if self.symbols:
                total = self.local("total")
                out.append(f"{total} = self.{self.attr['layout']}(self.{self.attr['sizes']}, torch.device('cpu'))[0]")
                scale = f" / max({total}, 1) ** 0.5"
            out.append(f"self.{self.attr['weight']} = torch.nn.Parameter("
                       f"torch.randn(out_channels or 1, {total}){scale})")
        return out

    def local(self, wanted: str) -> str:
        """A local of __init__ (the same name each time it is asked for: reused per orbit)."""
        if wanted not in self.init_locals:
            self.init_locals[wanted] = self.init_ns.create(wanted)
        return self.init_locals[wanted]

    def orbit_lines(self, o: ir.OrbitBuffer, out: list[str]) -> tuple[str, str]:
        index, size, count = (self.local(n) for n in ("index", "size", "count"))
        if o.dropped:  # number all orbits, then renumber the kept ones (the dropped read the zero slot)
            out += [f"{index}, {size}, {count} = {self.helpers[runtime.orbit_index]}({o.n}, {o.m}, {list(o.symmetry)}, "
                    f"0, {o.count + len(o.dropped)})",
                    f"{index}, {size}, {count} = {self.helpers[runtime.drop_orbits]}({index}, {size}, "
                    f"{list(o.dropped)}, {o.offset}, {o.total})"]
        else:
            out += [f"{index}, {size}, {count} = {self.helpers[runtime.orbit_index]}({o.n}, {o.m}, {list(o.symmetry)}, "
                    f"{o.offset}, {o.total})"]
        out += [
                f"if {count} != {o.count}:",
                f"    raise RuntimeError('orbit count of term {o.term} differs from generation time: regenerate')"]
        return index, size

    # -- forward --------------------------------------------------------------------------------

    def forward(self) -> list[str]:
        out = []
        for value, node in self.nodes:
            if isinstance(node, ir.ATOMS):
                self.names[value] = self.atom(node)
                continue
            expr = self.expr(node)
            if isinstance(node, ir.STATEMENTS):
                out.append(expr)
                continue
            name = self.ns.create(*_local_hint(node, value == self.m.result))
            self.names[value] = name
            out.append(f"{name} = {expr}" + (f"  # {node.equation}" if isinstance(node, ir.MatMul) else ""))
        out.append(f"return {self.names[self.m.result]}")
        return out

    def atom(self, node) -> str:
        if isinstance(node, ir.Input):
            return node.name
        if isinstance(node, ir.Coefficients):
            return self.coeffs
        if isinstance(node, ir.Weight):
            return f"{self.self_}.{self.attr['weight']}"
        return self.buf(node.buffer)

    def buf(self, b) -> str:
        """A buffer as forward reads it: an attribute, or (symbolic sizes) part of the layout."""
        if self.symbols and isinstance(b, ir.OrbitBuffer):
            return f"{self.layout_names[2]}[{b.term}]"
        if self.symbols and isinstance(b, ir.ScaleBuffer):
            return self.layout_names[3]
        return f"{self.self_}.{self.attr[b]}"

    def size(self, n) -> str:
        return self.size_names[n] if isinstance(n, str) else str(n)

    def expr(self, node) -> str:
        n, S, T, h = self.names, self.self_, self.torch, self.helpers
        x = n.get(getattr(node, "x", None))
        if isinstance(node, ir.CheckInput):
            return f"{h[runtime.check]}({node.name!r}, {x}, {node.trailing}, {node.channels})"
        if isinstance(node, ir.CheckCoefficients):
            count = self.layout_names[0] if node.count is None else node.count
            return f"{h[runtime.check_coeffs]}({x}, {count})"
        if isinstance(node, ir.ReadSizes):
            fams = ", ".join(f"({name!r}, {sym!r}, {n[v]}, {axis})" for name, sym, v, axis in node.families)
            names = ", ".join(self.size_names[sym] for sym in node.symbols)
            return f"{names}, = {h[runtime.read_sizes]}([{fams}], {node.symbols!r})"
        if isinstance(node, ir.Layout):
            sizes = "(" + "".join(f"{self.size_names[sym]}, " for sym in self.symbols).rstrip(" ") + ")"
            line = (f"{', '.join(self.layout_names)} = {S}.{self.attr['layout']}({sizes}, {n[node.device]}.device)")
            if self.kind != "polynomial":
                return line
            return "\n".join([line, f"if {sizes} != {S}.{self.attr['sizes']}:",
                              f"    raise ValueError(f'this layer holds weights for family sizes "
                              f"{{dict(zip({S}.{self.attr['size_symbols']}, {S}.{self.attr['sizes']}))}}, the inputs have "
                              f"{{dict(zip({S}.{self.attr['size_symbols']}, {sizes}))}}: build one layer per size')"])
        if isinstance(node, ir.DType):
            if len(node.sources) > 1:
                named = ", ".join(f"({name!r}, {n[v]})" for name, v in node.sources)
                return f"{h[runtime.common_dtype]}([{named}])"
            if node.sources:
                return f"{n[node.sources[0][1]]}.dtype"
            return f"{n[node.fallback]}.dtype" if node.fallback is not None else f"{T}.get_default_dtype()"
        if isinstance(node, ir.ToDType):
            return f"{x}.to({n[node.dtype]})"
        if isinstance(node, ir.Cast):
            return f"{S}.{self.attr[node.buffer]}.to({n[node.dtype]})"
        if isinstance(node, ir.AppendZero):
            return f"{T}.cat([{x}, {x}.new_zeros({x}.shape[:-1] + (1,))], -1)"
        if isinstance(node, ir.Scaled):
            return f"{x} * {self.buf(node.scale)}.to({x}.dtype)"
        if isinstance(node, ir.AppendNegated):
            return f"{T}.cat([{x}, -{x}], -1)"
        if isinstance(node, ir.Slot):
            if self.symbols:
                return f"{x}[..., {self.layout_names[1]}[{node.term}]]"
            return f"{x}[..., {node.index}]"
        if isinstance(node, ir.Gather):
            dims = ", ".join([self.size(node.n)] * node.m)
            return f"{x}.index_select(-1, {self.buf(node.index)}).view(*{x}.shape[:-1], {dims})"
        if isinstance(node, ir.FormSigns):
            return f"{h[runtime.eta]}({x}, {n[node.signs]}, {node.axis})"
        if isinstance(node, ir.HalfSwap):
            return f"{h[runtime.omega]}({x}, {node.axis})"
        if isinstance(node, ir.Broadcast):
            return f"{x}[..., {', '.join(':' if b else 'None' for b in node.index)}, :]"
        if isinstance(node, ir.Determinant):
            return f"{h[runtime.eps_contract]}([{', '.join(n[c] for c in node.columns)}], {node.free})"
        if isinstance(node, ir.Einsum):
            return f'{T}.einsum("{node.equation}", {", ".join(n[a] for a in node.args)})'
        if isinstance(node, ir.MatMul):
            a, b = (n[v] + _views(ops) for v, ops in zip(node.args, node.arrange))
            return f"{T}.matmul({a}, {b}){_views(node.after)}"
        if isinstance(node, ir.Symmetrize):
            return _symmetrized(x, node.order, node.anti)
        if isinstance(node, ir.Features):
            if node.pick is None:
                return f"{x}.unsqueeze(-1)"
            return f"{x}.flatten(-{node.m})[..., {self.buf(node.pick)}]"
        if isinstance(node, ir.Sum):
            return " + ".join(n[v] for v in node.values)
        if isinstance(node, ir.Concat):
            return f"{T}.cat([{', '.join(n[v] for v in node.values)}], dim=-1)"
        if isinstance(node, ir.Zeros):
            tail = ([f"{S}.{self.attr['out_channels']} or 1"] if node.out_channels else []) + [str(k) for k in node.tail]
            tail = f"({', '.join(tail)},)" if len(tail) == 1 else f"({', '.join(tail)})"
            if node.like is None:
                return f"{T}.zeros({tail}, dtype={n[node.dtype]})"
            like = n[node.like]
            return f"{like}.new_zeros({like}.shape[:{like}.dim() - {node.drop}] + {tail})"
        if isinstance(node, ir.DropChannels):
            return f"{x} if {S}.{self.attr['out_channels']} is not None else {x}.squeeze({x}.dim() - {node.order + 1})"
        raise TypeError(f"no printer for {type(node).__name__}")


def _views(ops) -> str:
    """Tensor view methods (unsqueeze, movedim, flatten, unflatten, squeeze) written as a chain."""
    out = []
    for op in ops:
        args = ", ".join(repr(a) for a in op[1:])
        out.append(f".{op[0]}({args})")
    return "".join(out)


def _symmetrized(x: str, k: int, anti: bool) -> str:
    """Mean over permutations of the last k axes (movedim: no builtins, which inputs may shadow)."""
    from itertools import permutations

    from ..symbolic.canonical import perm_sign

    parts = []
    for perm in permutations(range(k)):
        sign = perm_sign(perm) if anti else 1
        if perm == tuple(range(k)):
            term = x
        else:
            term = f"{x}.movedim({tuple(p - k for p in perm)}, {tuple(j - k for j in range(k))})"
        parts.append(("- " if sign < 0 else "+ ") + term)
    body = " ".join(parts)
    body = body[2:] if body.startswith("+ ") else body
    return f"({body}) / {len(parts)}"


def _buffers(nodes) -> list:
    """The buffers the live forward pass uses, in a fixed order (forms, epsilon, coefficient maps)."""
    found = []
    for _, node in nodes:
        for v in vars(node).values():
            if isinstance(v, (ir.MatrixBuffer, ir.SignBuffer, ir.EpsilonBuffer, ir.OrbitBuffer, ir.ScaleBuffer)):
                found.append(v)
                if isinstance(v, ir.ScaleBuffer):
                    found.extend(v.orbits)
    order = {ir.SignBuffer: 0, ir.MatrixBuffer: 1, ir.EpsilonBuffer: 2, ir.ScaleBuffer: 3, ir.OrbitBuffer: 4}
    unique = list(dict.fromkeys(found))
    return sorted(unique, key=lambda b: order[type(b)])


def _buffer_hint(b) -> str:
    if isinstance(b, ir.SignBuffer):
        return "form_signs"
    if isinstance(b, ir.MatrixBuffer):
        return b.hint
    if isinstance(b, ir.EpsilonBuffer):
        return "eps"
    if isinstance(b, ir.ScaleBuffer):
        return "scale"
    return f"{'pick' if b.pick else 'flat'}{b.term}"


def _local_hint(node, is_result: bool) -> tuple[str, bool]:
    """(wanted name, numbered) for the local a node is assigned to."""
    if is_result and isinstance(node, (ir.Sum, ir.Concat, ir.Zeros, ir.DropChannels)):
        return "out", False
    if isinstance(node, ir.Cast):
        return _buffer_hint(node.buffer), False
    fixed = {ir.DType: "dtype", ir.ToDType: "w", ir.AppendZero: "ext", ir.Scaled: "sext", ir.AppendNegated: "signed",
             ir.Sum: "total", ir.Zeros: "out"}
    if type(node) in fixed:
        return fixed[type(node)], False
    prefix = {ir.Slot: "q", ir.Gather: "q", ir.Features: "f"}.get(type(node), "t")
    return prefix, True


def _indent(text: str, n: int) -> str:
    return "\n".join((" " * n + line) if line else "" for line in text.splitlines())
