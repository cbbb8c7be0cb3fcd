"""Stage 2, exact: candidate terms in, a linearly independent subset out.

Terms are evaluated at random points modulo a prime and the greedy pivot columns of an exact
row echelon form are kept (`rank.independent_columns`), so every kept term is certifiably
independent over the rationals; no float tolerance decides anything (docs/math.md, "Exact linear independence").
"""
