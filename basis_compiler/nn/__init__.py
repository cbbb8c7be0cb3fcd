"""Learned equivariant models assembled from generated modules (the stage above codegen).

`EquivariantNet` is Corollary 1 of docs/math.md as a trainable network for any signature: the
generated `InvariantFeatures` (plus pseudo-scalar invariants read off a generated polynomial
module, for groups with reflections) feed an MLP, and the MLP's outputs are the coefficients of
the generated `CovariantLayer`. Every piece that touches a tensor index is generated code, so
the net is equivariant under the whole group whatever its weights; this package only adds the
MLP, the parity bookkeeping (pseudo-scalars enter as even products and as multipliers of the
opposite-parity generators) and an equivariance-preserving feature normalisation. For set
families (a{n}:1) one net runs at every member count n, each member sum taken as a mean
(member_sums="mean") so that its weights mean the same at every n.

`SparsePolynomial` is the other end: no MLP, the generated polynomial layer itself with its
coefficients found by a sparse regression (lasso path, least-squares refit, λ chosen on
validation data), for laws that are polynomials of the signature; it prints the law it found.
"""

from .net import EquivariantNet as EquivariantNet
from .sparse import SparsePolynomial as SparsePolynomial

__all__ = ["EquivariantNet", "SparsePolynomial"]
