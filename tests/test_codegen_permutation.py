"""Generated S(n)-equivariant layers (codegen/partition_emit.py): agreement with the float64
reference (the weighted sum of Term.evaluate), equivariance under random permutations at the
generation size and at another size, gradcheck, cost that grows as n^2 for the 2 -> 2 layer
(counted FLOPs, not time), and clear errors."""

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from basis_compiler import BasisCompilerError, enumerate_basis
from basis_compiler.codegen import store
from basis_compiler.codegen.store import compile_module, generate_source
from basis_compiler.symbolic.signature import Signature
from basis_compiler.testing import assert_equivariant

pytestmark = pytest.mark.time_limit(120)

CASES = [
    ("S(5): X:2 -> 2", 1, 3),      # the 2-IGN layer: 15 linear maps plus 2 biases, per channel pair
    ("S(5): X:2 -> 2", 1, 1),      # one input channel keeps its channel axis
    ("S(5): x:1 -> 1", 1, 2),      # DeepSets: x_i, sum_j x_j, and the biases
    ("S(5): X:2 -> 0", 1, 2),      # trace and total sum, plus a constant
    ("S(5): x:1 -> 3", (1,), None),  # order-3 output: blocks of 3 output legs are diagonal embeddings
    ("S(5): x:1, X:2s -> 2s", 2, None),  # degree 2, symmetric output, generated below its 6 legs
    # channel paths: shared reductions stacked into one GEMM per output group, diagonal views,
    # transposed outputs, folded biases
    ("S(5): X:3 -> 1", 1, 2),      # eleven reductions that keep one axis: one stacked GEMM
    ("S(5): X:2 -> 3", 1, 2),      # a two-leg output block beside a free leg (a diagonal view, moved axes)
    ("S(5): X:2s -> 2s", 1, 2),    # symmetric in and out
    ("S(5): X:2, v:1 -> 2", 1, 2),  # two inputs: reductions never stacked across inputs
]


def layer_inputs(signature, channels, n, rng, batch=3):
    """Random float64 inputs (batch(, channels), n, ..., n) by name; symmetric and antisymmetric
    matrices made so."""
    sig = Signature.parse(signature)
    out = {}
    for spec in sig.inputs:
        shape = (batch,) + ((channels,) if channels else ()) + (n,) * spec.type.order
        x = rng.normal(size=shape)
        if spec.type.symmetry == "sym":
            x = (x + np.swapaxes(x, -1, -2)) / 2
        elif spec.type.symmetry == "anti":
            x = (x - np.swapaxes(x, -1, -2)) / 2
        out[spec.name] = torch.tensor(x)
    return out


def _reference(signature, degree, channels, n, layer, inputs):
    """sum_t weight[o, t(, c)] * term_t(inputs(, channel c)) with the terms of S(n) itself."""
    terms = enumerate_basis(signature.replace("S(5)", f"S({n})"), degree)
    assert [t.einsum.subscripts for t in terms] == [t.einsum.subscripts for t in enumerate_basis(signature, degree)]
    W = layer.weight.detach().numpy()
    batch = next(iter(inputs.values())).shape[0]
    out = None
    for b in range(batch):
        total, off = 0.0, 0
        for t in terms:
            linear = channels is not None and sum(t.multidegree) == 1
            for c in range(channels if linear else 1):
                vals = {k: (v[b, c] if linear else v[b, 0] if channels else v[b]).numpy() for k, v in inputs.items()}
                total = total + W[:, off + c].reshape((-1,) + (1,) * Signature.parse(signature).output.order) \
                    * t.evaluate(vals)
            off += channels if linear else 1
        out = total[None] if out is None else np.concatenate([out, total[None]])
    return out


@pytest.mark.parametrize("signature,degree,channels", CASES)
def test_agrees_with_float64_reference(signature, degree, channels):
    layer = compile_module(signature, degree, "polynomial", channels=channels)(out_channels=2).double()
    rng = np.random.default_rng(0)
    sizes = (5,) if layer.max_size is not None else (5, 7)
    for n in sizes:
        inputs = layer_inputs(signature, channels, n, rng)
        y = layer(**inputs)
        ref = _reference(signature, degree, channels, n, layer, inputs)
        assert y.shape == ref.shape
        np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-10, atol=1e-10)


def test_the_2ign_layer_has_15_linear_maps_and_2_biases():
    cls = compile_module("S(5): X:2 -> 2", 1, "polynomial", channels=3)
    assert cls.n_terms == 17 and cls.n_coeffs == 15 * 3 + 2
    assert (cls.min_size, cls.max_size) == (4, None)
    assert compile_module("S(5): X:2 -> 2", (1,), "polynomial", channels=3).n_coeffs == 45
    # a layer generated below its number of legs (6 for x X at degree 2) only accepts that n
    assert compile_module("S(5): x:1, X:2s -> 2s", 2, "polynomial").max_size == 5


