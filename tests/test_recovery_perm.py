"""SVH-Perm (apps/recovery/models.SVHPerm): S(n)-equivariant generated layers on the Gram matrix.
Checks: it represents SOS-I exactly (weights set by hand), v̂ permutes with the rows of S and is
unchanged by rotations S -> S O, its parameter count does not depend on n, one model runs at
several n, and it is a `recover` method."""

import numpy as np
import torch

from basis_compiler.apps.recovery.config import METHOD_LABELS, METHOD_NAMES, PAPER_METHODS
from basis_compiler.apps.recovery.models import SVHPerm, mean_call, parameter_count
from basis_compiler.apps.recovery.spectral import SOSMethod, sos_matrix
from basis_compiler.apps.recovery.training import METHODS, build_model
from basis_compiler.testing import random_group_element
from basis_compiler.symbolic.groups import Orthogonal


def _bases(batch, n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.linalg.qr(torch.randn(batch, n, d, generator=g, dtype=torch.float64))[0]


def _same_up_to_sign(a, b):
    sign = torch.sign((a * b).sum(-1, keepdim=True))
    torch.testing.assert_close(a, sign * b, rtol=1e-9, atol=1e-9)


def test_represents_sos1_exactly():
    for n in (20, 50):
        model = SVHPerm(n, 5).double()
        model.set_sos1()
        S = _bases(4, n, 5)
        A = model.matrix(S)
        torch.testing.assert_close(A * 5 / n, sos_matrix(S, "I"), rtol=1e-12, atol=1e-12)
        _same_up_to_sign(model(S), SOSMethod("I")(S))


def test_equivariant_under_row_permutations_and_rotations():
    torch.manual_seed(0)
    model = SVHPerm(12, 4).double()
    S = _bases(3, 12, 4, seed=1)
    v = model(S)
    perm = torch.randperm(12)
    _same_up_to_sign(model(S[:, perm]), v[:, perm])
    O = torch.tensor(random_group_element(Orthogonal(4), np.random.default_rng(0)))
    _same_up_to_sign(model(S @ O), v)
    A = model.matrix(S)
    torch.testing.assert_close(model.matrix(S @ O), O.T @ A @ O, rtol=1e-9, atol=1e-9)


def test_parameters_do_not_depend_on_n_and_one_model_runs_at_every_n():
    assert parameter_count(SVHPerm(20, 5)) == parameter_count(SVHPerm(100, 5))
    torch.manual_seed(0)
    model = SVHPerm(20, 5).double()
    for n in (8, 20, 60):
        v = model(_bases(2, n, 5))
        assert v.shape == (2, n) and torch.isfinite(v).all()


def test_mean_call_divides_each_sum_by_n():
    model = SVHPerm(10, 3).double()
    layer = model.scalar  # X:2 -> 0: constant, trace, total sum
    with torch.no_grad():
        layer.weight.fill_(1.0)
    X = torch.randn(2, layer.in_channels, 7, 7, dtype=torch.float64)
    expected = 1 + (X.diagonal(dim1=-2, dim2=-1).sum(-1) / 7 + X.sum((-1, -2)) / 49).sum(-1)
    torch.testing.assert_close(mean_call(layer, X)[..., 0], expected)


def test_is_a_recover_method_outside_the_paper_default():
    assert "svh_perm" in METHOD_NAMES and "svh_perm" in METHODS and "svh_perm" not in PAPER_METHODS
    assert METHOD_LABELS["svh_perm"] == "SVH-Perm"
    model = build_model("svh_perm", 20, 5, seed=3)
    assert isinstance(model, SVHPerm)
    same = build_model("svh_perm", 20, 5, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), same.parameters()))


def test_starts_near_sos1_with_every_channel_alive():
    """The default start is SOS-I plus small random weights: v̂ agrees with SOS-I's at the start
    (a random start does not), and every weight is nonzero, so no hidden channel is dead."""
    S = _bases(64, 50, 5, seed=2)
    sos = SOSMethod("I")(S)
    torch.manual_seed(0)
    warm = SVHPerm(50, 5).double()
    torch.manual_seed(0)
    cold = SVHPerm(50, 5, start="random").double()
    with torch.no_grad():
        agree = ((warm(S) * sos).sum(-1) ** 2).mean()
        agree_cold = ((cold(S) * sos).sum(-1) ** 2).mean()
    assert agree > 0.95 > agree_cold
    assert all(bool((p != 0).all()) for p in warm.parameters())


def test_pair_contraction_sums_or_averages_the_off_diagonal_pairs():
    from basis_compiler.apps.recovery.models import pair_contraction

    g = torch.Generator().manual_seed(3)
    S = _bases(2, 7, 3, seed=2)
    Q = torch.randn(2, 7, 7, generator=g, dtype=torch.float64)
    Q = Q + Q.transpose(-1, -2)
    for mode, weight in (("sum", 1.0), ("mean", 1 / 7)):
        expected = torch.zeros(2, 3, 3, dtype=torch.float64)
        for i in range(7):  # the double sum written out, pair by pair
            for j in range(7):
                w = 1.0 if i == j else weight
                expected += w * Q[:, i, j, None, None] * S[:, i, :, None] * S[:, j, None, :]
        torch.testing.assert_close(pair_contraction(S, Q, mode), expected, rtol=1e-12, atol=1e-12)


def test_averaged_pairs_keep_the_signal_of_a_coherent_off_diagonal_block_independent_of_n():
    """On planted BG data, a Q whose off-diagonal entries follow G' (here relu(G')) puts a block
    of (eps n)² coherent entries on v0's support: summed, its weight on v0 grows like n (this is
    why SVH-Perm trained at n = 50 can fail at n = 100); averaged, it settles; the diagonal's
    weight is the same at every n."""
    from basis_compiler.apps.recovery.data import make_dataset
    from basis_compiler.apps.recovery.models import pair_contraction

    weights = {}
    for n in (50, 200):
        S, v0 = make_dataset("BG", "identity", n, 5, 0.25, 200, 0, dtype=torch.float64)
        Q = torch.relu((n / 5) * S @ S.transpose(-1, -2))
        D = torch.diag_embed(torch.diagonal(Q, dim1=-2, dim2=-1))
        u = (S.transpose(-1, -2) @ v0.unsqueeze(-1))  # v0 in the basis S
        for mode in ("sum", "mean"):
            off = pair_contraction(S, Q, mode) - pair_contraction(S, D, mode)
            weights[mode, n] = float((u.transpose(-1, -2) @ off @ u).mean())
        weights["diagonal", n] = float((u.transpose(-1, -2) @ pair_contraction(S, D, "sum") @ u).mean())
    assert weights["sum", 200] / weights["sum", 50] > 3  # about 5
    assert 0.6 < weights["mean", 200] / weights["mean", 50] < 1.6  # about 1.3
    assert 0.8 < weights["diagonal", 200] / weights["diagonal", 50] < 1.25


def test_averaged_pairs_start_at_sos1_too():
    for n in (20, 50):
        model = SVHPerm(n, 5, pair_sums="mean").double()
        model.set_sos1()
        S = _bases(4, n, 5)
        torch.testing.assert_close(model.matrix(S) * 5 / n, sos_matrix(S, "I"), rtol=1e-12, atol=1e-12)
