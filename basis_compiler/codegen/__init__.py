"""Stage 3, code generation: a basis in, a standalone PyTorch module (source text) out.

`kinds` selects the terms of a module kind and its coefficient layout; `planning` turns each
term into typed operands (`ir`) and a pairwise contraction order planned by opt_einsum from
shapes alone; `lower` builds the module's IR (buffers and a forward graph with shared
subexpressions); `emit` prints it, naming everything through a `namespace` and copying the
`runtime` helpers it calls; `store` writes generated modules into an output folder with its
manifest, checks them against a fresh regeneration, and imports them (`compile_module`).
"""
