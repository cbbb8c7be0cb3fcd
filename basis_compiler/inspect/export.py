"""Inspect a basis: a table, JSON, Graphviz DOT and LaTeX (formulas in formulas.py, pictures in
drawing.py; both re-exported here so one import serves the command line and notebooks)."""

from __future__ import annotations

import json
from dataclasses import asdict

import networkx as nx

from .drawing import MAX_DRAW_TERMS, check_drawable, draw, figure, grid_shape, png_size  # noqa: F401
from ..errors import OutputError
from ..files import check_writable, write_atomic, write_text  # noqa: F401
from .formulas import slot_matters, formula, formula_latex, summary_line, term_formula, term_kind  # noqa: F401

FORMATS = ("table", "json", "dot", "latex")
"""Text formats of `basis-compiler show --format`."""
JSON_VERSION = 1
"""Version of the JSON schema (docs/inspect.md); bumped on incompatible changes."""


def table(basis) -> str:
    """Term number, multidegree, kind, formula, einsum subscripts and operands, then a summary line."""
    rows = [("#", "multideg", "kind", "formula", "einsum", "operands")]
    for i, term in enumerate(basis):
        rows.append((str(i), str(term.multidegree), term_kind(term), formula(term), term.einsum.subscripts,
                     " ".join(term.operand_names)))
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    lines = ["  ".join(r[c].ljust(widths[c]) for c in range(5)) + "  " + r[5] for r in rows]
    return "\n".join(line.rstrip() for line in lines) + "\n" + summary_line(basis) + "\n"


def node_id(node: tuple) -> str:
    """'in:X:0', 'out:1', 'eps' or 'delta:2' (an S(n) block) for a Term.graph node."""
    return ":".join(str(x) for x in node)


def parse_node_id(text: str) -> tuple:
    """Inverse of node_id."""
    parts = text.split(":")
    if parts[0] == "in" and len(parts) == 3:
        return ("in", parts[1], int(parts[2]))
    if parts[0] == "out" and len(parts) == 2:
        return ("out", int(parts[1]))
    if parts == ["eps"]:
        return ("eps",)
    if parts[0] == "delta" and len(parts) == 2:
        return ("delta", int(parts[1]))
    raise ValueError(f"bad node id {text!r}")


def graph_to_dict(g: nx.MultiGraph) -> dict:
    """{nodes: [{id, kind, ...}], edges: [{source, target, kind, oriented, legs}]}; source = tail."""
    nodes = [{"id": node_id(n), **data} for n, data in g.nodes(data=True)]
    edges = []
    for _, _, data in g.edges(data=True):
        (a, sa), (b, sb) = data["legs"]
        edges.append({"source": node_id(a), "target": node_id(b), "kind": data["kind"],
                      "oriented": data["oriented"], "legs": [[node_id(a), sa], [node_id(b), sb]]})
    return {"nodes": nodes, "edges": edges}


def term_to_dict(term, index: int) -> dict:
    """One entry of the JSON 'terms' list."""
    f = term_formula(term)
    spec = term.einsum
    return {
        "index": index,
        "multidegree": list(term.multidegree),
        "formula": f.text,
        "formula_latex": f.tex,
        "einsum": {"subscripts": spec.subscripts, "operands": list(term.operand_names)},
        "latex": term.latex,
        "invariant": term.is_invariant,
        "covariant": term.is_covariant,
        "kind": term_kind(term),
        "epsilon": term.uses_epsilon,
        "index_values": None if term.index_values is None else list(term.index_values),
        "index_symmetry": [{"permutation": list(p), "sign": s} for p, s in term.index_symmetry],
        "graph": graph_to_dict(term.graph),
    }


def to_dict(basis) -> dict:
    """The JSON document as a dict (schema in docs/inspect.md)."""
    sig = basis.signature
    degree = basis.degree if isinstance(basis.degree, int) else list(basis.degree)
    return {
        "version": JSON_VERSION,
        "signature": str(sig),
        "degree": degree,
        "d": sig.d,
        "stats": asdict(basis.stats),
        "terms": [term_to_dict(t, i) for i, t in enumerate(basis)],
    }


