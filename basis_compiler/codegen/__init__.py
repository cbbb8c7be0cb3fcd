"""Stage 3, code generation: a basis in, a standalone PyTorch module (source text) out.

`kinds` selects the terms of a module kind and its coefficient layout; `planning` turns each
term into operands and a pairwise contraction order planned by opt_einsum from shapes alone;
`emit` prints the module; `store` writes generated modules into an output folder with its
manifest, checks them against a fresh regeneration, and imports them (`compile_module`).
"""
