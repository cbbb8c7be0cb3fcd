"""Polynomial layers whose channels mix: with C input channels the channel axis is a family axis,
so the layer spans exactly the equivariant polynomials of the family signature (every input a
family of size C: every product across channels), per output channel, with no redundant
parameter. Checked against enumerate_basis of the family signature (the exact pruned basis),
Term.evaluate in float64, equivariance, autograd, state_dict and torch.compile."""

import numpy as np
import pytest
import torch

from basis_compiler import BasisCompilerError, enumerate_basis
from basis_compiler.codegen.kinds import channel_signature, compile_kind
from basis_compiler.codegen.store import compile_module, generate_source
from basis_compiler.symbolic.signature import Signature
from basis_compiler.testing import assert_equivariant, random_inputs

pytestmark = pytest.mark.time_limit(120)

CASES = [
    ("O(3): v:1, X:2s -> 2s", 2, 2),
    ("O(3): X:2s -> 2s", 3, 2),  # beyond automatic independence: Cayley-Hamilton across channels
    ("O(3): X:2s -> 2s", 3, 3),
    ("SO(3): u:1, v:1 -> 1", 2, 2),  # epsilon; antisymmetric J orbits (zero slot, negated copies)
    ("Sp(4): q:1, p:1 -> 2", 2, 2),
    ("O(1,3): p:1 -> 2s", 2, 3),
]


def _family(signature: str, channels: int) -> str:
    return str(channel_signature(Signature.parse(signature), channels))


def _inputs(signature, channels, rng, batch):
    """Random inputs of the family signature: (batch, C, *axes) per input, float64."""
    return random_inputs(_family(signature, channels), rng, batch=batch)


def _layer(signature, degree, channels, out_channels=2):
    cls = compile_module(signature, degree, "polynomial", channels=channels)
    torch.manual_seed(0)
    return cls(out_channels=out_channels).double(), cls


@pytest.mark.parametrize("signature, degree, channels", CASES)
def test_parameters_are_independent_and_span_the_family_basis(signature, degree, channels, rng):
    # the old layer (terms inside one channel, mixed linearly) failed this: at C = 4,
    # O(3): v:1, X:2s -> 2s degree 2 had 144 weights of rank 132 and missed every cross-channel product
    layer, cls = _layer(signature, degree, channels, out_channels=2)
    dim = len(enumerate_basis(_family(signature, channels), degree))
    assert cls.n_coeffs == dim and cls.in_channels == channels
    assert layer.weight.shape == (2, dim)
    batch = dim + 8  # each point adds at least one independent row while the rank is short
    x = {k: torch.from_numpy(v) for k, v in _inputs(signature, channels, rng, batch).items()}
    jac = torch.func.jacrev(lambda w: torch.func.functional_call(layer, {"weight": w}, (), x))(layer.weight.detach())
    rank = int(torch.linalg.matrix_rank(jac.reshape(-1, layer.weight.numel())).item())
    assert rank == 2 * dim == sum(p.numel() for p in layer.parameters())


def test_dependent_orbits_are_dropped_by_the_exact_rank_step():
    # Sym[X_i X_j X_k] at d = 3: Cayley-Hamilton makes some of its J-orbits combinations of other
    # terms, and which ones depends on C; the layer keeps exactly the pruned basis's orbits
    for channels in (2, 3):
        compiled = compile_kind("O(3): X:2s -> 2s", 3, "polynomial", channels=channels)
        assert compiled.dropped and any(compiled.dropped)
        assert sum(compiled.sizes) == len(enumerate_basis(_family("O(3): X:2s -> 2s", channels), 3))


@pytest.mark.parametrize("signature, degree, channels", CASES)
def test_matches_the_family_reference(signature, degree, channels, rng):
    layer, _ = _layer(signature, degree, channels, out_channels=3)
    basis = enumerate_basis(_family(signature, channels), degree)
    x = _inputs(signature, channels, rng, 3)
    y = layer(**{k: torch.from_numpy(v) for k, v in x.items()}).detach().numpy()
    w = layer.weight.detach().numpy()
    for b in range(3):
        values = np.array([t.evaluate({k: v[b] for k, v in x.items()}) for t in basis])
        ref = np.tensordot(w, values, axes=(1, 0))  # (out_channels, *output axes)
        assert np.abs(y[b] - ref).max() <= 1e-12 * max(1.0, float(np.abs(ref).max()))


