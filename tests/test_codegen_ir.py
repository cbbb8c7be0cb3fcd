"""The codegen layers on their own: runtime helpers against brute force, the IR passes (shared
subexpressions, no dead code, hoisted casts), the manifest from the emission record, empty
bases, input-less signatures and the size guard."""

import ast
import itertools
import json

import numpy as np
import pytest
import torch

from basis_compiler.codegen import runtime
from basis_compiler.codegen.emit import generate_module
from basis_compiler.codegen.store import compile_module, generate, generate_source, read_manifest
from basis_compiler.errors import BasisCompilerError, CodegenError
from basis_compiler.symbolic.evaluate import levi_civita
from basis_compiler.symbolic.signature import Signature


# A hang (say in the exact rank step) fails in a minute, not at the CI timeout (tests/conftest.py).
pytestmark = pytest.mark.time_limit(60)


def _orbit_brute_force(n, m, symmetry):
    """Orbits of [n]^m under the signed relabellings, numbered by least member; zero members."""
    reps, zero = {}, set()
    for J in itertools.product(range(n), repeat=m):
        images = {}
        for perm, sign in symmetry:
            image = tuple(J[perm[i]] for i in range(m))
            if image == J and sign < 0:
                zero.add(J)
            images.setdefault(image, sign)
        reps[J] = min(images.items())
    return reps, zero


@pytest.mark.parametrize("n, m, symmetry", [
    (4, 2, [((0, 1), 1), ((1, 0), 1)]),
    (4, 2, [((0, 1), 1), ((1, 0), -1)]),
    (3, 3, [(p, 1) for p in itertools.permutations(range(3))]),
    (3, 3, [((0, 1, 2), 1), ((1, 0, 2), -1)]),
    (5, 1, [((0,), 1)]),
])
def test_orbit_index_against_brute_force(n, m, symmetry):
    total = 100
    index, size, count = runtime.orbit_index(n, m, symmetry, 3, total)
    reps, zero = _orbit_brute_force(n, m, symmetry)
    orbits = sorted({rep for J, (rep, _) in reps.items() if J not in zero})
    assert count == len(orbits)
    for k, J in enumerate(itertools.product(range(n), repeat=m)):
        if J in zero:
            assert index[k] == total
            continue
        rep, sign = reps[J]
        expected = 3 + orbits.index(rep) + (total + 1 if sign < 0 else 0)
        assert index[k] == expected, J
    members = [sum(1 for J, (r, _) in reps.items() if r == rep and J not in zero) for rep in orbits]
    assert size.tolist() == members


@pytest.mark.parametrize("d", [2, 3, 4])
def test_eps_contract_is_a_determinant_and_its_cofactors(d):
    g = torch.Generator().manual_seed(d)
    cols = [torch.randn(5, d, dtype=torch.float64, generator=g) for _ in range(d)]
    torch.testing.assert_close(runtime.eps_contract(cols, None), torch.linalg.det(torch.stack(cols, -1)))
    eps = torch.from_numpy(levi_civita(d).astype(float))
    for free in range(d):
        others = cols[:free] + cols[free + 1:]
        # epsilon contracted with every column but slot `free`, which stays free
        letters = "abcdefgh"[:d]
        subs = ",".join("z" + letters[k] for k in range(d) if k != free)
        expected = torch.einsum(f"{letters},{subs}->z{letters[free]}", eps, *others)
        torch.testing.assert_close(runtime.eps_contract(cols[:free] + cols[free + 1:], free), expected)


def test_form_helpers():
    x = torch.arange(8.0).reshape(2, 4)
    torch.testing.assert_close(runtime.eta(x, torch.tensor([1.0, -1, -1, -1]), -1), x * torch.tensor([1.0, -1, -1, -1]))
    omega = torch.tensor([[0.0, 0, 1, 0], [0, 0, 0, 1], [-1, 0, 0, 0], [0, -1, 0, 0]])
    torch.testing.assert_close(runtime.omega(x, -1), x @ omega.T)
    with pytest.raises(ValueError, match="input 'v' has shape"):
        runtime.check("v", x, (3,), 0)
    with pytest.raises(ValueError, match="7 entries"):
        runtime.check_coeffs(x, 7)


def _forward(source: str) -> list[str]:
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("def forward("))
    return [line.strip() for line in lines[start + 1:]]


