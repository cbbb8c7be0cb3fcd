"""Groups and the test helpers: group elements, actions, random inputs, the equivariance check."""

import itertools

import numpy as np
import pytest

from basis_compiler.errors import BasisCompilerError
from basis_compiler.symbolic.groups import parse_group
from basis_compiler.symbolic.signature import Signature
from basis_compiler.testing import (
    act,
    act_on_input,
    assert_equivariant,
    component_representatives,
    random_group_element,
    random_inputs,
)

GROUPS = ["O(3)", "SO(4)", "O(1,3)", "O(2,2)", "O(0,2)", "Sp(2)", "Sp(4)", "Sp(6)"]


@pytest.mark.parametrize("text", GROUPS)
def test_elements_preserve_the_form(text):
    group = parse_group(text)
    form = group.form().astype(float)
    rng = np.random.default_rng(0)
    for comp in range(len(component_representatives(group))):
        for _ in range(5):
            g = random_group_element(group, rng, comp)
            assert g.shape == (group.d, group.d) and g.dtype == np.float64
            err = np.abs(g.T @ form @ g - form).max()
            assert err <= 1e-10 * max(1.0, np.linalg.norm(g, 2) ** 2), (text, comp, err)
            assert np.linalg.cond(g) < 1e3


@pytest.mark.parametrize(
    "text, dets",
    [("O(3)", [1, -1]), ("SO(4)", [1]), ("O(1,3)", [1, -1, -1, 1]), ("O(2,2)", [1, -1, -1, 1]), ("Sp(4)", [1])],
)
def test_determinants_match_components(text, dets):
    group = parse_group(text)
    reps = component_representatives(group)
    assert [round(np.linalg.det(r)) for r in reps] == dets
    rng = np.random.default_rng(1)
    for comp, det in enumerate(dets):
        for _ in range(5):
            assert np.linalg.det(random_group_element(group, rng, comp)) == pytest.approx(det, abs=1e-9)


def test_lorentz_components_differ():
    group = parse_group("O(1,3)")
    rng = np.random.default_rng(2)
    seen = set()
    for comp, (time_sign, det) in enumerate([(1, 1), (-1, -1), (1, -1), (-1, 1)]):
        for _ in range(10):
            g = random_group_element(group, rng, comp)
            assert np.sign(g[0, 0]) == time_sign and abs(g[0, 0]) >= 1 - 1e-12
            assert round(np.linalg.det(g)) == det
        seen.add((time_sign, det))
    assert len(seen) == 4


def test_lorentz_elements_are_not_all_rotations():
    rng = np.random.default_rng(3)
    gs = [random_group_element(parse_group("O(1,3)"), rng, 0) for _ in range(10)]
    assert max(abs(g[0, 0]) for g in gs) > 1.1


def test_random_component_and_bad_component():
    group = parse_group("O(1,3)")
    rng = np.random.default_rng(4)
    dets = {round(np.linalg.det(random_group_element(group, rng))) for _ in range(30)}
    assert dets == {1, -1}
    with pytest.raises(BasisCompilerError):
        random_group_element(group, rng, 4)
    with pytest.raises(BasisCompilerError):
        random_group_element(parse_group("SO(3)"), rng, 1)


@pytest.mark.parametrize("text", ["O(3)", "O(1,3)", "Sp(4)"])
@pytest.mark.parametrize("pseudo", [False, True])
def test_act_composes(text, pseudo):
    group = parse_group(text)
    rng = np.random.default_rng(5)
    g1 = random_group_element(group, rng)
    g2 = random_group_element(group, rng)
    for order in range(4):
        x = rng.standard_normal((2,) + (group.d,) * order)
        once = act(g1 @ g2, x, order, pseudo, batch_dims=1)
        twice = act(g1, act(g2, x, order, pseudo, batch_dims=1), order, pseudo, batch_dims=1)
        np.testing.assert_allclose(twice, once, rtol=1e-10, atol=1e-10 * np.abs(once).max())


def test_act_formula():
    rng = np.random.default_rng(6)
    g = random_group_element(parse_group("O(3)"), rng, 1)
    x = rng.standard_normal((3, 3))
    np.testing.assert_allclose(act(g, x, 2), g @ x @ g.T, atol=1e-12)
    np.testing.assert_allclose(act(g, x, 2, pseudo=True), -g @ x @ g.T, atol=1e-12)
    np.testing.assert_allclose(act(g, x[0], 1, pseudo=True), -g @ x[0], atol=1e-12)
    assert act(g, np.float64(2.0), 0, pseudo=True) == pytest.approx(-2.0)
    with pytest.raises(BasisCompilerError):
        act(g, x, 1)


