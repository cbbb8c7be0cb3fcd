"""Planted sparse vector data: samplings, covariances, bases S, validation, determinism."""

import math

import numpy as np
import pytest
import torch

from basis_compiler.errors import DataError
from basis_compiler.apps.recovery.data import (
    COVARIANCES,
    SAMPLINGS,
    Setting,
    draw_covariance,
    make_dataset,
    make_datasets,
    random_orthogonal,
    sample_noise,
    sample_v0,
)


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny tensors: extra threads only add contention on a shared 2-core machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("sampling", SAMPLINGS)
def test_v0_unit_norm_and_nonzero(sampling):
    v = sample_v0(sampling, 50, 0.25, 2000, 0)
    assert v.shape == (2000, 50) and v.dtype == torch.float64
    torch.testing.assert_close(v.norm(dim=1), torch.ones(2000, dtype=torch.float64))


@pytest.mark.parametrize("sampling", ["BG", "BR", "BR_paper"])
def test_bernoulli_support_fraction_is_eps(sampling):
    eps = 0.2
    v = sample_v0(sampling, 50, eps, 4000, 1)
    frac = (v != 0).double().mean().item()
    assert abs(frac - eps) < 0.01, frac


def test_k_sparse_has_exactly_floor_eps_n_nonzeros():
    v = sample_v0("KS", 50, 0.25, 1000, 2)  # eps n = 12.5
    assert ((v != 0).sum(dim=1) == 12).all()


def test_bernoulli_rademacher_values_and_signs():
    n, eps = 40, 0.25
    raw = sample_v0("BR", n, eps, 3000, 3, normalize=False)
    nz = raw[raw != 0]
    torch.testing.assert_close(nz.abs(), torch.full_like(nz, 1 / math.sqrt(n * eps)))
    pos = (nz > 0).double().mean().item()
    assert 0.45 < pos < 0.55, pos


def test_br_paper_reuses_the_uniform_draw():
    nz = sample_v0("BR_paper", 40, 0.25, 3000, 4, normalize=False)
    nz = nz[nz != 0]
    assert (nz > 0).all()
    torch.testing.assert_close(nz, torch.full_like(nz, 1 / math.sqrt(40 * 0.25)))
    # Above eps = 1/2 the shared draw can exceed 1/2: negatives appear, a fraction (eps - 1/2)/eps.
    big = sample_v0("BR_paper", 40, 0.7, 3000, 4)
    neg = (big[big != 0] < 0).double().mean().item()
    assert abs(neg - 0.2 / 0.7) < 0.02, neg


def test_accept_reject_meets_the_fourth_moment_threshold():
    n, eps = 50, 0.25
    v = sample_v0("AR", n, eps, 500, 5)
    assert ((v**4).sum(dim=1) >= 1 / (eps * n)).all()
    # A plain Gaussian unit vector mostly fails the test, so acceptance did select something.
    g = torch.randn(500, n, dtype=torch.float64)
    g = g / g.norm(dim=1, keepdim=True)
    assert ((g**4).sum(dim=1) >= 1 / (eps * n)).double().mean() < 0.5


@pytest.mark.parametrize("eps, kurtosis", [(0.25, 4.0), (1 / 3, 3.0)])
def test_cbg_variance_structure(eps, kurtosis):
    # Entry variance is 1/n; n^2 E x^4 = 3[(eps+q)^2/eps + (1-eps-q)^2/(1-eps)]: 4 at eps=1/4, Gaussian 3 at 1/3.
    n = 50
    x = sample_v0("CBG", n, eps, 20000, 6, normalize=False)
    assert abs(n * (x**2).mean().item() - 1) < 0.01
    assert abs(n**2 * (x**4).mean().item() - kurtosis) < 0.15


@pytest.mark.parametrize("sampling", SAMPLINGS)
@pytest.mark.parametrize("covariance", COVARIANCES)
def test_basis_is_orthonormal_and_spans_v0(sampling, covariance):
    S, v0 = make_dataset(sampling, covariance, 30, 4, 0.25, 64, 7, dtype=torch.float64)
    assert S.shape == (64, 30, 4) and v0.shape == (64, 30)
    eye = torch.eye(4, dtype=torch.float64).expand(64, 4, 4)
    torch.testing.assert_close(S.transpose(1, 2) @ S, eye)
    proj = (S @ (S.transpose(1, 2) @ v0.unsqueeze(-1))).squeeze(-1)
    torch.testing.assert_close(proj, v0)


