"""Generated modules for set families a{n}:1 (docs/math.md, "Set families").

One generated class serves every number of members n: its terms sum over the members, so each
term is one generator (covariant), one feature (invariants) or one weight column (polynomial).
The oracle is the symbolic stage's float64 evaluation of each term (Term.evaluate, which sums
over every member assignment of the blocks directly, a path independent of the planned
contraction order). Equivariance is checked under a random group element of every component
together with a random permutation of the members; the planned contractions are checked to be
linear in n: no step of the forward pass holds or multiplies two member axes at once.
"""

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from basis_compiler import compile_module, covariant_basis, enumerate_basis, invariant_features
from basis_compiler.errors import BasisCompilerError, CodegenError, UnsupportedError
from basis_compiler.symbolic.signature import Signature
from basis_compiler.testing import act_on_input, act_on_output, random_group_element, random_inputs

pytestmark = pytest.mark.time_limit(120)

SIG = "O(3): a{n}:1 -> 2s"
SIZES = (2, 5, 11)

CASES = [
    (SIG, 4, "covariant"),
    (SIG, 4, "invariants"),
    (SIG, 3, "polynomial"),
    ("O(1,3): p{n}:1 -> 2s", 2, "covariant"),  # the form's signs on contracted legs
    ("Sp(2): q{n}:1 -> 2a", 2, "covariant"),  # antisymmetric form and output
    ("SO(3): a{n}:1 -> 1", 4, "covariant"),  # epsilon with columns of two blocks: a buffer
    ("SO(3): a{n}:1, v:1 -> 1", 3, "covariant"),  # epsilon with a member column: a cofactor
    ("O(2): a{n}:1, v:1 -> 1", 3, "covariant"),  # a plain input next to the set family
    ("O(3): a{n}:2s -> 0", 3, "invariants"),
]


def _terms(signature, degree, kind):
    """The terms the module's coefficients / features / weight columns stand for, in order."""
    if kind == "covariant":
        return list(covariant_basis(signature, degree))
    if kind == "invariants":
        return list(invariant_features(signature, degree))
    return list(enumerate_basis(signature, degree))


def _values(terms, x: dict) -> np.ndarray:
    """(terms, *output axes): each term's float64 value on one sample (no batch axis)."""
    return np.array([np.asarray(t.evaluate(x), dtype=np.float64) for t in terms])


def _call(cls, module, kind, x: dict, coeffs=None):
    tx = {k: torch.from_numpy(v) for k, v in x.items()}
    if kind == "covariant":
        return module(torch.from_numpy(coeffs), **tx).numpy()
    return module(**tx).detach().numpy()


def _module(cls, kind):
    return cls(out_channels=2).double() if kind == "polynomial" else cls()


@pytest.mark.parametrize("signature, degree, kind", CASES)
def test_one_module_matches_the_terms_at_several_sizes(signature, degree, kind, rng):
    cls = compile_module(signature, degree, kind)
    module = _module(cls, kind)
    terms = _terms(signature, degree, kind)
    count = cls.n_features if kind == "invariants" else cls.n_coeffs
    assert count == len(terms) > 0
    for n in SIZES:
        x = random_inputs(signature, rng, n=n, batch=3)
        coeffs = rng.normal(size=(3, count))
        y = _call(cls, module, kind, x, coeffs)
        for b in range(3):
            ref = _values(terms, {k: v[b] for k, v in x.items()})
            if kind == "covariant":
                want = np.tensordot(coeffs[b], ref, axes=(0, 0))
            elif kind == "invariants":
                want = ref
            else:
                want = np.tensordot(module.weight.detach().numpy(), ref, axes=(1, 0))
            scale = max(1.0, float(np.abs(want).max()))
            assert y[b].shape == want.shape
            assert np.abs(y[b] - want).max() <= 1e-10 * scale, (n, b)


@pytest.mark.parametrize("signature, degree, kind", CASES)
def test_equivariant_under_the_group_and_member_permutations(signature, degree, kind, rng):
    sig = Signature.parse(signature)
    cls = compile_module(signature, degree, kind)
    module = _module(cls, kind)
    count = cls.n_features if kind == "invariants" else cls.n_coeffs
    out_type = sig.output if kind != "invariants" else type(sig.output)(0)
    for component in range(len(sig.group.component_representatives())):
        for n in (3, 7):
            g = random_group_element(sig.group, rng, component)
            x = random_inputs(signature, rng, n=n, batch=2)
            coeffs = rng.normal(size=(2, count))
            moved = {}
            for s in sig.inputs:
                z = act_on_input(g, x[s.name], s, batch_dims=1)
                moved[s.name] = z[:, rng.permutation(n)] if s.is_set_family else z
            y = _call(cls, module, kind, x, coeffs)
            lhs = _call(cls, module, kind, moved, coeffs)
            rhs = y if kind == "invariants" else act_on_output(g, y, out_type, batch_dims=y.ndim - out_type.order)
            scale = max(1.0, float(np.abs(rhs).max()))
            assert np.abs(lhs - rhs).max() <= 1e-10 * scale, (component, n)


