"""Family sizes given at run time: one generated class for a[n] serves every n >= 1, agreeing
with the float64 reference of the concrete signature at each size."""

import numpy as np
import pytest
import torch

from basis_compiler import BasisCompilerError
from basis_compiler.codegen.kinds import compile_kind
from basis_compiler.codegen.store import compile_module
from basis_compiler.symbolic.signature import Signature
from basis_compiler.testing import assert_equivariant, random_inputs

pytestmark = pytest.mark.time_limit(60)

SYMBOLIC = [
    ("O(5): a[n]:1 -> 2s", 2, "covariant"),
    ("O(5): a[n]:1 -> 2s", 2, "invariants"),
    ("O(1,3): p[n]:1 -> 2s", 2, "covariant"),
    ("Sp(2): a[n]:1 -> 2a", 2, "covariant"),  # antisymmetric orbits: the zero slot and negated copies
    ("O(4): a[n]:1 -> 3s", 3, "covariant"),
    ("SO(3): a[n]:1 -> 1", 2, "covariant"),  # epsilon with family columns: cofactor vectors
    ("O(3): a[n]:1, X:2s -> 0", 2, "invariants"),
    ("O(3): a[n]:1, X:2s -> 2s", 2, "polynomial"),
]


def _concrete(signature: str, n: int) -> str:
    return str(Signature.parse(signature).with_family_sizes(
        **{s.name: n for s in Signature.parse(signature).inputs if s.is_family}))


def _reference(compiled, coeffs, inputs):
    """Sum over terms and index tuples of coefficient * the symbolic stage's float64 value."""
    values = []
    for term, js in zip(compiled.terms, compiled.orbits):
        for J in js:
            values.append((term if J == () else term.with_indices(J)).evaluate(inputs))
    if compiled.kind == "invariants":
        return np.array(values)
    return np.tensordot(coeffs, np.array(values), axes=(0, 0))


def _count(cls, n):
    return cls.n_features_for(n) if cls.kind == "invariants" else cls.n_coeffs_for(n)


@pytest.mark.parametrize("signature, degree, kind", SYMBOLIC)
def test_one_class_matches_the_reference_at_several_sizes(signature, degree, kind, rng):
    cls = compile_module(signature, degree, kind)
    module = cls() if kind != "polynomial" else None
    for n in (1, 2, 5):
        concrete = compile_kind(_concrete(signature, n), degree, kind)
        count = sum(concrete.sizes)
        assert _count(cls, n) == count
        x = random_inputs(signature, rng, n=n, batch=2)
        tx = {k: torch.from_numpy(v) for k, v in x.items()}
        if kind == "covariant":
            c = rng.normal(size=(2, count))
            y = module(torch.from_numpy(c), **tx).numpy()
        elif kind == "polynomial":
            layer = cls(n=n).double()
            assert layer.weight.shape == (1, count)
            y = layer(**tx).detach().numpy()
            c = np.broadcast_to(layer.weight.detach().numpy()[0], (2, count))
        else:
            y = module(**tx).numpy()
            c = np.zeros((2, 0))
        for b in range(2):
            ref = _reference(concrete, c[b], {k: v[b] for k, v in x.items()})
            assert np.abs(y[b] - ref).max() <= 1e-12 * max(1.0, float(np.abs(ref).max())), n


@pytest.mark.parametrize("n", [3, 40])
def test_counts_equal_the_concrete_modules(n):
    cov = compile_module("O(5): a[n]:1 -> 2s", 2, "covariant")
    inv = compile_module("O(5): a[n]:1 -> 2s", 2, "invariants")
    fixed = compile_module(f"O(5): a[{n}]:1 -> 2s", 2, "covariant")
    assert cov.n_coeffs_for(n) == cov.n_coeffs_for(n=n) == cov.n_coeffs_for({"n": n}) == fixed.n_coeffs
    assert inv.n_features_for(n) == compile_module(f"O(5): a[{n}]:1 -> 2s", 2, "invariants").n_features
    assert not hasattr(cov, "n_coeffs")  # the attribute is for concrete sizes only


