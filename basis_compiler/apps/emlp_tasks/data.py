"""The data of the three EMLP tasks, from the definitions in emlp/datasets.py of the EMLP code
(Finzi, Welling, Wilson, ICML 2021; see docs/emlp_tasks.md), float64, seeded by a torch.Generator.

- O5Synthetic, "O(5): x1:1, x2:1 -> 0": x1, x2 ~ N(0, I_5),
      f = sin(|x1|) - |x2|³/2 + x1·x2 / (|x1| |x2|).
- Inertia, "O(3): m[5]:0, x[5]:1 -> 2s": masses m_i = softplus(z_i), z_i ~ N(0, 1), positions
  x_i ~ N(0, I_3), target I = Σ_i m_i (|x_i|² I_3 - x_i x_iᵀ).
- ParticleInteraction, "O(1,3): p1:1, p2:1, p3:1, p4:1 -> 0": p_i ~ N(0, I_4)/4, η = diag(1,-1,-1,-1),
  a·b = aᵀ η b, L_e = p1 p3ᵀ - (p1·p3 - p1·p1) η, L_μ = (η p2)(η p4)ᵀ - (p2·p4 - p2·p2) η,
      f = 4 Σ_{μν} (L_e)_{μν} (L_μ)_{μν}      (electron-muon scattering, the code's formula).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...errors import DataError

ETA = torch.diag(torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=torch.float64))


def minkowski(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a·b = aᵀ η b over the last axis."""
    return ((a @ ETA.to(a)) * b).sum(-1)


def o5_synthetic(n: int, generator: torch.Generator) -> tuple[dict, torch.Tensor]:
    x = torch.randn(n, 2, 5, generator=generator, dtype=torch.float64)
    return {"x1": x[:, 0], "x2": x[:, 1]}, o5_target(x[:, 0], x[:, 1])


def o5_target(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    r1, r2 = x1.norm(dim=-1), x2.norm(dim=-1)
    return torch.sin(r1) - 0.5 * r2 ** 3 + (x1 * x2).sum(-1) / (r1 * r2)


def inertia(n: int, generator: torch.Generator, k: int = 5) -> tuple[dict, torch.Tensor]:
    m = F.softplus(torch.randn(n, k, generator=generator, dtype=torch.float64))
    x = torch.randn(n, k, 3, generator=generator, dtype=torch.float64)
    return {"m": m, "x": x}, inertia_target(m, x)


def inertia_target(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    eye = torch.eye(3, dtype=x.dtype)
    r2 = x.square().sum(-1)[..., None, None]
    return (m[..., None, None] * (r2 * eye - x[..., :, None] * x[..., None, :])).sum(-3)


def particle_interaction(n: int, generator: torch.Generator) -> tuple[dict, torch.Tensor]:
    p = torch.randn(n, 4, 4, generator=generator, dtype=torch.float64) / 4
    inputs = {f"p{i + 1}": p[:, i] for i in range(4)}
    return inputs, particle_target(**inputs)


def particle_target(p1, p2, p3, p4) -> torch.Tensor:
    eta = ETA.to(p1)
    Le = p1[..., :, None] * p3[..., None, :] - (minkowski(p1, p3) - minkowski(p1, p1))[..., None, None] * eta
    Lmu = ((p2 @ eta)[..., :, None] * (p4 @ eta)[..., None, :]
           - (minkowski(p2, p4) - minkowski(p2, p2))[..., None, None] * eta)
    return 4 * (Le * Lmu).sum((-2, -1))


@dataclass(frozen=True)
class Task:
    name: str
    signature: str
    degree: int             # generators of EquivariantNet
    invariant_degree: int   # invariants the MLP reads
    draw: object            # (n, generator) -> (inputs, target)
    polynomial_degree: int  # terms of SparsePolynomial (the target's degree for the polynomial laws)


TASKS = {
    "o5_synthetic": Task("o5_synthetic", "O(5): x1:1, x2:1 -> 0", 0, 2, o5_synthetic, 4),
    "inertia": Task("inertia", "O(3): m[5]:0, x[5]:1 -> 2s", 2, 2, inertia, 3),
    "particle_interaction": Task("particle_interaction", "O(1,3): p1:1, p2:1, p3:1, p4:1 -> 0", 0, 2,
                                 particle_interaction, 4),
}


def task(name: str) -> Task:
    if name not in TASKS:
        raise DataError(f"unknown EMLP task {name!r}; use one of {', '.join(TASKS)}, e.g. 'inertia'")
    return TASKS[name]
