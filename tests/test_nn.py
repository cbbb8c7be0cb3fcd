"""EquivariantNet: exact equivariance under every group component (reflections, O(s,t) time
reversal, symplectic), the parity bookkeeping, fits of known equivariant polynomials, and the
module conventions (state_dict, torch.compile, repr, errors)."""

import numpy as np
import pytest
import torch

from basis_compiler import Signature
from basis_compiler.errors import BasisCompilerError
from basis_compiler.nn import EquivariantNet
from basis_compiler.testing import assert_equivariant, random_group_element, random_inputs

pytestmark = pytest.mark.time_limit(120)

GRID = [
    ("O(3): C:2s -> 2s", 2, 3),                 # the materials signature
    ("O(3): E:1, B:1p -> 1", 2, 2),             # pseudo input: E·B is a pseudo-scalar, B an odd generator
    ("O(3): E:1, B:1p -> 1p", 2, 2),            # pseudo output
    ("O(3): u:1, v:1, w:1 -> 0p", 3, 3),        # pseudo-scalar output: ψ · MLP(true scalars)
    ("O(3): u:1, v:1, w:1 -> 1", 3, 3),         # ε-terms of both parities
    ("O(3): A:2a -> 2a", 3, 2),                 # antisymmetric input and output
    ("O(4): v:1, w:1 -> 2a", 2, 2),             # antisymmetric output
    ("SO(3): u:1, v:1 -> 1", 2, 2),             # ε term: the cross product is a true vector under SO(3)
    ("SO(3): u:1, v:1, w:1 -> 0", 3, 3),        # det(u,v,w) is a true invariant under SO(3)
    ("O(1,3): p[4]:1 -> 2s", 2, 4),             # 4-momenta, the four Lorentz components
    ("O(1,3): p[4]:1 -> 1p", 3, 4),             # ε(p_i,p_j,p_k,·) and ε(p_0..p_3) under O(1,3)
    ("O(2,2): x:1, y:1 -> 2a", 2, 2),
    ("Sp(4): q:1, p:1 -> 2", 2, 2),
    ("Sp(4): q[3]:1 -> 2a", 2, 2),
]


def _fn(net):
    def fn(x):
        with torch.no_grad():
            return net(**{k: torch.tensor(v)[None] for k, v in x.items()})[0].numpy()
    return fn


def _calibrated(sig, degree, invariant_degree, rng, **kw):
    torch.manual_seed(0)
    net = EquivariantNet(sig, degree, invariant_degree, hidden=(16, 16), **kw).double()
    sample = random_inputs(Signature.parse(sig), rng, batch=64)
    net.calibrate(**{k: torch.tensor(v) for k, v in sample.items()})
    return net


@pytest.mark.parametrize("sig, degree, invariant_degree", GRID)
def test_equivariant_under_every_component(sig, degree, invariant_degree, rng):
    net = _calibrated(sig, degree, invariant_degree, rng)
    # random MLP weights make every coefficient a nontrivial function of the invariants
    assert_equivariant(_fn(net), sig, rng, trials=3, rtol=1e-10, atol=1e-12)


def test_every_path_is_used(rng):
    """The grid exercises each part: odd generators with pseudo coefficients, pseudo-scalar pairs."""
    net = _calibrated("O(3): E:1, B:1p -> 1", 2, 2, rng)
    assert (net.n_true, net.n_pseudo, net.n_even, net.n_odd) == (2, 1, 2, 1)   # |E|²,|B|²; E·B; E, E×B; B
    assert net.n_inputs == 3                                                    # |E|², |B|², (E·B)²
    lorentz = _calibrated("O(1,3): p[4]:1 -> 1p", 3, 4, rng)
    assert lorentz.n_pseudo == 1 and lorentz.n_odd > 0                          # ε(p0,p1,p2,p3)
    assert _calibrated("SO(3): u:1, v:1, w:1 -> 0", 3, 3, rng).n_pseudo == 0    # no parity in SO(d)


def _extra_features(s):
    """A fixed nonlinear function of the invariants: still invariant."""
    return torch.cat([s, torch.tanh(s), s[..., :1].square().add(1).log()], dim=-1)


@pytest.mark.parametrize("sig, degree, invariant_degree", [
    ("O(3): C:2s -> 2s", 2, 3), ("O(3): E:1, B:1p -> 1", 2, 2), ("O(1,3): p[4]:1 -> 1p", 3, 4)])
