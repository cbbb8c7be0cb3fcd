"""Inspecting a basis: readable formulas, JSON round trips, DOT, LaTeX, the PNG and the CLI."""

import json
import os
import re
from itertools import permutations

import matplotlib.image
import networkx as nx
import numpy as np
import pytest

from basis_compiler import enumerate_basis
from basis_compiler.symbolic.canonical import perm_sign
from basis_compiler.cli import main
from basis_compiler.errors import OutputError
from basis_compiler.inspect.export import (
    FORMATS,
    MAX_DRAW_TERMS,
    draw,
    formula,
    formula_latex,
    from_json,
    png_size,
    to_dot,
    to_latex,
)
from basis_compiler.symbolic.terms import INDEX_NAMES
from basis_compiler.testing import random_inputs


# A hang (say in the exact rank step) fails in a minute, not at the CI timeout (tests/conftest.py).
pytestmark = pytest.mark.time_limit(60)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def formulas(signature, degree):
    return [formula(t) for t in enumerate_basis(signature, degree)]


# ---------------------------------------------------------------------------------------------
# Known formulas
# ---------------------------------------------------------------------------------------------


def test_corollary_1_k2_shapes():
    # The paper's SVH signature: delta, <a_i,a_j> delta and the symmetrized outer product.
    assert sorted(formulas("O(5): a[n]:1 -> 2s", 2)) == sorted(["δ", "⟨a_i,a_j⟩ δ", "Sym[a_i a_jᵀ]"])


def test_corollary_1_concrete_members():
    fs = formulas("O(5): a[4]:1 -> 2s", 2)
    assert "⟨a_0,a_3⟩ δ" in fs
    assert "Sym[a_2 a_3ᵀ]" in fs
    assert "a_3 a_3ᵀ" in fs  # already symmetric: no Sym
    assert "Sym[a_3 a_3ᵀ]" not in fs


def test_cross_product():
    basis = enumerate_basis("SO(3): v:1, w:1 -> 1", (1, 1))
    assert [formula(t) for t in basis] == ["ε(v,w,·)"]
    assert formula_latex(basis[0]) == r"\varepsilon(v, w, \cdot)"


@pytest.mark.parametrize(
    "signature, degree, expected",
    [
        ("O(3): X:2s -> 0", (2,), {"tr(X)²", "tr(X²)"}),
        ("O(3): v:1, X:2s -> 0", (2, 1), {"tr(X) ⟨v,v⟩", "vᵀXv"}),
        ("O(3): v:1, X:2s -> 2s", (0, 2), {"tr(X)² δ", "tr(X²) δ", "tr(X) X", "X²"}),
        ("O(3): v:1, X:2s -> 2s", (2, 0), {"⟨v,v⟩ δ", "v vᵀ"}),
        ("O(3): X:2 -> 0", (2,), {"tr(X)²", "tr(X²)", "tr(XXᵀ)"}),
        ("Sp(4): q:1, p:1 -> 0", (1, 1), {"⟨q,p⟩_Ω"}),
        ("O(1,3): p[n]:1 -> 2s", 2, {"η", "⟨p_i,p_j⟩_η η", "Sym[p_i p_jᵀ]"}),
        ("Sp(4): -> 2", 0, {"Ω⁻¹"}),
        ("SO(3): u:1, v:1, w:1 -> 0", (1, 1, 1), {"ε(u,v,w)"}),
        ("O(3): v:1 -> 3s", (3,), {"Sym[⟨v,v⟩ v⊗δ]", "v⊗v⊗v"}),
        ("O(3): -> 4", 0, {"δ⊗δ", "δ^{ac} δ^{bd}", "δ^{ad} δ^{bc}"}),
        # Too complex for a pretty form: index notation, repeated indices summed.
        ("O(3): C:4s -> 0", (2,), {"(C^{aabb}) (C^{ccdd})", "C^{aabc} C^{bcdd}", "C^{abcd} C^{abcd}"}),
    ],
)
def test_known_formulas(signature, degree, expected):
    assert set(formulas(signature, degree)) == expected


def test_latex_uses_sympy_names():
    basis = enumerate_basis("O(3): alpha:1, X:2s -> 0", (2, 1))
    assert r"\alpha^{\top} X \alpha" in [formula_latex(t) for t in basis]


# ---------------------------------------------------------------------------------------------
# Every formula is true: an independent evaluator of the formula language against Term.evaluate
# ---------------------------------------------------------------------------------------------

