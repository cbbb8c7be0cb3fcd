"""One task: draw the data of (law, trial), train one model on the first `size` training
samples, keep the best-validation state, report relative Frobenius errors.

Every model is trained the same way (float64):

- optimizer "lbfgs" (default): full-batch L-BFGS (strong Wolfe line search, history 50), `epochs`
  rounds of `steps` iterations, a validation check after each round;
- optimizer "adam" (the first committed runs): Adam (lr 3e-3, ×0.95 per epoch), batches of 256,
  `epochs` epochs of at least `steps` steps each.

loss "relative" (default): mean over samples of ‖Ŝ − S‖²_F / ‖S‖²_F, the square of the reported
per-sample error; loss "mse": mean of ‖Ŝ − S‖²_F / scale² (the first committed runs).
"""

from __future__ import annotations

import copy
import time

import torch

from ...errors import DataError
from .laws import haar_rotations, make_split, rotate
from .models import MODEL_OPTIONS, build, parameter_count

AUGMENT_COPIES = 4
OPTIMIZERS = ("lbfgs", "adam")
LOSSES = ("relative", "mse")


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
               on_epoch=None, optimizer: str = "lbfgs", loss: str = "relative",
               model_options: dict | None = None) -> dict:
    """Train `method` on the first `size` training samples of `data` and report the errors of its
    best-validation state. model_options: method -> constructor options (models.MODEL_OPTIONS,
    the default; e.g. {"equivariant": {"width": 16, "shortcut": True}})."""
    if optimizer not in OPTIMIZERS or loss not in LOSSES:
        raise DataError(f"optimizer must be one of {', '.join(OPTIMIZERS)} and loss one of {', '.join(LOSSES)}, "
                        f"not {optimizer!r} / {loss!r}; e.g. optimizer='lbfgs', loss='relative'")
    torch.manual_seed(seed)
    C, S = (x[:size] for x in data["train"])
    if method == "voigt_aug":
        g = torch.Generator().manual_seed(seed + 1)
        Q = haar_rotations(AUGMENT_COPIES * size, g, reflections=True)
        C, S = rotate(Q, C.repeat(AUGMENT_COPIES, 1, 1)), rotate(Q, S.repeat(AUGMENT_COPIES, 1, 1))
    model = build(method, **(MODEL_OPTIONS if model_options is None else model_options).get(method, {})).double()
    if hasattr(model, "calibrate"):
        model.calibrate(C)
    scale = float(S.square().mean().sqrt())  # a positive constant: keeps every model's symmetry
    target = S / scale
    # per-sample weights of the squared error: 1 (mse) or 1 / ‖S‖² (relative; S is never 0 here)
    weight = 1 / target.flatten(-2).square().sum(-1) if loss == "relative" else torch.ones(len(S), dtype=S.dtype)

    def objective(idx):
        return ((model(C[idx]) - target[idx]).flatten(-2).square().sum(-1) * weight[idx]).mean()

    Cv, Sv = data["val"]
    best, best_state, best_epoch = _error(model, scale, Cv, Sv), copy.deepcopy(model.state_dict()), 0
    start = time.perf_counter()
    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=min_steps, history_size=50,
                                line_search_fn="strong_wolfe")
        everything = torch.arange(len(C))

        def closure():
            opt.zero_grad()
            value = objective(everything)
            value.backward()
            return value

        def one_epoch():
            opt.step(closure)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.95)
        g = torch.Generator().manual_seed(seed + 2)
        batch = 256
        steps_per_epoch = max(min_steps, -(-len(C) // batch))

        def one_epoch():
            order = torch.cat([torch.randperm(len(C), generator=g) for _ in range(-(-steps_per_epoch * batch // len(C)))])
            for step in range(steps_per_epoch):
                idx = order[step * batch:(step + 1) * batch]
                if len(idx) == 0:
                    break
                opt.zero_grad()
                objective(idx).backward()
                opt.step()
            sched.step()
    for epoch in range(1, epochs + 1):
        model.train()
        one_epoch()
        model.eval()
        val = _error(model, scale, Cv, Sv)
        if val < best:  # a NaN (a diverged step) is never kept
            best, best_state, best_epoch = val, copy.deepcopy(model.state_dict()), epoch
        if on_epoch is not None:
            on_epoch(epoch, val)
    seconds = time.perf_counter() - start
    model.load_state_dict(best_state)
    return {"test_error": _error(model, scale, *data["test"]), "rotated_error": _error(model, scale, *data["rotated"]),
            "val_error": best, "best_epoch": best_epoch, "parameters": parameter_count(model), "seconds": seconds}