def test_basis_hides_which_column_was_v0():
    S, v0 = make_dataset("BG", "identity", 60, 5, 0.25, 2000, 8)
    # Without the random rotation O the first column would be ±v0 (overlap 1); with it, about 1/d.
    overlap = ((S[:, :, 0] * v0).sum(-1) ** 2).mean().item()
    assert overlap < 0.35, overlap


def test_default_dtype_is_float32():
    S, v0 = make_dataset("KS", "diagonal", 20, 3, 0.25, 4, 0)
    assert S.dtype == v0.dtype == torch.float32


def test_named_covariances():
    n = 30
    ident = draw_covariance("identity", n, 0)
    torch.testing.assert_close(ident, torch.eye(n, dtype=torch.float64) / n)
    diag = draw_covariance("diagonal", n, 0)
    assert torch.equal(diag, torch.diag(torch.diagonal(diag)))
    assert ((torch.diagonal(diag) >= 0.5) & (torch.diagonal(diag) <= 1.5)).all()
    rand = draw_covariance("random", n, 0)
    m = torch.randn(n, n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(rand, m.T @ m + 1e-5 * torch.eye(n, dtype=torch.float64))


def test_setting_shares_one_covariance_and_is_deterministic():
    s = Setting("BG", "random", n=20, d=3, n_train=40, n_val=10, n_test=10, seed=3)
    a, b = make_datasets(s), make_datasets(s)
    for x, y in zip(a, b):
        assert torch.equal(x[0], y[0]) and torch.equal(x[1], y[1])
    c = make_datasets(Setting("BG", "random", n=20, d=3, n_train=40, n_val=10, n_test=10, seed=4))
    assert not torch.equal(a.test.v0, c.test.v0) and not torch.equal(a.sigma, c.sigma)
    # Child seeds per split: a larger training set leaves covariance and test set unchanged.
    d = make_datasets(Setting("BG", "random", n=20, d=3, n_train=80, n_val=10, n_test=10, seed=3))
    assert torch.equal(a.sigma, d.sigma) and torch.equal(a.test.S, d.test.S)


def test_same_seed_same_data():
    x = make_dataset("AR", "random", 25, 3, 0.25, 30, 11)
    y = make_dataset("AR", "random", 25, 3, 0.25, 30, torch.Generator().manual_seed(11))
    z = make_dataset("AR", "random", 25, 3, 0.25, 30, 12)
    assert torch.equal(x[0], y[0]) and torch.equal(x[1], y[1])
    assert not torch.equal(x[1], z[1])


def test_user_covariance_is_used():
    n = 20
    sigma = torch.diag(torch.linspace(1, 2, n, dtype=torch.float64))
    s = Setting("BG", sigma, n=n, d=3, n_train=5, n_val=5, n_test=5)
    assert torch.equal(make_datasets(s).sigma, sigma)
    assert s == Setting("BG", sigma.clone(), n=n, d=3, n_train=5, n_val=5, n_test=5)


_BASE = dict(sampling="BG", covariance="identity", n=20, d=3, eps=0.25, n_train=5, n_val=5, n_test=5)


@pytest.mark.parametrize(
    "change, pattern",
    [
        (dict(eps=0.0), r"\beps\b"),
        (dict(eps=1.0), r"\beps\b"),
        (dict(eps=float("nan")), r"\beps\b"),
        (dict(eps=float("inf")), r"\beps\b"),
        (dict(sampling="CBG", eps=0.4), r"CBG"),
        (dict(d=20), r"\bd\b"),
        (dict(d=0), r"\bd\b"),
        (dict(n=0), r"\bn\b"),
        (dict(n=20.0), r"\bn\b"),
        (dict(sampling="gauss"), r"sampling.*AR, BG, CBG, BR, BR_paper, KS"),
        (dict(covariance="toeplitz"), r"covariance.*random, diagonal, identity"),
        (dict(covariance=-torch.eye(20)), r"covariance.*positive definite"),
        (dict(covariance=torch.full((20, 20), float("nan"))), r"covariance.*non-finite"),
        (dict(covariance=torch.eye(19)), r"covariance.*shape"),
        (dict(n_train=0), r"n_train"),
        (dict(seed=-1), r"seed"),
        (dict(sampling="KS", eps=0.01), r"KS"),
        (dict(sampling="AR", eps=0.05), r"AR"),
    ],
)
def test_bad_parameters_raise_data_error(change, pattern):
    with pytest.raises(DataError, match=pattern):
        Setting(**{**_BASE, **change})


def test_make_dataset_validates_before_work():
    with pytest.raises(DataError, match=r"\beps\b"):
        make_dataset("BG", "identity", 20, 3, 1.5, 10, 0)
    with pytest.raises(DataError, match=r"sigma.*positive definite"):
        make_dataset("BG", "identity", 20, 3, 0.25, 10, 0, sigma=torch.zeros(20, 20))
    with pytest.raises(DataError, match=r"covariance"):
        draw_covariance("spiked", 20, 0)


def _assert_haar_orthogonal(q: np.ndarray, what: str) -> None:
    """Moments of Haar measure on O(d) (d >= 2) for a stack q (num, d, d), with 5-standard-error bounds.

    Every entry has mean 0 and variance 1/d (Q = -Q in law; rows are uniform unit vectors). QR of a
    Gaussian without the sign fix keeps the variance but biases the diagonal (LAPACK's R has a
    sign convention) and fixes det Q, so the diagonal means and the det balance catch it.
    """
    num, d, _ = q.shape
    np.testing.assert_allclose(q @ q.transpose(0, 2, 1), np.broadcast_to(np.eye(d), q.shape), atol=1e-10)
    se = math.sqrt(1 / d / num)
    diag = np.diagonal(q, axis1=1, axis2=2).mean(axis=0)
    assert np.abs(diag).max() < 5 * se, (what, diag, se)
    # E[Q_ij^2] = 1/d; Var[Q_ij^2] = E[Q_ij^4] - 1/d^2 = 3/(d(d+2)) - 1/d^2.
    se2 = math.sqrt((3 / (d * (d + 2)) - 1 / d**2) / num)
    assert np.abs((q**2).mean(axis=0) - 1 / d).max() < 5 * se2, what


def test_random_orthogonal_is_haar_distributed():
    num, d = 4000, 4
    q = random_orthogonal(num, d, torch.Generator().manual_seed(0)).numpy()
    _assert_haar_orthogonal(q, "random_orthogonal")
    plus = (np.linalg.det(q) > 0).mean()  # both components of O(d), each with probability 1/2
    assert abs(plus - 0.5) < 5 * 0.5 / math.sqrt(num), plus


@pytest.mark.parametrize("component", [0, 1, None])
def test_random_group_element_of_o_d_is_haar_distributed(component):
    from basis_compiler.symbolic.groups import parse_group
    from basis_compiler.testing import random_group_element

    num, d = 3000, 4
    rng = np.random.default_rng(1)
    q = np.stack([random_group_element(parse_group(f"O({d})"), rng, component) for _ in range(num)])
    # Haar on one component (SO(d), or SO(d) times a reflection) still has E[Q] = 0 for d >= 2.
    _assert_haar_orthogonal(q, f"O({d}) component {component}")
    dets = np.linalg.det(q)
    if component is None:
        assert abs((dets > 0).mean() - 0.5) < 5 * 0.5 / math.sqrt(num)
    else:
        np.testing.assert_allclose(dets, 1.0 if component == 0 else -1.0, atol=1e-10)


def test_noise_has_the_requested_covariance():
    n, num = 6, 40000
    sigma = draw_covariance("random", n, 3)
    chol = torch.linalg.cholesky(sigma)
    x = sample_noise(sigma, num, 2, torch.Generator().manual_seed(4)).reshape(-1, n)
    cov = x.T @ x / x.shape[0]  # the mean is known to be 0
    # Standard error of a Gaussian sample covariance entry: sqrt((s_ii s_jj + s_ij^2) / samples).
    se = ((torch.outer(sigma.diagonal(), sigma.diagonal()) + sigma**2) / x.shape[0]).sqrt()
    assert ((cov - sigma).abs() / se).max() < 5
    # L^T L (z L instead of z L^T) is far outside those bounds for this sigma: the check can tell.
    assert ((chol.T @ chol - sigma).abs() / se).max() > 50
