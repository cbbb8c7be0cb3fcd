"""EquivariantNet: Corollary 1 (docs/math.md) as a trainable network for any signature."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..errors import DataError, SignatureError, UnsupportedError
from ..symbolic.set_families import check_set_families
from ..symbolic.signature import Signature
from .normalize import SAMPLES_PER_FEATURE, gram_whitening, rms_scale, whitening
from .pieces import (Generators, batch_shape, check_member_sums, PseudoScalars, TrueInvariants, flipped,
                     with_output)

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "silu": nn.SiLU, "tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "softplus": nn.Softplus,
}
"""Activations by name; any zero-argument nn.Module factory (e.g. nn.ELU) also works."""


class EquivariantNet(nn.Module):
    """f(x) = Σ_t q_t(s(x)) g_t(x) + Σ_u (Σ_k ψ_k(x) r_uk(s(x))) h_u(x), all pieces generated.

    - g_t: the generated CovariantLayer of the signature (generators up to `degree`, every
      connected component touching an output leg), same parity as the output.
    - h_u: the generated CovariantLayer of the signature with the output's parity flipped (only
      for groups with reflections, O(d) and O(s,t), and only when pseudo-scalars exist). Such a
      generator changes sign against the output under a reflection, so its coefficient must be
      a pseudo-scalar: Σ_k ψ_k r_uk with ψ_k the pseudo-scalar invariants.
    - s(x): what the MLP reads, all true scalars: the generated InvariantFeatures (connected
      scalar diagrams up to `invariant_degree`) and the products ψ_a ψ_b (a <= b) of the
      normalised pseudo-scalars. A pseudo-scalar is never an MLP input by itself: the MLP is not
      odd, so MLP(ψ) would be neither invariant nor pseudo.
    - q_t, r_uk: the outputs of one MLP (hidden sizes `hidden`, activation `activation`, plus a
      linear shortcut from input to output when `shortcut`, so coefficients that are affine in
      the invariants, as in most polynomial laws, are represented exactly).

    Under any g in the group the MLP input is unchanged, each ψ_k and h_u pick up det(g) (the
    product is of the output's parity), and g_t is a generator of the output type: the net is
    equivariant under every component, reflections and O(s,t) time reversals included, for
    any weights. Under SO(d) and Sp(d) (det g = 1) every scalar is true and there is no h_u.

    Invariant features (features=None): an optional fixed function `features(s)` of the true
    invariants, (*batch, n_true) -> (*batch, m), whose m outputs replace s as the MLP's true-scalar
    inputs (the pseudo-scalar products are still appended). Any function of invariants is
    invariant, so equivariance stays exact for any such function; it lets known structure enter,
    e.g. ln det C and 1/det C for a hyperelastic law, whose coefficients are not smooth
    polynomial-like functions of tr C, tr C², tr C³ (apps/materials/models.py). It must have no
    trainable parameters of its own and be defined (finite) on the data.

    Normalisation (normalize=True, nn/normalize.py): the MLP's inputs are whitened (a constant
    shift and a constant matrix make them uncorrelated with unit variance on the data), the
    pseudo-scalars divided by their root mean square, and the coefficients multiplied by a
    constant matrix that makes the generators orthonormal on average over the data (for one
    generator: division by its root mean square norm). From fewer than 10 calibration samples per
    feature (per generator) only per-feature scaling is applied: a correlation matrix estimated
    from so few samples would amplify its noise directions (normalize.SAMPLES_PER_FEATURE). All are constants computed once from data
    (the first batch the net sees, or an explicit `calibrate(**inputs)` call on a larger
    sample) and stored as buffers (in state_dict); a constant affine map of invariants is
    invariant, a positive constant keeps a pseudo-scalar odd, and constant linear combinations of
    generators of one type and parity are generators of that type and parity, so equivariance is
    exact.

    Inputs are keyword tensors by signature name, batch axes first, e.g. net(C=C) with C of
    shape (batch, 3, 3); a family a[5]:1 is (batch, 5, d). Indexed families need concrete sizes:
    write a[5]:1, or pass family_sizes={"a": 5} for a[n]:1.

    Set families (a{n}:1, members exchangeable; docs/math.md, "Set families"): the net is
    G x S(n)-equivariant and ONE net runs at every member count n, the input a{n}:1 being
    (*batch, n, d) with any n >= 1 at each call (a{5}:1 fixes n = 5). Every term sums over the
    members, so it is one feature or one generator whatever n, and the MLP's width and the
    parameter count do not depend on n. A sum over members grows with n (Σ_i |a_i|² ~ n,
    Σ_ij ⟨a_i,a_j⟩ a_i a_jᵀ ~ n²), so weights fitted at one n would read features and scale
    generators of another size at another n. member_sums="mean" (the default) takes every member
    sum as a mean: each feature, pseudo-scalar and generator is divided by n^b, b the number of
    its blocks (summed member variables) of that family, at the n of the call. The net is then
    a function of the members' empirical distribution, unchanged when every member is repeated
    the same number of times, and a net trained at one n is the same law at every n (trained at
    n = 8, it fits at n = 20: tests/test_nn_set_families.py). A positive constant per term keeps
    every term of its type and parity, so equivariance is exact. member_sums="sum" keeps plain
    sums (the generated modules' own terms): right when the law really grows with n, as a total
    (mass, energy) does, but then the normalisation constants from the calibration n no longer
    fit other n. The whitening and generator normalisation act after the means, so for a mean
    net the constants from one calibration n keep every input of the MLP of the same size at
    other n.
    """

    def __init__(
        self,
        signature: Signature | str,
        degree: int,
        invariant_degree: int | None = None,
        hidden: Sequence[int] = (128, 128),
        activation: str | Callable[[], nn.Module] = "silu",
        *,
        normalize: bool = True,
        shortcut: bool = True,
        family_sizes: dict[str, int] | None = None,
        features: Callable[[torch.Tensor], torch.Tensor] | None = None,
        member_sums: str = "mean",
    ):
        super().__init__()
        sig = Signature.parse(signature)
        if family_sizes:
            sig = sig.with_family_sizes(**family_sizes)
        _check_arguments(sig, degree, invariant_degree, hidden)
        invariant_degree = degree if invariant_degree is None else invariant_degree
        self.signature, self.degree, self.invariant_degree = sig, degree, invariant_degree
        self.hidden = tuple(int(h) for h in hidden)
        self.normalize = normalize
        self.member_sums = check_member_sums(member_sums)
        self.has_set_families = any(s.is_set_family for s in sig.inputs)

        self.invariants = TrueInvariants(sig, invariant_degree, member_sums)
        has_parity = sig.group.has_parity
        self.pseudo = PseudoScalars(sig, invariant_degree, member_sums) if has_parity else None
        n_psi = self.pseudo.count if self.pseudo is not None else 0
        self.generators = Generators(sig, degree, member_sums)
        self.odd_generators = (Generators(with_output(sig, flipped(sig.output)), degree, member_sums)
                               if n_psi else None)
        n_odd = self.odd_generators.count if self.odd_generators is not None else 0
        self.n_true, self.n_pseudo = self.invariants.count, n_psi
        if features is not None and not callable(features):
            raise DataError(f"features must be a function of the invariants (*batch, {self.n_true}) -> (*batch, m), "
                            f"not {features!r}; e.g. features=lambda s: torch.cat([s, s[..., :1].log()], -1)")
        self.features = features
        self.n_features = self.n_true if features is None else _feature_width(features, self.n_true)
        self.n_even, self.n_odd = self.generators.count, n_odd

        pairs = torch.triu_indices(n_psi, n_psi)
        self.register_buffer("pair_a", pairs[0], persistent=False)
        self.register_buffer("pair_b", pairs[1], persistent=False)
        n_in = self.n_features + pairs.shape[1]
        n_out = self.n_even + n_odd * n_psi
        self.n_inputs, self.n_outputs = n_in, n_out
        self.mlp = _mlp(n_in, self.hidden, n_out, _activation(activation))
        # with no hidden layer the MLP is already linear: a second linear map would only add a
        # null space to the parameters (which stalls LBFGS)
        self.shortcut = nn.Linear(n_in, n_out) if shortcut and self.hidden else None

        # frozen statistics (identity until calibrated); `calibrated` travels in state_dict
        self.register_buffer("feature_shift", torch.zeros(n_in))
        self.register_buffer("feature_map", torch.eye(n_in))     # z = (s - shift) @ feature_map.T
        self.register_buffer("pseudo_scale", torch.ones(n_psi))
        self.register_buffer("even_map", torch.eye(self.n_even))  # coefficients = h @ even_map
        self.register_buffer("odd_map", torch.eye(n_odd))
        self.register_buffer("calibrated", torch.tensor(not normalize))
        self._ready = not normalize  # a Python mirror: no tensor-valued branch in forward (torch.compile)
        self.register_load_state_dict_post_hook(_sync_ready)

    # -- the model ------------------------------------------------------------------------

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        self._check_inputs(inputs)
        if not self._ready:
            self.calibrate(**inputs)
        psi = self.pseudo(inputs) / self.pseudo_scale if self.n_pseudo else None
        s = self._scalars(inputs, psi)
        z = (s - self.feature_shift) @ self.feature_map.T
        h = self.mlp(z)
        if self.shortcut is not None:
            h = h + self.shortcut(z)
        out = self.generators(h[..., : self.n_even] @ self.even_map, inputs)
        if self.n_odd:
            r = h[..., self.n_even:].unflatten(-1, (self.n_odd, self.n_pseudo))
            odd = (r * psi.unsqueeze(-2)).sum(-1)  # Σ_k ψ_k r_uk: a pseudo-scalar per odd generator
            out = out + self.odd_generators(odd @ self.odd_map, inputs)
        return out

    def _scalars(self, inputs, psi) -> torch.Tensor:
        """The MLP's input before standardisation: true invariants (through `features` if given),
        then ψ_a ψ_b for a <= b."""
        s = self.invariants(inputs)
        if self.features is not None:
            s = self.features(s)
        if psi is not None:
            s = torch.cat([s, psi[..., self.pair_a] * psi[..., self.pair_b]], dim=-1)
        return s

    @torch.no_grad()
    def calibrate(self, **inputs: torch.Tensor) -> "EquivariantNet":
        """Set the normalisation constants from a sample of inputs (then frozen; see the class doc).

        Called automatically on the first forward when normalize=True; call it yourself with a
        representative sample (e.g. the training set) for better statistics."""
        self._check_inputs(inputs)
        if self.normalize:
            if self.n_pseudo:
                self.pseudo_scale.copy_(rms_scale(self.pseudo(inputs)))
            psi = self.pseudo(inputs) / self.pseudo_scale if self.n_pseudo else None
            if self.n_inputs:
                shift, matrix = whitening(self._scalars(inputs, psi))
                self.feature_shift.copy_(shift)
                self.feature_map.copy_(matrix)
            n = batch_shape(self.signature, inputs).numel()  # few samples: per-feature scaling (normalize.py)
            if self.n_even:
                self.even_map.copy_(gram_whitening(self.generators.gram(inputs),
                                                   diagonal=n < SAMPLES_PER_FEATURE * self.n_even))
            if self.n_odd:
                self.odd_map.copy_(gram_whitening(self.odd_generators.gram(inputs),
                                                  diagonal=n < SAMPLES_PER_FEATURE * self.n_odd))
        self.calibrated.fill_(True)
        self._ready = True
        return self

    # -- reporting --------------------------------------------------------------------------

    @property
    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def extra_repr(self) -> str:
        return (f"signature='{self.signature}', degree={self.degree}, invariant_degree={self.invariant_degree},\n"
                f"invariants={self.n_true} true{'' if self.features is None else f' -> {self.n_features} features'} + {self.n_pseudo} pseudo-scalar (MLP reads {self.n_inputs}), "
                f"coefficients={self.n_even} + {self.n_odd} odd x {self.n_pseudo} pseudo-scalars, "
                f"hidden={self.hidden}, normalize={self.normalize}, "
                f"{f'member_sums={self.member_sums!r}, ' if self.has_set_families else ''}parameters={self.n_parameters:,}")

    def _check_inputs(self, inputs: dict) -> None:
        names = [s.name for s in self.signature.inputs]
        if sorted(inputs) != sorted(names):
            raise DataError(f"{self.signature} takes the inputs {', '.join(names)} as keywords, got "
                            f"{', '.join(inputs) or 'none'}; e.g. net({', '.join(f'{n}={n}' for n in names)})")


def _sync_ready(module: EquivariantNet, incompatible) -> None:
    module._ready = bool(module.calibrated)


def _feature_width(features, n_true: int) -> int:
    """m for features: (*batch, n_true) -> (*batch, m), from one probe row (values only set the shape)."""
    with torch.no_grad():
        out = features(torch.ones(1, n_true, dtype=torch.float64))
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != 1:
        raise DataError(f"features must map (*batch, {n_true}) invariants to (*batch, m), but a (1, {n_true}) "
                        f"probe gave {tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}")
    return int(out.shape[1])


def _mlp(n_in: int, hidden: tuple[int, ...], n_out: int, activation: Callable[[], nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, h), activation()]
        width = h
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def _activation(activation) -> Callable[[], nn.Module]:
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise DataError(f"unknown activation {activation!r}; use one of {', '.join(ACTIVATIONS)} "
                            "or a module class, e.g. activation=torch.nn.ELU")
        return ACTIVATIONS[activation]
    if not callable(activation):
        raise DataError(f"activation must be a name or a module class, not {activation!r}; e.g. activation='tanh'")
    return activation


def _check_arguments(sig: Signature, degree, invariant_degree, hidden) -> None:
    if not sig.inputs:
        raise SignatureError(f"{sig} has no inputs: an EquivariantNet needs at least one, e.g. 'O(3): C:2s -> 2s'")
    check_set_families(sig)  # set families with indexed ones: refused (the terms are not written yet)
    # a set family a{n}:1 is fine at any n: each term sums over the members, one feature or generator
    indexed = [s for s in sig.inputs if isinstance(s.family, str) and not s.is_set_family]
    if indexed:
        symbolic = ", ".join(f"{s.name}={s.family!r}" for s in indexed)
        first = indexed[0]
        raise UnsupportedError(
            f"{sig}: the MLP's width depends on the size of the indexed family ({symbolic}); give a concrete size, "
            f"e.g. {first.name}[5]:{first.type} or family_sizes={{'{first.name}': 5}}, or, if its members are "
            f"exchangeable, make it a set family, which runs at any size: {first.name}{{{first.family}}}:{first.type}")
    for name, value in (("degree", degree), ("invariant_degree", invariant_degree)):
        if value is None and name == "invariant_degree":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise DataError(f"{name} must be an int >= 0 (total degree), not {value!r}; "
                            "e.g. EquivariantNet('O(3): C:2s -> 2s', degree=2, invariant_degree=3)")
    if isinstance(hidden, (str, bytes)) or not all(isinstance(h, int) and h > 0 for h in hidden):
        raise DataError(f"hidden must be a sequence of positive ints, not {hidden!r}; e.g. hidden=(128, 128)")