def test_two_symbols_take_sizes_by_name():
    cls = compile_module("O(3): a[n]:1, b[m]:1 -> 1", 1, "covariant")
    fixed = compile_module("O(3): a[4]:1, b[2]:1 -> 1", 1, "covariant")
    assert cls.size_symbols == ("m", "n")
    assert cls.n_coeffs_for(n=4, m=2) == cls.n_coeffs_for({"m": 2, "n": 4}) == fixed.n_coeffs == 6
    a, b = torch.randn(3, 4, 3, dtype=torch.float64), torch.randn(3, 2, 3, dtype=torch.float64)
    c = torch.randn(3, 6, dtype=torch.float64)
    torch.testing.assert_close(cls()(c, a=a, b=b), fixed()(c, a=a, b=b), rtol=0, atol=1e-12)
    with pytest.raises(TypeError, match="by symbol"):
        cls.n_coeffs_for(4)
    with pytest.raises(ValueError, match=">= 1"):
        cls.n_coeffs_for(n=0, m=2)


def test_a_term_over_families_of_different_sizes_is_a_clear_error():
    # before: generation succeeded and construction raised "orbit count ... differs: regenerate"
    for signature in ("O(3): a[4]:1, b[2]:1 -> 0", "O(3): a[n]:1, b[m]:1 -> 0"):
        with pytest.raises(BasisCompilerError, match="one size per term"):
            compile_module(signature, 2, "invariants")


def test_families_sharing_a_size_must_agree():
    cls = compile_module("O(3): a[n]:1, b[n]:1 -> 0", 2, "invariants")
    with pytest.raises(ValueError, match="share the family size n"):
        cls()(a=torch.randn(2, 4, 3), b=torch.randn(2, 5, 3))


def test_polynomial_layer_is_built_for_its_sizes():
    cls = compile_module("O(3): a[n]:1, X:2s -> 2s", 2, "polynomial")
    layer = cls(out_channels=3, n=4)
    assert layer.weight.shape == (3, cls.n_coeffs_for(4))
    X = torch.randn(5, 3, 3)
    assert layer(a=torch.randn(5, 4, 3), X=X + X.transpose(-1, -2)).shape == (5, 3, 3, 3)
    with pytest.raises(ValueError, match="build one layer per size"):
        layer(a=torch.randn(5, 6, 3), X=X)
    with pytest.raises(TypeError, match="n=50"):
        cls(out_channels=3)


@pytest.mark.parametrize("n", [2, 6])
def test_equivariant_at_each_size(n, rng):
    cls = compile_module("O(1,3): p[n]:1 -> 2s", 2, "covariant")
    module = cls()
    coeffs = torch.from_numpy(rng.normal(size=cls.n_coeffs_for(n)))

    def fn(inputs):
        with torch.no_grad():
            return module(coeffs, p=torch.from_numpy(np.ascontiguousarray(inputs["p"]))).numpy()

    assert_equivariant(fn, "O(1,3): p[n]:1 -> 2s", rng, trials=2, rtol=1e-8, atol=1e-10, n=n)


def test_gradcheck_at_two_sizes():
    cls = compile_module("Sp(2): a[n]:1 -> 2a", 2, "covariant")
    module = cls()
    for n in (2, 3):
        c = torch.randn(2, cls.n_coeffs_for(n), dtype=torch.float64, requires_grad=True)
        a = torch.randn(2, n, 2, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda c, a: module(c, a=a), (c, a))


def test_layout_is_cached_per_size_and_not_in_the_state_dict():
    cls = compile_module("O(5): a[n]:1 -> 2s", 2, "covariant")
    module = cls()
    for n in (3, 7, 3):
        module(torch.randn(2, cls.n_coeffs_for(n)), a=torch.randn(2, n, 5))
    assert len(module._layouts) == 2
    assert list(module.state_dict()) == []


def test_torch_compile_at_two_sizes_matches_eager():
    cls = compile_module("O(5): a[n]:1 -> 2s", 2, "covariant")
    module = cls()
    compiled = torch.compile(module, dynamic=False, backend="aot_eager")
    for n in (4, 9):
        S, c = torch.randn(3, n, 5), torch.randn(3, cls.n_coeffs_for(n))
        torch.testing.assert_close(compiled(c, a=S), module(c, a=S))


def test_recovery_models_share_the_checked_in_size_agnostic_layers():
    from basis_compiler.apps.recovery.models import SVH, compiled_svh_layers
    from codegen_out import svh_covariant, svh_invariants

    for n in (6, 9):
        features, covariant = compiled_svh_layers(n, 5)  # checks the documented order numerically
        assert type(covariant) is svh_covariant.CovariantLayer
        assert type(features) is svh_invariants.InvariantFeatures
        model = SVH(n, 5)
        assert model.matrix(torch.randn(2, n, 5)).shape == (2, 5, 5)