_SUPERSCRIPT = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹", range(10)))


class FormulaEvaluator:
    """Reads a formula (text) and computes its value with numpy: juxtaposition and spaces are
    matrix products (vectors are columns, a 1x1 result acts as a scalar), ⊗ is the outer product,
    X^{ab} factors are contracted einsum-style with free letters in alphabetical order."""

    def __init__(self, signature, inputs, index_values):
        self.sig = signature
        self.d = signature.d
        self.inputs = inputs
        self.index_values = index_values
        self.names = sorted((s.name for s in signature.inputs), key=len, reverse=True)
        self.form = signature.group.form().astype(float)
        eps = np.zeros((self.d,) * self.d)
        for p in permutations(range(self.d)):
            eps[p] = perm_sign(p)
        self.eps = eps

    def value(self, text):
        self.s, self.i = text, 0
        sign = 1
        if self.take("-"):
            sign = -1
        wrap = None
        for w in ("Sym[", "Alt["):
            if self.take(w):
                wrap = w[:3]
        v = self.product(")],")
        if wrap:
            self.expect("]")
        assert self.i == len(self.s), f"trailing text in {text!r} at {self.i}"
        k = self.sig.output.order
        v = self.to_tensor(v, k)
        if wrap:
            acc = np.zeros_like(v)
            for p in permutations(range(k)):
                acc = acc + (perm_sign(p) if wrap == "Alt" else 1) * np.transpose(v, p)
            v = acc / len(list(permutations(range(k))))
        return sign * v

    def to_tensor(self, v, k):
        if isinstance(v, tuple):
            v = self.contract([v])
        if k == 0:
            return np.asarray(v).reshape(())
        if k == 1:
            return np.asarray(v).reshape(self.d)
        assert v.shape == (self.d,) * k, v.shape
        return v

    # -- parsing ------------------------------------------------------------------------------
    def take(self, tok):
        if self.s.startswith(tok, self.i):
            self.i += len(tok)
            return True
        return False

    def expect(self, tok):
        assert self.take(tok), f"expected {tok!r} at {self.i} in {self.s!r}"

    def product(self, stops):
        factors = []
        while self.i < len(self.s) and self.s[self.i] not in stops:
            if self.take(" "):
                continue
            factors.append(self.outer())
        assert factors, f"empty product at {self.i} in {self.s!r}"
        if any(isinstance(f, tuple) for f in factors):
            # Index notation: the indexed factors are contracted together; the rest must be scalars.
            v = self.contract([f for f in factors if isinstance(f, tuple)])
            for f in factors:
                if not isinstance(f, tuple):
                    assert np.size(f) == 1, "index notation mixed with matrices"
                    v = v * np.asarray(f).reshape(())
            return v
        v = factors[0]
        for f in factors[1:]:
            v = self.mul(v, f)
        return v

    def contract(self, factors):
        letters = "".join(sub for _, sub in factors)
        free = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
        return np.einsum(",".join(sub for _, sub in factors) + "->" + free, *(a for a, _ in factors))

    def mul(self, a, b):
        if np.ndim(a) == 0 or np.shape(a) == (1, 1):
            return np.asarray(a).reshape(()) * b
        if np.ndim(b) == 0 or np.shape(b) == (1, 1):
            return a * np.asarray(b).reshape(())
        assert np.ndim(a) == 2 and np.ndim(b) == 2 and a.shape[1] == b.shape[0], (a.shape, b.shape)
        return a @ b

    def outer(self):
        v = self.postfix()
        while self.take("⊗"):
            w = self.postfix()
            v = np.multiply.outer(self.flat(v), self.flat(w))
        return v

    def flat(self, v):
        return v.reshape(self.d) if np.shape(v) == (self.d, 1) else v

    def postfix(self):
        v = self.atom()
        while True:
            if self.take("ᵀ"):
                v = v.T
            elif self.take("⁻¹"):
                v = np.linalg.inv(v)
            elif self.i < len(self.s) and self.s[self.i] in _SUPERSCRIPT:
                n = 0
                while self.i < len(self.s) and self.s[self.i] in _SUPERSCRIPT:
                    n = 10 * n + _SUPERSCRIPT[self.s[self.i]]
                    self.i += 1
                v = np.linalg.matrix_power(v, n) if np.ndim(v) == 2 and v.shape[0] == v.shape[1] > 1 else v**n
            elif self.take("^{"):
                j = self.s.index("}", self.i)
                sub, self.i = self.s[self.i:j], j + 1
                v = (self.flat(v), sub)
            else:
                return v

    def atom(self):
        if self.take("tr("):
            v = self.product(")")
            self.expect(")")
            return np.asarray(np.trace(v))
        if self.take("("):
            v = self.product(")")
            self.expect(")")
            return v
        if self.take("⟨"):
            a = self.product(",")
            self.expect(",")
            b = self.product("⟩")
            self.expect("⟩")
            form = self.form if (self.take("_η") or self.take("_Ω")) else np.eye(self.d)
            return np.asarray((a.T @ form @ b).reshape(()))
        if self.take("ε("):
            args = []
            while True:
                args.append(None if self.take("·") else self.flat(self.product(",)")))
                if self.take(")"):
                    break
                self.expect(",")
            letters = "abcdefghij"[: self.d]
            subs = [letters]
            ops = [self.eps]
            out = ""
            for slot, a in enumerate(args):
                if a is None:
                    out += letters[slot]
                else:
                    subs.append(letters[slot])
                    ops.append(a)
            v = np.einsum(",".join(subs) + "->" + out, *ops)
            return v.reshape(self.d, 1) if v.ndim == 1 else v
        if self.take("ε"):
            return self.eps
        if self.take("δ"):
            return np.eye(self.d)
        if self.take("η") or self.take("Ω"):
            return self.form
        if self.take("1"):
            return np.asarray(1.0)
        for name in self.names:
            if self.take(name):
                x = self.inputs[name]
                if self.sig.input(name).is_family:
                    self.expect("_")
                    j = self.i
                    while j < len(self.s) and (self.s[j].isdigit() or (j == self.i and self.s[j].isalpha())):
                        j += 1
                    token, self.i = self.s[self.i:j], j
                    x = x[int(token) if token.isdigit() else self.index_values[token]]
                x = np.asarray(x, dtype=float)
                return x.reshape(self.d, 1) if x.ndim == 1 else x
        raise AssertionError(f"cannot read {self.s[self.i:]!r} in {self.s!r}")


