"""Feature statistics that keep equivariance: constants computed once, then frozen.

Invariants of different degrees differ by orders of magnitude (tr C³ against tr C), so the MLP
reads standardised features. A fixed affine map of a true scalar is still a true scalar, so
shifting and scaling those is safe. A pseudo-scalar must stay odd under reflections: it is only
divided by a positive constant (its root mean square), never shifted. The statistics are
computed from data (the first batch the net sees, or `calibrate`) and then never change, so the
map is the same function for x and for g·x.
"""

from __future__ import annotations

import torch

TINY = 1e-12
"""Relative spread below which a feature counts as constant on the calibration data."""


def standardize_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(shift, scale) per last-axis feature: mean and standard deviation over all other axes.

    A feature that is constant on the data (or a batch of one) keeps its mean as shift and gets
    scale max(|mean|, 1), so it enters the MLP as 0 instead of dividing by zero."""
    flat = x.reshape(-1, x.shape[-1])
    mean = flat.mean(0)
    std = flat.std(0, unbiased=False) if flat.shape[0] > 1 else torch.zeros_like(mean)
    fallback = torch.clamp(mean.abs(), min=1.0)
    scale = torch.where(std > TINY * fallback, std, fallback)
    return mean, scale


def rms_scale(x: torch.Tensor) -> torch.Tensor:
    """Root mean square per last-axis feature (1 where the feature is zero on the data)."""
    flat = x.reshape(-1, x.shape[-1])
    rms = flat.square().mean(0).sqrt()
    return torch.where(rms > 0, rms, torch.ones_like(rms))