def test_forward_has_no_dead_code_and_casts_once():
    src = generate_source("O(3): v:1, X:2s -> 2s", 3, "polynomial", "x")
    body = _forward(src)
    assert sum("self.eye.to(" in line for line in body) == 1
    cast = next(i for i, line in enumerate(body) if "self.eye.to(" in line)
    assert all("torch.einsum" not in line for line in body[:cast])  # hoisted above the contractions
    inv = generate_source("O(5): a[6]:1 -> 2s", 2, "invariants", "x")
    assert "dtype" not in "\n".join(_forward(inv))  # no buffer cast: no dtype
    assert "torch.cat([f1]" not in inv
    cov = _forward(generate_source("O(5): a[6]:1 -> 2s", 2, "covariant", "x"))
    assert not any(line.endswith(" = coeffs") for line in cov)  # no alias
    # every assigned local is read later
    for source in (src, inv):
        tree = ast.parse(source)
        fwd = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "forward")
        stored = {n.id for n in ast.walk(fwd) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        loaded = {n.id for n in ast.walk(fwd) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        assert stored <= loaded


def test_common_subexpressions_are_shared():
    src = generate_source("O(3): v:1, X:2s -> 2s", 3, "polynomial", "x")
    rhs = [line.split(" = ", 1)[1] for line in _forward(src) if " = " in line]
    assert len(rhs) == len(set(rhs))


def test_generated_files_copy_only_the_helpers_they_call():
    src = generate_source("Sp(4): q:1, p:1 -> 2", 2, "polynomial", "x")
    assert "def _omega(" in src and "def _eta(" not in src and "def _orbit_index(" not in src
    assert "from basis_compiler" not in src and "import basis_compiler" not in src


def test_manifest_comes_from_the_emission_record(tmp_path):
    mod = generate_module(Signature.parse("O(5): a[6]:1 -> 2s"), 2, "invariants", "inv")
    assert (mod.class_name, mod.count_name, mod.count, mod.n_terms) == ("InvariantFeatures", "n_features", 21, 1)
    generate("O(5): a[6]:1 -> 2s", 2, "invariants", "inv", tmp_path)
    (entry,) = read_manifest(tmp_path)["modules"]
    assert entry["content_hash"] == mod.content_hash and entry["n_features"] == 21
    assert f"# content-hash: {mod.content_hash}" in (tmp_path / "inv.py").read_text()
    json.dumps(entry)


def test_invariants_header_shows_the_signature_as_given():
    src = generate_source("O(5): a[6]:1 -> 2s", 2, "invariants", "inv")
    assert "# signature: O(5): a[6]:1 -> 2s\n" in src and "scalar invariant features" in src
    assert "--name inv" in src and "'O(5): a[6]:1 -> 2s'" in src


def test_docstring_lists_readable_formulas():
    src = generate_source("O(5): a[100]:1 -> 2s", 2, "covariant", "svh_covariant")
    assert "  0: δ\n" in src and "  1..5050: Sym[a_i a_jᵀ]" in src


# -- empty bases and input-less signatures ------------------------------------------------------


@pytest.mark.parametrize("signature, degree, kind, inputs, shape", [
    ("O(3): v:1 -> 3", 0, "polynomial", {"v": (4, 3)}, (4, 3, 3, 3)),
    ("O(3): v:1, X:2s -> 2s", (1, 1), "polynomial", {"v": (4, 3), "X": (4, 3, 3)}, (4, 3, 3)),
    ("O(3): v:1 -> 3", 0, "covariant", {"v": (4, 3)}, (4, 3, 3, 3)),
    ("O(3): v:1 -> 3", 0, "invariants", {"v": (4, 3)}, (4, 0)),
])
def test_empty_basis_returns_zeros(signature, degree, kind, inputs, shape):
    cls = compile_module(signature, degree, kind)
    assert getattr(cls, "n_coeffs", getattr(cls, "n_features", None)) == 0 and cls.n_terms == 0
    tx = {k: torch.randn(*s, dtype=torch.float64) for k, s in inputs.items()}
    args = (torch.zeros(4, 0, dtype=torch.float64),) if kind == "covariant" else ()
    y = cls()(*args, **tx)
    assert y.shape == shape and y.dtype == torch.float64 and not y.any()
    if kind == "polynomial":
        assert cls(out_channels=5)(**tx).shape == (4, 5) + shape[1:]
        chan = {k: v.unsqueeze(-len(v.shape[1:]) - 1).expand(4, 2, *v.shape[1:]) for k, v in tx.items()}
        with_channels = compile_module(signature, degree, kind, channels=2)
        assert with_channels.n_coeffs == 0 and with_channels(out_channels=5)(**chan).shape == (4, 5) + shape[1:]


def test_input_less_signatures_are_constant_tensors():
    poly = compile_module("O(1,3): -> 2", 0, "polynomial")
    layer = poly().double()
    eta = torch.diag(torch.tensor([1.0, -1, -1, -1], dtype=torch.float64))
    torch.testing.assert_close(layer(), layer.weight[0, 0] * eta)  # no batch axes
    assert poly(out_channels=3)().shape == (3, 4, 4)
    cov = compile_module("Sp(2): -> 2", 0, "covariant")
    c = torch.tensor([[2.0], [3.0]], dtype=torch.float64)
    omega_inv = torch.tensor([[0.0, -1], [1, 0]], dtype=torch.float64)
    torch.testing.assert_close(cov()(c), c[:, :, None] * omega_inv)  # batch axes from coeffs
    scalar = compile_module("O(3): -> 0", 0, "polynomial")()
    assert scalar().shape == ()
    empty = compile_module("O(3): -> 0", 2, "invariants")()
    assert empty().shape == (0,)


def test_huge_dimension_is_refused_before_allocating():
    with pytest.raises(CodegenError, match=r"d\^2 = 1000000000\^2.*lower d"):
        compile_module("O(1000000000): -> 2", 0, "polynomial")
    assert compile_module("O(1000000000): -> 0", 0, "polynomial")()().shape == ()
    with pytest.raises(BasisCompilerError, match="family size"):
        generate_source("O(3): a[100000]:1 -> 0", 2, "invariants", "x")