@pytest.mark.parametrize(
    "signature, degree",
    [
        ("O(5): a[n]:1 -> 2s", 2),
        ("O(4): a[3]:1 -> 2s", 2),
        ("SO(3): v:1, w:1 -> 1", 2),
        ("O(3): v:1, X:2s -> 2s", 3),
        ("O(3): X:2 -> 2", 2),
        ("O(3): A:2a, X:2 -> 2", 2),
        ("O(3): v:1, X:2 -> 0", 3),
        ("O(1,3): p[n]:1 -> 2s", 2),
        ("O(1,3): v:1, X:2 -> 1", 2),
        ("Sp(4): q:1, p:1 -> 0", 2),
        ("Sp(4): q:1, X:2 -> 2", 2),
        ("Sp(2): -> 4", 0),
        ("SO(3): v:1 -> 2", 2),
        ("SO(3): X:2, v:1 -> 1", 2),
        ("SO(4): -> 4a", 0),
        ("SO(4): v:1 -> 3", 1),
        ("SO(3): X:2s, v:1 -> 1", 3),
        ("SO(3): v:1, w:1 -> 2a", 3),
        ("O(3): v:1 -> 3s", 3),
        ("O(3): -> 4", 0),
        ("O(3): E:1, B:1p -> 2s", 2),
        ("O(3): C:4s, v:1 -> 0", 3),
        ("O(3): C:4, v:1 -> 2", (1, 2)),
        ("O(3): C:4s, v:1 -> 2s", (1, 2)),
        ("O(1,3): v:1, C:4s -> 2s", (2, 1)),
        ("O(3): s:0, v:1 -> 2s", 3),
    ],
)
def test_formulas_evaluate_to_the_terms(signature, degree, rng):
    basis = enumerate_basis(signature, degree)
    assert len(basis) > 0
    inputs = random_inputs(basis.signature, rng, n=4)
    for term in basis:
        if term.is_shape:
            labels = sorted({lab for lab in term.diagram.labels if lab is not None})
            values = tuple(range(len(labels)))
            concrete = term.with_indices(values)
            letters = {INDEX_NAMES[lab]: v for lab, v in zip(labels, values)}
        else:
            concrete, letters = term, {}
        expected = concrete.evaluate(inputs)
        got = FormulaEvaluator(basis.signature, inputs, letters).value(formula(term))
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9, err_msg=f"{signature}: {formula(term)}")


