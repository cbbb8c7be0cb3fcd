"""Path signatures (apps/signatures): the data (shapes, seeding), the signature against
independent computations (straight lines, Chen's identity, the shuffle identity, a direct sum
over segments, the exact iterated integral of the polynomial curve), equivariance of the data
map and of the models under O(3) and O(1,3), and the CLI with resume."""

import itertools
import json
import math

import numpy as np
import pytest
import torch

from basis_compiler.apps.signatures.config import Config, preset
from basis_compiler.apps.signatures.models import CoarseSignature, EquivariantSignatureNet, PlainMLP
from basis_compiler.apps.signatures.paths import (act_on_levels, curve_signature, draw_curves, evaluate_curves,
                                                  signature)
from basis_compiler.apps.signatures.training import make_data
from basis_compiler.cli import main
from basis_compiler.errors import DataError
from basis_compiler.symbolic.signature import Signature
from basis_compiler.testing import act, random_group_element

pytestmark = pytest.mark.time_limit(300)

GROUPS = ["O(3)", "O(1,3)"]


def _group(name):
    return Signature.parse(f"{name}: x:1 -> 1").group


def _path(n, length, dim, seed):
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, length, dim)))


# -- data ------------------------------------------------------------------------------------

def test_data_shapes_and_seeding():
    config = preset("quick", sizes=(20, 40), n_val=7, n_test=9, steps=6, fine=50)
    data = make_data(config, "O(1,3)", 0)
    assert data.train.points.shape == (40, 6, 4) and data.test.points.shape == (9, 6, 4)
    assert [tuple(s.shape) for s in data.val.levels] == [(7, 4), (7, 4, 4), (7, 4, 4, 4)]
    eta = np.diag([1.0, -1, -1, -1])
    for g in data.frames.double().numpy():  # every frame is a Lorentz transformation
        np.testing.assert_allclose(g.T @ eta @ g, eta, atol=1e-4)
    again, other = make_data(config, "O(1,3)", 0), make_data(config, "O(1,3)", 1)
    assert torch.equal(again.train.points, data.train.points) and torch.equal(again.frames, data.frames)
    assert not torch.allclose(other.train.points, data.train.points)
    # the curves are degree-5 polynomials with coefficients in [-1, 1]: |X(t)| <= 6 on [-1, 1]
    assert data.train.points.abs().max() <= 6
    coarse = evaluate_curves(draw_curves(3, 2, 4, seed=5), 4)
    np.testing.assert_allclose(coarse[:, 0], (draw_curves(3, 2, 4, 5) * (-1.0) ** np.arange(6)[:, None]).sum(1))


def test_bad_settings_name_the_problem():
    with pytest.raises(DataError, match="steps"):
        preset("quick", steps=1).validate()
    with pytest.raises(DataError, match="depth"):
        preset("quick", depth=4).validate()
    with pytest.raises(DataError, match="O\\(3\\)"):
        preset("quick", groups=("Q(3)",)).validate()
    with pytest.raises(DataError, match="unknown preset"):
        preset("slow")


# -- the signature against independent computations --------------------------------------------

def test_straight_line_is_the_tensor_exponential():
    delta = torch.tensor([[0.3, -1.2, 0.7]], dtype=torch.float64)
    line = torch.linspace(0, 1, 13, dtype=torch.float64)[None, :, None] * delta[:, None, :]
    s1, s2, s3 = signature(line, 3)
    torch.testing.assert_close(s1, delta)
    torch.testing.assert_close(s2, torch.einsum("bi,bj->bij", delta, delta) / 2)
    torch.testing.assert_close(s3, torch.einsum("bi,bj,bk->bijk", delta, delta, delta) / 6)


def _tensor_product(a, b):
    """Truncated product in the tensor algebra: (a ⊗ b)_k = Σ_j a_j ⊗ b_{k-j}, with a_0 = b_0 = 1."""
    one = a[0].new_ones(a[0].shape[0])
    a, b = [one] + a, [one] + b
    out = []
    for k in range(1, len(a)):
        out.append(sum(torch.einsum("b...,b->b...", a[j], b[0]) if k == j else
                       (torch.einsum("b,b...->b...", a[0], b[k]) if j == 0 else
                        (a[j].reshape(a[j].shape[0], -1)[:, :, None] * b[k - j].reshape(b[k - j].shape[0], -1)[:, None, :])
                        .reshape(a[j].shape + b[k - j].shape[1:]))
                       for j in range(k + 1)))
    return out


