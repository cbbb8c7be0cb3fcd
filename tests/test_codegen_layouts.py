"""Pairwise steps written as torch.matmul on views (codegen/layouts.py): every candidate layout
of a step computes the same numbers as einsum, and the search picks the layout without the
large copy for the channel-mixing X_i X_j term."""

import pytest
import torch

from basis_compiler.codegen import layouts
from basis_compiler.codegen.emit import _views
from basis_compiler.codegen.store import generate_source

pytestmark = pytest.mark.time_limit(60)

STEPS = [  # (letters, batch) of both operands, result letters
    (("Rdb", True), ("oQR", False), "dboQ"),
    (("Qad", True), ("oQdb", True), "oab"),
    (("Qde", True), ("Rde", True), "QR"),
    (("QR", True), ("oQR", False), "o"),
    (("Qa", True), ("Rb", True), "QRab"),  # nothing contracted: an outer product
    (("oQ", True), ("oQ", False), "o"),  # a kept axis the weight also carries
]


def _apply(x, ops):
    return eval("x" + _views(ops), {"x": x})


@pytest.mark.parametrize("a, b, res", STEPS)
def test_every_candidate_layout_matches_einsum(a, b, res):
    sizes = {c: 2 + k for k, c in enumerate(sorted(set(a[0] + b[0])))}
    sizes["o"] = 3
    gen = torch.Generator().manual_seed(0)
    tensors = [torch.randn(*((4,) if bt else ()), *(sizes[c] for c in let), dtype=torch.float64, generator=gen)
               for let, bt in (a, b)]
    want = torch.einsum(f"...{a[0]},...{b[0]}->...{res}", *tensors)
    found = layouts.candidates(a, b, set(res), sizes)
    assert found
    for lay, _ in found:
        (x, (px, _)), (y, (py, _)) = [(tensors[k], (a, b)[k]) for k in (lay.first, 1 - lay.first)]
        got = torch.matmul(_apply(x, layouts.arrange(px, lay.L, lay.M, lay.K).ops),
                           _apply(y, layouts.arrange(py, lay.L, lay.K, lay.N).ops))
        got = _apply(got, layouts.unarrange(lay.L, lay.M, lay.N, sizes))
        order = [lay.result.index(c) for c in res]
        torch.testing.assert_close(got.permute(*range(got.dim() - len(res)), *(got.dim() - len(res) + i for i in order)),
                                   want, rtol=1e-12, atol=1e-12)


def test_products_across_channels_keep_the_large_intermediate_in_place():
    # W[o, i, j] X_i X_j: the second step reads the B x 9 x C^2 intermediate as a view (the
    # smaller X is broadcast instead); einsum used to copy it into a new layout first
    src = generate_source("O(3): v:1, X:2s -> 2s", (0, 2), "polynomial", "x", channels=8)
    line = next(ln for ln in src.splitlines() if "# ...Qad," in ln)
    assert "torch.matmul(X.unsqueeze(-1)" in line and ".contiguous()" not in line