def test_invariant_features_keep_equivariance(sig, degree, invariant_degree, rng):
    net = _calibrated(sig, degree, invariant_degree, rng, features=_extra_features)
    plain = _calibrated(sig, degree, invariant_degree, rng)
    assert net.n_features == 2 * net.n_true + 1
    assert net.n_inputs == plain.n_inputs + net.n_true + 1        # pseudo-scalar pairs still appended
    assert "features" in repr(net)
    assert_equivariant(_fn(net), sig, rng, trials=3, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("features, words", [("log", "function of the invariants"),
                                             (lambda s: s.sum(-1), "probe gave")])
def test_bad_invariant_features(features, words):
    with pytest.raises(BasisCompilerError, match=words):
        EquivariantNet("O(3): C:2s -> 2s", 2, 3, hidden=(4,), features=features)


def test_pseudo_scalar_enters_with_its_sign(rng):
    """f(E, B) for the reflection -I: E -> -E, B -> +B; an MLP reading E·B directly would break this."""
    net = _calibrated("O(3): E:1, B:1p -> 1", 2, 2, rng)
    E, B = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 3, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(net(E=-E, B=B), -net(E=E, B=B), rtol=1e-12, atol=1e-12)


def _fit(net, inputs, target, iterations=500):
    net.calibrate(**inputs)
    opt = torch.optim.LBFGS(net.parameters(), lr=1, max_iter=iterations, tolerance_grad=1e-15,
                            tolerance_change=1e-20, history_size=50, line_search_fn="strong_wolfe")

    def loss():
        opt.zero_grad()
        value = (net(**inputs) - target).square().sum() / target.square().sum()
        value.backward()
        return value

    opt.step(loss)


def _least_squares(net, inputs, target):
    """With hidden=() the output is linear in the parameters, so one Gauss-Newton step (a
    least-squares solve with the Jacobian) is the exact optimum; LBFGS gets within ~1e-5 of it
    on this conditioning (about 4e6 for the normal equations), which would test the optimiser."""
    net.calibrate(**inputs)
    names = [n for n, _ in net.named_parameters()]
    start = tuple(p.detach() for _, p in net.named_parameters())

    def output(*params):
        return torch.func.functional_call(net, dict(zip(names, params)), (), inputs).reshape(-1)

    jac = torch.autograd.functional.jacobian(output, start)
    J = torch.cat([j.reshape(j.shape[0], -1) for j in jac], dim=1)
    step = torch.linalg.lstsq(J, (target.reshape(-1) - output(*start))[:, None]).solution[:, 0]
    with torch.no_grad():
        for p, delta in zip(net.parameters(), step.split([p.numel() for p in net.parameters()])):
            p += delta.view_as(p)


def _relative_error(net, inputs, target):
    with torch.no_grad():
        return float((net(**inputs) - target).norm() / target.norm())


def _strain(n, generator):
    A = torch.randn(n, 3, 3, dtype=torch.float64, generator=generator)
    return (A + A.transpose(-1, -2)) / 4 + 2 * torch.eye(3, dtype=torch.float64)


def _law(C):
    trace = C.diagonal(dim1=-2, dim2=-1).sum(-1)
    return C @ C + trace[..., None, None] * C


def test_fits_a_known_polynomial_exactly():
    """S = C² + tr(C) C: its coefficients (1 and tr C) are affine in the invariants, so the net with
    a linear head reaches it; checked on held-out data, which an interpolating fit would miss."""
    g = torch.Generator().manual_seed(0)
    train, test = _strain(256, g), _strain(512, g)
    torch.manual_seed(0)
    net = EquivariantNet("O(3): C:2s -> 2s", 2, 3, hidden=()).double()
    _least_squares(net, {"C": train}, _law(train))
    assert _relative_error(net, {"C": test}, _law(test)) < 1e-6


def test_fits_a_law_with_a_pseudo_scalar_coefficient():
    """f(E, B) = (E·B) B + |E|² E under O(3): B is a pseudo-vector, so its coefficient E·B must be
    carried by the pseudo-scalar path."""
    g = torch.Generator().manual_seed(1)

    def draw(n):
        E, B = torch.randn(2, n, 3, dtype=torch.float64, generator=g)
        return {"E": E, "B": B}, (E * B).sum(-1, keepdim=True) * B + (E * E).sum(-1, keepdim=True) * E

    (train, y_train), (test, y_test) = draw(256), draw(512)
    torch.manual_seed(0)
    net = EquivariantNet("O(3): E:1, B:1p -> 1", 1, 2, hidden=()).double()
    _least_squares(net, train, y_train)
    assert _relative_error(net, test, y_test) < 1e-6


def test_hidden_layers_train_on_the_law():
    """With hidden layers (the default shape, smaller) LBFGS gets close quickly; the shortcut
    carries the affine part. A bound, not a precision claim: see the README."""
    g = torch.Generator().manual_seed(2)
    train, test = _strain(256, g), _strain(512, g)
    torch.manual_seed(0)
    net = EquivariantNet("O(3): C:2s -> 2s", 2, 3, hidden=(16,), activation="tanh").double()
    _fit(net, {"C": train}, _law(train), iterations=300)
    assert _relative_error(net, {"C": test}, _law(test)) < 1e-2


def test_state_dict_round_trip(rng):
    net = _calibrated("O(3): E:1, B:1p -> 1", 2, 2, rng)
    x = {k: torch.tensor(v) for k, v in random_inputs(Signature.parse(net.signature), rng, batch=5).items()}
    other = EquivariantNet("O(3): E:1, B:1p -> 1", 2, 2, hidden=(16, 16)).double()
    other.load_state_dict(net.state_dict())
    assert other._ready  # the statistics came with the state: no recalibration on the next batch
    with torch.no_grad():
        assert torch.equal(other(**x), net(**x))
    assert torch.equal(other.pseudo_scale, net.pseudo_scale) and torch.equal(other.feature_map, net.feature_map)
    assert torch.equal(other.even_map, net.even_map) and torch.equal(other.odd_map, net.odd_map)


def test_first_call_calibrates_once():
    torch.manual_seed(0)
    net = EquivariantNet("O(3): C:2s -> 2s", 2, 3, hidden=(8,)).double()
    C = _strain(32, torch.Generator().manual_seed(3))
    net(C=C)
    shift = net.feature_shift.clone()
    net(C=3 * C)
    assert bool(net.calibrated) and torch.equal(net.feature_shift, shift)
    assert not torch.equal(shift, torch.zeros_like(shift))


def test_torch_compile_matches_eager(rng):
    net = _calibrated("O(3): E:1, B:1p -> 1", 2, 2, rng)
    x = {k: torch.tensor(v) for k, v in random_inputs(Signature.parse(net.signature), rng, batch=7).items()}
    compiled = torch.compile(net, fullgraph=True, backend="aot_eager")
    with torch.no_grad():
        assert torch.allclose(compiled(**x), net(**x), rtol=1e-12, atol=1e-12)


def test_repr_reports_parameters():
    net = EquivariantNet("O(3): C:2s -> 2s", 2, 3, hidden=(128, 128))
    expected = sum(p.numel() for p in net.parameters())
    assert net.n_parameters == expected == (3 * 128 + 128) + (128 * 128 + 128) + (128 * 3 + 3) + (3 * 3 + 3)
    assert f"parameters={expected:,}" in repr(net) and "O(3): C:2s -> 2s" in repr(net)


def test_shapes_and_batch_axes():
    net = EquivariantNet("O(1,3): p[4]:1 -> 2s", 2, 2, hidden=(8,))
    assert net(p=torch.randn(2, 5, 4, 4)).shape == (2, 5, 4, 4)
    assert EquivariantNet("O(3): u:1, v:1, w:1 -> 0p", 3, 3, hidden=(4,))(
        u=torch.randn(6, 3), v=torch.randn(6, 3), w=torch.randn(6, 3)).shape == (6,)


def test_symbolic_family_with_sizes(rng):
    net = EquivariantNet("O(3): a[n]:1 -> 2s", 2, 2, hidden=(8,), family_sizes={"a": 4}).double()
    sig = "O(3): a[4]:1 -> 2s"
    net.calibrate(a=torch.tensor(random_inputs(Signature.parse(sig), rng, batch=16)["a"]))
    assert_equivariant(_fn(net), sig, rng, trials=2, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kwargs, words", [
    (dict(signature="O(3): a[n]:1 -> 2s", degree=2), "family_sizes"),
    (dict(signature="O(3): C:2s -> 2s", degree=-1), "degree"),
    (dict(signature="O(3): C:2s -> 2s", degree=2, hidden=(0,)), "hidden"),
    (dict(signature="O(3): C:2s -> 2s", degree=2, activation="swish"), "activation"),
    (dict(signature="O(3): -> 2s", degree=2), "inputs"),
])
def test_errors_name_the_problem_and_an_example(kwargs, words):
    with pytest.raises(BasisCompilerError, match=words) as info:
        EquivariantNet(**kwargs)
    assert "e.g." in str(info.value) or "Valid examples" in str(info.value)


