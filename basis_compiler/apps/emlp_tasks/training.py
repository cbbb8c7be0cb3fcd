"""One task of the grid: train EquivariantNet or a plain MLP on the first `size` training samples.

Both models are trained the same way, in float64: the target is shifted by its training mean
(scalar outputs only: a constant is invariant) and divided by its training root mean square
(a positive constant), the loss is the mean squared error on that scale, the optimizer is
full-batch L-BFGS (strong Wolfe line search, history 50) for `epochs` rounds of `steps`
iterations, and the state with the lowest validation MSE is kept. Weight decay: the loss gets
λ Σ‖W‖² over the weight matrices (not biases), and each model is trained once per λ of the
configuration's grid (default 0, 0.01, 0.1: the same grid and budget per λ for both models), the
run with the lowest validation MSE is reported. Nothing is chosen on test data. Errors are MSE in the
target's own units, as in the EMLP paper's plots.

The third model, "polynomial", is `SparsePolynomial` (nn/sparse.py): the generated polynomial
layer of the task's signature up to `polynomial_degree`, fitted by its lasso path with λ chosen
on the same validation set (no gradient steps, no weight-decay grid).
"""

from __future__ import annotations

import copy
import time

import torch
from torch import nn

from ...errors import DataError
from ...nn import EquivariantNet, SparsePolynomial
from .data import Task

HIDDEN = (128, 128)
MODELS = ("equivariant", "polynomial", "mlp")


class PlainMLP(nn.Module):
    """The inputs flattened and standardised per coordinate (constants from the training set),
    an MLP with SiLU, the output reshaped to the target's shape. Not equivariant."""

    def __init__(self, names: list[str], inputs: dict, out_shape: tuple[int, ...], hidden=HIDDEN):
        super().__init__()
        self.names, self.out_shape = names, tuple(out_shape)
        flat = self._flat(inputs)
        self.register_buffer("mean", flat.mean(0))
        self.register_buffer("std", flat.std(0).clamp_min(1e-12))
        layers, width = [], flat.shape[1]
        for h in hidden:
            layers += [nn.Linear(width, h), nn.SiLU()]
            width = h
        n_out = 1
        for s in self.out_shape:
            n_out *= s
        layers.append(nn.Linear(width, n_out))
        self.mlp = nn.Sequential(*layers)

    def _flat(self, inputs):
        first = inputs[self.names[0]]
        return torch.cat([inputs[k].reshape(first.shape[0], -1) for k in self.names], dim=1)

    def forward(self, **inputs):
        y = self.mlp((self._flat(inputs) - self.mean) / self.std)
        return y.reshape((y.shape[0],) + self.out_shape)


def build(model: str, task: Task, inputs: dict, target: torch.Tensor) -> nn.Module:
    if model == "equivariant":
        net = EquivariantNet(task.signature, task.degree, task.invariant_degree, hidden=HIDDEN).double()
        return net.calibrate(**inputs)
    if model == "mlp":
        names = [name.split("[")[0].split(":")[0].strip()
                 for name in task.signature.split(":", 1)[1].split("->")[0].split(",")]
        return PlainMLP(names, inputs, target.shape[1:]).double()
    raise DataError(f"build makes the gradient-trained models, not {model!r}; use 'equivariant' or 'mlp' "
                    "(the 'polynomial' model is fitted by train_task)")


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _take(inputs: dict, idx) -> dict:
    return {k: v[idx] for k, v in inputs.items()}


@torch.no_grad()
def mse(model, inputs: dict, target: torch.Tensor, shift: float, scale: float, batch: int = 4096) -> float:
    """Mean over samples and components of (prediction - target)², in the target's units."""
    n = target.shape[0]
    total = 0.0
    for i in range(0, n, batch):
        part = slice(i, i + batch)
        pred = model(**_take(inputs, part)) * scale + shift
        total += float((pred - target[part]).square().sum())
    return total / target.numel()