@pytest.mark.parametrize("signature, degree, channels", CASES)
def test_equivariant(signature, degree, channels, rng):
    layer, _ = _layer(signature, degree, channels, out_channels=2)
    family = _family(signature, channels)

    def fn(inputs):
        with torch.no_grad():
            tx = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in inputs.items()}
            return layer(**tx)[1].numpy()  # one output channel: a tensor of the output type

    assert_equivariant(fn, family, rng, trials=2, rtol=1e-8, atol=1e-10)


def test_gradcheck_inputs_and_weight():
    layer, _ = _layer("SO(3): u:1, v:1 -> 1", 2, 2)
    u = torch.randn(3, 2, 3, dtype=torch.float64, requires_grad=True)
    v = torch.randn(3, 2, 3, dtype=torch.float64, requires_grad=True)
    w = layer.weight.detach().clone().requires_grad_(True)
    fn = lambda w, u, v: torch.func.functional_call(layer, {"weight": w}, (), {"u": u, "v": v})  # noqa: E731
    assert torch.autograd.gradcheck(fn, (w, u, v))


def test_shapes_state_dict_and_constructor_checks():
    cls = compile_module("O(3): v:1, X:2s -> 2s", 2, "polynomial", channels=4)
    a, b = cls(out_channels=5), cls(in_channels=4, out_channels=5)
    assert list(a.state_dict()) == ["weight"] and a.weight.shape == (5, cls.n_coeffs)
    b.load_state_dict(a.state_dict())
    v, X = torch.randn(6, 7, 4, 3), torch.randn(6, 7, 4, 3, 3)
    X = X + X.transpose(-1, -2)
    assert torch.equal(a(v=v, X=X), b(v=v, X=X)) and a(v=v, X=X).shape == (6, 7, 5, 3, 3)
    assert cls()(v=v, X=X).shape == (6, 7, 3, 3)  # no out_channels: no output channel axis
    with pytest.raises(ValueError, match="generated for 4 input channels, not 3"):
        cls(in_channels=3)
    with pytest.raises(ValueError, match=r"input 'v' has shape \(6, 3, 3\); it needs \(\*batch, 4 channels, 3\)"):
        a(v=torch.randn(6, 3, 3), X=X)


def test_torch_compile_matches_eager():
    cls = compile_module("O(3): v:1, X:2s -> 2s", 2, "polynomial", channels=3)
    layer = cls(out_channels=4)
    v, X = torch.randn(8, 3, 3), torch.randn(8, 3, 3, 3)
    X = X + X.transpose(-1, -2)
    compiled = torch.compile(layer, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(v=v, X=X), layer(v=v, X=X))


def test_a_shape_is_one_contraction_with_the_weight_inside():
    # degree 2: one bilinear einsum per shape with W[o, i, j], not C^2 terms
    src = generate_source("O(3): v:1, X:2s -> 2s", (2, 0), "polynomial", "x", channels=16)
    assert "oQR" in src and src.count("torch.einsum(") <= 8


def test_channel_free_layer_and_clear_errors():
    cls = compile_module("O(3): v:1, X:2s -> 2s", 3, "polynomial")
    assert cls.in_channels is None and cls(out_channels=3).weight.shape == (3, cls.n_coeffs)
    with pytest.raises(ValueError, match="channels=2"):
        cls(in_channels=2)
    with pytest.raises(BasisCompilerError, match="already a family"):
        compile_module("O(3): a[3]:1 -> 2s", 2, "polynomial", channels=2)
    with pytest.raises(BasisCompilerError, match="polynomial layers"):
        compile_module("O(3): v:1 -> 2s", 2, "covariant", channels=2)
    with pytest.raises(BasisCompilerError, match="int >= 1"):
        compile_module("O(3): v:1 -> 2s", 2, "polynomial", channels=0)


def test_command_line_records_the_channel_count(tmp_path):
    from basis_compiler.cli import main
    from basis_compiler.codegen.store import check, read_manifest

    args = ["generate", "SO(3): u:1, v:1 -> 1", "--degree", "2", "--kind", "polynomial", "--channels", "2",
            "--name", "cross2", "--out", str(tmp_path)]
    assert main(args) == 0
    (entry,) = read_manifest(tmp_path)["modules"]
    assert entry["channels"] == 2 and entry["n_coeffs"] == len(enumerate_basis("SO(3): u[2]:1, v[2]:1 -> 1", 2))
    assert "--channels 2 --name cross2" in (tmp_path / "cross2.py").read_text()
    assert check(tmp_path) == []