def test_invariant_features_are_invariant_and_distinct(rng):
    cls = compile_module(SIG, 4, "invariants")
    module = cls()
    x = random_inputs(SIG, rng, n=6, batch=4)
    g = random_group_element(Signature.parse(SIG).group, rng, 1)  # a reflection
    a = torch.from_numpy(x["a"])
    moved = torch.from_numpy(np.einsum("ij,bnj->bni", g, x["a"])[:, rng.permutation(6)])
    f, f2 = module(a=a), module(a=moved)
    assert f.shape == (4, cls.n_features)
    assert torch.allclose(f, f2, rtol=1e-10, atol=1e-10)
    # the features are not all the same function (e.g. Σ|a_i|² and |Σ a_i|² differ)
    assert torch.linalg.matrix_rank(f.T @ f) >= 2


def test_basis_functions_split_one_term_per_generator():
    # every set-family term is one generator or one feature: no index tuples J, and the
    # generators times products of features give every term of enumerate_basis
    cov = covariant_basis(SIG, 4)
    inv = invariant_features(SIG, 4)
    assert all(t.sums_members and not t.index_sizes for t in list(cov) + list(inv) if t.diagram.labels)
    names = {t.einsum.subscripts for t in cov}
    # Σ_ij ⟨a_i,a_j⟩ a_i a_jᵀ is connected through its members: a generator, not a product
    assert "ia,jb,ic,jc->ab" in names
    # Σ_ij a_i a_iᵀ |a_j|² is Σ_i a_i a_iᵀ times the feature Σ_j |a_j|²: not a generator
    assert "ia,ib,jc,jc->ab" not in names
    assert {"ia,ia->", "ia,ja->"} <= {t.einsum.subscripts for t in inv}
    # concrete sizes give the same generators (listed unpruned, as shapes are)
    assert [t.einsum.subscripts for t in covariant_basis("O(3): a{5}:1 -> 2s", 4)] == \
        [t.einsum.subscripts for t in cov]
    assert len(invariant_features("O(3): a{5}:1 -> 2s", 4)) == len(inv)


def test_a_concrete_size_module_checks_its_size(rng):
    cls = compile_module("O(3): a{4}:1 -> 2s", 2, "covariant")
    module = cls()
    terms = _terms("O(3): a{4}:1 -> 2s", 2, "covariant")
    x = random_inputs("O(3): a{4}:1 -> 2s", rng, batch=1)
    c = rng.normal(size=(1, cls.n_coeffs))
    want = np.tensordot(c[0], _values(terms, {"a": x["a"][0]}), axes=(0, 0))
    assert np.allclose(module(torch.from_numpy(c), a=torch.from_numpy(x["a"]))[0].numpy(), want, atol=1e-12)
    with pytest.raises(ValueError, match="4, 3"):
        module(torch.from_numpy(c), a=torch.zeros(1, 5, 3, dtype=torch.float64))


def test_dtypes_follow_the_input_and_integers_are_refused():
    cls = compile_module(SIG, 2, "covariant")
    module = cls()
    for dtype in (torch.float32, torch.float64):
        y = module(torch.ones(2, cls.n_coeffs, dtype=dtype), a=torch.ones(2, 7, 3, dtype=dtype))
        assert y.dtype == dtype and y.shape == (2, 3, 3)
    with pytest.raises(TypeError, match="double"):
        module(torch.ones(2, cls.n_coeffs), a=torch.ones(2, 7, 3, dtype=torch.long))
    inv = compile_module(SIG, 2, "invariants")()
    assert inv(a=torch.ones(7, 3, dtype=torch.float32)).dtype == torch.float32