def train_task(model_name: str, task: Task, data: dict, size: int, epochs: int, steps: int, seed: int,
               weight_decays: tuple[float, ...] = (0.0,)) -> dict:
    """Train once per weight decay λ (same seed, same budget each) and keep the run with the lowest
    validation MSE; `weight_decay` in the result is the chosen λ, `seconds` the total of all runs."""
    if not weight_decays or any(not (w >= 0) for w in weight_decays):
        raise DataError(f"weight_decays must be a nonempty tuple of numbers >= 0, not {weight_decays!r}; "
                        "e.g. (0.0, 0.01, 0.1)")
    if model_name == "polynomial":
        return _fit_polynomial(task, data, size)
    runs = [_train_one(model_name, task, data, size, epochs, steps, seed, float(w)) for w in weight_decays]
    best = min(runs, key=lambda r: r["val_mse"])  # the first (listed) of equal ones
    return {**best, "seconds": sum(r["seconds"] for r in runs)}


def _fit_polynomial(task: Task, data: dict, size: int) -> dict:
    """SparsePolynomial on the first `size` training samples, λ chosen on the validation set."""
    inputs, y = data["train"]
    inputs, y = _take(inputs, slice(0, size)), y[:size]
    start = time.perf_counter()
    law = SparsePolynomial(task.signature, task.polynomial_degree).fit(inputs, y, validation=data["val"])
    seconds = time.perf_counter() - start
    test_inputs, test_y = data["test"]
    test = mse(law, test_inputs, test_y, 0.0, 1.0)
    return {"test_mse": test, "test_relative_mse": test / _target_power(test_y), "train_mse": mse(law, inputs, y, 0.0, 1.0),
            "val_mse": law.fit_report["val_mse"], "best_epoch": None, "parameters": law.n_coeffs,
            "support": law.fit_report["support"], "seconds": seconds, "weight_decay": None}


def _target_power(y: torch.Tensor) -> float:
    """The relative MSE's denominator: the mean square of a tensor target, the variance of a scalar one."""
    return float(y.square().mean() if y.dim() > 1 else y.var())


def _train_one(model_name: str, task: Task, data: dict, size: int, epochs: int, steps: int, seed: int,
               weight_decay: float) -> dict:
    torch.manual_seed(seed)
    inputs, y = data["train"]
    inputs, y = _take(inputs, slice(0, size)), y[:size]
    shift = float(y.mean()) if y.dim() == 1 else 0.0   # only a scalar output may be shifted
    scale = float((y - shift).square().mean().sqrt())
    target = (y - shift) / scale
    model = build(model_name, task, inputs, y)
    opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=steps, history_size=50, line_search_fn="strong_wolfe")

    matrices = [p for p in model.parameters() if p.dim() > 1]  # weights, not biases

    def closure():
        opt.zero_grad()
        value = (model(**inputs) - target).square().mean()
        if weight_decay:
            value = value + weight_decay * sum(w.square().sum() for w in matrices)
        value.backward()
        return value

    val_inputs, val_y = data["val"]
    best, best_state, best_epoch = mse(model, val_inputs, val_y, shift, scale), copy.deepcopy(model.state_dict()), 0
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        opt.step(closure)
        val = mse(model, val_inputs, val_y, shift, scale)
        if val < best:  # a NaN (a diverged step) is never kept
            best, best_state, best_epoch = val, copy.deepcopy(model.state_dict()), epoch
    seconds = time.perf_counter() - start
    model.load_state_dict(best_state)
    test_inputs, test_y = data["test"]
    test = mse(model, test_inputs, test_y, shift, scale)
    return {"test_mse": test, "test_relative_mse": test / _target_power(test_y),
            "train_mse": mse(model, inputs, y, shift, scale), "val_mse": best, "best_epoch": best_epoch,
            "parameters": parameter_count(model), "seconds": seconds, "weight_decay": weight_decay}