def test_chen_identity_for_a_concatenation():
    a, b = _path(4, 7, 3, 0), _path(4, 5, 3, 1)
    b = b - b[:, :1] + a[:, -1:]  # b starts where a ends
    whole = signature(torch.cat([a, b[:, 1:]], dim=1), 3)
    for got, want in zip(whole, _tensor_product(signature(a, 3), signature(b, 3))):
        torch.testing.assert_close(got, want)


def test_shuffle_identity():
    s1, s2 = signature(_path(6, 20, 4, 2), 2)
    torch.testing.assert_close(s2 + s2.transpose(1, 2), s1[:, :, None] * s1[:, None, :])


def test_direct_sum_over_segments():
    """Level 3 of a piecewise-linear path, summed over ordered triples of segments by hand:
    Σ_{a<b<c} Δa⊗Δb⊗Δc + Σ_{a<b} (Δa⊗Δa⊗Δb + Δa⊗Δb⊗Δb)/2 + Σ_a Δa^{⊗3}/6."""
    points = _path(1, 6, 2, 3)[0].numpy()
    d = np.diff(points, axis=0)
    want = sum(np.einsum("i,j,k->ijk", d[a], d[b], d[c]) for a, b, c in itertools.combinations(range(len(d)), 3))
    want = want + sum((np.einsum("i,j,k->ijk", d[a], d[a], d[b]) + np.einsum("i,j,k->ijk", d[a], d[b], d[b])) / 2
                      for a, b in itertools.combinations(range(len(d)), 2))
    want = want + sum(np.einsum("i,j,k->ijk", x, x, x) for x in d) / 6
    np.testing.assert_allclose(signature(torch.from_numpy(points)[None], 3)[2][0].numpy(), want, rtol=1e-12, atol=1e-12)


def test_curve_signature_through_the_monomial_path_equals_the_direct_one():
    coefficients = draw_curves(5, 4, 10, seed=4)
    direct = signature(evaluate_curves(coefficients, 300), 3)
    for got, want in zip(curve_signature(coefficients, 300, 3), direct):
        torch.testing.assert_close(got, want, rtol=1e-11, atol=1e-11)


def test_fine_path_approaches_the_smooth_curve():
    """Level 2 of the smooth curve, ∫ (X(t) - X(-1)) ⊗ X'(t) dt, exactly with polynomial algebra;
    the 1000-point path is within the O(h²) chord error of it, the 10-point path is far off."""
    coefficients = draw_curves(3, 2, 10, seed=6)
    P = np.polynomial.polynomial
    for n in range(3):
        c = coefficients[n]
        exact = np.empty((2, 2))
        for i, j in itertools.product(range(2), repeat=2):
            xi = c[:, i].copy()
            xi[0] -= P.polyval(-1.0, c[:, i])
            integral = P.polyint(P.polymul(xi, P.polyder(c[:, j])), lbnd=-1)
            exact[i, j] = P.polyval(1.0, integral)
        fine = curve_signature(coefficients[n:n + 1], 1000, 2)[1][0].numpy()
        coarse = curve_signature(coefficients[n:n + 1], 10, 2)[1][0].numpy()
        assert np.abs(fine - exact).max() < 1e-4 * np.abs(exact).max()
        assert np.abs(coarse - exact).max() > 10 * np.abs(fine - exact).max()


# -- equivariance --------------------------------------------------------------------------------

@pytest.mark.parametrize("group", GROUPS)
def test_signature_is_equivariant_under_the_group(group, rng):
    points = _path(3, 8, _group(group).d, 7)
    for component in range(len(_group(group).component_representatives())):
        g = random_group_element(_group(group), rng, component)
        moved = signature(torch.einsum("ij,btj->bti", torch.from_numpy(g), points), 3)
        for k, (got, s) in enumerate(zip(moved, signature(points, 3)), start=1):
            want = act(g, s.numpy(), k, batch_dims=1)  # testing.act: independent of act_on_levels
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-9 * np.abs(want).max())
        per_sample = act_on_levels(torch.from_numpy(np.stack([g] * 3)), signature(points, 3))
        for got, want in zip(per_sample, moved):
            torch.testing.assert_close(got, want)


