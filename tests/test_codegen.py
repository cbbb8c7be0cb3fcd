"""Generated modules: agreement with the symbolic stage's float64 reference, equivariance,
autograd, serialization, torch.compile, and byte-exact regeneration of codegen_out/."""

import io
import pickle

import numpy as np
import pytest
import torch

from basis_compiler import BasisCompilerError
from basis_compiler.codegen.store import CODEGEN_DIR, check, compile_module, generate_source, read_manifest
from basis_compiler.codegen.kinds import compile_kind
from basis_compiler.symbolic.signature import Signature
from basis_compiler.testing import assert_equivariant, random_inputs


# A hang (say in the exact rank step) fails in a minute, not at the CI timeout (tests/conftest.py).
pytestmark = pytest.mark.time_limit(60)

CORPUS = [
    ("O(3): v:1, X:2s -> 2s", 3, "polynomial"),
    ("O(3): v:1, X:2s -> 2s", 2, "covariant"),
    ("O(3): E:1, B:1p -> 2s", 2, "polynomial"),
    ("O(3): v:1, X:2s -> 0", 3, "invariants"),
    ("SO(3): u:1, v:1 -> 1", 2, "polynomial"),
    ("SO(3): A:2a, v:1 -> 2s", 2, "polynomial"),
    ("O(1,3): p[4]:1 -> 2s", 2, "covariant"),
    ("O(1,3): p[3]:1 -> 0", 2, "invariants"),
    ("O(1,3): F:2a, p:1 -> 1", 2, "polynomial"),
    ("O(2,2): X:2s -> 2s", 2, "polynomial"),
    ("Sp(4): q:1, p:1 -> 2", 2, "polynomial"),
    ("Sp(4): q[3]:1 -> 2", 2, "covariant"),
    ("Sp(2): a[3]:1 -> 2a", 2, "covariant"),
    ("O(5): a[6]:1 -> 2s", 2, "covariant"),
    ("O(5): a[6]:1 -> 2s", 2, "invariants"),
    ("O(4): a[3]:1 -> 3s", 3, "covariant"),
    ("SO(3): a[3]:1 -> 1", 2, "covariant"),
    ("O(1,3): u:1, v:1, w:1 -> 1p", 3, "polynomial"),
]


def _reference(compiled, coeffs, inputs):
    """Sum over terms and index tuples of coefficient * the symbolic stage's float64 value."""
    values = []
    for term, js in zip(compiled.terms, compiled.orbits):
        for J in js:
            t = term if J == () else term.with_indices(J)
            values.append(t.evaluate(inputs))
    if compiled.kind == "invariants":
        return np.array(values)
    return np.tensordot(coeffs, np.array(values), axes=(0, 0))


def _module(signature, degree, kind):
    cls = compile_module(signature, degree, kind)
    return cls(), cls


@pytest.mark.parametrize("signature, degree, kind", CORPUS + [("SO(7): a[6]:1 -> 1", 6, "covariant")])
def test_matches_reference(signature, degree, kind, rng):
    module, cls = _module(signature, degree, kind)
    compiled = compile_kind(signature, degree, kind)
    batch = 3
    x = random_inputs(signature, rng, batch=batch)
    tx = {k: torch.from_numpy(v) for k, v in x.items()}
    if kind == "covariant":
        c = rng.normal(size=(batch, cls.n_coeffs))
        y = module(torch.from_numpy(c), **tx).numpy()
    elif kind == "polynomial":
        module = module.double()
        y = module(**tx).detach().numpy()
        c = np.broadcast_to(module.weight.detach().numpy()[0], (batch, cls.n_coeffs))
    else:
        y = module(**tx).numpy()
        c = np.zeros((batch, 0))
    for b in range(batch):
        ref = _reference(compiled, c[b], {k: v[b] for k, v in x.items()})
        scale = max(1.0, float(np.abs(ref).max()))
        assert np.abs(y[b] - ref).max() <= 1e-12 * scale


@pytest.mark.parametrize("signature, degree, kind", CORPUS)
def test_generated_modules_are_equivariant(signature, degree, kind, rng):
    module, cls = _module(signature, degree, kind)
    module = module.double()
    coeffs = torch.from_numpy(rng.normal(size=getattr(cls, "n_coeffs", 0)))
    sig = Signature.parse(signature)
    check_sig = sig if kind != "invariants" else Signature(sig.group, sig.inputs, type(sig.output)(0))

    def fn(inputs):
        tx = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in inputs.items()}
        with torch.no_grad():
            y = module(coeffs, **tx) if kind == "covariant" else module(**tx)
        return y.numpy()

    if kind == "invariants":
        fn_all = fn_all_factory(module)
        for k in range(cls.n_features):
            assert_equivariant(lambda inp: fn_all(inp)[k], check_sig, rng, trials=1, rtol=1e-8, atol=1e-10)
    else:
        assert_equivariant(fn, sig, rng, trials=2, rtol=1e-8, atol=1e-10)


def fn_all_factory(module):
    def fn_all(inputs):
        tx = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in inputs.items()}
        with torch.no_grad():
            return module(**tx).numpy()
    return fn_all


def test_invariant_features_are_invariant(rng):
    module, cls = _module("O(1,3): p[3]:1 -> 0", 2, "invariants")
    module = module.double()
    fn_all = fn_all_factory(module)
    sig = "O(1,3): p[3]:1 -> 0"
    for k in range(cls.n_features):
        assert_equivariant(lambda inp: fn_all(inp)[k], sig, rng, trials=1, rtol=1e-8, atol=1e-10)


