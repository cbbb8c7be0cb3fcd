"""Recovery models: SOS matrices, reference layers, invariance, the robust eigen head, training."""

import math

import pytest
import torch

from basis_compiler.errors import DataError
from basis_compiler.apps.recovery import training
from basis_compiler.apps.recovery.data import Datasets, Setting, Split, make_dataset, make_datasets, random_orthogonal
from basis_compiler.apps.recovery.training import METHODS, build_model, evaluate, train
from basis_compiler.apps.recovery import reference_layers as rl
from basis_compiler.apps.recovery.models import SVH, BaselineModel, SVHDiag, parameter_count, symmetric_from_upper
from basis_compiler.apps.recovery.spectral import (
    EigenHead,
    SOSMethod,
    accuracy,
    recovery_loss,
    robust_top_eigvec,
    sos_matrix,
    top_eigvec_recover,
)

F64 = torch.float64


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny tensors: extra threads only add contention on a shared 2-core machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _orthonormal(batch, n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.linalg.qr(torch.randn(batch, n, d, generator=g, dtype=F64))[0]


def test_sos_matrix_matches_the_sum_over_rows():
    S = _orthonormal(3, 12, 4, 0)
    n, d = 12, 4
    for variant, shift, minus in (("I", d / n, 0.0), ("II", (d - 1) / n, 3.0)):
        expected = torch.stack(
            [sum((a @ a - shift) * torch.outer(a, a) for a in s) - minus * torch.eye(d, dtype=F64) for s in S]
        )
        torch.testing.assert_close(sos_matrix(S, variant), expected)
    with pytest.raises(DataError, match="III"):
        sos_matrix(S, "III")


def test_sos_variants_share_the_eigenvector():
    S, v0 = make_dataset("BG", "random", 60, 5, 0.25, 200, 1, dtype=F64)
    v1 = top_eigvec_recover(sos_matrix(S, "I"), S)
    v2 = top_eigvec_recover(sos_matrix(S, "II"), S)
    torch.testing.assert_close((v1 * v2).sum(-1).abs(), torch.ones(200, dtype=F64))
    torch.testing.assert_close(v1.norm(dim=-1), torch.ones(200, dtype=F64))
    # And SOS does recover better than chance (1/d) on this easy setting.
    assert accuracy(SOSMethod("I")(S), v0) > 0.5


def test_parameter_counts_match_the_paper():
    assert parameter_count(BaselineModel(100, 5)) == 99_087
    assert parameter_count(SVHDiag(100, 5)) == 58_981
    assert parameter_count(SVH(100, 5)) == 1_331_131


def test_reference_layers_match_explicit_bases():
    n, d = 5, 3
    S = _orthonormal(2, n, d, 2)
    pairs = [(i, j) for i in range(n) for j in range(i, n)]
    gram = S @ S.transpose(1, 2)
    torch.testing.assert_close(rl.gram_features(S), torch.stack([gram[:, i, j] for i, j in pairs], -1))
    torch.testing.assert_close(rl.diag_features(S), torch.stack([gram[:, i, i] for i in range(n)], -1))

    coeffs = torch.randn(2, len(pairs) + 1, dtype=F64)
    expected = torch.stack(
        [
            sum(c[k] * (torch.outer(s[i], s[j]) + torch.outer(s[j], s[i])) / 2 for k, (i, j) in enumerate(pairs))
            + c[-1] * torch.eye(d, dtype=F64)
            for c, s in zip(coeffs, S)
        ]
    )
    torch.testing.assert_close(rl.gram_covariant(coeffs, S), expected)

    dcoeffs = torch.randn(2, n + 1, dtype=F64)
    expected = torch.stack(
        [sum(c[i] * torch.outer(s[i], s[i]) for i in range(n)) + c[-1] * torch.eye(d, dtype=F64) for c, s in zip(dcoeffs, S)]
    )
    torch.testing.assert_close(rl.diag_covariant(dcoeffs, S), expected)
    with pytest.raises(ValueError, match="coeffs"):
        rl.diag_covariant(coeffs, S)


def test_symmetric_from_upper_is_row_major():
    A = symmetric_from_upper(torch.arange(1.0, 7.0), 3)
    assert torch.equal(A, torch.tensor([[1.0, 2, 3], [2, 4, 5], [3, 5, 6]]))


@pytest.mark.parametrize("cls", [SVHDiag, SVH])
def test_equivariant_models_are_invariant(cls):
    torch.manual_seed(0)
    model = cls(10, 3).double()
    S = _orthonormal(16, 10, 3, 3)
    O = random_orthogonal(16, 3, torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.testing.assert_close(model.matrix(S @ O), O.transpose(1, 2) @ model.matrix(S) @ O)
        overlap = (model(S @ O) * model(S)).sum(-1).abs()
    torch.testing.assert_close(overlap, torch.ones(16, dtype=F64))


def test_baseline_is_not_invariant():
    # The same check on the non-equivariant baseline must fail, or the invariance test proves nothing.
    torch.manual_seed(0)
    model = BaselineModel(10, 3).double()
    S = _orthonormal(16, 10, 3, 3)
    O = random_orthogonal(16, 3, torch.Generator().manual_seed(4))
    with torch.no_grad():
        overlap = (model(S @ O) * model(S)).sum(-1).abs()
    assert (overlap < 0.99).any()


def _with_spectrum(evals, seed):
    d = evals.shape[-1]
    Q = random_orthogonal(evals.shape[0], d, torch.Generator().manual_seed(seed), dtype=evals.dtype)
    return Q @ torch.diag_embed(evals) @ Q.transpose(1, 2)


@pytest.mark.parametrize(
    "dtype, spectrum",
    [
        (F64, [0.1, 0.5, 1.0 - 1e-12, 1.0]),  # top gap 1e-12
        (F64, [-1.0, -0.5, 1e-12, 1e-12]),  # top two both 1e-12
        (F64, [0.1, 0.5, 1.0, 1.0]),
        (torch.float32, [0.1, 0.5, 1.0, 1.0]),  # eigh's own backward gives NaN here
    ],
)
def test_head_has_finite_gradients_at_degenerate_top_eigenvalues(dtype, spectrum):
    A = _with_spectrum(torch.tensor([spectrum] * 4, dtype=dtype), 5).requires_grad_()
    S = _orthonormal(4, 9, 4, 6).to(dtype)
    recovery_loss(EigenHead()(A, S), S[:, :, 0]).backward()
    assert torch.isfinite(A.grad).all()
    # Bounded by about 1/min_gap; eigh's own backward reaches 1e10 and more on these inputs.
    assert A.grad.abs().max() < 1e7


def test_baseline_with_zero_matrix_trains_finitely():
    # A = 0 for every input: all d eigenvalues coincide, the worst case for eigh's backward.
    model = BaselineModel(8, 3)
    with torch.no_grad():
        model.mlp[-1].weight.zero_()
        model.mlp[-1].bias.zero_()
    S = _orthonormal(5, 8, 3, 7).float()
    recovery_loss(model(S), S[:, :, 0]).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_robust_backward_matches_eigh_on_separated_spectra():
    X = torch.randn(6, 4, 4, dtype=F64, generator=torch.Generator().manual_seed(8))
    b = torch.randn(6, 4, dtype=F64, generator=torch.Generator().manual_seed(9))

    def grad(top):
        Xr = X.clone().requires_grad_()
        A = (Xr + Xr.transpose(1, 2)) / 2
        ((top(A) * b).sum(-1) ** 2).sum().backward()
        return Xr.grad

    torch.testing.assert_close(grad(robust_top_eigvec), grad(lambda A: torch.linalg.eigh(A)[1][..., -1]))
    Xg = X[:2].clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda X: (robust_top_eigvec((X + X.transpose(1, 2)) / 2) * b[:2]).sum(-1) ** 2, (Xg,)
    )


def test_head_reports_nan_for_non_finite_matrices():
    A = torch.eye(3).repeat(2, 1, 1)
    A[1, 0, 0] = float("nan")
    u = robust_top_eigvec(A)
    assert torch.isfinite(u[0]).all() and torch.isnan(u[1]).all()


_TINY = Setting("BG", "identity", n=16, d=3, eps=0.25, n_train=300, n_val=100, n_test=100, seed=0)


def test_short_training_reduces_the_loss():
    data = make_datasets(_TINY)
    model = build_model("svh_diag", 16, 3, seed=0)
    before, _ = evaluate(model, data.test)
    seen = []
    result = train(model, data, lr=3e-3, max_epochs=6, batch=50, seed=0, progress=seen.append)
    assert [r.epoch for r in seen] == list(range(1, result.epochs + 1))
    assert result.skipped_steps == 0 and result.steps == 6 * 6
    assert result.best_val_loss < result.val_history[0] - 0.05
    assert 1 - result.test_acc < before - 0.05
    assert math.isclose(evaluate(model, data.val)[0], result.best_val_loss, rel_tol=1e-6)


def _nan_loss_model():
    return SVHDiag(16, 3, features=lambda S: rl.diag_features(S) * float("nan"))


def _nan_grad_model():
    # Finite forward (sqrt(0) = 0), NaN backward (0 · ∞): only the gradient check can catch it.
    return SVHDiag(16, 3, covariant=lambda c, S: rl.diag_covariant(c + torch.sqrt(c * 0), S))


@pytest.mark.parametrize("make_model", [_nan_loss_model, _nan_grad_model])
def test_non_finite_steps_are_skipped_and_weights_untouched(make_model):
    data = make_datasets(_TINY)
    model = make_model()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    result = train(model, data, lr=1e-2, max_epochs=10, patience=2, batch=100, seed=0)
    assert result.steps == 0 and result.skipped_steps == 3 * result.epochs
    assert result.epochs == 2 and result.best_epoch == 0
    assert all(torch.equal(start[k], v) for k, v in model.state_dict().items())


def test_methods_table_and_bad_arguments():
    assert {k: m.lr for k, m in METHODS.items()} == {"baseline": 1e-3, "svh_diag": 5e-4, "svh": 3e-4, "svh_perm": 1e-3}
    with pytest.raises(DataError, match="method"):
        build_model("mlp", 10, 3)
    with pytest.raises(DataError, match="lr"):
        train(SVHDiag(16, 3), make_datasets(_TINY), lr=-1.0)


def _reference_twin(model, reference_cls, features, covariant):
    """The reference-layer model with the same MLP; the last layer's rows rotated, since the
    generated CovariantLayer takes the identity coefficient first and the reference layers last."""
    twin = reference_cls(model.n, model.d, features=features, covariant=covariant).double()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for name in ("mlp.6.weight", "mlp.6.bias"):
        state[name] = torch.roll(state[name], -1, 0)
    twin.load_state_dict(state)
    return twin


@pytest.mark.parametrize(
    "cls, features, covariant",
    [(SVH, rl.gram_features, rl.gram_covariant), (SVHDiag, rl.diag_features, rl.diag_covariant)],
)
@pytest.mark.parametrize("n, d", [(9, 3), (100, 5)])
def test_generated_layer_models_equal_reference_layer_models(cls, features, covariant, n, d):
    from basis_compiler.codegen.store import compile_module
    from basis_compiler.apps.recovery.models import svh_signature

    torch.manual_seed(1)
    model = cls(n, d).double()
    # The default layers are the compiler's generated modules, not hand-written einsums.
    layer = model.covariant.layer
    assert type(layer) is compile_module(svh_signature("n", d), 2, "covariant")  # one class for every n
    assert type(model.features.layer) is compile_module(svh_signature("n", d), 2, "invariants")
    twin = _reference_twin(model, cls, features, covariant)
    S = _orthonormal(6, n, d, 10)
    v0 = S[:, :, 0]
    A, A_ref = model.matrix(S), twin.matrix(S)
    # Random initial MLPs give O(0.1) entries; compare to float64 precision.
    torch.testing.assert_close(A, A_ref, rtol=1e-12, atol=1e-12)
    recovery_loss(model(S), v0).backward()
    recovery_loss(twin(S), v0).backward()
    for (name, p), (_, q) in zip(model.named_parameters(), twin.named_parameters()):
        g_ref = torch.roll(q.grad, 1, 0) if name.startswith("mlp.6") else q.grad
        torch.testing.assert_close(p.grad, g_ref, rtol=1e-9, atol=1e-12)


def test_svh_diag_uses_only_the_identity_and_diagonal_slots():
    model = SVHDiag(6, 3).double()
    coeffs = torch.randn(2, 7, dtype=F64)
    seen = {}
    layer = model.covariant.layer
    handle = layer.register_forward_pre_hook(lambda mod, args, kwargs: seen.update(full=args[0]), with_kwargs=True)
    model.covariant(coeffs, _orthonormal(2, 6, 3, 11))
    handle.remove()
    full = seen["full"]
    pairs = [(i, j) for i in range(6) for j in range(i, 6)]
    diag_slots = [0] + [1 + pairs.index((i, i)) for i in range(6)]
    torch.testing.assert_close(full[:, diag_slots], coeffs)
    off = [k for k in range(full.shape[1]) if k not in diag_slots]
    assert torch.equal(full[:, off], torch.zeros(2, len(off), dtype=F64))


@pytest.mark.parametrize("cls", [SVHDiag, SVH])
def test_identity_coefficient_cannot_change_the_output(cls):
    model = cls(10, 3).double()
    S = _orthonormal(8, 10, 3, 12)
    with torch.no_grad():
        before = model(S)
        model.mlp[-1].bias[0] += 5.0  # output 0 is the identity coefficient
        after = model(S)
        model.mlp[-1].bias[1] += 5.0  # a real basis element does change v̂
        changed = model(S)
    torch.testing.assert_close((before * after).sum(-1).abs(), torch.ones(8, dtype=F64))
    assert ((before * changed).sum(-1).abs() < 0.999).any()


def test_learning_rate_decays_by_the_factor_each_epoch(monkeypatch):
    # The paper's recipe: ExponentialLR stepped once per epoch, lr_k = lr * decay^(k-1) in epoch k.
    used = []  # the rate Adam actually holds at each optimizer step

    class SpyingAdam(torch.optim.Adam):
        def step(self, closure=None):
            used.append(self.param_groups[0]["lr"])
            return super().step(closure)

    monkeypatch.setattr(training, "make_adam", lambda params, lr: SpyingAdam(params, lr=lr))
    seen = []
    result = train(build_model("svh_diag", 16, 3), make_datasets(_TINY), lr=1e-2, decay=0.5, max_epochs=4,
                   patience=10, batch=100, progress=seen.append)
    intended = [1e-2 * 0.5**k for k in range(4)]
    assert result.epochs == 4 and result.steps == 12
    assert [r.lr for r in seen] == pytest.approx(intended, rel=1e-12)
    assert used == pytest.approx([lr for lr in intended for _ in range(3)], rel=1e-12)  # 300 samples / batch 100


class _Mixture(torch.nn.Module):
    """v̂ = S w / |S w| with one weight vector w: its accuracy has a closed form in w."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([0.1, 1.0, 0.0]))

    def forward(self, S):
        v = S @ self.w
        return v / v.norm(dim=-1, keepdim=True)


def test_training_returns_the_best_validation_state_not_the_last():
    # Training pulls w towards e0 (train v0 = S e0); validation wants (e0 + e1)/sqrt(2). Its
    # accuracy (w0 + w1)^2 / (2 |w|^2) first rises (w0 grows towards w1) and then falls again.
    S = torch.linalg.qr(torch.randn(600, 8, 3, generator=torch.Generator().manual_seed(0)))[0].float()
    both = (S[..., 0] + S[..., 1]) / math.sqrt(2)
    data = Datasets(Split(S[:300], S[:300, :, 0]), Split(S[300:450], both[300:450]),
                    Split(S[450:], both[450:]), sigma=torch.eye(8, dtype=F64))
    model = _Mixture()
    states = {}
    result = train(model, data, lr=0.05, decay=1.0, max_epochs=15, patience=100, batch=100,
                   progress=lambda rec: states.update({rec.epoch: model.w.detach().clone()}))
    history = result.val_history
    assert 0 < result.best_epoch < result.epochs  # a case where the last epoch is not the best
    assert history[-1] > min(history) + 0.05 and result.best_val_loss == min(history)
    assert history.index(min(history)) == result.best_epoch
    assert torch.equal(model.w.detach(), states[result.best_epoch])
    assert evaluate(model, data.val)[0] == pytest.approx(result.best_val_loss, abs=1e-6)
    assert result.val_acc == pytest.approx(1 - result.best_val_loss, abs=1e-6)