def _randomize_outputs(model):
    """The nets start at zero output (model = coarse signature); give them random output layers
    so the test sees the learned part."""
    torch.manual_seed(1)
    with torch.no_grad():
        for net in model.nets:
            for layer in (net.mlp[-1], net.shortcut):
                layer.weight.normal_()
                layer.bias.normal_()


@pytest.mark.parametrize("group", GROUPS)
def test_models_in_random_frames(group, rng):
    """EquivariantNet and the coarse path: f(g·x) = g·f(x) exactly (float64) on every component;
    the plain MLP is not equivariant (so the check can tell)."""
    dim, steps = _group(group).d, 6
    points = _path(16, steps, dim, 8)
    eq = EquivariantSignatureNet(group, steps, 3, hidden=8).double()
    eq.calibrate(points)
    _randomize_outputs(eq)
    mlp = PlainMLP(steps, dim, 3, hidden=8).double()
    coarse = CoarseSignature(3)
    for component in range(len(_group(group).component_representatives())):
        g = torch.from_numpy(np.stack([random_group_element(_group(group), rng, component) for _ in range(16)]))
        moved = torch.einsum("bij,btj->bti", g, points)
        with torch.no_grad():
            for model in (eq, coarse):
                for got, want in zip(model(moved), act_on_levels(g, model(points))):
                    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9 * float(want.abs().max()))
            assert not torch.allclose(mlp(moved)[1], act_on_levels(g, mlp(points))[1], rtol=1e-3)
    with torch.no_grad():  # the nets do contribute
        assert (eq(points)[2] - coarse(points)[2]).abs().max() > 1e-3


# -- the command line ---------------------------------------------------------------------------

TINY = ["signatures", "--quick", "--groups", "O(3)", "--sizes", "30", "--epochs", "2", "--min-steps", "0",
        "--n-val", "20", "--n-test", "20", "--no-progress"]


def test_cli_runs_resumes_and_reports(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(TINY + ["--out", str(out), "--max-tasks", "2"]) == 0
    first = (out / "results.jsonl").read_text().splitlines()
    assert len(first) == 2
    assert "incomplete: 1 task(s) missing" in capsys.readouterr().out
    with open(out / "results.jsonl", "a") as fh:
        fh.write('{"group": "O(3)", "torn\n')  # an interrupted write
    assert main(TINY + ["--out", str(out)]) == 0
    lines = (out / "results.jsonl").read_text().splitlines()
    assert lines[:2] == first and len(lines) == 3  # saved tasks kept byte for byte, the torn line moved aside
    assert (out / "results.rejected.jsonl").exists()
    records = [json.loads(line) for line in lines]
    assert sorted(r["method"] for r in records) == ["coarse", "equivariant", "mlp"]
    coarse = next(r for r in records if r["method"] == "coarse")
    assert coarse["test_error"][0] < 1e-6  # level 1 of any path through the same end points is exact
    for name in ("signatures.md", "signatures.csv", "signatures_trials.csv", "signatures.tex", "signatures.png"):
        assert (out / name).stat().st_size > 0
    report = (out / "signatures.md").read_text()
    assert "torch " + torch.__version__ in report and "git commit" in report and "EquivariantNet" in report
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert [r["ran"] for r in runs] == [2, 1]
    # a rerun finds everything saved; another configuration in the same folder is refused
    assert main(TINY + ["--out", str(out)]) == 0
    assert len((out / "results.jsonl").read_text().splitlines()) == 3
    assert main(TINY[:-1] + ["--epochs", "3", "--out", str(out)]) == 2
    assert "another configuration" in capsys.readouterr().err


def test_cli_refuses_bad_options_before_any_folder(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["signatures", "--groups", "O(3)", "--trials", "0", "--out", str(out)]) == 2
    assert "trials" in capsys.readouterr().err and not out.exists()
