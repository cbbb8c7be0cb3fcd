"""Planted sparse vector data (docs/math.md, "Sparse vector recovery"): samplings of v0, noise covariances, bases S."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Callable, NamedTuple, Union

import numpy as np
import torch

from ...errors import DataError

SAMPLINGS = ("AR", "BG", "CBG", "BR", "BR_paper", "KS")
"""Ways to draw v0: accept/reject, Bernoulli-Gaussian, Bernoulli-dual-Gaussian,
Bernoulli-Rademacher (independent sign), the paper code's Bernoulli-Rademacher, k-sparse."""

COVARIANCES = ("random", "diagonal", "identity")
"""Named noise covariances for v1..v_{d-1}."""

CovarianceSpec = Union[str, torch.Tensor, np.ndarray]
GeneratorSpec = Union[torch.Generator, int]

# Rows per rejection batch are capped so one batch stays near 32 MiB in float64.
_BATCH_ELEMENTS = 1 << 22
# Give up (DataError) after this many candidates per requested vector, plus a floor.
_MAX_DRAWS_PER_VECTOR = 1000
_MIN_MAX_DRAWS = 100_000


class Split(NamedTuple):
    """One split of a dataset."""

    S: torch.Tensor
    """(num, n, d) orthonormal bases of span(v0, ..., v_{d-1})."""
    v0: torch.Tensor
    """(num, n) planted unit vectors."""


class Datasets(NamedTuple):
    """Train, validation and test splits sharing one covariance."""

    train: Split
    """Training split."""
    val: Split
    """Validation split (early stopping)."""
    test: Split
    """Test split (reported accuracy)."""
    sigma: torch.Tensor
    """(n, n) float64 covariance of v1..v_{d-1}."""


