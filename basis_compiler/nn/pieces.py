"""The generated modules an EquivariantNet is built from, each wrapped so that an empty basis
(no features, no generators) still gives tensors of the right shape.

Parity is decided here by construction, never per term: a covariant module compiled for the
output type holds generators of the output's parity only, the one compiled for the flipped type
only generators of the other parity, InvariantFeatures only true scalars, and the pseudo-scalar
module only odd scalars (the enumerator keeps exactly the templates of the requested parity).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..codegen.kinds import compile_kind
from ..codegen.store import compile_module
from ..errors import CodegenError
from ..symbolic.signature import Signature, TensorType
from ..testing import random_inputs


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


class TrueInvariants(nn.Module):
    """The generated InvariantFeatures: connected scalar diagrams of even parity, (*batch, F)."""

    def __init__(self, sig: Signature, degree: int):
        super().__init__()
        self.sig = sig
        layer = compile_module(sig, degree, "invariants")()
        self.count = int(layer.n_features)
        # a module with no features is not called: its output would carry no batch axes
        self.layer = layer if self.count else None

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.layer is None:
            x = first_input(self.sig, inputs)
            return x.new_zeros(batch_shape(self.sig, inputs) + (0,))
        return self.layer(**inputs)


class PseudoScalars(nn.Module):
    """Connected odd scalar diagrams (ε(u,v,w), E·B for a pseudo-vector B, ...), (*batch, P).

    InvariantFeatures keeps true scalars only, so these are read off the generated polynomial
    module of the signature with output `0p`: with the weight fixed to the identity (out_channels
    = n_coeffs) its k-th output channel is its k-th term. Products of a pseudo-scalar with true
    invariants are dropped (the MLP forms them); the layout is checked once against the
    symbolic reference values (Term.evaluate), so a change in the generator fails loudly.
    """

    def __init__(self, sig: Signature, degree: int):
        super().__init__()
        self.sig = sig
        odd = with_output(sig, TensorType(0, "none", True))
        kind = compile_kind(odd, degree, "polynomial")
        keep, probes, offset = [], [], 0
        for term, orbit in zip(kind.terms, kind.orbits):
            if len(term.diagram.components()) == 1:
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
                keep, probes = list(range(n)), None
                self.count = n
            self.register_buffer("pick", torch.tensor(keep, dtype=torch.long), persistent=False)
            if probes is not None:
                self._check_layout(probes)

    def _check_layout(self, probes) -> None:
        rng = np.random.default_rng(0)
        values = random_inputs(self.sig, rng)
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
        return self.layer(**inputs)[..., self.pick]


class Generators(nn.Module):
    """The generated CovariantLayer for one output type: Σ_t coeffs_t g_t(inputs)."""

    def __init__(self, sig: Signature, degree: int):
        super().__init__()
        self.sig = sig
        layer = compile_module(sig, degree, "covariant")()
        self.count = int(layer.n_coeffs)
        self.layer = layer if self.count else None

    def forward(self, coeffs: torch.Tensor, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.layer is None:
            return coeffs.new_zeros(coeffs.shape[:-1] + (self.sig.d,) * self.sig.output.order)
        return self.layer(coeffs, **inputs)

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
            values.append(self.layer(coeffs, **many).reshape(k, b * width).double())
        g = torch.cat(values)
        return (g @ g.T / b).to(x.dtype)
