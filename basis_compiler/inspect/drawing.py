"""Draw a basis: one panel per term (input copies as labelled circles, output legs as numbered
squares, the epsilon node as a diamond, Omega edges as arrows, S(n) blocks as small dots joined
to their legs), with matplotlib and networkx."""

from __future__ import annotations

import math

import networkx as nx
import sympy

from ..errors import OutputError
from ..files import check_writable, write_atomic
from .formulas import slot_matters, summary_line, term_formula, term_kind

MAX_DRAW_TERMS = 120
"""Largest basis `draw` puts on one page."""
DPI = 100
PANEL_INCHES = (2.75, 2.5)
"""Width and height of one term's panel (quarter inches, so pixel sizes are exact)."""
HEADER_INCHES = 0.5


def grid_shape(n_terms: int) -> tuple[int, int]:
    """(rows, columns) of the panel grid: at least 4 columns once there are 4 terms, about square."""
    n = max(n_terms, 1)
    cols = min(n, max(4, math.ceil(math.sqrt(n))))
    return math.ceil(n / cols), cols


def png_size(n_terms: int) -> tuple[int, int]:
    """(height, width) in pixels of the PNG that draw() writes for n_terms terms."""
    rows, cols = grid_shape(n_terms)
    return round((rows * PANEL_INCHES[1] + HEADER_INCHES) * DPI), round(cols * PANEL_INCHES[0] * DPI)


def check_drawable(basis) -> None:
    """Raise OutputError when the basis has too many terms for one page."""
    if len(basis) > MAX_DRAW_TERMS:
        raise OutputError(
            f"the basis has {len(basis)} terms; a PNG draws at most {MAX_DRAW_TERMS} (one panel per term). "
            "Use --format json (or dot) for the whole basis, or lower the degree / pick one multidegree "
            "like --degree 1,2"
        )


_XLIM, _YLIM = (-1.6, 1.6), (-1.2, 1.15)


def _simple(g: nx.MultiGraph, nodes) -> nx.Graph:
    h = nx.Graph()
    h.add_nodes_from(nodes)
    h.add_edges_from((u, v) for u, v in g.subgraph(nodes).edges() if u != v)
    return h


def _box(points: dict, x0: float, x1: float, y0: float, y1: float) -> dict:
    """Affinely fit points into the box (a flat direction goes to the middle)."""
    xs = [p[0] for p in points.values()]
    ys = [p[1] for p in points.values()]

    def fit(v, lo, hi, a, b):
        return (a + b) / 2 if hi - lo < 1e-9 else a + (b - a) * (v - lo) / (hi - lo)

    return {n: (fit(x, min(xs), max(xs), x0, x1), fit(y, min(ys), max(ys), y0, y1)) for n, (x, y) in points.items()}


def _horizontal(points: dict) -> dict:
    """Rotate a layout so that its longest extent is horizontal."""
    import numpy as np

    nodes = list(points)
    xy = np.array([points[n] for n in nodes], dtype=float)
    xy -= xy.mean(axis=0)
    xy = xy @ np.linalg.svd(xy, full_matrices=False)[2].T
    return {n: (float(x), float(y)) for n, (x, y) in zip(nodes, xy)}