def is_int(x) -> bool:
    """True for Python and NumPy integers, False for bool (shared by every parameter check here)."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _check_sampling(sampling) -> None:
    if sampling not in SAMPLINGS:
        raise DataError(f"unknown sampling {sampling!r}; valid: {', '.join(SAMPLINGS)}")


def _check_covariance_name(covariance) -> None:
    if covariance not in COVARIANCES:
        raise DataError(f"unknown covariance {covariance!r}; valid: {', '.join(COVARIANCES)} or an n x n matrix")


def _as_sigma(sigma, n: int, name: str = "covariance") -> torch.Tensor:
    """Check a user covariance matrix and return it as float64; DataError when unusable."""
    try:
        t = torch.as_tensor(np.asarray(sigma) if not isinstance(sigma, torch.Tensor) else sigma)
        t = t.detach().to(device="cpu", dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise DataError(f"{name} must be a covariance name or an n x n matrix ({exc})") from None
    if t.shape != (n, n):
        raise DataError(f"{name} must have shape ({n}, {n}), got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise DataError(f"{name} has non-finite entries")
    if not torch.allclose(t, t.T, rtol=1e-6, atol=1e-9 * float(t.abs().max().clamp_min(1.0))):
        raise DataError(f"{name} is not symmetric")
    if torch.linalg.cholesky_ex(t).info.item() != 0:
        raise DataError(f"{name} is not positive definite (Cholesky failed)")
    return t


def _check_params(sampling, n, d, eps) -> None:
    """Validate the parameters shared by every entry point (d=None: no subspace); DataError names the culprit."""
    _check_sampling(sampling)
    if not is_int(n) or n < 1:
        raise DataError(f"n must be an int >= 1, got {n!r}")
    if d is not None and (not is_int(d) or d < 1):
        raise DataError(f"d must be an int >= 1, got {d!r}")
    if d is not None and d >= n:
        raise DataError(f"d must be smaller than n (a proper subspace), got d={d}, n={n}")
    if not isinstance(eps, numbers.Real) or isinstance(eps, bool) or not math.isfinite(eps):
        raise DataError(f"eps must be a finite real number, got {eps!r}")
    if not 0 < eps < 1:
        raise DataError(f"eps must lie in (0, 1), got {eps}")
    if sampling == "CBG" and eps > 1 / 3:
        raise DataError(f"eps must be <= 1/3 for sampling 'CBG' (q would be imaginary), got {eps}")
    if sampling == "KS" and math.floor(eps * n) < 1:
        raise DataError(f"eps * n must be >= 1 for sampling 'KS' (floor(eps n) nonzeros), got eps={eps}, n={n}")
    if sampling == "AR" and eps * n <= 1:
        # sum v^4 <= 1 with equality only on coordinate axes: the threshold 1/(eps n) would never be met.
        raise DataError(f"eps * n must be > 1 for sampling 'AR', got eps={eps}, n={n}")


def _generator(generator: GeneratorSpec) -> torch.Generator:
    if isinstance(generator, torch.Generator):
        return generator
    if is_int(generator):
        return torch.Generator().manual_seed(int(generator))
    raise DataError(f"generator must be a torch.Generator or an int seed, got {generator!r}")


def _rejection_sample(
    draw: Callable[[int], torch.Tensor],
    accept: Callable[[torch.Tensor], torch.Tensor],
    num: int,
    n: int,
    what: str,
) -> torch.Tensor:
    """Draw batches, keep accepted rows, repeat until num rows (vectorized per batch)."""
    if num == 0:
        return torch.empty(0, n, dtype=torch.float64)
    kept, have, drawn, accepted_total = [], 0, 0, 0
    max_draws = max(_MAX_DRAWS_PER_VECTOR * num, _MIN_MAX_DRAWS)
    cap = max(_BATCH_ELEMENTS // n, 64)
    rate = 1.0
    while have < num:
        if drawn >= max_draws:
            raise DataError(
                f"sampling {what}: only {have} of {num} vectors accepted after {drawn} draws; "
                "the acceptance rate is too low (raise eps or n)"
            )
        size = min(cap, max(64, int(1.2 * (num - have) / rate) + 16))
        x = draw(size)
        ok = accept(x)
        x = x[ok]
        kept.append(x)
        have += x.shape[0]
        accepted_total += x.shape[0]
        drawn += size
        rate = max(accepted_total / drawn, 1e-4)
    return torch.cat(kept)[:num]


def sample_v0(
    sampling: str, n: int, eps: float, num: int, generator: GeneratorSpec, normalize: bool = True
) -> torch.Tensor:
    """Draw (num, n) float64 planted vectors; all-zero draws rejected; unit norm unless normalize=False."""
    _check_params(sampling, n, None, eps)
    if not is_int(num) or num < 0:
        raise DataError(f"num must be an int >= 0, got {num!r}")
    g = _generator(generator)
    f64 = torch.float64

    def gauss(m: int) -> torch.Tensor:
        return torch.randn(m, n, generator=g, dtype=f64)

    def unif(m: int) -> torch.Tensor:
        return torch.rand(m, n, generator=g, dtype=f64)

    if sampling == "AR":
        # Acceptance tests the normalized vector, so draw Gaussian and normalize first.
        def draw(m):
            x = gauss(m)
            return x / x.norm(dim=1, keepdim=True)

        thresh = 1.0 / (eps * n)

        def accept(x):
            return (x**4).sum(dim=1) >= thresh
    else:
        if sampling == "BG":

            def draw(m):
                return (unif(m) < eps) * gauss(m) / math.sqrt(n * eps)

        elif sampling == "CBG":
            q = math.sqrt(max((1 - eps) * (1 - 3 * eps), 0.0) / 3)  # max: eps = 1/3 may round below 0
            s_in = math.sqrt((eps + q) / (n * eps))
            s_out = math.sqrt((1 - eps - q) / (n * (1 - eps)))

            def draw(m):
                return torch.where(unif(m) < eps, s_in, s_out) * gauss(m)

        elif sampling == "BR":

            def draw(m):
                support = unif(m) < eps
                sign = torch.where(unif(m) < 0.5, 1.0, -1.0).to(f64)
                return support * sign / math.sqrt(n * eps)

        elif sampling == "BR_paper":
            # The paper's code compares one uniform draw with eps (support) and with 1/2 (sign),
            # so for eps < 1/2 every nonzero entry is positive.
            def draw(m):
                u = unif(m)
                sign = torch.where(u < 0.5, 1.0, -1.0).to(f64)
                return (u < eps) * sign / math.sqrt(n * eps)

        else:  # KS
            k = math.floor(eps * n)

            def draw(m):
                pos = unif(m).argsort(dim=1)[:, :k]
                mask = torch.zeros(m, n, dtype=f64).scatter_(1, pos, 1.0)
                return mask * gauss(m)

        def accept(x):
            return (x != 0).any(dim=1)

    v = _rejection_sample(draw, accept, num, n, repr(sampling))
    if normalize:
        v = v / v.norm(dim=1, keepdim=True)
    return v


def draw_covariance(kind: str, n: int, generator: GeneratorSpec) -> torch.Tensor:
    """An (n, n) float64 covariance: 'random' MᵀM + 1e-5·I, 'diagonal' diag U[0.5,1.5], 'identity' I/n."""
    _check_covariance_name(kind)
    if not is_int(n) or n < 1:
        raise DataError(f"n must be an int >= 1, got {n!r}")
    g = _generator(generator)
    if kind == "random":
        m = torch.randn(n, n, generator=g, dtype=torch.float64)
        return m.T @ m + 1e-5 * torch.eye(n, dtype=torch.float64)
    if kind == "diagonal":
        return torch.diag(0.5 + torch.rand(n, generator=g, dtype=torch.float64))
    return torch.eye(n, dtype=torch.float64) / n


def random_orthogonal(num: int, d: int, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """(num, d, d) Haar-random orthogonal matrices (QR of a Gaussian with the sign fix)."""
    z = torch.randn(num, d, d, generator=generator, dtype=dtype)
    q, r = torch.linalg.qr(z)
    # Without the sign fix QR's convention biases the distribution away from Haar.
    return q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)


def sample_noise(sigma: torch.Tensor, num: int, count: int, generator: torch.Generator) -> torch.Tensor:
    """(num, count, n) float64 Gaussian vectors with covariance sigma (n, n), before normalization.

    Rows are z Lᵀ with z standard normal and sigma = L Lᵀ (Cholesky), so Cov = L I Lᵀ = sigma;
    z L would give Lᵀ L, a different matrix whenever L is not symmetric.
    """
    chol = torch.linalg.cholesky(sigma)
    return torch.randn(num, count, sigma.shape[0], generator=generator, dtype=torch.float64) @ chol.T


def make_dataset(
    sampling: str,
    covariance: CovarianceSpec,
    n: int,
    d: int,
    eps: float,
    num: int,
    generator: GeneratorSpec,
    sigma: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (S, v0): S (num, n, d) = Q of QR(V·O), v0 (num, n); sigma overrides the covariance draw."""
    _check_params(sampling, n, d, eps)
    if not is_int(num) or num < 0:
        raise DataError(f"num must be an int >= 0, got {num!r}")
    if isinstance(covariance, str):
        _check_covariance_name(covariance)
    if sigma is not None:
        sig = _as_sigma(sigma, n, "sigma")
    elif isinstance(covariance, str):
        sig = None
    else:
        sig = _as_sigma(covariance, n)
    g = _generator(generator)
    if sig is None:
        sig = draw_covariance(covariance, n, g)
    v0 = sample_v0(sampling, n, eps, num, g)
    noise = sample_noise(sig, num, d - 1, g)
    noise = noise / noise.norm(dim=-1, keepdim=True)
    V = torch.cat([v0.unsqueeze(1), noise], dim=1).transpose(1, 2)  # (num, n, d)
    O = random_orthogonal(num, d, g)
    S, _ = torch.linalg.qr(V @ O)
    return S.to(dtype), v0.to(dtype)


