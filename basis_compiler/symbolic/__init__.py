"""Stage 1, symbolic (no torch): text signature in, contraction diagrams out.

`Signature.parse` turns text into typed values (a group family object, inputs, output type);
`enumeration` builds the diagrams of every multidegree as orbit representatives of perfect
matchings; `canonical` gives each a signed canonical key so equal functions merge and
self-cancelling ones drop; `terms.Term` wraps a diagram with its views (einsum, graph, LaTeX,
float64 reference value). Nothing here decides linear independence: that is `exact/`.
"""