class _Recorder(TorchFunctionMode):
    """Every torch call of a forward pass with its tensor arguments' and results' shapes."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        tensors = [a for a in _flat(args) if isinstance(a, torch.Tensor)]
        results = [r for r in _flat((out,)) if isinstance(r, torch.Tensor)]
        equation = next((a for a in args if isinstance(a, str) and "->" in a), None)
        self.calls.append((getattr(func, "__name__", str(func)), equation,
                           [tuple(t.shape) for t in tensors], [tuple(r.shape) for r in results]))
        return out


def _flat(xs):
    for x in xs:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def _member_axes(equation: str, shapes, n: int) -> set:
    """The letters of an einsum equation that run over the members (size n)."""
    lhs = equation.split("->")[0].split(",")
    found = set()
    for sub, shape in zip(lhs, shapes):
        letters = sub.replace("...", "")
        tail = shape[len(shape) - len(letters):]
        found |= {c for c, s in zip(letters, tail) if s == n}
    return found


@pytest.mark.parametrize("signature, degree, kind", [(SIG, 4, "covariant"), (SIG, 4, "invariants"),
                                                     ("O(2): a{n}:1, v:1 -> 1", 3, "covariant"),
                                                     ("SO(3): a{n}:1 -> 1", 4, "covariant"),
                                                     ("Sp(2): q{n}:1 -> 0", 4, "invariants")])
def test_no_step_holds_two_member_axes(signature, degree, kind, rng):
    # n = 97 is no other axis size: an axis of that size is a member axis. A step with two member
    # letters would cost n^2 (an (n, n) intermediate, or a product summing both at once).
    n = 97
    cls = compile_module(signature, degree, kind)
    module = cls()
    x = {k: torch.from_numpy(v) for k, v in random_inputs(signature, rng, n=n, batch=2).items()}
    rec = _Recorder()
    with rec:
        if kind == "covariant":
            module(torch.ones(2, cls.n_coeffs, dtype=torch.float64), **x)
        else:
            module(**x)
    einsums = [c for c in rec.calls if c[1] is not None]
    assert einsums, "the forward pass contracts with torch.einsum"
    for name, equation, shapes, results in rec.calls:
        for shape in results:
            assert list(shape).count(n) <= 1, (name, equation, shapes, results)
        if equation is not None:
            assert len(_member_axes(equation, shapes, n)) <= 1, (equation, shapes)


def test_the_two_block_gram_term_is_planned_through_second_moments():
    # Σ_ij ⟨a_i,a_j⟩ a_i a_jᵀ: each block is contracted on its own (Σ_i a_i a_iᵀ, O(n d²)) and the
    # two d x d results are multiplied; no planned step meets two member letters
    from basis_compiler.codegen.ir import InputOperand
    from basis_compiler.codegen.kinds import compile_kind
    from basis_compiler.codegen.planning import plan_module

    compiled = compile_kind(SIG, 4, "covariant")
    plans = plan_module(compiled)
    checked = 0
    for term, plan in zip(compiled.terms, plans):
        members = {op.letters[0] for op in plan.operands if isinstance(op.source, InputOperand)}
        ops = [op.letters for op in plan.operands]
        for step in plan.path:
            meet = {c for k in step for c in ops[k] if c in members}
            assert len(meet) <= 1, (term, plan.path)
            rest = [o for k, o in enumerate(ops) if k not in step]
            keep = set("".join(rest) + plan.output)
            ops = rest + ["".join(dict.fromkeys(c for k in step for c in ops[k] if c in keep))]
        checked += len(members) >= 2
        if term.einsum.subscripts == "ia,jb,ic,jc->ab":
            assert plan.flops < plan.naive_flops
    assert checked >= 3


def test_refusals_name_the_problem_and_show_an_example():
    with pytest.raises(UnsupportedError, match="mixing set families"):
        covariant_basis("O(3): a{n}:1, b[m]:1 -> 0", 2)
    with pytest.raises(UnsupportedError, match="mixing set families"):
        compile_module("O(3): a{n}:1, b[m]:1 -> 0", 2, "invariants")
    with pytest.raises(CodegenError, match=r"compile_module\('O\(3\): a\{n\}:1 -> 2s', 2, 'polynomial'\)"):
        compile_module(SIG, 2, "polynomial", channels=4)
    assert issubclass(CodegenError, BasisCompilerError)


def test_generate_writes_a_module_for_a_set_family(tmp_path):
    from basis_compiler.cli import main

    assert main(["generate", SIG, "--degree", "2", "--kind", "covariant", "--name", "cloud", "--out",
                 str(tmp_path)]) == 0
    text = (tmp_path / "cloud.py").read_text()
    assert "# regenerate: basis-compiler generate 'O(3): a{n}:1 -> 2s'" in text
    namespace = {}
    exec(compile(text, "cloud.py", "exec"), namespace)
    layer = namespace["CovariantLayer"]()
    for n in (1, 4, 9):
        assert layer(torch.ones(layer.n_coeffs), a=torch.randn(n, 3)).shape == (3, 3)


try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:
    GROUPS = ["O(2)", "O(3)", "SO(3)", "O(1,2)", "Sp(2)"]
    TYPES = ["0", "1", "2s"]

    @st.composite
    def set_signatures(draw):
        group = draw(st.sampled_from(GROUPS))
        member = draw(st.sampled_from(TYPES if group != "Sp(2)" else ["0", "1"]))
        extra = draw(st.sampled_from(["", ", v:1"]))
        out = draw(st.sampled_from(["0", "1", "2s"] if group != "Sp(2)" else ["0", "1", "2a"]))
        return f"{group}: a{{n}}:{member}{extra} -> {out}", draw(st.integers(1, 3))

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(set_signatures(), st.integers(1, 6), st.integers(0, 2**31 - 1))
    def test_property_random_set_signatures(case, n, seed):
        signature, degree = case
        rng = np.random.default_rng(seed)
        try:
            cls = compile_module(signature, degree, "covariant")
        except UnsupportedError:
            return
        terms = _terms(signature, degree, "covariant")
        assert cls.n_coeffs == len(terms)
        x = random_inputs(signature, rng, n=n, batch=1)
        c = rng.normal(size=(1, cls.n_coeffs))
        y = cls()(torch.from_numpy(c), **{k: torch.from_numpy(v) for k, v in x.items()}).numpy()[0]
        want = np.tensordot(c[0], _values(terms, {k: v[0] for k, v in x.items()}), axes=(0, 0)) if terms else 0
        assert np.abs(y - want).max() <= 1e-9 * max(1.0, float(np.abs(want).max()))