def _layout(g: nx.MultiGraph) -> dict:
    """Positions in [-1, 1]^2: output terminals in a row at the bottom with the components that
    reach them above; components without output legs (scalar factors) side by side at the top."""
    kind = dict(g.nodes(data="kind"))
    outs = sorted((n for n in g.nodes if kind[n] == "output"), key=lambda n: n[1])
    pos = {n: ((-1.2 + 2.4 * i / (len(outs) - 1)) if len(outs) > 1 else 0.0, -0.95) for i, n in enumerate(outs)}
    comps = sorted((sorted(c) for c in nx.connected_components(g)), key=lambda c: c[0])
    tensor = [c for c in comps if any(kind[n] == "output" for n in c)]
    scalar = [c for c in comps if c not in tensor]
    inner = [n for c in tensor for n in c if kind[n] != "output"]
    if inner:
        # Layers by distance from the output terminals; within a layer, nodes sit above the
        # mean x of their neighbours one layer down, pushed apart to a minimum gap.
        dist = nx.multi_source_dijkstra_path_length(_simple(g, g.nodes), outs)
        layers: dict[int, list] = {}
        for n in inner:
            layers.setdefault(dist[n], []).append(n)
        top = 0.15 if scalar else 0.95
        step = min(0.8, (top + 0.95) / (max(layers) + 0.3))
        for depth in sorted(layers):
            placed = []
            for n in layers[depth]:
                below = [pos[m][0] for m in g.neighbors(n) if m in pos and dist.get(m) == depth - 1]
                placed.append((sum(below) / len(below) if below else 0.0, n))
            placed.sort(key=lambda t: t[0])
            if len(placed) == 1 and depth > 1:  # zigzag a lone chain, so its edges and slot labels show
                placed = [(placed[0][0] + (0.5 if depth % 2 else -0.5), placed[0][1])]
            xs = [x for x, _ in placed]
            gap = min(0.9, 2.8 / max(len(xs) - 1, 1))
            for j in range(1, len(xs)):
                xs[j] = max(xs[j], xs[j - 1] + gap)
            shift = max(0.0, xs[-1] - 1.4) if xs else 0.0
            xs = [x - shift for x in xs]
            if xs and xs[0] < -1.4:
                xs = [-1.4 + j * gap for j in range(len(xs))]
            for x, (_, n) in zip(xs, placed):
                pos[n] = (x, -0.95 + depth * step)
    if scalar:
        y0, y1 = (0.45, 0.9) if tensor else (-0.9, 0.9)
        cols = min(len(scalar), 4)
        rows = math.ceil(len(scalar) / cols)
        w, h = 3.0 / cols, (y1 - y0) / rows
        for j, c in enumerate(scalar):
            r, q = divmod(j, cols)
            cx, cy = -1.5 + w * (q + 0.5), y1 - h * (r + 0.5)
            if len(c) == 1:
                pos[c[0]] = (cx, cy)
                continue
            sub = _horizontal(nx.spring_layout(_simple(g, c), seed=0, iterations=200))
            hw, hh = max(0.5 * w - 0.28, 0.1), 0.35 * h if rows > 1 or tensor else 0.4 * h
            pos.update(_box(sub, cx - hw, cx + hw, cy - hh, cy + hh))
    return pos


def _mathtext_ok(s: str) -> bool:
    from matplotlib.mathtext import MathTextParser

    try:
        MathTextParser("path").parse(s)
    except ValueError:
        return False
    return True


def _draw_term(ax, term, i: int, points_per_unit: float) -> None:
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path

    g = term.graph
    pos = _layout(g)
    node_r = 10  # points
    f = term_formula(term)
    title = f"${f.tex}$" if _mathtext_ok(f"${f.tex}$") else f.text
    size = max(5.0, min(10.0, 10.0 * 30 / max(len(f.text), 1)))
    ax.text(0.5, 1.13, f"#{i}  " + title, transform=ax.transAxes, ha="center", va="bottom", fontsize=size)
    ax.text(0.5, 1.04, f"{term.multidegree} {term_kind(term)}", transform=ax.transAxes, ha="center",
            va="bottom", fontsize=6.5, color="#666666")
    # Edges: parallel edges fan out symmetrically, self-loops point away from the centre.
    seen: dict = {}
    multiplicity: dict = {}
    for _, _, data in g.edges(data=True):
        key = frozenset((data["legs"][0][0], data["legs"][1][0]))
        multiplicity[key] = multiplicity.get(key, 0) + 1
    centre = {}
    for comp in nx.connected_components(g):
        c = (sum(pos[n][0] for n in comp) / len(comp), sum(pos[n][1] for n in comp) / len(comp))
        centre.update(dict.fromkeys(comp, c))
    for u, v, data in g.edges(data=True):
        (a, sa), (b, sb) = data["legs"]
        kind = data["kind"]
        colour = "#888888" if kind == "identity" else "#1d3557"
        style = "-|>" if data["oriented"] else "-"
        key = frozenset((a, b))
        k = seen.get(key, 0)
        seen[key] = k + 1
        pa, pb = pos[a], pos[b]
        if a == b:
            cx, cy = centre[a]
            far = math.hypot(pa[0] - cx, pa[1] - cy) > 1e-6
            ang = math.atan2(pa[1] - cy, pa[0] - cx) if far else math.pi / 2
            ang += 1.2 * k
            rn = (node_r + 1) / points_per_unit  # the loop leaves and enters at the node's rim

            def at(radius, angle):
                return (pa[0] + radius * math.cos(angle), pa[1] + radius * math.sin(angle))

            path = Path([at(rn, ang - 0.6), at(0.55, ang - 0.55), at(0.55, ang + 0.55), at(rn, ang + 0.6)],
                        [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4])
            ax.add_patch(FancyArrowPatch(path=path, arrowstyle=style, mutation_scale=9, color=colour, lw=1.3,
                                         clip_on=False))
            if slot_matters(term, g, a):
                for slot, side in ((sa, -1), (sb, 1)):
                    x, y = at(rn + 0.1, ang + side * 1.1)
                    ax.text(x, y, str(slot), fontsize=6, color="#c1121f", ha="center", va="center", clip_on=False)
            continue
        m = multiplicity[key]
        rad = 0.35 * (k - (m - 1) / 2)
        if sorted((a, b)) != [a, b]:
            rad = -rad  # the same curve whichever way the edge is stored
        ax.add_patch(FancyArrowPatch(pa, pb, arrowstyle=style, mutation_scale=10, color=colour, lw=1.3,
                                     connectionstyle=f"arc3,rad={rad}", shrinkA=node_r, shrinkB=node_r,
                                     clip_on=False))
        # Slot numbers near the node end, where the order of a tensor's legs matters.
        mx, my = (pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2
        cx, cy = mx + rad * (pb[1] - pa[1]), my - rad * (pb[0] - pa[0])
        length = math.hypot(pb[0] - pa[0], pb[1] - pa[1]) * (1 + abs(rad))
        near = min(0.45, 0.3 / max(length, 1e-9))  # a fixed distance from the node, outside its disc
        for node, slot, t in ((a, sa, near), (b, sb, 1 - near)):
            if slot_matters(term, g, node):
                x = (1 - t) ** 2 * pa[0] + 2 * (1 - t) * t * cx + t * t * pb[0]
                y = (1 - t) ** 2 * pa[1] + 2 * (1 - t) * t * cy + t * t * pb[1]
                ax.text(x, y, str(slot), fontsize=6, color="#c1121f", ha="center", va="center",
                        bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})
    # Nodes.
    for n, data in g.nodes(data=True):
        x, y = pos[n]
        if data["kind"] == "output":
            ax.scatter([x], [y], s=(1.6 * node_r) ** 2, marker="s", c="#e0e0e0", edgecolors="#555555", zorder=3)
            ax.text(x, y, str(data["position"]), ha="center", va="center", fontsize=8, zorder=4)
        elif data["kind"] == "epsilon":
            ax.scatter([x], [y], s=(2.2 * node_r) ** 2, marker="D", c="#f4a261", edgecolors="#9c4f0f", zorder=3)
            ax.text(x, y, r"$\varepsilon$", ha="center", va="center", fontsize=10, zorder=4)
        elif data["kind"] == "delta":
            # an S(n) block: a small dot joined to every leg of the block (a generalized delta)
            ax.scatter([x], [y], s=(0.8 * node_r) ** 2, marker="o", c="#1d3557", zorder=3)
        else:
            ax.scatter([x], [y], s=(2 * node_r) ** 2, marker="o", c="#a8dadc", edgecolors="#1d3557", zorder=3)
            name = sympy.latex(sympy.Symbol(data["input"]))
            if data["index"] is not None:
                name = f"{{{name}}}_{{{data['index']}}}"
            label = f"${name}$" if _mathtext_ok(f"${name}$") else data["input"]
            ax.text(x, y, label, ha="center", va="center", fontsize=9, zorder=4)
    ax.set_xlim(*_XLIM)
    ax.set_ylim(*_YLIM)
    ax.set_aspect("equal")
    ax.axis("off")


