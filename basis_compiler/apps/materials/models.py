"""The compared models: all map C (batch, 3, 3) to S (batch, 3, 3) and output S / scale, where
`scale` (a positive constant from the training stresses) keeps targets near unit size.

(a) eig_mlp      eigendecomposition C = V diag(λ) Vᵀ, an MLP on the sorted λ gives σ, S = V diag(σ) Vᵀ
(b) eig_deepsets the same with permutation-equivariant (DeepSets) layers on the eigenvalues
(c) voigt_mlp    a plain MLP on the 6 Voigt components of C - I (not equivariant)
(d) voigt_aug    (c) trained on 4 randomly rotated copies of the training set
(e) equivariant  EquivariantNet("O(3): C:2s -> 2s", degree=2, invariant_degree=3) whose MLP reads the
                 invariants tr C, tr C², tr C³ and two functions of them, ln det C and 1/det C
                 (`volume_features`); width EQUIVARIANT_WIDTH, no linear shortcut
(a), (b) and (e) are O(3)-equivariant for any weights; (c) and (d) are not. Every model takes its
width as an argument (benchmarks/materials_ablation.py compares widths on validation data).
"""

from __future__ import annotations

import torch
from torch import nn

from ...nn import EquivariantNet

WIDTH = 64
"""Hidden width of (a)-(d): the width every model had when the comparison was set up; the ablation
found no width that suits (b) better in every setting, and 64 is (a)'s best."""
EQUIVARIANT_WIDTH = 32
"""Hidden width of (e), without the linear shortcut: the lowest validation error of EquivariantNet
over widths 16/32/64 with and without the shortcut, on both laws at 100 and 1000 samples (an
ablation on validation data only; docs/materials.md, "Choosing the models' widths")."""
METHODS = ("eig_mlp", "eig_deepsets", "voigt_mlp", "voigt_aug", "equivariant")
_VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def _mlp(n_in: int, n_out: int, width: int = WIDTH, depth: int = 2) -> nn.Sequential:
    layers, w = [], n_in
    for _ in range(depth):
        layers += [nn.Linear(w, width), nn.SiLU()]
        w = width
    return nn.Sequential(*layers, nn.Linear(w, n_out))


class EigMLP(nn.Module):
    """(a): σ = MLP(λ sorted ascending); reordering λ reorders V, so the map is well defined."""

    def __init__(self, width: int = WIDTH):
        super().__init__()
        self.mlp = _mlp(3, 3, width)

    def forward(self, C):
        lam, V = torch.linalg.eigh(C)
        sigma = self.mlp(lam - 1)
        return V @ torch.diag_embed(sigma) @ V.transpose(-1, -2)


class EigDeepSets(nn.Module):
    """(b): σ_i = ρ(φ(λ_i), Σ_j φ(λ_j)): permutation-equivariant in the eigenvalues."""

    def __init__(self, width: int = WIDTH):
        super().__init__()
        self.phi = _mlp(1, width, width, depth=1)
        self.rho = _mlp(2 * width, 1, width, depth=2)

    def forward(self, C):
        lam, V = torch.linalg.eigh(C)
        h = self.phi((lam - 1)[..., None])                       # (batch, 3, width)
        pooled = h.sum(-2, keepdim=True).expand_as(h)
        sigma = self.rho(torch.cat([h, pooled], dim=-1))[..., 0]
        return V @ torch.diag_embed(sigma) @ V.transpose(-1, -2)


class VoigtMLP(nn.Module):
    """(c), (d): 6 Voigt components of C - I -> 6 components of S."""

    def __init__(self, width: int = WIDTH):
        super().__init__()
        self.mlp = _mlp(6, 6, width)
        i, j = zip(*_VOIGT)
        self.register_buffer("i", torch.tensor(i), persistent=False)
        self.register_buffer("j", torch.tensor(j), persistent=False)

    def forward(self, C):
        eye = torch.eye(3, dtype=C.dtype, device=C.device)
        v = self.mlp((C - eye)[..., self.i, self.j])
        S = C.new_zeros(C.shape)
        S[..., self.i, self.j] = v
        S[..., self.j, self.i] = v
        return S


def volume_features(s: torch.Tensor) -> torch.Tensor:
    """(tr C, tr C², tr C³) -> (tr C, tr C², tr C³, ln det C, 1/det C), det C = (t1³ - 3 t1 t2 + 2 t3) / 6.

    det C follows from the power sums by Newton's identities, so these are still functions of the
    invariants (EquivariantNet's `features`). Why: with generators I, C, C² the exact coefficients
    of S = φ0 I + φ1 C + φ2 C² contain C⁻¹ = (C² - I1 C + I2 I) / det C, hence 1/det C, and the
    volumetric terms ln J = ln(det C) / 2 (Neo-Hookean) and J^(-2/3), J(J - 1) (Mooney-Rivlin),
    which an MLP of tr C, tr C², tr C³ represents poorly (the eigenvalue MLP reads them off λ).
    Without them (e) was 1.1-1.9x behind (a) (docs/materials.md)."""
    t1, t2, t3 = s.unbind(-1)
    det = (t1 ** 3 - 3 * t1 * t2 + 2 * t3) / 6
    return torch.cat([s, det.log().unsqueeze(-1), det.reciprocal().unsqueeze(-1)], dim=-1)


class Equivariant(nn.Module):
    """(e): EquivariantNet on "O(3): C:2s -> 2s" (generators I, C, C²; invariants tr C, tr C², tr C³,
    the MLP also reads ln det C and 1/det C: `volume_features`)."""

    def __init__(self, width: int = EQUIVARIANT_WIDTH, shortcut: bool = False):
        super().__init__()
        self.net = EquivariantNet("O(3): C:2s -> 2s", degree=2, invariant_degree=3, hidden=(width, width),
                                  features=volume_features, shortcut=shortcut)

    def calibrate(self, C):
        """Normalisation constants from the training inputs (EquivariantNet.calibrate)."""
        self.net.calibrate(C=C)

    def forward(self, C):
        return self.net(C=C)


MODEL_OPTIONS = {"eig_mlp": {"width": WIDTH}, "eig_deepsets": {"width": WIDTH}, "voigt_mlp": {"width": WIDTH},
                 "voigt_aug": {"width": WIDTH}, "equivariant": {"width": EQUIVARIANT_WIDTH, "shortcut": False}}
"""Each model's constructor options in the default grid (runner.Config.model_options): saved with
every result, so a folder made with other widths is never silently mixed with this one."""


def build(method: str, **options) -> nn.Module:
    """The model of `method`; options (width, and shortcut for "equivariant") go to its constructor."""
    return {"eig_mlp": EigMLP, "eig_deepsets": EigDeepSets, "voigt_mlp": VoigtMLP, "voigt_aug": VoigtMLP,
            "equivariant": Equivariant}[method](**options)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
