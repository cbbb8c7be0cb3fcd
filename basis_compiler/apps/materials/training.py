"""One task: draw the data of (law, trial), train one model on the first `size` training
samples, keep the best-validation state, report relative Frobenius errors.

Adam (lr 3e-3, ×0.95 per epoch), batches of 256, `epochs` epochs of at least `min_steps`
steps each (a 100-sample set would otherwise give one step per epoch), float64.
"""

from __future__ import annotations

import copy
import time

import torch

from .laws import haar_rotations, make_split, rotate
from .models import build, parameter_count

AUGMENT_COPIES = 4


def relative_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """‖pred - target‖_F / ‖target‖_F per sample."""
    return (pred - target).flatten(-2).norm(dim=-1) / target.flatten(-2).norm(dim=-1)


def make_data(law: str, n_train: int, n_val: int, n_test: int, seed: int) -> dict:
    """Train/val/test splits and the rotated test copy; the same for every method of a (law, trial)."""
    g = torch.Generator().manual_seed(seed)
    data = {name: make_split(law, n, g) for name, n in (("train", n_train), ("val", n_val), ("test", n_test))}
    Q = haar_rotations(n_test, g, reflections=True)
    C, S = data["test"]
    data["rotated"] = (rotate(Q, C), rotate(Q, S))
    return data


@torch.no_grad()
def _error(model, scale, C, S, batch=4096) -> float:
    errs = [relative_error(model(C[i:i + batch]) * scale, S[i:i + batch]) for i in range(0, len(C), batch)]
    return float(torch.cat(errs).mean())


def train_task(method: str, data: dict, size: int, epochs: int, min_steps: int, seed: int,
               on_epoch=None) -> dict:
    torch.manual_seed(seed)
    C, S = (x[:size] for x in data["train"])
    if method == "voigt_aug":
        g = torch.Generator().manual_seed(seed + 1)
        Q = haar_rotations(AUGMENT_COPIES * size, g, reflections=True)
        C, S = rotate(Q, C.repeat(AUGMENT_COPIES, 1, 1)), rotate(Q, S.repeat(AUGMENT_COPIES, 1, 1))
    model = build(method).double()
    if hasattr(model, "calibrate"):
        model.calibrate(C)
    scale = float(S.square().mean().sqrt())  # a positive constant: keeps every model's symmetry
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.95)
    Cv, Sv = data["val"]
    best, best_state, best_epoch = _error(model, scale, Cv, Sv), copy.deepcopy(model.state_dict()), 0
    start = time.perf_counter()
    g = torch.Generator().manual_seed(seed + 2)
    batch = 256
    steps_per_epoch = max(min_steps, -(-len(C) // batch))
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.cat([torch.randperm(len(C), generator=g) for _ in range(-(-steps_per_epoch * batch // len(C)))])
        for step in range(steps_per_epoch):
            idx = order[step * batch:(step + 1) * batch]
            if len(idx) == 0:
                break
            opt.zero_grad()
            loss = (model(C[idx]) - S[idx] / scale).square().mean()
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        val = _error(model, scale, Cv, Sv)
        if val < best:
            best, best_state, best_epoch = val, copy.deepcopy(model.state_dict()), epoch
        if on_epoch is not None:
            on_epoch(epoch, val)
    seconds = time.perf_counter() - start
    model.load_state_dict(best_state)
    return {"test_error": _error(model, scale, *data["test"]), "rotated_error": _error(model, scale, *data["rotated"]),
            "val_error": best, "best_epoch": best_epoch, "parameters": parameter_count(model), "seconds": seconds}