def to_json(basis, as_dict: bool = False) -> str | dict:
    """The basis as JSON text (indent 2, UTF-8 characters kept), or as a dict with as_dict=True."""
    data = to_dict(basis)
    return data if as_dict else json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def from_json(text: str) -> list[nx.MultiGraph]:
    """The term graphs of a JSON document, equal to the Term.graph of each term."""
    data = json.loads(text) if isinstance(text, str) else text
    graphs = []
    for term in data["terms"]:
        g = nx.MultiGraph(signature=data["signature"], multidegree=tuple(term["multidegree"]))
        for node in term["graph"]["nodes"]:
            attrs = {k: v for k, v in node.items() if k != "id"}
            g.add_node(parse_node_id(node["id"]), **attrs)
        for e in term["graph"]["edges"]:
            (a, sa), (b, sb) = e["legs"]
            legs = ((parse_node_id(a), sa), (parse_node_id(b), sb))
            g.add_edge(parse_node_id(e["source"]), parse_node_id(e["target"]), kind=e["kind"],
                       oriented=e["oriented"], legs=legs)
        graphs.append(g)
    return graphs


def _dot_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(basis) -> str:
    """Graphviz text: one cluster per term; Omega edges are arrows (tail -> head), others plain."""
    lines = [
        "digraph basis {",
        f"  // {basis.signature}, degree {basis.degree}: {len(basis)} terms",
        f"  label={_dot_str(summary_line(basis))};",
        '  graph [fontname="DejaVu Sans", labelloc=t];',
        '  node [fontname="DejaVu Sans"];',
        "  edge [arrowsize=0.7];",
    ]
    for i, term in enumerate(basis):
        g = term.graph
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f"    label={_dot_str(f'#{i}  {formula(term)}')};")
        ids = {n: _dot_str(f"t{i}:{node_id(n)}") for n in g.nodes}
        for n, data in g.nodes(data=True):
            if data["kind"] == "output":
                attrs = f'shape=square, style=filled, fillcolor="#dddddd", label="{data["position"]}"'
            elif data["kind"] == "epsilon":
                attrs = 'shape=diamond, style=filled, fillcolor="#f4a261", label="ε"'
            elif data["kind"] == "delta":
                attrs = 'shape=point, width=0.12, color="#1d3557"'
            else:
                label = data["input"] if data["index"] is None else f"{data['input']}_{data['index']}"
                attrs = f'shape=circle, style=filled, fillcolor="#a8dadc", label={_dot_str(label)}'
            lines.append(f"    {ids[n]} [{attrs}];")
        for _, _, data in g.edges(data=True):
            (a, sa), (b, sb) = data["legs"]
            attrs = ["dir=forward" if data["oriented"] else "dir=none"]
            if data["kind"] == "identity":
                attrs.append('color="#777777"')
            for node, slot, key in ((a, sa, "taillabel"), (b, sb, "headlabel")):
                if slot_matters(term, g, node):
                    attrs.append(f'{key}="{slot}"')
            lines.append(f"    {ids[a]} -> {ids[b]} [{', '.join(attrs)}];")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_latex(basis) -> str:
    """A LaTeX itemize list of the formulas, one item per term."""
    lines = [f"% {summary_line(basis)}", r"\begin{itemize}"]
    for i, term in enumerate(basis):
        lines.append(f"  \\item[{i}.] ${formula_latex(term)}$  % multidegree {term.multidegree}, {term_kind(term)}")
    lines.append(r"\end{itemize}")
    return "\n".join(lines) + "\n"


def render(basis, fmt: str) -> str:
    """The text of one --format."""
    if fmt not in FORMATS:
        raise OutputError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    return {"table": table, "json": to_json, "dot": to_dot, "latex": to_latex}[fmt](basis)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------