def figure(basis):
    """A matplotlib Figure (Agg, not registered with pyplot) with one panel per term."""
    from matplotlib.figure import Figure

    check_drawable(basis)
    n = len(basis)
    rows, cols = grid_shape(n)
    h_px, w_px = png_size(n)
    fig = Figure(figsize=(w_px / DPI, h_px / DPI), dpi=DPI, facecolor="white")
    pw, ph = PANEL_INCHES
    W, H = w_px / DPI, h_px / DPI
    fig.text(0.5, 1 - 0.2 / H, summary_line(basis), ha="center", va="center", fontsize=9)
    legend = ("circles: input copies   squares: output legs   dots: blocks (generalized δ)   red numbers: leg slots"
              if basis.signature.group.partition_diagrams else
              "circles: input copies   squares: output legs   diamond: ε   red numbers: leg slots   arrows: Ω (tail→head)")
    fig.text(0.5, 1 - 0.4 / H, legend, ha="center", va="center", fontsize=6.5, color="#555555")
    for i, term in enumerate(basis):
        r, c = divmod(i, cols)
        left = (c * pw + 0.15) / W
        bottom = (H - HEADER_INCHES - (r + 1) * ph + 0.1) / H
        ax = fig.add_axes((left, bottom, (pw - 0.3) / W, (ph - 0.6) / H))
        # Equal aspect: the tighter of the two directions sets the scale (data units of _draw_term).
        _draw_term(ax, term, i, min((pw - 0.3) * 72 / (_XLIM[1] - _XLIM[0]), (ph - 0.6) * 72 / (_YLIM[1] - _YLIM[0])))
    return fig


def draw(basis, path) -> None:
    """Write the diagrams as a PNG (one panel per term, at most MAX_DRAW_TERMS), atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    check_drawable(basis)
    check_writable(path)
    fig = figure(basis)
    FigureCanvasAgg(fig)
    write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=DPI))