def test_wrong_input_names():
    net = EquivariantNet("O(3): C:2s -> 2s", 2, 3, hidden=(4,))
    with pytest.raises(BasisCompilerError, match="net\\(C=C\\)"):
        net(X=torch.randn(2, 3, 3))


def test_reflections_are_actually_tested(rng):
    """Guard for the grid: the sampler gives det -1 for O(3) and all four O(1,3) components."""
    dets = {round(float(np.linalg.det(random_group_element(Signature.parse("O(1,3): p:1 -> 0").group, rng, c))))
            for c in range(4)}
    assert dets == {1, -1}


def test_normalisation_whitens_features_and_generators():
    """After calibrate, on the calibration data: the MLP's inputs have identity covariance, and the
    generators g'_s = Σ_t even_map[s, t] g_t are orthonormal on average, computed here directly
    from I, C, C² (not through the generated layer). Near C = I the raw generators are nearly
    parallel, which is what this removes (docs: nn/normalize.py)."""
    g = torch.Generator().manual_seed(4)
    A0 = torch.randn(500, 3, 3, dtype=torch.float64, generator=g)
    C = torch.eye(3, dtype=torch.float64) + 0.1 * (A0 + A0.transpose(-1, -2))
    net = EquivariantNet("O(3): C:2s -> 2s", 2, 3, hidden=(8,)).double().calibrate(C=C)
    with torch.no_grad():
        z = (net._scalars({"C": C}, None) - net.feature_shift) @ net.feature_map.T
    assert torch.allclose(z.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(z.T @ z / len(z), torch.eye(3, dtype=torch.float64), atol=1e-6)
    raw = torch.stack([torch.eye(3, dtype=torch.float64).expand_as(C), C, C @ C], 1).flatten(2)  # (n, 3, 9)
    with torch.no_grad():   # the generated layer's generators are I, C, C² in some order and scale
        layer_g = torch.stack([net.generators(torch.eye(3, dtype=torch.float64)[t].expand(len(C), 3), {"C": C})
                               for t in range(3)], 1).flatten(2)
    coef = torch.linalg.lstsq(raw.transpose(1, 2).reshape(-1, 3), layer_g.transpose(1, 2).reshape(-1, 3)).solution
    assert torch.allclose(raw.transpose(1, 2) @ coef, layer_g.transpose(1, 2), atol=1e-9)   # same span
    raw_gram = torch.einsum("ntj,nsj->ts", raw, raw) / len(C)
    assert torch.linalg.cond(raw_gram) > 1e3                          # the problem being solved
    A = net.even_map @ coef.T                                         # g' = A @ (I, C, C²)
    assert torch.allclose(A @ raw_gram @ A.T, torch.eye(3, dtype=torch.float64), atol=1e-6)


def test_normalisation_with_too_few_samples_stays_finite(rng):
    """A calibration batch of one (the first forward) or fewer samples than features cannot
    determine a whitening: the undetermined directions fall back to per-feature scaling."""
    net = EquivariantNet("O(3): u:1, v:1, w:1 -> 1", 3, 3, hidden=(8,)).double()
    x = {k: torch.tensor(v) for k, v in random_inputs(Signature.parse(net.signature), rng, batch=1).items()}
    with torch.no_grad():
        y = net(**x)
    assert torch.isfinite(y).all()
    assert all(torch.isfinite(b).all() for b in net.buffers())
    assert torch.allclose(net.feature_map, torch.diag(net.feature_map.diagonal()))   # per-feature scaling
    few = {k: torch.tensor(v) for k, v in random_inputs(Signature.parse(net.signature), rng, batch=3).items()}
    other = EquivariantNet("O(3): u:1, v:1, w:1 -> 1", 3, 3, hidden=(8,)).double().calibrate(**few)
    assert other.n_inputs > 3 and all(torch.isfinite(b).all() for b in other.buffers())
    assert_equivariant(_fn(other), net.signature, rng, trials=2, rtol=1e-8, atol=1e-10)


def test_small_calibration_samples_get_per_feature_scaling():
    """Below SAMPLES_PER_FEATURE samples per feature (generator) the maps are diagonal (no noise
    directions amplified); from there on they whiten. Equivariance is exact either way."""
    from basis_compiler.nn.normalize import SAMPLES_PER_FEATURE
    g = torch.Generator().manual_seed(5)
    sig = "O(3): m[5]:0, x[5]:1 -> 2s"
    net = EquivariantNet(sig, 2, 2, hidden=(8,)).double()
    n_small = SAMPLES_PER_FEATURE * min(net.n_inputs, net.n_even) - 1
    m = torch.rand(4 * n_small, 5, dtype=torch.float64, generator=g)
    x = torch.randn(4 * n_small, 5, 3, dtype=torch.float64, generator=g)
    net.calibrate(m=m[:n_small], x=x[:n_small])
    for buffer in (net.feature_map, net.even_map):
        assert torch.equal(buffer, torch.diag(buffer.diagonal()))
    net.calibrate(m=m, x=x)
    for buffer in (net.feature_map, net.even_map):
        assert not torch.equal(buffer, torch.diag(buffer.diagonal()))
