"""Hyperelastic laws and sampled deformations: the materials data, generated from the physics.

Right Cauchy-Green tensor C = Fᵀ F, J = det F = sqrt(det C), I1 = tr C, I2 = (I1² - tr C²)/2.
The second Piola-Kirchhoff stress is S = 2 ∂W/∂C.

- Compressible Neo-Hookean, W = μ/2 (I1 - 3) - μ ln J + λ/2 (ln J)²:
      S = μ (I - C⁻¹) + λ ln(J) C⁻¹.
- Compressible two-term Mooney-Rivlin (isochoric invariants Ī1 = J^(-2/3) I1, Ī2 = J^(-4/3) I2),
  W = c1 (Ī1 - 3) + c2 (Ī2 - 3) + κ/2 (J - 1)²:
      S = 2 c1 J^(-2/3) (I - I1/3 C⁻¹) + 2 c2 J^(-4/3) (I1 I - C - 2 I2/3 C⁻¹) + κ J (J - 1) C⁻¹.

Both are isotropic: S(Q C Qᵀ) = Q S(C) Qᵀ for every orthogonal Q, the signature
"O(3): C:2s -> 2s". Deformations are F = R U, R a Haar rotation and U = V diag(e^h) Vᵀ with
log-stretches h uniform in [-H, H] (H = 0.35: stretches 0.70 to 1.42, det F > 0). The principal
directions V are the lab axes turned by at most 15° (a specimen loaded along its axes, as in
uniaxial and biaxial tests), so the training data are not rotation-invariant: the rotated test
copy (C -> Q C Qᵀ, S -> Q S Qᵀ, Q Haar in O(3)) shows what a model does off the lab frame.
Everything is vectorized over samples and seeded by a torch.Generator.
"""

from __future__ import annotations

import math

import torch

from ...errors import DataError

MAX_LOG_STRETCH = 0.35
"""Log-stretches are uniform in [-H, H]."""
MAX_AXIS_TILT = math.radians(15.0)
"""Principal directions are the lab axes turned by at most this angle."""
LAWS = ("neo_hookean", "mooney_rivlin")
NEO_HOOKEAN = {"mu": 1.0, "lam": 1.5}
MOONEY_RIVLIN = {"c1": 0.3, "c2": 0.2, "kappa": 2.0}


def invariants(C: torch.Tensor):
    """(I1, I2, J, C⁻¹) of C (batch, 3, 3)."""
    I1 = C.diagonal(dim1=-2, dim2=-1).sum(-1)
    I2 = (I1 ** 2 - (C * C).sum((-2, -1))) / 2
    J = torch.linalg.det(C).sqrt()
    return I1, I2, J, torch.linalg.inv(C)


def neo_hookean(C: torch.Tensor, mu: float = NEO_HOOKEAN["mu"], lam: float = NEO_HOOKEAN["lam"]) -> torch.Tensor:
    """S = μ (I - C⁻¹) + λ ln(J) C⁻¹."""
    _, _, J, Cinv = invariants(C)
    eye = torch.eye(3, dtype=C.dtype, device=C.device)
    return mu * (eye - Cinv) + lam * torch.log(J)[..., None, None] * Cinv


def mooney_rivlin(C: torch.Tensor, c1: float = MOONEY_RIVLIN["c1"], c2: float = MOONEY_RIVLIN["c2"],
                  kappa: float = MOONEY_RIVLIN["kappa"]) -> torch.Tensor:
    """S = 2c1 J^(-2/3)(I - I1/3 C⁻¹) + 2c2 J^(-4/3)(I1 I - C - 2I2/3 C⁻¹) + κ J(J - 1) C⁻¹."""
    I1, I2, J, Cinv = invariants(C)
    eye = torch.eye(3, dtype=C.dtype, device=C.device)
    e = lambda x: x[..., None, None]  # noqa: E731 - scalar per sample -> broadcast over the matrix
    return (2 * c1 * e(J ** (-2 / 3)) * (eye - e(I1 / 3) * Cinv)
            + 2 * c2 * e(J ** (-4 / 3)) * (e(I1) * eye - C - e(2 * I2 / 3) * Cinv)
            + kappa * e(J * (J - 1)) * Cinv)


def stress(law: str, C: torch.Tensor) -> torch.Tensor:
    """S(C) for a law named in LAWS."""
    if law == "neo_hookean":
        return neo_hookean(C)
    if law == "mooney_rivlin":
        return mooney_rivlin(C)
    raise DataError(f"unknown law {law!r}; use one of {', '.join(LAWS)}, e.g. law='neo_hookean'")


def haar_rotations(n: int, generator: torch.Generator, dtype=torch.float64, reflections: bool = False) -> torch.Tensor:
    """n Haar-random matrices of SO(3) (or O(3) with reflections=True), (n, 3, 3)."""
    A = torch.randn(n, 3, 3, generator=generator, dtype=dtype)
    Q, R = torch.linalg.qr(A)
    Q = Q * torch.sign(R.diagonal(dim1=-2, dim2=-1))[..., None, :]
    flip = torch.where(torch.linalg.det(Q) < 0, -1.0, 1.0).to(dtype)
    if reflections:
        flip = flip * torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0).to(dtype)
    return Q * flip[:, None, None]  # -Q has the opposite determinant in 3D


def small_rotations(n: int, max_angle: float, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """Rotations by an angle uniform in [0, max_angle] about a uniformly random axis (Rodrigues)."""
    axis = torch.randn(n, 3, generator=generator, dtype=dtype)
    axis = axis / axis.norm(dim=-1, keepdim=True)
    angle = torch.rand(n, generator=generator, dtype=dtype) * max_angle
    K = torch.zeros(n, 3, 3, dtype=dtype)
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    K = K - K.transpose(-1, -2)
    s, c = angle.sin()[:, None, None], angle.cos()[:, None, None]
    return torch.eye(3, dtype=dtype) + s * K + (1 - c) * (K @ K)


def sample_deformations(n: int, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """Deformation gradients F = R U (n, 3, 3), det F > 0 (see the module docstring)."""
    h = (2 * torch.rand(n, 3, generator=generator, dtype=dtype) - 1) * MAX_LOG_STRETCH
    V = small_rotations(n, MAX_AXIS_TILT, generator, dtype)
    U = V @ torch.diag_embed(h.exp()) @ V.transpose(-1, -2)
    return haar_rotations(n, generator, dtype) @ U


def make_split(law: str, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(C, S) for n sampled deformations, float64."""
    F = sample_deformations(n, generator)
    C = F.transpose(-1, -2) @ F
    C = (C + C.transpose(-1, -2)) / 2  # exactly symmetric after rounding
    return C, stress(law, C)


def rotate(Q: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """Q X Qᵀ per sample."""
    return Q @ X @ Q.transpose(-1, -2)
