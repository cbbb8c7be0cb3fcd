"""The three ways to predict a curve's signature from its coarse points (points (B, steps, D) in,
a list of levels [(B, D), (B, D, D), ...] out).

- CoarseSignature: the signature of the coarse piecewise-linear path. No learning; its error is
  the discretization error a model has to beat.
- PlainMLP: an MLP from the flattened points to the flattened levels. Not equivariant.
- EquivariantSignatureNet: one EquivariantNet per level k on "GROUP: x[steps-1]:1 -> k", reading
  the coarse increments (translation invariant; the signature only depends on them), generators
  up to degree k, and the Gram matrix of the increments (invariant_degree 2) as the MLP's input,
  added to the coarse signature (see the class).
"""

from __future__ import annotations

import torch
from torch import nn

from ...nn import EquivariantNet
from .paths import increments, signature


class CoarseSignature(nn.Module):
    def __init__(self, depth: int):
        super().__init__()
        self.depth = depth

    def forward(self, points: torch.Tensor) -> list[torch.Tensor]:
        return signature(points, self.depth)


class PlainMLP(nn.Module):
    """Flattened points -> two hidden SiLU layers -> flattened levels, each level times a constant
    scale (its training root mean square), so that every level is learned at unit size."""

    def __init__(self, steps: int, dim: int, depth: int, hidden: int):
        super().__init__()
        self.dim, self.depth = dim, depth
        sizes = [dim**k for k in range(1, depth + 1)]
        self.sizes = sizes
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(steps * dim, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, sum(sizes)))
        self.register_buffer("scales", torch.ones(depth))

    def calibrate(self, points: torch.Tensor, levels: list[torch.Tensor]) -> None:
        with torch.no_grad():
            self.scales.copy_(torch.stack([s.square().mean().sqrt() for s in levels]).to(self.scales))

    def forward(self, points: torch.Tensor) -> list[torch.Tensor]:
        parts = self.net(points).split(self.sizes, dim=-1)
        return [p.unflatten(-1, (self.dim,) * k) * self.scales[k - 1] for k, p in enumerate(parts, start=1)]


class EquivariantSignatureNet(nn.Module):
    """S_k(coarse path) + EquivariantNet_k(increments) for k = 1..depth.

    The coarse signature's level k is a fixed combination Σ_t c_t g_t of the same degree-k
    generators (constant c_t), so this is EquivariantNet with its coefficients offset by those
    constants: it starts exactly at method (a) (the nets' output layers start at zero) and
    learns the correction. Without the offset Adam spends most of a short run finding the
    constants (a quick run from scratch ended at 5x the coarse path's error at level 2).
    """

    def __init__(self, group: str, steps: int, depth: int, hidden: int):
        super().__init__()
        self.depth = depth
        self.signatures = [f"{group}: x[{steps - 1}]:1 -> {k}" for k in range(1, depth + 1)]
        self.nets = nn.ModuleList(EquivariantNet(s, degree=k, invariant_degree=2, hidden=(hidden, hidden))
                                  for k, s in enumerate(self.signatures, start=1))
        with torch.no_grad():
            for net in self.nets:
                for layer in (net.mlp[-1], net.shortcut):
                    if layer is not None:
                        layer.weight.zero_()
                        layer.bias.zero_()

    def calibrate(self, points: torch.Tensor, levels: list[torch.Tensor] | None = None) -> None:
        x = increments(points)
        for net in self.nets:
            net.calibrate(x=x)

    def forward(self, points: torch.Tensor) -> list[torch.Tensor]:
        x = increments(points)
        return [s + net(x=x) for s, net in zip(signature(points, self.depth), self.nets)]


def build_model(method: str, group_dim: int, group: str, steps: int, depth: int, hidden: int) -> nn.Module:
    if method == "coarse":
        return CoarseSignature(depth)
    if method == "mlp":
        return PlainMLP(steps, group_dim, depth, hidden)
    if method == "equivariant":
        return EquivariantSignatureNet(group, steps, depth, hidden)
    raise ValueError(f"unknown method {method!r}")  # Config.validate names the valid ones first


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