def test_the_evaluator_catches_a_wrong_formula(rng):
    # Guard for the test above: a transpose, a symmetrizer or a sign that is off is noticed.
    sig = enumerate_basis("O(3): X:2 -> 2", 0).signature
    inputs = random_inputs(sig, rng)
    ev = FormulaEvaluator(sig, inputs, {})
    assert not np.allclose(ev.value("X²"), ev.value("(Xᵀ)²"))
    assert not np.allclose(ev.value("X"), ev.value("-X"))


# ---------------------------------------------------------------------------------------------
# JSON, DOT, LaTeX
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signature, degree",
    [("O(5): a[n]:1 -> 2s", 2), ("SO(3): v:1, w:1 -> 1", 2), ("Sp(4): q:1, X:2 -> 2", 2), ("O(3): v:1, X:2s -> 2s", 3)],
)
def test_json_round_trip(signature, degree):
    basis = enumerate_basis(signature, degree)
    text = basis.to_json()
    graphs = from_json(text)
    assert len(graphs) == len(basis)
    for g, term in zip(graphs, basis):
        assert nx.is_isomorphic(
            g,
            term.graph,
            node_match=lambda a, b: a["kind"] == b["kind"] and a.get("input") == b.get("input"),
            edge_match=lambda a, b: sorted(e["kind"] for e in a.values()) == sorted(e["kind"] for e in b.values()),
        )
        assert dict(g.nodes(data=True)) == dict(term.graph.nodes(data=True))
        assert sorted(map(repr, g.edges(data=True))) == sorted(map(repr, term.graph.edges(data=True)))
        assert g.graph == term.graph.graph


def test_json_schema():
    basis = enumerate_basis("O(5): a[n]:1 -> 2s", 2)
    data = json.loads(basis.to_json())
    assert data == basis.to_json(as_dict=True)
    assert {"signature", "degree", "d", "stats", "terms"} <= set(data)
    assert data["signature"] == "O(5): a[n]:1 -> 2s" and data["degree"] == 2 and data["d"] == 5
    assert data["stats"]["orbits"] == 3 and "raw_matchings" in data["stats"] and "seconds" in data["stats"]
    (t,) = [t for t in data["terms"] if t["multidegree"] == [2] and t["covariant"]]
    assert data["terms"][t["index"]] is t
    assert t["formula"] == "Sym[a_i a_jᵀ]"
    assert t["einsum"] == {"subscripts": "a,b->ab", "operands": ["a[i]", "a[j]"]}
    assert t["invariant"] is False and t["covariant"] is True and t["epsilon"] is False
    assert t["index_symmetry"] == [{"permutation": [0, 1], "sign": 1}, {"permutation": [1, 0], "sign": 1}]
    ids = {n["id"] for n in t["graph"]["nodes"]}
    assert ids == {"in:a:0", "in:a:1", "out:0", "out:1"}
    assert {n["kind"] for n in t["graph"]["nodes"]} == {"input", "output"}
    edge = t["graph"]["edges"][0]
    assert set(edge) == {"source", "target", "kind", "oriented", "legs"}
    eps = json.loads(enumerate_basis("SO(3): v:1, w:1 -> 1", (1, 1)).to_json())["terms"][0]["graph"]
    assert {"id": "eps", "kind": "epsilon", "order": 3} in eps["nodes"]


def test_dot_and_latex():
    basis = enumerate_basis("Sp(4): q:1, p:1 -> 0", 2)
    dot = basis.to_dot()
    assert dot.startswith("digraph basis {") and dot.rstrip().endswith("}")
    assert dot.count("subgraph cluster_") == len(basis)
    assert "dir=forward" in dot  # Omega is oriented
    assert "⟨q,p⟩_Ω" in dot
    assert "dir=forward" not in to_dot(enumerate_basis("O(3): v:1 -> 2s", 2))
    latex = to_latex(enumerate_basis("O(5): a[n]:1 -> 2s", 2))
    assert r"\begin{itemize}" in latex and r"\end{itemize}" in latex
    assert latex.count(r"\item") == 3
    assert r"\mathrm{Sym}[a_{i} \, a_{j}^{\top}]" in latex