@pytest.mark.parametrize("signature,degree,channels", CASES)
def test_equivariant_under_random_permutations(signature, degree, channels):
    torch.manual_seed(1)
    layer = compile_module(signature, degree, "polynomial", channels=channels)().double()
    rng = np.random.default_rng(2)

    def fn(x):
        # channels: elementwise functions of one tensor commute with permutations
        t = {k: torch.tensor(v) for k, v in x.items()}
        if channels:
            t = {k: torch.stack([v, torch.sin(v), v ** 2][:channels], dim=0) for k, v in t.items()}
        return layer(**t).detach().numpy()

    for n in ((5,) if layer.max_size is not None else (5, 8)):
        assert_equivariant(fn, signature.replace("S(5)", f"S({n})"), rng, trials=3, rtol=1e-10, atol=1e-12)


def test_gradcheck():
    layer = compile_module("S(5): X:2 -> 2", 1, "polynomial", channels=2)(out_channels=2).double()
    X = torch.randn(2, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda X, w: torch.func.functional_call(layer, {"weight": w}, (), {"X": X}),
                                    (X, layer.weight.detach().clone().requires_grad_()))
    layer3 = compile_module("S(5): x:1 -> 3", (1,), "polynomial")().double()
    x = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: layer3(x=x), (x,))


def test_2_to_2_cost_grows_as_n_squared():
    layer = compile_module("S(5): X:2 -> 2", 1, "polynomial", channels=4)(out_channels=4)
    flops = []
    for n in (16, 32):
        with FlopCounterMode(display=False) as counter:
            layer(X=torch.randn(2, 4, n, n))
        flops.append(counter.get_total_flops())
    assert flops[0] > 0 and flops[1] <= 4.2 * flops[0]  # n^4 would be 16x
    src = generate_source("S(5): x:1 -> 3", (1,), "polynomial", "perm3")
    assert "register_buffer" not in src and "ar, ar, ar)]" in src  # deltas are embeddings, not stored tensors


def test_generated_source_imports_torch_only_and_checks(tmp_path):
    src = generate_source("S(5): X:2 -> 2", 1, "polynomial", "perm22", channels=3)
    imports = [line for line in src.splitlines() if line.startswith(("import ", "from "))]
    assert imports == ["import torch"]
    assert src == generate_source("S(5): X:2 -> 2", 1, "polynomial", "perm22", channels=3)
    store.generate("S(5): X:2 -> 2", 1, "polynomial", "perm22", tmp_path, channels=3)
    assert store.check(tmp_path) == []


def test_clear_errors():
    with pytest.raises(BasisCompilerError, match="polynomial layers only.*compile_module"):
        compile_module("S(5): X:2 -> 2", 1, "covariant")
    with pytest.raises(BasisCompilerError, match="linear.*degree 1"):
        compile_module("S(5): X:2 -> 2", 2, "polynomial", channels=2)
    layer = compile_module("S(5): X:2 -> 2", 1, "polynomial", channels=3)()
    with pytest.raises(ValueError, match="n >= 4"):
        layer(X=torch.randn(2, 3, 3, 3))
    with pytest.raises(ValueError, match="3 channels"):
        layer(X=torch.randn(2, 2, 6, 6))
    with pytest.raises(ValueError, match="one size n"):
        layer(X=torch.randn(2, 3, 6, 5))
    with pytest.raises(TypeError, match="double"):
        layer(X=torch.ones(2, 3, 6, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="n = 5"):
        compile_module("S(5): x:1, X:2s -> 2s", 2, "polynomial")()(x=torch.randn(6), X=torch.randn(6, 6))


@pytest.mark.parametrize("signature", ["S(5): c:0 -> 1", "S(5): c:0 -> 2s", "S(5): -> 1"])
def test_inputs_without_an_axis_give_the_groups_n(signature):
    # no input carries an axis of size n, so the output's size is the group's own n (it was
    # min_size, 1, before: an output of the wrong shape)
    layer = compile_module(signature, 1, "polynomial")().double()
    sig = Signature.parse(signature)
    inputs = {s.name: torch.tensor(1.5, dtype=torch.float64) for s in sig.inputs}
    y = layer(**inputs)
    ref = sum(float(layer.weight.detach()[0, i]) * t.evaluate({k: v.numpy() for k, v in inputs.items()})
              for i, t in enumerate(enumerate_basis(signature, 1)))
    assert y.shape == (5,) * sig.output.order
    np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-12)


def test_a_symbolic_n_layer_needs_an_input_that_carries_n():
    with pytest.raises(BasisCompilerError, match="no input has an axis of size n.*S\\(5\\): c:0 -> 1"):
        compile_module("S(n): c:0 -> 1", 1, "polynomial")
    # an invariant of scalars does not depend on n
    layer = compile_module("S(n): c:0 -> 0", 2, "polynomial")()
    assert layer(c=torch.tensor(2.0)).shape == ()
