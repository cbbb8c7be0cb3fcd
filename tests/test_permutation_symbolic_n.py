"""S(n) written with a symbol: the terms of every n >= the number of legs.

The oracle is the Reynolds-operator trace of test_permutation_group (no package code) at the
size where partition diagrams become independent and one size above it: the dimension is the
same at both, and equals the number of terms listed for the symbolic n.
"""

import numpy as np
import pytest
import torch

from basis_compiler import enumerate_basis
from basis_compiler.codegen.store import check, compile_module, generate
from basis_compiler.errors import SignatureError
from basis_compiler.symbolic.signature import Signature

from test_permutation_group import GRID, oracle_cost, multidegrees, reynolds_dimension, text

pytestmark = pytest.mark.time_limit(120)


def most_legs(inputs, output, degree) -> int:
    return max(sum(a * o for (o, _), a in zip(inputs, md)) + output[0] for md in multidegrees(len(inputs), degree))


CASES = [(inputs, output, degree, n) for inputs, output, degree in GRID
         for n in (most_legs(inputs, output, degree), most_legs(inputs, output, degree) + 1)
         if oracle_cost(n, inputs, output, degree) < 3e6]


@pytest.mark.parametrize("inputs, output, degree, n", CASES)
def test_symbolic_n_lists_the_dimension_at_every_large_n(inputs, output, degree, n):
    basis = enumerate_basis(text("n", inputs, output), degree)
    expected = sum(reynolds_dimension(n, inputs, output, md) for md in multidegrees(len(inputs), degree))
    assert len(basis) == expected


@pytest.mark.parametrize("inputs, output, degree", GRID)
def test_symbolic_n_terms_are_the_terms_at_a_large_concrete_n(inputs, output, degree):
    big = most_legs(inputs, output, degree) + 2
    generic = enumerate_basis(text("n", inputs, output), degree)
    concrete = enumerate_basis(text(big, inputs, output), degree)
    assert sorted(map(repr, generic)) == sorted(map(repr, concrete))
    assert str(generic.signature).startswith("S(n): ")


def test_the_issue_example_sums_of_squares_and_square_of_sum():
    basis = enumerate_basis("S(n): x:1 -> 0", (2,))
    x = np.random.default_rng(0).standard_normal(9)
    # the terms are evaluated at any size n: here n = 9, far from the 2 legs they were listed at
    values = sorted(float(t.evaluate({"x": x})) for t in basis)
    assert np.allclose(values, sorted([(x ** 2).sum(), x.sum() ** 2]))


def test_symbolic_n_round_trips_and_other_groups_still_need_numbers():
    assert str(Signature.parse("S(n): X:2s, v:1 -> 2a")) == "S(n): X:2s, v:1 -> 2a"
    assert str(Signature.parse("S( m ): v:1 -> 0")) == "S(m): v:1 -> 0"
    with pytest.raises(SignatureError, match="O\\(3\\)"):
        Signature.parse("O(n): v:1 -> 0")
    with pytest.raises(SignatureError, match="S\\(n\\) or S\\(5\\)"):
        Signature.parse("S(2n): v:1 -> 0")


def test_a_layer_generated_at_symbolic_n_runs_at_any_n_like_one_generated_at_a_concrete_n():
    generic = compile_module("S(n): X:2 -> 2", 1, "polynomial", channels=3)(out_channels=2)
    concrete = compile_module("S(6): X:2 -> 2", 1, "polynomial", channels=3)(out_channels=2)
    assert generic.signature == "S(n): X:2 -> 2"
    assert (generic.min_size, generic.max_size) == (4, None)
    concrete.load_state_dict(generic.state_dict())
    gen = torch.Generator().manual_seed(0)
    for n in (4, 7):
        X = torch.randn(5, 3, n, n, dtype=torch.float64, generator=gen)
        torch.testing.assert_close(generic(X=X), concrete(X=X))
    X = torch.randn(5, 3, 9, 9, dtype=torch.float64, generator=gen)
    p = torch.randperm(9, generator=gen)
    torch.testing.assert_close(generic(X=X[..., p, :][..., :, p]), generic(X=X)[..., p, :][..., :, p])


def test_a_symbolic_n_module_written_to_a_folder_regenerates_exactly(tmp_path):
    path = generate("S(n): x:1 -> 1", 2, "polynomial", "perm_vec", folder=tmp_path)
    assert "signature: S(n): x:1 -> 1" in path.read_text()
    assert check(tmp_path) == []


def test_show_prints_the_terms_and_says_for_which_n_they_hold(capsys):
    from basis_compiler.cli import main

    assert main(["show", "S(n): x:1 -> 0", "--degree", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any("Σ_i x_i²" in line for line in lines) and any("(Σ_i x_i)²" in line for line in lines)
    assert lines[-1].startswith("S(n): x:1 -> 0, degree 2:")
    assert "independent at every n >= 2: 4" in lines[-1]


def test_the_summary_line_uses_the_users_own_symbol(capsys):
    from basis_compiler.cli import main

    assert main(["show", "S(m): X:2s -> 1", "--degree", "1"]) == 0
    assert "independent at every m >= 3: 5" in capsys.readouterr().out.strip().splitlines()[-1]


def test_generate_without_kind_makes_an_s_n_signature_a_polynomial_layer(tmp_path, capsys):
    """--kind defaults to covariant, which S(n) does not have; an S(n) signature gets its only kind."""
    import importlib.util

    from basis_compiler.cli import main

    assert main(["generate", "S(n): X:2s, w:1 -> 1", "--degree", "1,1", "--name", "mix", "--out", str(tmp_path)]) == 0
    spec = importlib.util.spec_from_file_location("mix", tmp_path / "mix.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    layer = module.PolynomialLayer(out_channels=1)
    X, w = torch.randn(6, 6, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    X = X + X.T
    p = torch.randperm(6)
    torch.testing.assert_close(layer(X=X[p][:, p], w=w[p]), layer(X=X, w=w)[..., p])
    assert main(["generate", "S(n): X:2s -> 1", "--kind", "covariant", "--name", "cov", "--out", str(tmp_path)]) == 2
    assert "--kind polynomial" in capsys.readouterr().err