@dataclass(frozen=True, eq=False)
class Setting:
    """One experimental setting; one integer seed fixes the covariance and every split."""

    sampling: str
    """One of SAMPLINGS."""
    covariance: CovarianceSpec
    """One of COVARIANCES, or an explicit symmetric positive definite (n, n) matrix."""
    n: int = 100
    """Ambient dimension."""
    d: int = 5
    """Subspace dimension (d < n)."""
    eps: float = 0.25
    """Sparsity in (0, 1); <= 1/3 for CBG."""
    n_train: int = 5000
    """Training set size."""
    n_val: int = 500
    """Validation set size."""
    n_test: int = 500
    """Test set size."""
    seed: int = 0
    """Seeds the covariance and all three splits."""

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise DataError for any unusable parameter, before any data is drawn."""
        _check_params(self.sampling, self.n, self.d, self.eps)
        if isinstance(self.covariance, str):
            _check_covariance_name(self.covariance)
        else:
            _as_sigma(self.covariance, self.n)
        for name in ("n_train", "n_val", "n_test"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise DataError(f"{name} must be an int >= 1, got {value!r}")
        if not is_int(self.seed) or self.seed < 0:
            raise DataError(f"seed must be an int >= 0, got {self.seed!r}")

    def _key(self):
        cov = self.covariance if isinstance(self.covariance, str) else _as_sigma(self.covariance, self.n).numpy().tobytes()
        return (self.sampling, cov, self.n, self.d, self.eps, self.n_train, self.n_val, self.n_test, self.seed)

    def __eq__(self, other):
        return isinstance(other, Setting) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())


def make_datasets(setting: Setting, dtype: torch.dtype = torch.float32) -> Datasets:
    """Draw one covariance and the train/val/test splits of a setting (deterministic in its seed)."""
    setting.validate()
    # Independent child seeds: changing n_train leaves the covariance, val and test sets unchanged.
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(setting.seed).spawn(4)]
    if isinstance(setting.covariance, str):
        sigma = draw_covariance(setting.covariance, setting.n, seeds[0])
    else:
        sigma = _as_sigma(setting.covariance, setting.n)
    splits = [
        Split(*make_dataset(setting.sampling, sigma, setting.n, setting.d, setting.eps, num, seed, sigma=sigma, dtype=dtype))
        for num, seed in zip((setting.n_train, setting.n_val, setting.n_test), seeds[1:])
    ]
    return Datasets(*splits, sigma=sigma)