def test_gradcheck(rng):
    module, cls = _module("Sp(4): q:1, p:1 -> 2", 2, "polynomial")
    module = module.double()
    q = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    p = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda q, p: module(q=q, p=p), (q, p))
    cov, ccls = _module("O(1,3): p[4]:1 -> 2s", 2, "covariant")
    c = torch.randn(2, ccls.n_coeffs, dtype=torch.float64, requires_grad=True)
    s = torch.randn(2, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda c, s: cov(c, p=s), (c, s))


def test_state_dict_and_pickle_round_trip():
    cls = compile_module("O(3): v:1, X:2s -> 2s", 3, "polynomial", channels=2)
    a = cls(out_channels=3)
    b = cls(in_channels=2, out_channels=3)
    b.load_state_dict(a.state_dict())
    v, X = torch.randn(5, 2, 3), torch.randn(5, 2, 3, 3)
    X = X + X.transpose(-1, -2)
    assert torch.equal(a(v=v, X=X), b(v=v, X=X))
    c = pickle.loads(pickle.dumps(a))
    assert torch.equal(a(v=v, X=X), c(v=v, X=X))
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    assert a(v=v, X=X).shape == (5, 3, 3, 3)


def test_batch_dims_dtype_and_channels():
    cls = compile_module("O(5): a[100]:1 -> 2s", 2, "covariant")
    m = cls()
    S = torch.randn(2, 3, 100, 5)
    c = torch.randn(2, 3, cls.n_coeffs)
    assert m(c, a=S).shape == (2, 3, 5, 5) and m(c, a=S).dtype == torch.float32
    assert m(c.double(), a=S.double()).dtype == torch.float64


def test_torch_compile_matches_eager():
    cls = compile_module("O(5): a[100]:1 -> 2s", 2, "covariant")
    m = cls()
    S, c = torch.randn(4, 100, 5), torch.randn(4, cls.n_coeffs)
    compiled = torch.compile(m, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(c, a=S), m(c, a=S))


def test_bad_inputs_have_clear_errors():
    cls = compile_module("O(5): a[100]:1 -> 2s", 2, "covariant")
    with pytest.raises(ValueError, match="input 'a' has shape"):
        cls()(torch.randn(2, cls.n_coeffs), a=torch.randn(2, 100, 4))
    with pytest.raises(ValueError, match="5051 entries"):
        cls()(torch.randn(2, 7), a=torch.randn(2, 100, 5))
    with pytest.raises(BasisCompilerError, match="valid kinds"):
        compile_module("O(5): a[3]:1 -> 2s", 2, "linear")


def test_emission_is_deterministic():
    a = generate_source("O(3): v:1, X:2s -> 2s", 2, "polynomial", "x")
    b = generate_source("O(3): v:1, X:2s -> 2s", 2, "polynomial", "x")
    assert a == b and "content-hash:" in a and "DO NOT EDIT" in a


def test_checked_in_modules_are_current():
    names = {m["name"] for m in read_manifest()["modules"]}
    assert {"svh_covariant", "svh_invariants"} <= names
    assert check() == []
    for name in names:
        assert (CODEGEN_DIR / f"{name}.py").exists()


def test_svh_layer_is_the_hand_written_contraction():
    cls = compile_module("O(5): a[100]:1 -> 2s", 2, "covariant")
    assert cls.n_coeffs == 100 * 101 // 2 + 1
    S = torch.randn(3, 100, 5, dtype=torch.float64)
    c = torch.randn(3, cls.n_coeffs, dtype=torch.float64)
    i, j = torch.triu_indices(100, 100)
    U = torch.zeros(3, 100, 100, dtype=torch.float64)
    U[:, i, j] = c[:, 1:]
    Q = (U + U.transpose(1, 2)) / 2
    expected = S.transpose(1, 2) @ Q @ S + c[:, :1, None] * torch.eye(5, dtype=torch.float64)
    torch.testing.assert_close(cls()(c, a=S), expected)


def test_check_names_a_stale_file(tmp_path):
    from basis_compiler.codegen.store import generate

    generate("O(3): v:1 -> 2s", 2, "polynomial", "tiny", tmp_path)
    assert check(tmp_path) == []
    path = tmp_path / "tiny.py"
    path.write_text(path.read_text().replace("n_terms = 3", "n_terms = 4"))
    (problem,) = check(tmp_path)
    assert problem.startswith(f"{path}: stale")
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_epsilon_with_vectors_needs_no_levi_civita_tensor():
    # determinants and cofactors: at d = 7 a generated module may not store epsilon
    vectors = ", ".join(f"v{i}:1" for i in range(6))
    src = generate_source(f"SO(7): {vectors} -> 1", (1,) * 6, "polynomial", "big")
    assert "_eps_contract" in src and "register_buffer('eps'" not in src
    src = generate_source("SO(3): A:2a, v:1 -> 2s", 2, "polynomial", "small")
    assert "register_buffer('eps'" in src  # epsilon on a matrix's legs: a stored buffer at d = 3


def test_epsilon_beyond_d6_on_non_vectors_is_a_clear_error():
    with pytest.raises(BasisCompilerError, match="up to d = 6"):
        generate_source("SO(7): A:2a, u:1, v:1, w:1, x:1, y:1 -> 0", (1, 1, 1, 1, 1, 1), "polynomial", "x")
