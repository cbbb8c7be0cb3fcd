"""Training with the paper's recipe: Adam, ExponentialLR per epoch, early stopping on validation loss."""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
from torch import nn

from ...errors import DataError
from .models import SVH, BaselineModel, SVHDiag, SVHPerm
from .spectral import recovery_loss
from .data import Datasets, Setting, Split, make_datasets


class Method(NamedTuple):
    """A learned method: how to build it and the paper's learning rate."""

    build: Callable[[int, int], nn.Module]
    """(n, d) -> model mapping S (batch, n, d) to v̂ (batch, n)."""
    lr: float
    """Adam learning rate used in the paper."""


METHODS: dict[str, Method] = {
    "baseline": Method(BaselineModel, 1e-3),
    "svh_diag": Method(SVHDiag, 5e-4),
    "svh": Method(SVH, 3e-4),
    "svh_perm": Method(SVHPerm, 1e-3),
}
"""The paper's learned methods and learning rates, and SVH-Perm (not in the paper; its rate is
Adam's default, untuned)."""


@dataclass(frozen=True)
class EpochRecord:
    """What the progress callback receives after each epoch."""

    epoch: int
    """1-based epoch number."""
    train_loss: float
    """Mean training loss over the steps taken this epoch (nan if all were skipped)."""
    val_loss: float
    """Validation loss after the epoch."""
    best_val_loss: float
    """Best validation loss so far."""
    lr: float
    """Learning rate used during the epoch."""


@dataclass(frozen=True)
class TrainResult:
    """Outcome of one training run (accuracies of the best-validation model)."""

    train_acc: float
    """mean ⟨v0, v̂⟩² on the training set."""
    val_acc: float
    """mean ⟨v0, v̂⟩² on the validation set."""
    test_acc: float
    """mean ⟨v0, v̂⟩² on the test set."""
    best_val_loss: float
    """Validation loss of the kept model."""
    epochs: int
    """Epochs run."""
    best_epoch: int
    """Epoch whose state was kept (0: the initial model)."""
    steps: int
    """Optimizer steps taken."""
    skipped_steps: int
    """Steps skipped because the loss or a gradient was non-finite."""
    seconds: float
    """Wall time of the training loop."""
    seconds_per_step: float
    """seconds / attempted steps."""
    val_history: tuple[float, ...]
    """Validation loss before training and after each epoch."""


def build_model(method: str, n: int, d: int, seed: int = 0, **options) -> nn.Module:
    """Construct METHODS[method] with its initialization seeded (global RNG state left untouched);
    options go to the model's constructor (e.g. pair_sums="mean" for svh_perm)."""
    if method not in METHODS:
        raise DataError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return METHODS[method].build(n, d, **options)


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, batch: int = 500) -> tuple[float, float]:
    """(loss, accuracy) of model on a split, in batches; loss = 1 − accuracy."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for start in range(0, split.S.shape[0], batch):
        v_hat = model(split.S[start : start + batch])
        total += float(((split.v0[start : start + batch] * v_hat).sum(-1) ** 2).sum())
        count += v_hat.shape[0]
    model.train(was_training)
    acc = total / max(count, 1)
    return 1.0 - acc, acc


def make_adam(params: list[torch.Tensor], lr: float) -> torch.optim.Adam:
    """Adam with the fused kernel where it applies (CPU/CUDA floating point parameters).

    The fused kernel does the same update in one pass: about 4x faster than the default foreach
    kernel on one CPU thread for SVH's 1.3M parameters (benchmarks/recovery_speed.py).
    """
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for p in params)
    return torch.optim.Adam(params, lr=lr, fused=fused)


def _grads_finite(params: list[torch.Tensor]) -> bool:
    return all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in params)


def train(
    model: nn.Module,
    data: Setting | Datasets,
    lr: float,
    max_epochs: int | None = None,
    patience: int = 20,
    batch: int = 100,
    decay: float = 0.999,
    seed: int = 0,
    progress: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """Train in place; keeps (loads) the best-validation state_dict; max_epochs=None runs until early stopping."""
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise DataError(f"lr must be a finite number > 0, got {lr!r}")
    if max_epochs is not None and (not isinstance(max_epochs, int) or max_epochs < 0):
        raise DataError(f"max_epochs must be None or an int >= 0, got {max_epochs!r}")
    if not isinstance(patience, int) or patience < 1:
        raise DataError(f"patience must be an int >= 1, got {patience!r}")
    if not isinstance(batch, int) or batch < 1:
        raise DataError(f"batch must be an int >= 1, got {batch!r}")
    if not (isinstance(decay, (int, float)) and 0 < decay <= 1):
        raise DataError(f"decay must lie in (0, 1], got {decay!r}")
    datasets = make_datasets(data) if isinstance(data, Setting) else data
    train_split, val_split = datasets.train, datasets.val

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_adam(params, lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=decay)
    shuffle = torch.Generator().manual_seed(seed)

    best_val, _ = evaluate(model, val_split)
    best_val = best_val if math.isfinite(best_val) else math.inf
    best_state, best_epoch = copy.deepcopy(model.state_dict()), 0
    history = [best_val]
    steps = skipped = epoch = waited = 0
    num = train_split.S.shape[0]
    start = time.perf_counter()
    model.train()
    while max_epochs is None or epoch < max_epochs:
        epoch += 1
        lr_now = optimizer.param_groups[0]["lr"]
        order = torch.randperm(num, generator=shuffle)
        loss_sum, loss_count = 0.0, 0
        for first in range(0, num, batch):
            idx = order[first : first + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = recovery_loss(model(train_split.S[idx]), train_split.v0[idx])
            # A non-finite loss or gradient would poison Adam's moments for good: skip the step.
            if not torch.isfinite(loss):
                skipped += 1
                continue
            loss.backward()
            if not _grads_finite(params):
                skipped += 1
                continue
            optimizer.step()
            steps += 1
            loss_sum += float(loss.detach())
            loss_count += 1
        optimizer.zero_grad(set_to_none=True)
        with warnings.catch_warnings():
            # Fires only when every step so far was skipped; the schedule stays per-epoch regardless.
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)`")
            scheduler.step()
        val_loss, _ = evaluate(model, val_split)
        history.append(val_loss)
        if val_loss < best_val:  # False for nan, so a diverged model is never kept
            best_val, best_epoch, waited = val_loss, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
        if progress is not None:
            train_loss = loss_sum / loss_count if loss_count else float("nan")
            progress(EpochRecord(epoch, train_loss, val_loss, best_val, lr_now))
        if waited >= patience:
            break
    seconds = time.perf_counter() - start
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(
        train_acc=evaluate(model, train_split)[1],
        val_acc=evaluate(model, val_split)[1],
        test_acc=evaluate(model, datasets.test)[1],
        best_val_loss=best_val,
        epochs=epoch,
        best_epoch=best_epoch,
        steps=steps,
        skipped_steps=skipped,
        seconds=seconds,
        seconds_per_step=seconds / max(steps + skipped, 1),
        val_history=tuple(history),
    )
