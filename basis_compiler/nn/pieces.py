"""The generated modules an EquivariantNet is built from, each wrapped so that an empty basis
(no features, no generators) still gives tensors of the right shape.

Parity is decided here by construction, never per term: a covariant module compiled for the
output type holds generators of the output's parity only, the one compiled for the flipped type
only generators of the other parity, InvariantFeatures only true scalars, and the pseudo-scalar
module only odd scalars (the enumerator keeps exactly the templates of the requested parity).

Set families (a{n}:1): every term sums over the members, one summed member per block of its
equality pattern. With member_sums="mean" each piece divides each term (feature, pseudo-scalar,
generator) by n^b, b the number of blocks of that family in the term (`MemberMeans`), read at
run time from the input's member axis, so every sum over members is a mean.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..codegen.kinds import compile_kind
from ..codegen.store import compile_module
from ..errors import CodegenError, DataError
from ..symbolic.set_families import member_components
from ..symbolic.signature import Signature, TensorType
from ..symbolic.terms import Term
from ..testing import random_inputs

MEMBER_SUMS = ("mean", "sum")
"""How an EquivariantNet takes the sums over the members of a set family: means (each term
divided by n^blocks, so a weight means the same at every n) or plain sums."""


def with_output(sig: Signature, output: TensorType) -> Signature:
    """The same group and inputs with another output type."""
    return Signature(sig.group, sig.inputs, output)


def flipped(output: TensorType) -> TensorType:
    """The output type with the opposite parity (2s -> 2sp)."""
    return TensorType(output.order, output.symmetry, not output.pseudo)


def batch_shape(sig: Signature, inputs: dict[str, torch.Tensor]) -> torch.Size:
    """Leading batch axes, read off the first input (each input is (*batch, [n,] d, ..., d))."""
    spec = sig.inputs[0]
    x = inputs[spec.name]
    return x.shape[: x.dim() - spec.type.order - int(spec.is_family)]


def first_input(sig: Signature, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    return inputs[sig.inputs[0].name]


def check_member_sums(member_sums: str) -> str:
    if member_sums not in MEMBER_SUMS:
        raise DataError(f"member_sums must be one of {', '.join(map(repr, MEMBER_SUMS))}, not {member_sums!r}; "
                        "e.g. EquivariantNet('O(3): a{n}:1 -> 2s', degree=2, member_sums='mean')")
    return member_sums


def member_blocks(term: Term) -> dict[int, int]:
    """Set families: the number of blocks (summed member variables) of each set-family input
    (by input position) in a term; empty for a term without set-family copies."""
    if not term.sums_members or term.diagram.labels is None:
        return {}
    vertices = term.diagram.template.vertices
    blocks: dict[int, set] = {}
    for vi, label in enumerate(term.diagram.labels):
        if label is not None:
            blocks.setdefault(vertices[vi].input, set()).add(label)
    return {i: len(b) for i, b in blocks.items()}


def set_family_terms(sig: Signature, degree: int, kind: str) -> tuple[Term, ...]:
    """The terms of a generated module in its coefficient (feature) order when the signature has
    set families (one term per coefficient there); () otherwise, where nothing is scaled."""
    if not any(spec.is_set_family for spec in sig.inputs):
        return ()
    return compile_kind(sig, degree, kind).terms


class MemberMeans:
    """The factors n^-blocks that turn each term's member sums into means (docs/math.md, "Set
    families"): for terms t with b_tf blocks of set family f and inputs with n_f members,
    factor_t = Π_f n_f^(-b_tf). None (no scaling) for plain sums or when no term sums members.

    Exponents are fixed at construction from the terms, in the generated module's order;
    the member counts are read from the inputs at each call (the axis before the tensor axes),
    so one net runs at every n. Plain Python numbers: nothing to store or move between devices."""

    def __init__(self, sig: Signature, terms, member_sums: str, count: int | None = None):
        if terms and count is not None and len(terms) != count:
            raise CodegenError(f"the generated module of {sig} has {count} coefficients for {len(terms)} set-family "
                               "terms; regenerate it (basis-compiler generate)")
        self.axes = {i: (spec.name, spec.type.order + 1) for i, spec in enumerate(sig.inputs) if spec.is_set_family}
        blocks = [member_blocks(t) for t in terms]
        self.exponents = tuple(tuple(b.get(i, 0) for i in self.axes) for b in blocks)
        self.active = check_member_sums(member_sums) == "mean" and any(any(e) for e in self.exponents)

    def __call__(self, inputs: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor | None:
        if not self.active:
            return None
        ns = [inputs[name].shape[-back] for name, back in self.axes.values()]
        factors = [float(np.prod([float(n) ** -e for n, e in zip(ns, row)])) for row in self.exponents]
        return torch.tensor(factors, dtype=like.dtype, device=like.device)


class TrueInvariants(nn.Module):
    """The generated InvariantFeatures: connected scalar diagrams of even parity, (*batch, F)."""

    def __init__(self, sig: Signature, degree: int, member_sums: str = "mean"):
        super().__init__()
        self.sig = sig
        layer = compile_module(sig, degree, "invariants")()
        self.count = int(layer.n_features)
        # a module with no features is not called: its output would carry no batch axes
        self.layer = layer if self.count else None
        self.means = MemberMeans(sig, set_family_terms(sig, degree, "invariants") if self.count else (), member_sums,
                                 self.count)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.layer is None:
            x = first_input(self.sig, inputs)
            return x.new_zeros(batch_shape(self.sig, inputs) + (0,))
        y = self.layer(**inputs)
        factors = self.means(inputs, y)
        return y if factors is None else y * factors


class PseudoScalars(nn.Module):
    """Connected odd scalar diagrams (ε(u,v,w), E·B for a pseudo-vector B, ...), (*batch, P).

    InvariantFeatures keeps true scalars only, so these are read off the generated polynomial
    module of the signature with output `0p`: with the weight fixed to the identity (out_channels
    = n_coeffs) its k-th output channel is its k-th term. Products of a pseudo-scalar with true
    invariants are dropped (the MLP forms them); the layout is checked once against the
    symbolic reference values (Term.evaluate), so a change in the generator fails loudly.
    """

    def __init__(self, sig: Signature, degree: int, member_sums: str = "mean"):
        super().__init__()
        self.sig = sig
        odd = with_output(sig, TensorType(0, "none", True))
        kind = compile_kind(odd, degree, "polynomial")
        keep, probes, offset = [], [], 0
        for term, orbit in zip(kind.terms, kind.orbits):
            # set families: a piece joined to the rest only by a shared member is not a factor
            # (Σ_i |a_i|² ε(a_i, v, w) is connected), so connected means member_components there
            pieces = member_components(term.diagram) if term.sums_members else term.diagram.components()
            if len(pieces) == 1:
                keep.extend(range(offset, offset + len(orbit)))
                probes.extend((term, js) for js in orbit)
            offset += len(orbit)
        self.count = len(keep)
        self.layer = None
        if self.count:
            cls = compile_module(odd, degree, "polynomial")
            n = int(cls.n_coeffs)
            layer = cls(out_channels=n)
            # the weight is not learned: one output channel per term (weight (out, n), or (out, 1, n)
            # in generator versions before channel mixing)
            eye = torch.eye(n, dtype=torch.float32)
            eye = eye.reshape(n, *([1] * (layer.weight.dim() - 2)), n)
            del layer.weight
            layer.register_buffer("weight", eye, persistent=False)
            self.layer = layer
            if n != offset:
                # the generator pruned family orbits differently from compile_kind: every column
                # is still an odd scalar (products with true invariants included), so keep them all
                if kind.sums_members:  # each column needs its member exponents, read off the terms
                    raise CodegenError(f"the generated polynomial module of {odd} has {n} terms, compile_kind "
                                       f"{offset}; regenerate it (basis-compiler generate)")
                keep, probes = list(range(n)), None
                self.count = n
            self.register_buffer("pick", torch.tensor(keep, dtype=torch.long), persistent=False)
            if probes is not None:
                self._check_layout(probes)
        self.means = MemberMeans(sig, [t for t, _ in probes] if self.count and probes else (), member_sums,
                                 self.count)

    def _check_layout(self, probes) -> None:
        rng = np.random.default_rng(0)
        values = random_inputs(self.sig, rng, n=4)  # n sizes symbolic set families only
        batch1 = {k: torch.tensor(v, dtype=torch.float64)[None] for k, v in values.items()}
        with torch.no_grad():
            got = self.layer.double()(**batch1)[0, self.pick].numpy()
        self.layer.float()
        want = np.array([float(t.with_indices(js).evaluate(values) if js else t.evaluate(values))
                         for t, js in probes])
        if not np.allclose(got, want, rtol=1e-9, atol=1e-9 * max(1.0, float(np.abs(want).max()))):
            raise CodegenError(f"the generated polynomial module of {with_output(self.sig, TensorType(0, 'none', True))} "
                               "does not list its terms in compile_kind order; regenerate it (basis-compiler generate)")

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.layer is None:
            x = first_input(self.sig, inputs)
            return x.new_zeros(batch_shape(self.sig, inputs) + (0,))
        y = self.layer(**inputs)[..., self.pick]
        factors = self.means(inputs, y)
        return y if factors is None else y * factors


class Generators(nn.Module):
    """The generated CovariantLayer for one output type: Σ_t coeffs_t g_t(inputs)."""

    def __init__(self, sig: Signature, degree: int, member_sums: str = "mean"):
        super().__init__()
        self.sig = sig
        layer = compile_module(sig, degree, "covariant")()
        self.count = int(layer.n_coeffs)
        self.layer = layer if self.count else None
        self.means = MemberMeans(sig, set_family_terms(sig, degree, "covariant") if self.count else (), member_sums,
                                 self.count)

    def forward(self, coeffs: torch.Tensor, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.layer is None:
            return coeffs.new_zeros(coeffs.shape[:-1] + (self.sig.d,) * self.sig.output.order)
        factors = self.means(inputs, coeffs)  # a generator's member sums as means: its coefficient scaled
        return self.layer(coeffs if factors is None else coeffs * factors, **inputs)

    @torch.no_grad()
    def gram(self, inputs: dict[str, torch.Tensor], samples: int = 1024, budget: int = 1 << 24) -> torch.Tensor:
        """G_ts = mean over (at most `samples` of) the batch of <g_t(x), g_s(x)>, (count, count).

        The net whitens its coefficients with it (normalize.gram_whitening), so that an MLP
        output of 1 means a contribution of typical size whatever the generator's degree, and
        nearly parallel generators (I, C, C² near C = I) do not need large cancelling
        coefficients. Generators are evaluated in chunks of at most `budget` numbers (fewer samples
        when all values would exceed 4 budgets)."""
        x = first_input(self.sig, inputs)
        if not self.count:
            return x.new_zeros(0, 0)
        width = self.sig.d ** self.sig.output.order
        samples = min(samples, max(64, 4 * budget // (self.count * width)))  # all values held at once
        flat = {k: v.reshape((-1,) + v.shape[len(batch_shape(self.sig, inputs)):])[:samples]
                for k, v in inputs.items()}
        b = next(iter(flat.values())).shape[0]
        chunk = max(1, min(self.count, budget // max(1, b * width)))
        eye = torch.eye(self.count, dtype=x.dtype, device=x.device)
        values = []
        for start in range(0, self.count, chunk):
            rows = eye[start:start + chunk]
            k = rows.shape[0]
            coeffs = rows[:, None, :].expand(k, b, self.count)
            many = {name: v.expand((k,) + v.shape) for name, v in flat.items()}
            values.append(self(coeffs, many).reshape(k, b * width).double())
        g = torch.cat(values)
        return (g @ g.T / b).to(x.dtype)
