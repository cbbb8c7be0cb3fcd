"""The paper's recovery models: the non-equivariant MLP baseline, SVH-Diag and SVH."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from . import reference_layers
from .spectral import DEFAULT_MIN_GAP, EigenHead

Features = Callable[[torch.Tensor], torch.Tensor]
Covariant = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

WIDTH = 128
"""Hidden width of the paper's MLPs."""


def mlp(in_features: int, out_features: int, width: int = WIDTH) -> nn.Sequential:
    """Linear(in,w), ReLU, Linear(w,w), ReLU, Linear(w,w), ReLU, Linear(w,out) (the paper's MLP)."""
    return nn.Sequential(
        nn.Linear(in_features, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, out_features),
    )


def symmetric_from_upper(x: torch.Tensor, d: int) -> torch.Tensor:
    """(..., d, d) symmetric matrix whose upper triangle (row-major, diagonal included) is x (..., d(d+1)/2)."""
    i, j = torch.triu_indices(d, d, device=x.device)
    U = x.new_zeros(x.shape[:-1] + (d, d))
    U[..., i, j] = x
    return U + U.transpose(-1, -2) - torch.diag_embed(torch.diagonal(U, dim1=-2, dim2=-1))


class BaselineModel(nn.Module):
    """Non-equivariant baseline: MLP(flattened S) -> upper triangle of A -> v̂ = S·top_eigvec(A)."""

    def __init__(self, n: int, d: int, min_gap: float = DEFAULT_MIN_GAP):
        super().__init__()
        self.n, self.d = n, d
        self.mlp = mlp(n * d, d * (d + 1) // 2)
        self.head = EigenHead(min_gap)

    def matrix(self, S: torch.Tensor) -> torch.Tensor:
        """The symmetric (batch, d, d) matrix A(S)."""
        return symmetric_from_upper(self.mlp(S.flatten(-2)), self.d)

    def forward(self, S: torch.Tensor) -> torch.Tensor:
        return self.head(self.matrix(S), S)


class _InvariantCoefficientModel(nn.Module):
    """MLP on invariant features -> coefficients of an equivariant matrix basis -> eigen head.

    The identity coefficient (last) cannot change v̂, since A + c·I has the eigenvectors of A;
    it is kept for fidelity to the paper's parametrization (and its parameter count).
    """

    def __init__(
        self,
        n: int,
        d: int,
        n_features: int,
        n_coeffs: int,
        features: Features,
        covariant: Covariant,
        min_gap: float,
    ):
        super().__init__()
        self.n, self.d = n, d
        # Plain callables become attributes; nn.Module layers register as submodules.
        self.features = features
        self.covariant = covariant
        self.mlp = mlp(n_features, n_coeffs)
        self.head = EigenHead(min_gap)

    def matrix(self, S: torch.Tensor) -> torch.Tensor:
        """The symmetric (batch, d, d) matrix A(S), equivariant: A(S·O) = Oᵀ A(S) O."""
        return self.covariant(self.mlp(self.features(S)), S)

    def forward(self, S: torch.Tensor) -> torch.Tensor:
        return self.head(self.matrix(S), S)


class SVHDiag(_InvariantCoefficientModel):
    """SVH-Diag: MLP((‖a_i‖²)_i) -> n+1 coefficients of {a_i a_iᵀ} ∪ {I} (identity last; it cannot change v̂)."""

    def __init__(
        self,
        n: int,
        d: int,
        features: Features = reference_layers.diag_features,
        covariant: Covariant = reference_layers.diag_covariant,
        min_gap: float = DEFAULT_MIN_GAP,
    ):
        super().__init__(n, d, n, n + 1, features, covariant, min_gap)


class SVH(_InvariantCoefficientModel):
    """SVH: MLP(upper triangle of S Sᵀ) -> n(n+1)/2 + 1 coefficients of {(a_i a_jᵀ + a_j a_iᵀ)/2} ∪ {I} (identity last; it cannot change v̂)."""

    def __init__(
        self,
        n: int,
        d: int,
        features: Features = reference_layers.gram_features,
        covariant: Covariant = reference_layers.gram_covariant,
        min_gap: float = DEFAULT_MIN_GAP,
    ):
        m = n * (n + 1) // 2
        super().__init__(n, d, m, m + 1, features, covariant, min_gap)


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
