"""Input names cannot collide with generated code: every name the generator emits, torch, self,
builtins and runtime helper names, used as an input name, gives a module that still equals the
float64 reference sum of Term.evaluate (or, for `self`, a SignatureError that says why)."""

import ast
import builtins
import keyword

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basis_compiler.codegen.kinds import compile_kind
from basis_compiler.codegen.store import compile_module, generate_source
from basis_compiler.errors import SignatureError
from basis_compiler.testing import random_inputs


# A hang (say in the exact rank step) fails in a minute, not at the CI timeout (tests/conftest.py).
pytestmark = pytest.mark.time_limit(60)

GENERATED = ["t1", "t2", "t3", "q1", "q2", "f1", "ext", "sext", "signed", "total", "out", "out_1", "dtype", "eye",
             "eta", "omega_inverse", "form_signs", "eps", "scale", "flat1", "pick0", "index", "size", "count", "keep",
             "pick", "idx", "sign", "x_c", "coeffs", "coeffs_1", "weight", "in_channels", "out_channels", "forward"]
SPECIAL = ["torch", "torch_1", "sum", "len", "range", "tuple", "print", "super", "_eta", "_omega", "_check",
           "_check_coeffs", "_eps_contract", "_orbit_index", "__class__"]
NAMES = GENERATED + SPECIAL


def _signatures(name):
    """A polynomial, a covariant (a family, forms and buffers) and an invariants case per name."""
    return [
        (f"O(1,3): {name}:1, X:2s -> 2s", 2, "polynomial"),
        (f"Sp(4): {name}[3]:1 -> 2", 2, "covariant"),
        (f"O(3): {name}[3]:1, X:2s -> 0", 2, "invariants"),
    ]


def _reference(compiled, coeffs, inputs):
    values = [(term if J == () else term.with_indices(J)).evaluate(inputs)
              for term, js in zip(compiled.terms, compiled.orbits) for J in js]
    if compiled.kind == "invariants":
        return np.array(values)
    return np.tensordot(coeffs, np.array(values), axes=(0, 0))


def assert_matches_reference(signature, degree, kind, rng):
    cls = compile_module(signature, degree, kind)
    module = cls().double()
    x = random_inputs(signature, rng, batch=2)
    tx = {k: torch.from_numpy(v) for k, v in x.items()}
    if kind == "covariant":
        c = rng.normal(size=(2, cls.n_coeffs))
        y = module(torch.from_numpy(c), **tx).numpy()
    elif kind == "polynomial":
        y = module(**tx).detach().numpy()
        c = np.broadcast_to(module.weight.detach().numpy()[0], (2, cls.n_coeffs))
    else:
        y = module(**tx).numpy()
        c = np.zeros((2, 0))
    compiled = compile_kind(signature, degree, kind)
    for b in range(2):
        ref = _reference(compiled, c[b], {k: v[b] for k, v in x.items()})
        assert y[b].shape == ref.shape
        assert np.abs(y[b] - ref).max() <= 1e-12 * max(1.0, float(np.abs(ref).max()))


@pytest.mark.parametrize("name", NAMES)
def test_any_input_name_matches_reference(name, rng):
    for signature, degree, kind in _signatures(name):
        assert_matches_reference(signature, degree, kind, rng)


def test_input_named_self_is_refused_with_the_reason():
    with pytest.raises(SignatureError, match="keyword argument.*Module.__call__"):
        compile_module("O(3): self:1 -> 2s", 2, "polynomial")


def test_issue_examples():
    # each of these was wrong before the namespace: values, shapes, SyntaxError, AttributeError
    rng = np.random.default_rng(1)
    for sig in ("O(3): t2:1, X:2s -> 2s", "O(3): ext:1 -> 2s", "O(3): q1:1 -> 2s", "O(3): coeffs:1 -> 2s",
                "O(3): torch:1 -> 2s"):
        assert_matches_reference(sig, 2, "covariant", rng)
        assert_matches_reference(sig, 2, "polynomial", rng)


def _generated_names(source: str) -> set[str]:
    """Names the module binds where an input name is in scope or could be confused with one:
    module-level helper functions and import aliases, and in the class: locals of __init__ and
    forward, forward's positional parameters, self attributes and registered buffers. (The copied
    helpers' own parameters and locals live in their own scope and are not counted.)"""
    tree = ast.parse(source)
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Import):  # `import torch` itself is shadowed only inside forward
            names.update(a.asname for a in node.names if a.asname)
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    for method in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
        names.update(a.arg for a in method.args.args[1:])
        for node in ast.walk(method):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "register_buffer":
                names.add(node.args[0].value)
    return names


API = {"weight", "in_channels", "out_channels"}  # API of a polynomial layer (kept by design)


@pytest.mark.parametrize("name", NAMES)
def test_no_generated_name_equals_an_input_name(name):
    for signature, degree, kind in _signatures(name):
        source = generate_source(signature, degree, kind, "x")
        forward = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef) and n.name == "forward")
        assert [a.arg for a in forward.args.kwonlyargs][:1] == [name]  # inputs keep their names
        assert name not in _generated_names(source) - API, (name, kind)


_IDENTIFIER = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True).filter(
    lambda s: not keyword.iskeyword(s) and not keyword.issoftkeyword(s) and s != "self" and s != "X")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=_IDENTIFIER)
def test_random_identifiers_match_reference(name):
    rng = np.random.default_rng(7)
    assert_matches_reference(f"O(1,3): {name}:1, X:2s -> 2s", 2, "polynomial", rng)
    assert_matches_reference(f"O(5): {name}[4]:1 -> 2s", 2, "covariant", rng)


def test_builtins_are_not_used_by_forward():
    # an input may shadow any builtin inside forward, so forward must call none
    source = generate_source("SO(3): A:2a, v:1 -> 2s", 2, "polynomial", "x")
    forward = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef) and n.name == "forward")
    loaded = {n.id for n in ast.walk(forward) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    assert not loaded & (set(dir(builtins)) - {"None"})
