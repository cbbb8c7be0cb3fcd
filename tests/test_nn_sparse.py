"""SparsePolynomial: laws read off data as sparse combinations of the exact basis.

The targets come from physics formulas written independently of the package (the inertia tensor,
the electron-muon matrix element of apps/emlp_tasks/data.py, Σ a_i a_iᵀ for a point set), and
the fitted laws are checked on fresh data, under random group elements of every component, under
member permutations and at another member count.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from basis_compiler.apps.emlp_tasks.data import inertia, particle_interaction
from basis_compiler.errors import BasisCompilerError, DataError, UnsupportedError
from basis_compiler.nn import SparsePolynomial
from basis_compiler.testing import assert_equivariant, random_inputs


def _relative_mse(prediction, target) -> float:
    return float(((prediction.detach() - target).square().mean() / target.square().mean()))


def _fn(law):
    def fn(x):
        out = law(**{k: torch.as_tensor(v)[None] for k, v in x.items()})
        return out[0].detach().numpy()
    return fn


@pytest.fixture(scope="module")
def inertia_law():
    g = torch.Generator().manual_seed(0)
    train, val = inertia(30, g), inertia(200, g)
    return SparsePolynomial("O(3): m[5]:0, x[5]:1 -> 2s", degree=3).fit(*train, validation=val)


def test_inertia_tensor_recovered_from_30_samples(inertia_law):
    """Σ_i m_i (|x_i|² δ - x_i x_iᵀ): 236 basis terms, 30 samples, the law to rounding."""
    inputs, target = inertia(500, torch.Generator().manual_seed(1))
    assert _relative_mse(inertia_law(**inputs), target) < 1e-20
    lines = inertia_law.describe(tolerance=1e-8).splitlines()
    assert lines[0].endswith("10 of 236 terms:")
    # five m_i x_i x_iᵀ terms with -1, five m_i |x_i|² δ with +1 (J = (i, i, i))
    assert sorted(line.split(" · ")[0].strip() for line in lines[1:]) == ["+1"] * 5 + ["-1"] * 5
    assert all(f"J = ({i}, {i}, {i})" in "\n".join(lines) for i in range(5))


def test_fitted_law_is_equivariant_under_every_component(inertia_law):
    assert_equivariant(_fn(inertia_law), inertia_law.signature, np.random.default_rng(0), trials=3, rtol=1e-10)


def test_lorentz_matrix_element_recovered_and_invariant():
    g = torch.Generator().manual_seed(2)
    law = SparsePolynomial("O(1,3): p1:1, p2:1, p3:1, p4:1 -> 0", degree=4)
    law.fit(*particle_interaction(30, g), validation=particle_interaction(200, g))
    inputs, target = particle_interaction(500, g)
    assert float((law(**inputs).detach() - target).square().mean() / target.var()) < 1e-20
    assert_equivariant(_fn(law), law.signature, np.random.default_rng(1), trials=2, rtol=1e-10)  # 4 components


def test_without_validation_data_a_holdout_chooses():
    g = torch.Generator().manual_seed(3)
    law = SparsePolynomial("O(3): m[5]:0, x[5]:1 -> 2s", degree=3).fit(*inertia(40, g))
    inputs, target = inertia(300, g)
    assert _relative_mse(law(**inputs), target) < 1e-20


def test_set_family_law_fitted_at_one_n_holds_at_another():
    """Σ_i a_i a_iᵀ - 0.5 Σ_ij ⟨a_i,a_j⟩ δ fitted on 7-point sets, exact on 12-point sets, and
    invariant under permuting the points."""
    def law_of(a):
        s = a.sum(-2)
        return a.transpose(-1, -2) @ a - 0.5 * (s * s).sum(-1)[..., None, None] * torch.eye(3, dtype=a.dtype)

    g = torch.Generator().manual_seed(4)
    a = torch.randn(40, 7, 3, generator=g, dtype=torch.float64)
    fitted = SparsePolynomial("O(3): a{n}:1 -> 2s", degree=2).fit({"a": a}, law_of(a))
    b = torch.randn(10, 12, 3, generator=g, dtype=torch.float64)
    assert torch.allclose(fitted(a=b), law_of(b), rtol=1e-10, atol=1e-10)
    assert torch.allclose(fitted(a=b[:, torch.randperm(12, generator=g)]), fitted(a=b), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("group", ["S(5)", "S(n)"])
def test_permutation_law_fitted_at_one_n_holds_at_another(group):
    """S(n) (generated at 5, or for every n): y_i = Σ_j X_ij - 2 X_ii + 0.5 (Σ_j X_jj) X_ii, fitted on 6 x 6 matrices, exact on
    9 x 9 ones and permutation-equivariant there (y(P X Pᵀ) = P y(X))."""
    def law_of(X):
        diag = X.diagonal(0, -2, -1)
        return X.sum(-1) - 2 * diag + 0.5 * diag.sum(-1, keepdim=True) * diag

    g = torch.Generator().manual_seed(6)
    X = torch.randn(60, 6, 6, generator=g, dtype=torch.float64)
    law = SparsePolynomial(f"{group}: X:2 -> 1", degree=2).fit({"X": X}, law_of(X))
    assert law.describe(tolerance=1e-8).startswith(f"{group}: X:2 -> 1, 3 of ")
    Y = torch.randn(20, 9, 9, generator=g, dtype=torch.float64)
    assert torch.allclose(law(X=Y), law_of(Y), rtol=1e-10, atol=1e-10)
    p = torch.randperm(9, generator=g)
    assert torch.allclose(law(X=Y[:, p][:, :, p]), law(X=Y)[:, p], rtol=1e-12, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 4))
def test_random_sparse_laws_are_recovered_exactly(seed, k):
    """A law with k random nonzero coefficients (values in ±[0.5, 2]) among the 12 terms of
    O(3): v:1, X:2s -> 2s up to degree 2 comes back with its support and values from 25 samples."""
    rng = np.random.default_rng(seed)
    sig = "O(3): v:1, X:2s -> 2s"
    truth = SparsePolynomial(sig, degree=2)
    w = torch.zeros(truth.n_coeffs, dtype=torch.float64)
    chosen = rng.choice(truth.n_coeffs, size=k, replace=False)
    w[chosen] = torch.tensor(rng.uniform(0.5, 2, k) * rng.choice([-1, 1], k))
    with torch.no_grad():
        truth.layer.weight.copy_(w[None].float())
    truth.double()

    def draw(n):
        X = torch.tensor(rng.standard_normal((n, 3, 3)))
        inputs = {"v": torch.tensor(rng.standard_normal((n, 3))), "X": X + X.transpose(1, 2)}
        return inputs, truth(**inputs).detach()

    law = SparsePolynomial(sig, degree=2).double().fit(*draw(25), validation=draw(50))
    assert torch.allclose(law.coefficients.double(), truth.coefficients.double(), atol=1e-6)


SIGNATURES = ["O(3): v:1, X:2s -> 1", "SO(3): u:1, v:1 -> 1", "O(1,3): p:1, F:2a -> 1", "Sp(4): q:1, p:1 -> 0",
              "O(2): a[3]:1 -> 2s", "SO(2): v:1, w:1 -> 2a"]


@settings(max_examples=20, deadline=None)
@given(index=st.integers(0, len(SIGNATURES) - 1), seed=st.integers(0, 10_000), k=st.integers(1, 3))
def test_sparse_laws_of_many_signatures_are_recovered(index, seed, k):
    """Over groups, parities, symmetries and families: a law with k nonzero coefficients among the
    terms up to degree 2 comes back from three times as many target entries as terms."""
    sig = SIGNATURES[index]
    rng = np.random.default_rng(seed)
    truth = SparsePolynomial(sig, degree=2)
    w = torch.zeros(truth.n_coeffs, dtype=torch.float64)
    chosen = rng.choice(truth.n_coeffs, size=min(k, truth.n_coeffs), replace=False)
    w[chosen] = torch.tensor(rng.uniform(0.5, 2, len(chosen)) * rng.choice([-1, 1], len(chosen)))
    with torch.no_grad():
        truth.layer.weight.copy_(w[None])

    def draw(batch):
        inputs = {name: torch.tensor(x) for name, x in random_inputs(sig, rng, batch=batch).items()}
        return inputs, truth(**inputs).detach()

    per_sample = draw(1)[1].numel()
    n = max(8, -(-3 * truth.n_coeffs // per_sample))
    law = SparsePolynomial(sig, degree=2).fit(*draw(n), validation=draw(n))
    assert torch.allclose(law.coefficients, w, atol=1e-6), law.describe(1e-9)


def test_state_dict_round_trip(inertia_law):
    other = SparsePolynomial("O(3): m[5]:0, x[5]:1 -> 2s", degree=3)
    other.load_state_dict(inertia_law.state_dict())
    inputs, _ = inertia(5, torch.Generator().manual_seed(5))
    assert torch.equal(other(**inputs), inertia_law(**inputs))


def test_unfitted_law_is_zero_and_repr_says_so():
    law = SparsePolynomial("O(3): v:1 -> 1", degree=3)
    assert "not fitted" in repr(law) and law.describe().endswith("no nonzero coefficient)")
    assert torch.equal(law(v=torch.randn(4, 3)), torch.zeros(4, 3))


@pytest.mark.parametrize("call, error, words", [
    (lambda law, x: law.fit({"w": x}, x), DataError, "keys v"),
    (lambda law, x: law.fit({"v": x.long()}, x), DataError, "floating"),
    (lambda law, x: law.fit({"v": x}, x[:, 0]), DataError, "shape (8, 3)"),
    (lambda law, x: law.fit({"v": x}, x, validation=({"v": x},)), DataError, "pair"),
    (lambda law, x: law.fit({"v": x}, x, n_lambdas=0), DataError, "n_lambdas"),
    (lambda law, x: law.fit({"v": x[:3]}, x[:3]), DataError, "at least 5 samples"),
])
def test_bad_input_is_refused_with_an_example(call, error, words):
    law = SparsePolynomial("O(3): v:1 -> 1", degree=3)
    with pytest.raises(error, match=None) as info:
        call(law, torch.randn(8, 3, dtype=torch.float64))
    assert isinstance(info.value, BasisCompilerError) and words in str(info.value)


def test_a_hopeless_design_matrix_is_refused_before_allocating(monkeypatch):
    import basis_compiler.nn.sparse as sparse
    monkeypatch.setattr(sparse, "MAX_DESIGN_BYTES", 10_000)
    law = SparsePolynomial("O(3): v:1 -> 1", degree=3)   # 2 terms: v and |v|² v
    x = torch.randn(1000, 3, dtype=torch.float64)
    with pytest.raises(DataError, match=r"random subset of at most 104 samples"):
        law.fit({"v": x}, x)


def test_non_finite_data_are_refused_and_vanishing_terms_give_the_zero_law():
    law = SparsePolynomial("O(3): v:1 -> 1", degree=3)
    x = torch.randn(20, 3, dtype=torch.float64)
    bad = x.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(DataError, match="NaN or infinite"):
        law.fit({"v": bad}, x)
    with pytest.raises(DataError, match="NaN or infinite"):
        law.fit({"v": x}, bad)
    law.fit({"v": torch.zeros(20, 3, dtype=torch.float64)}, x)   # every term is 0 at v = 0
    assert torch.equal(law.coefficients, torch.zeros(2, dtype=torch.float64))


def test_symbolic_family_sizes_and_empty_bases_are_refused():
    with pytest.raises(UnsupportedError, match=r"family_sizes=\{'a': 5\}"):
        SparsePolynomial("O(3): a[n]:1 -> 1", degree=1)
    assert SparsePolynomial("O(3): a[n]:1 -> 1", degree=1, family_sizes={"a": 2}).n_coeffs == 2
    with pytest.raises(UnsupportedError, match="raise the degree"):
        SparsePolynomial("O(3): v:1 -> 1", degree=0)
