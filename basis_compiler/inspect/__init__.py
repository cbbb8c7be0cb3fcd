"""Looking at a basis: terms in, readable formulas, tables, JSON / DOT / LaTeX text and PNG
drawings out (`basis-compiler show`). Reads the symbolic stage only; changes nothing."""
