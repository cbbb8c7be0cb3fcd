"""Property-based tests (hypothesis) of generated S(n) layers over many drawn signatures.

For a drawn signature (S(k) with k = 1..5 or a symbolic S(n); one or two inputs of order 0-2,
symmetric, antisymmetric or plain; an output of order 0-2), degree and channel count, the
generated layer at a size n it accepts must equal the weighted sum of the terms of S(n) itself
evaluated one by one in float64 (Term.evaluate, a different code path: one einsum per term),
and must commute with a random permutation of the coordinates.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basis_compiler import BasisCompilerError, enumerate_basis
from basis_compiler.codegen.store import compile_module
from basis_compiler.symbolic.signature import Signature

from test_codegen_permutation import layer_inputs

pytestmark = pytest.mark.time_limit(240)


@st.composite
def cases(draw):
    size = draw(st.sampled_from(["n", "1", "2", "3", "4", "5"]))
    k = draw(st.integers(1, 2))
    types = []
    for _ in range(k + 1):
        order = draw(st.integers(0, 2))
        flag = draw(st.sampled_from(["", "s", "a"])) if order == 2 else ""
        types.append(f"{order}{flag}")
    *ins, out = types
    text = f"S({size}): " + ", ".join(f"{name}:{t}" for name, t in zip("XY", ins)) + f" -> {out}"
    channels = draw(st.sampled_from([None, 1, 3]))
    degree = 1 if channels else draw(st.integers(1, 2))
    return text, degree, channels, draw(st.integers(0, 2**31 - 1))


def _reference(text, degree, channels, n, weight, inputs, batch=2):
    """Σ_t weight[o, t(, c)] term_t(inputs(, channel c)), the terms listed at S(n) itself."""
    sig = Signature.parse(text)
    concrete = f"S({n}):" + text.split(":", 1)[1]
    terms = enumerate_basis(concrete, degree)
    k = sig.output.order
    rows = []
    for b in range(batch):
        total, off = np.zeros((weight.shape[0],) + (n,) * k), 0
        for t in terms:
            linear = channels is not None and sum(t.multidegree) == 1
            for c in range(channels if linear else 1):
                vals = {name: (v[b, c] if linear else v[b, 0] if channels else v[b]).numpy()
                        for name, v in inputs.items()}
                total = total + weight[:, off + c].reshape((-1,) + (1,) * k) * t.evaluate(vals)
            off += channels if linear else 1
        rows.append(total)
    return np.stack(rows), [t.einsum.subscripts for t in terms]


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_generated_layer_equals_the_terms_of_s_n_and_commutes_with_permutations(case):
    text, degree, channels, seed = case
    sig = Signature.parse(text)
    carries_n = any(s.type.order for s in sig.inputs)
    if sig.group.size_symbol and sig.output.order and not carries_n:
        with pytest.raises(BasisCompilerError, match="no input has an axis of size n"):
            compile_module(text, degree, "polynomial", channels=channels)
        return
    layer = compile_module(text, degree, "polynomial", channels=channels)(out_channels=2).double()
    rng = np.random.default_rng(seed)
    if layer.max_size is not None:
        n = layer.max_size
    elif carries_n:
        n = max(layer.min_size, 1) + int(rng.integers(0, 3))  # min_size is 0 when only constants survive
    else:
        n = enumerate_basis(text, degree).signature.d  # nothing to read n from: the group's own n
    inputs = layer_inputs(text, channels, n, rng, batch=2)
    y = layer(**inputs)
    ref, subscripts = _reference(text, degree, channels, n, layer.weight.detach().numpy(), inputs)
    assert subscripts == [t.einsum.subscripts for t in enumerate_basis(text, degree)]
    assert tuple(y.shape) == ref.shape
    np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-9, atol=1e-9)
    p = torch.as_tensor(rng.permutation(n))

    def permute(x, order):
        for axis in range(x.dim() - order, x.dim()):
            x = x.index_select(axis, p)
        return x

    moved = {s.name: permute(inputs[s.name], s.type.order) for s in sig.inputs}
    torch.testing.assert_close(layer(**moved), permute(y, sig.output.order))