def test_act_on_input_leaves_family_axis():
    sig = Signature.parse("O(3): a[4]:1, X:2s -> 0")
    rng = np.random.default_rng(7)
    g = random_group_element(sig.group, rng)
    x = random_inputs(sig, rng, batch=2)
    np.testing.assert_allclose(act_on_input(g, x["a"], sig.input("a"), batch_dims=1), x["a"] @ g.T, atol=1e-12)


def test_random_inputs_symmetry_and_shapes():
    sig = Signature.parse("O(4): v:1, S:3s, A:3a, M:2, a[n]:1, b[5]:2a, c:0 -> 0")
    rng = np.random.default_rng(8)
    x = random_inputs(sig, rng, n=6)
    shapes = {"v": (4,), "S": (4, 4, 4), "A": (4, 4, 4), "M": (4, 4), "a": (6, 4), "b": (5, 4, 4), "c": ()}
    assert {k: v.shape for k, v in x.items()} == shapes
    for perm in itertools.permutations(range(3)):
        sign = np.linalg.det(np.eye(3)[list(perm)])
        np.testing.assert_array_equal(x["S"].transpose(perm), x["S"])
        np.testing.assert_array_equal(x["A"].transpose(perm), sign * x["A"])
    np.testing.assert_array_equal(x["b"].transpose(0, 2, 1), -x["b"])
    assert np.abs(x["A"]).max() > 0 and not np.allclose(x["M"], x["M"].T)
    batched = random_inputs(sig, rng, n={"n": 2}, batch=3)
    assert batched["a"].shape == (3, 2, 4) and batched["S"].shape == (3, 4, 4, 4)


def test_random_inputs_integer():
    x = random_inputs("O(3): S:2s, A:2a, v:1 -> 0", np.random.default_rng(9), integer=True)
    for arr in x.values():
        assert np.array_equal(arr, np.round(arr)) and np.abs(arr).max() <= 3
    assert np.array_equal(x["S"], x["S"].T) and np.array_equal(x["A"], -x["A"].T)


def test_random_inputs_needs_family_size():
    with pytest.raises(BasisCompilerError, match="symbolic"):
        random_inputs("O(3): a[n]:1 -> 0", np.random.default_rng(10))


def _cross(x):
    return np.cross(x["v"], x["w"])


def test_equivariant_maps_pass():
    rng = np.random.default_rng(11)
    eta = parse_group("O(1,3)").form()
    assert_equivariant(lambda x: (x["v"] @ eta @ x["v"]) * x["v"], "O(1,3): v:1 -> 1", rng)
    assert_equivariant(_cross, "SO(3): v:1, w:1 -> 1", rng)
    assert_equivariant(_cross, "O(3): v:1, w:1 -> 1p", rng)
    assert_equivariant(lambda x: np.outer(x["v"], x["v"]), "O(2,2): v:1 -> 2s", rng)
    omega = parse_group("Sp(4)").form()
    assert_equivariant(lambda x: (x["q"] @ omega @ x["p"]) * x["q"], "Sp(4): q:1, p:1 -> 1", rng)
    assert_equivariant(lambda x: x["a"].T @ x["a"], "O(3): a[n]:1 -> 2s", rng, n=5)


def test_non_equivariant_maps_fail():
    rng = np.random.default_rng(12)
    with pytest.raises(AssertionError, match="component"):
        assert_equivariant(lambda x: x["v"] ** 2, "O(1,3): v:1 -> 1", rng)
    with pytest.raises(AssertionError, match="component 1"):
        assert_equivariant(_cross, "O(3): v:1, w:1 -> 1", rng)
    assert_equivariant(_cross, "O(3): v:1, w:1 -> 1", rng, components=[0])
    with pytest.raises(AssertionError, match="shape"):
        assert_equivariant(lambda x: x["v"], "O(3): v:1 -> 2", rng)
    with pytest.raises(AssertionError):
        assert_equivariant(lambda x: (x["v"] @ x["v"]) * x["v"], "O(1,3): v:1 -> 1", rng, components=[0])


def test_identically_zero_output_passes():
    omega = parse_group("Sp(6)").form()
    assert_equivariant(lambda x: (x["v"] @ omega @ x["v"]) * x["v"], "Sp(6): v:1 -> 1", np.random.default_rng(13))
