"""Data of one (group, trial), training of one model, and its errors as drawn and in random frames.

Errors are relative per level over a whole set: ||pred - target|| / ||target|| with the norms
summed over all samples and components, so a level's error is one number that large and small
signatures enter by their size. In random frames every test curve gets its own group element g
(rotation/reflection, plus a boost for O(1,3)); the model sees g·x and is compared with g·S(x),
which is the signature of the moved curve because the signature is equivariant under every
linear map.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Callable, NamedTuple

import numpy as np
import torch

from ...symbolic.signature import Signature
from ...testing import random_group_element
from ..common import derive_seed
from .config import Config, group_dim
from .paths import act_on_levels, curve_signature, draw_curves, evaluate_curves


class Split(NamedTuple):
    points: torch.Tensor           # (n, steps, D) coarse observations, float32
    levels: list[torch.Tensor]     # signature of the fine path, [(n, D), (n, D, D), ...], float32

    def take(self, n: int) -> "Split":
        return Split(self.points[:n], [s[:n] for s in self.levels])


class Data(NamedTuple):
    train: Split
    val: Split
    test: Split
    frames: torch.Tensor           # (n_test, D, D): one group element per test curve


def make_data(config: Config, group: str, trial: int, dtype=torch.float32) -> Data:
    """The curves of one (group, trial), shared by every method and size (sizes take the first n)."""
    dim = group_dim(group)
    sizes = (config.n_train, config.n_val, config.n_test)
    coefficients = draw_curves(sum(sizes), dim, config.steps, derive_seed(config.seed, "data", group, trial), config.fine)
    points = evaluate_curves(coefficients, config.steps)
    levels = curve_signature(coefficients, config.fine, config.depth)
    splits, start = [], 0
    for n in sizes:
        splits.append(Split(points[start:start + n].to(dtype), [s[start:start + n].to(dtype) for s in levels]))
        start += n
    rng = np.random.default_rng(derive_seed(config.seed, "frames", group, trial))
    g = Signature.parse(f"{group}: x:1 -> 1").group
    frames = torch.from_numpy(np.stack([random_group_element(g, rng) for _ in range(config.n_test)])).to(dtype)
    return Data(*splits, frames)


def moved(split: Split, frames: torch.Tensor) -> Split:
    """g·x and g·S(x) per sample."""
    points = torch.einsum("bij,btj->bti", frames, split.points)
    return Split(points, act_on_levels(frames, split.levels))


@torch.no_grad()
def relative_errors(model, split: Split, chunk: int = 1000) -> list[float]:
    """||pred - target|| / ||target|| per level over the whole split."""
    model.eval()
    err = [0.0] * len(split.levels)
    ref = [float(s.double().square().sum()) for s in split.levels]
    for i in range(0, split.points.shape[0], chunk):
        for k, (p, s) in enumerate(zip(model(split.points[i:i + chunk]), split.levels)):
            err[k] += float((p.double() - s[i:i + chunk].double()).square().sum())
    return [math.sqrt(e / r) if r > 0 else math.sqrt(e) for e, r in zip(err, ref)]


class TrainResult(NamedTuple):
    epochs: int
    best_epoch: int
    val_error: list[float]


def train(model, train_split: Split, val: Split, config: Config, lr: float, seed: int,
          progress: Callable[[int, float], None] | None = None) -> TrainResult:
    """Adam with a cosine learning rate on Σ_k MSE_k / mean(S_k²), keeping the best validation epoch.

    Each level's loss is divided by its training mean square, so every level counts the same
    whatever its size (level 3 is larger than level 1 by the cube of the path's scale)."""
    model.calibrate(train_split.points, train_split.levels)
    weights = [1.0 / float(s.square().mean()) for s in train_split.levels]
    n = train_split.points.shape[0]
    per_epoch = math.ceil(n / config.batch)
    epochs = max(config.epochs, math.ceil(config.min_steps / per_epoch))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * per_epoch)
    gen = torch.Generator().manual_seed(seed)
    best, best_epoch, best_state = math.inf, 0, copy.deepcopy(model.state_dict())
    best_val = []
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, config.batch):
            idx = order[i:i + config.batch]
            pred = model(train_split.points[idx])
            loss = sum(w * (p - s[idx]).square().mean() for w, p, s in zip(weights, pred, train_split.levels))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        val_error = relative_errors(model, val)
        score = sum(e * e for e in val_error)
        if score < best:
            best, best_epoch, best_val = score, epoch, val_error
            best_state = copy.deepcopy(model.state_dict())
        if progress is not None:
            progress(epoch, math.sqrt(score))
    model.load_state_dict(best_state)
    return TrainResult(epochs, best_epoch, best_val)


def run_method(method: str, model, data: Data, size: int, config: Config, seed: int,
               progress: Callable[[int, float], None] | None = None) -> dict:
    """Train (unless method is 'coarse') and evaluate one model; the fields of a results record."""
    start = time.perf_counter()
    if method == "coarse":
        fit = TrainResult(0, 0, relative_errors(model, data.val))
    else:
        lr = config.equivariant_lr if method == "equivariant" else config.lr
        fit = train(model, data.train.take(size), data.val, config, lr, seed, progress)
    test = relative_errors(model, data.test)
    frames = relative_errors(model, moved(data.test, data.frames))
    seconds = time.perf_counter() - start
    return {"test_error": test, "frame_error": frames, "val_error": fit.val_error, "epochs": fit.epochs,
            "best_epoch": fit.best_epoch, "seconds": seconds}