# ---------------------------------------------------------------------------------------------
# PNG
# ---------------------------------------------------------------------------------------------


def test_png(tmp_path):
    basis = enumerate_basis("O(5): a[n]:1 -> 2s", 2)
    path = tmp_path / "svh.png"
    basis.draw(path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == png_size(3) == (300, 825)
    assert image.std() > 0.05  # something is drawn
    assert os.listdir(tmp_path) == ["svh.png"]  # no temp file left


def test_png_many_terms_grid(tmp_path):
    basis = enumerate_basis("O(3): v:1, X:2s -> 2s", 3)  # 20 terms, with Sym, ⊗, traces
    path = tmp_path / "vX.png"
    draw(basis, str(path))
    assert matplotlib.image.imread(path).shape[:2] == png_size(len(basis)) == (1050, 1375)


def test_png_refuses_too_many_terms(tmp_path):
    basis = enumerate_basis("O(5): a[16]:1 -> 2s", 2)
    assert len(basis) > MAX_DRAW_TERMS
    with pytest.raises(OutputError, match="--format json"):
        basis.draw(tmp_path / "big.png")
    assert os.listdir(tmp_path) == []


def test_failed_draw_leaves_the_old_file(tmp_path, monkeypatch):
    import basis_compiler.inspect.drawing as ib

    path = tmp_path / "x.png"
    path.write_bytes(b"old")

    def broken(basis):
        raise RuntimeError("boom")

    monkeypatch.setattr(ib, "figure", broken)
    with pytest.raises(RuntimeError):
        ib.draw(enumerate_basis("O(3): v:1 -> 2s", 2), path)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["x.png"]


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def _no_seconds(text):
    return re.sub(r'("seconds": |\()[0-9.e-]+', r"\1#", text)


def test_cli_table(capsys):
    assert main(["show", "O(5): a[n]:1 -> 2s", "--degree", "2"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "formula" in lines[0] and "einsum" in lines[0]
    assert "Sym[a_i a_jᵀ]" in out and "⟨a_i,a_j⟩ δ" in out
    assert "raw matchings 4" in lines[-1] and "orbits 3" in lines[-1] and "zero dropped 0" in lines[-1]
    assert "independent at d=5: 3" in lines[-1]


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_formats(fmt, capsys, tmp_path):
    assert main(["show", "SO(3): v:1, w:1 -> 1", "--degree", "1,1", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "ε(v,w,·)" in out or r"\varepsilon(v, w, \cdot)" in out
    if fmt == "json":
        assert json.loads(out)["terms"][0]["formula"] == "ε(v,w,·)"
    target = tmp_path / f"basis.{fmt}"
    assert main(["show", "SO(3): v:1, w:1 -> 1", "--degree", "1,1", "--format", fmt, "-o", str(target)]) == 0
    assert _no_seconds(target.read_text(encoding="utf-8")) == _no_seconds(out)
    assert capsys.readouterr().out == ""


def test_cli_png(tmp_path, capsys):
    path = tmp_path / "b.png"
    assert main(["show", "O(3): v:1, X:2s -> 2s", "--degree", "2", "--png", str(path)]) == 0
    captured = capsys.readouterr()
    assert "v vᵀ" in captured.out and str(path) in captured.err
    assert matplotlib.image.imread(path).shape[:2] == png_size(9)


def test_cli_unknown_format(capsys):
    assert main(["show", "O(3): v:1 -> 0", "--format", "xml"]) == 2
    err = capsys.readouterr().err
    assert "unknown format 'xml'" in err and "table, json, dot, latex" in err


@pytest.mark.parametrize("flag", ["--png", "--output"])
def test_cli_unwritable_path(flag, capsys):
    assert main(["show", "O(3): v:1 -> 0", flag, "/nonexistent_dir/x.png"]) == 2
    err = capsys.readouterr()
    assert "cannot write /nonexistent_dir/x.png" in err.err and "does not exist" in err.err
    assert err.out == ""


def test_cli_too_many_terms(tmp_path, capsys):
    path = tmp_path / "big.png"
    assert main(["show", "O(5): a[16]:1 -> 2s", "--degree", "2", "--png", str(path)]) == 2
    captured = capsys.readouterr()
    assert "273 terms" in captured.err and f"at most {MAX_DRAW_TERMS}" in captured.err
    assert "--format json" in captured.err
    assert captured.out == "" and not path.exists()
