"""SparsePolynomial: a law read off data as a sparse combination of the exact basis.

The generated polynomial layer of a signature is Σ_k w_k B_k(x) over the enumerated basis
terms B_k, which are linearly independent as polynomials (decided exactly at generation time),
so a polynomial law of the signature has one set of coefficients w and, for physical laws, few
of them are nonzero. `fit` finds them as a sparse regression on the terms, the way SINDy reads
dynamics off a dictionary, here with a dictionary that is equivariant term by term: the fitted
model is equivariant under the whole group for any coefficients, and its support prints as
formulas (`describe`).

Fitting (float64, no gradient steps): the terms are evaluated once on the data into a design
matrix (rows: samples x output components; columns scaled to unit root mean square), then the
lasso path  min_w 1/(2N) |y - A w|² + λ |w|_1  is followed from λ_max (all zero) down to
λ_max · min_ratio on a log grid with FISTA (accelerated proximal gradient on the Gram matrix,
each λ warm-started from the previous one). At every λ two candidates are scored on the
validation data: the lasso solution itself and the least-squares refit on its support (the
"relaxed lasso", which removes the shrinkage bias when the support is right). The candidate with
the lowest validation mean squared error wins, the sparser one on ties; nothing is chosen on test
data. Without validation data every fifth sample of the training set is held out for the choice,
and the chosen (λ, candidate) is then refitted on all of it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..basis import enumerate_basis
from ..codegen.kinds import compile_kind
from ..codegen.store import compile_module
from ..errors import DataError, UnsupportedError
from ..inspect.formulas import formula
from ..symbolic.signature import Signature
from .pieces import batch_shape

HOLDOUT_EVERY = 5
"""Without validation data, samples 4, 9, 14, ... of the training set choose λ."""
MAX_DESIGN_BYTES = 2 ** 31
"""Largest design matrix `fit` builds (float64, rows x terms, twice: the terms and their
reordered copy). Above it the fit is refused before anything is allocated."""


class SparsePolynomial(nn.Module):
    """f(x) = Σ_k w_k B_k(x): the generated polynomial layer of `signature` up to `degree`, with
    coefficients found by `fit` (a sparse regression, see the module doc) instead of gradient
    steps.

        law = SparsePolynomial("O(3): m[5]:0, x[5]:1 -> 2s", degree=3)
        law.fit({"m": m, "x": x}, I, validation=({"m": m_val, "x": x_val}, I_val))
        law(m=m, x=x)           # (batch, 3, 3)
        print(law.describe())   # the nonzero terms with their coefficients

    Every term is equivariant, so the model is, whatever its coefficients: under every group
    element (reflections and O(s,t) components included) and, for set families a{n}:1, under
    permutations of the members. Before `fit` every coefficient is zero. Indexed families need
    concrete sizes (m[5]:0, or family_sizes={"m": 5}); set families run at any n, and so do S(n)
    layers (S(5): X:2 -> 1, inputs (*batch, n, n) with n at least the terms' number of legs).
    """

    def __init__(self, signature: Signature | str, degree: int | tuple[int, ...], *,
                 family_sizes: dict[str, int] | None = None):
        super().__init__()
        sig = Signature.parse(signature)
        if family_sizes:
            sig = sig.with_family_sizes(**family_sizes)
        symbolic = [s for s in sig.inputs if isinstance(s.family, str) and not s.is_set_family]
        if symbolic:
            first = symbolic[0]
            raise UnsupportedError(f"{sig}: a sparse polynomial needs concrete family sizes (one coefficient per index "
                                   f"tuple); write {first.name}[5]:{first.type} or pass "
                                   f"family_sizes={{'{first.name}': 5}}")
        self.signature, self.degree = sig, degree
        self.labels = tuple(_labels(sig, degree))
        self.n_coeffs = len(self.labels)
        if not self.n_coeffs:
            raise UnsupportedError(f"{sig} has no basis terms up to degree {degree}: nothing to fit; "
                                   "raise the degree, e.g. SparsePolynomial('O(3): v:1 -> 1', degree=3)")
        self._layer_class = compile_module(sig, degree, "polynomial")
        self.layer = self._layer_class().double()  # exact laws need float64 coefficients
        with torch.no_grad():
            self.layer.weight.zero_()
        self.fit_report: dict | None = None

    @property
    def coefficients(self) -> torch.Tensor:
        """The n_coeffs coefficients, in the generated module's order (`labels`)."""
        return self.layer.weight.detach()[0]

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        return self.layer(**inputs)

    def terms(self, **inputs: torch.Tensor) -> torch.Tensor:
        """Every basis term on the inputs: (*batch, n_coeffs, *output axes), term k being the
        model's output with coefficient k one and the others zero."""
        probe = self._layer_class(out_channels=self.n_coeffs).to(self.layer.weight.device)
        eye = torch.eye(self.n_coeffs, dtype=torch.float64, device=self.layer.weight.device)
        return torch.func.functional_call(probe, {"weight": eye}, args=(), kwargs=inputs)

    # -- fitting -----------------------------------------------------------------------------

    @torch.no_grad()
    def fit(self, inputs: dict[str, torch.Tensor], target: torch.Tensor,
            validation: tuple[dict[str, torch.Tensor], torch.Tensor] | None = None, *,
            n_lambdas: int = 30, min_ratio: float = 1e-7, max_iter: int = 2000) -> "SparsePolynomial":
        """Set the coefficients from data (see the module doc); returns self. `fit_report` then
        holds the chosen λ (as a fraction of λ_max), candidate ("lasso" or "relaxed"), support
        size and validation MSE."""
        if not (isinstance(n_lambdas, int) and n_lambdas >= 1 and 0 < min_ratio < 1 and max_iter >= 1):
            raise DataError(f"need n_lambdas >= 1, 0 < min_ratio < 1 and max_iter >= 1, got {n_lambdas}, {min_ratio}, "
                            f"{max_iter}; e.g. law.fit(inputs, target, n_lambdas=30, min_ratio=1e-7)")
        X, y = self._rows(inputs, target, "training")
        ratios = [min_ratio ** (i / max(n_lambdas - 1, 1)) for i in range(n_lambdas)]
        if validation is not None:
            if not (isinstance(validation, tuple) and len(validation) == 2):
                name = self.signature.inputs[0].name
                raise DataError(f"validation must be a pair (inputs, target), e.g. "
                                f"validation=({{{name!r}: {name}_val, ...}}, target_val)")
            Xv, yv = self._rows(*validation, "validation")
            choice = _choose(_path(X, y, ratios, max_iter), Xv, yv)
            w = choice.pop("w")
        else:
            per_sample = y.numel() // batch_shape(self.signature, inputs).numel()
            sample = torch.arange(y.numel()) // per_sample
            held = sample % HOLDOUT_EVERY == HOLDOUT_EVERY - 1
            if not held.any() or held.all():
                raise DataError(f"without validation data at least {HOLDOUT_EVERY} samples are needed (every "
                                f"{HOLDOUT_EVERY}th chooses λ); pass more, or validation=(inputs, target)")
            choice = _choose(_path(X[~held], y[~held], ratios, max_iter), X[held], y[held])
            chosen = choice.pop("w")
            full = _path(X, y, ratios[: choice["step"] + 1], max_iter)[-1]
            w = full[choice["candidate"]] if choice["candidate"] in full else chosen
        self.layer.weight.copy_(w.to(self.layer.weight)[None])
        self.fit_report = {**choice, "lambda_ratio": ratios[choice["step"]]}
        return self

    def _rows(self, inputs: dict, target: torch.Tensor, what: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Design matrix (samples x output components, n_coeffs) and target vector, float64."""
        names = [s.name for s in self.signature.inputs]
        if not isinstance(inputs, dict) or sorted(inputs) != sorted(names):
            raise DataError(f"{what} inputs must be a dict with the keys {', '.join(names)}; e.g. "
                            f"law.fit({{{', '.join(f'{n!r}: {n}' for n in names)}}}, target)")
        for name, x in inputs.items():
            if not (isinstance(x, torch.Tensor) and x.is_floating_point()):
                raise DataError(f"{what} input {name!r} must be a floating tensor, got "
                                f"{getattr(x, 'dtype', type(x).__name__)}; convert it with {name}.double()")
        if isinstance(target, torch.Tensor) and 16 * target.numel() * self.n_coeffs > MAX_DESIGN_BYTES:
            keep = max(1, MAX_DESIGN_BYTES // (16 * self.n_coeffs * max(1, target.numel() // max(1, len(target)))))
            raise DataError(f"the {what} design matrix would take {16 * target.numel() * self.n_coeffs / 2 ** 30:.1f} GiB "
                            f"({target.numel():,} target entries x {self.n_coeffs} terms, float64, twice), over the "
                            f"{MAX_DESIGN_BYTES / 2 ** 30:.0f} GiB limit (nn.sparse.MAX_DESIGN_BYTES); fit on a random "
                            f"subset of at most {keep:,} samples, e.g. idx = torch.randperm(len(target))[:{keep}]")
        terms = self.terms(**{k: v.double() for k, v in inputs.items()})
        batch = terms.dim() - 1 - self.signature.output.order
        want = terms.shape[:batch] + terms.shape[batch + 1:]
        if not isinstance(target, torch.Tensor) or tuple(target.shape) != tuple(want):
            raise DataError(f"{what} target must have shape {tuple(want)} (batch, then the output's axes) for these "
                            f"inputs, got {tuple(getattr(target, 'shape', ()))}")
        X = terms.movedim(batch, -1).reshape(-1, self.n_coeffs)
        y = target.double().reshape(-1).to(X.device)
        if not (torch.isfinite(X).all() and torch.isfinite(y).all()):
            raise DataError(f"the {what} inputs or target hold NaN or infinite values (or the terms overflow "
                            "float64 on them); drop those samples first, e.g. keep = torch.isfinite(target)"
                            f"{'.flatten(1).all(1)' if self.signature.output.order else ''}")
        return X, y

    def describe(self, tolerance: float = 0.0) -> str:
        """The fitted law, one nonzero term per line: coefficient, then the term's formula (with
        its index tuple J for family terms), largest |coefficient| first."""
        w = self.coefficients
        order = sorted((k for k in range(self.n_coeffs) if abs(float(w[k])) > tolerance), key=lambda k: -abs(float(w[k])))
        if not order:
            return f"{self.signature}: 0 (no nonzero coefficient)"
        lines = [f"{self.signature}, {len(order)} of {self.n_coeffs} terms:"]
        lines += [f"  {float(w[k]):+.6g} · {self.labels[k]}" for k in order]
        return "\n".join(lines)

    def extra_repr(self) -> str:
        fitted = "not fitted" if self.fit_report is None else f"{self.fit_report['support']} nonzero"
        return f"signature='{self.signature}', degree={self.degree}, terms={self.n_coeffs} ({fitted})"


def _labels(sig: Signature, degree) -> list[str]:
    """One label per coefficient, in the generated module's order: the term's formula, and the
    index tuple J of its orbit for family terms. S(n) layers have one coefficient per basis term."""
    if sig.group.partition_diagrams:
        return [formula(term) for term in enumerate_basis(sig, degree)]
    compiled = compile_kind(sig, degree, "polynomial")
    labels = []
    for term, js in zip(compiled.terms, compiled.orbits):
        text = formula(term)
        labels += [text if j == () else f"{text}, J = {j}" for j in js]
    return labels


def _path(X: torch.Tensor, y: torch.Tensor, ratios: list[float], max_iter: int) -> list[dict[str, torch.Tensor]]:
    """The candidates along the lasso path, one dict {"lasso": w, "relaxed": w} per λ, in the
    original column scale. Columns that vanish on the data keep coefficient zero. The path runs
    in numpy: its matrices are small (n_coeffs square) and its loops long, where torch's per-call
    overhead (and its LAPACK threading, seconds per call on a loaded machine) dominate."""
    Xn, yn = X.cpu().numpy(), y.cpu().numpy()
    n, k = Xn.shape
    scale = np.sqrt(np.square(Xn).mean(0))
    live = scale > 0
    if not live.any():  # every term vanishes on these inputs: the zero law is the only candidate
        return [{"lasso": torch.zeros(k, dtype=X.dtype, device=X.device)} for _ in ratios]
    A = Xn[:, live] / scale[live]
    gram, corr = A.T @ A / n, A.T @ yn / n
    step = 1.0 / float(np.linalg.eigvalsh(gram)[-1])
    lam_max = float(np.abs(corr).max())
    w = np.zeros(A.shape[1])
    path = []

    def full(v):
        out = np.zeros(k)
        out[live] = v / scale[live]
        return torch.from_numpy(out).to(X)

    for ratio in ratios:
        w = _fista(gram, corr, lam_max * ratio, step, w, max_iter)
        candidates = {"lasso": full(w)}
        support = w != 0
        if 0 < int(support.sum()) <= n:
            refit = np.zeros_like(w)
            refit[support] = np.linalg.lstsq(A[:, support], yn, rcond=None)[0]
            candidates["relaxed"] = full(refit)
        path.append(candidates)
    return path


def _fista(G: np.ndarray, c: np.ndarray, lam: float, step: float, w0: np.ndarray, max_iter: int,
           tol: float = 1e-12) -> np.ndarray:
    """min_w ½ wᵀ G w - cᵀ w + λ|w|_1 (the lasso in Gram form) by FISTA, from w0."""
    w, z, t, threshold = w0.copy(), w0.copy(), 1.0, step * lam
    for _ in range(max_iter):
        u = z - step * (G @ z - c)
        new = np.sign(u) * np.maximum(np.abs(u) - threshold, 0.0)
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        z = new + ((t - 1) / t_new) * (new - w)
        done = np.abs(new - w).max() <= tol * (1 + np.abs(new).max())
        w, t = new, t_new
        if done:
            break
    return w


def _choose(path: list[dict], Xv: torch.Tensor, yv: torch.Tensor) -> dict:
    """The candidate with the lowest validation MSE (the sparser one on ties)."""
    best = None
    for step, candidates in enumerate(path):
        for name, w in candidates.items():
            val = float((Xv @ w - yv).square().mean())
            support = int((w != 0).sum())
            key = (val, support)
            if best is None or key < best[0]:
                best = (key, {"step": step, "candidate": name, "support": support, "val_mse": val, "w": w})
    return best[1]
