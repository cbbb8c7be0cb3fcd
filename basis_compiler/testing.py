"""Test helpers: random group elements, group actions, random inputs and an equivariance check."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from .errors import DataError
from .symbolic.canonical import perm_sign
from .symbolic.groups import Group
from .symbolic.signature import InputSpec, Signature, TensorType


def component_representatives(group: Group) -> list[np.ndarray]:
    """One integer matrix per connected component of `group`, the identity first."""
    return group.component_representatives()


def random_group_element(group: Group, rng: np.random.Generator, component: int | None = None) -> np.ndarray:
    """A random float64 element of `group` in the given component (None: a random one)."""
    n = len(group.component_representatives())
    if component is None:
        component = int(rng.integers(n))
    if not isinstance(component, (int, np.integer)) or not 0 <= component < n:
        raise DataError(f"component must be an int in [0, {n}) for {group}, not {component!r}")
    return group.random_element(rng, int(component))


def act(g: np.ndarray, x: np.ndarray, order: int, pseudo: bool = False, batch_dims: int = 0) -> np.ndarray:
    """(g·x)[a1..ak] = det(g)^p g[a1,b1]...g[ak,bk] x[..., b1..bk], over `batch_dims` leading axes."""
    g = np.asarray(g, dtype=np.float64)
    y = np.asarray(x, dtype=np.float64)
    d = g.shape[0]
    if y.ndim != batch_dims + order or y.shape[batch_dims:] != (d,) * order:
        raise DataError(
            f"act: expected {batch_dims} batch axes then {order} axes of size {d}, got shape {y.shape}"
        )
    for axis in range(batch_dims, batch_dims + order):
        y = np.moveaxis(np.tensordot(g, y, axes=([1], [axis])), 0, axis)
    return y * np.linalg.det(g) if pseudo else y


def act_on_input(g: np.ndarray, x: np.ndarray, spec: InputSpec, batch_dims: int = 0) -> np.ndarray:
    """Act on one signature input; a family's stack axis (after the batch axes) is left alone."""
    return act(g, x, spec.type.order, spec.type.pseudo, batch_dims + int(spec.is_family))


def act_on_output(g: np.ndarray, y: np.ndarray, output_type: TensorType, batch_dims: int = 0) -> np.ndarray:
    """Act on an output tensor of type `output_type`."""
    return act(g, y, output_type.order, output_type.pseudo, batch_dims)


def random_inputs(
    signature: Signature | str,
    rng: np.random.Generator,
    n: int | Mapping[str, int] | None = None,
    batch: int | None = None,
    integer: bool = False,
) -> dict[str, np.ndarray]:
    """Random inputs by name, with each type's index symmetry; `n` sizes symbolic families (int or by symbol)."""
    sig = Signature.parse(signature)
    lead = () if batch is None else (batch,)
    out = {}
    for spec in sig.inputs:
        shape = lead + (() if spec.family is None else (_family_size(spec, n),))
        out[spec.name] = _random_tensor(sig.d, spec.type, shape, rng, integer)
    return out


def assert_equivariant(
    fn: Callable[[dict[str, np.ndarray]], np.ndarray],
    signature: Signature | str,
    rng: np.random.Generator,
    trials: int = 3,
    rtol: float = 1e-9,
    atol: float = 1e-12,
    components: str | Iterable[int] = "all",
    n: int | Mapping[str, int] = 3,
) -> None:
    """Raise AssertionError unless |fn(g·x) - g·fn(x)| <= rtol * output scale + atol for random g per component."""
    sig = Signature.parse(signature)
    reps = component_representatives(sig.group)
    comps = range(len(reps)) if components == "all" else list(components)
    expected = (sig.d,) * sig.output.order
    for trial, comp in itertools.product(range(trials), comps):
        g = random_group_element(sig.group, rng, comp)
        x = random_inputs(sig, rng, n=n)
        y = np.asarray(fn(x), dtype=np.float64)
        if y.shape != expected:
            raise AssertionError(f"fn returned shape {y.shape}; the output type {sig.output} needs {expected}")
        lhs = np.asarray(fn({s.name: act_on_input(g, x[s.name], s) for s in sig.inputs}), dtype=np.float64)
        rhs = act_on_output(g, y, sig.output)
        err = float(np.max(np.abs(lhs - rhs), initial=0.0))
        scale = float(max(np.max(np.abs(lhs), initial=0.0), np.max(np.abs(rhs), initial=0.0)))
        if not err <= rtol * scale + atol:
            raise AssertionError(
                f"not equivariant under {sig.group} for {sig}: max |f(g·x) - g·f(x)| = {err:.3e} "
                f"(output scale {scale:.3e}, rtol {rtol:g}, atol {atol:g}), trial {trial}, g in component {comp} "
                f"(representative diag {np.diag(reps[comp]).tolist()}, det(g) = {np.linalg.det(g):+.3f})\n"
                f"g =\n{np.array2string(g, precision=4)}"
            )


def _family_size(spec: InputSpec, n: int | Mapping[str, int] | None) -> int:
    """Concrete stack size of a family input."""
    if isinstance(spec.family, int):
        return spec.family
    size = n.get(spec.family, n.get(spec.name)) if isinstance(n, Mapping) else n
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise DataError(
            f"input {spec}: the family size {spec.family!r} is symbolic; pass n=5 (or n={{{spec.family!r}: 5}}) "
            f"or use signature.with_family_sizes({spec.name}=5)"
        )
    return int(size)


def _random_tensor(
    d: int, ttype: TensorType, lead: tuple[int, ...], rng: np.random.Generator, integer: bool
) -> np.ndarray:
    """Random tensor of shape lead + (d,)*order with the type's full index symmetry."""
    k = ttype.order
    idx = np.zeros((d,) * k, dtype=np.int64)
    sign = np.ones((d,) * k, dtype=np.int64)
    canon: dict[tuple[int, ...], int] = {}
    for multi in itertools.product(range(d), repeat=k):
        key = multi if ttype.symmetry == "none" else tuple(sorted(multi))
        idx[multi] = canon.setdefault(key, len(canon))
        if ttype.symmetry == "anti":
            sign[multi] = perm_sign(multi) if len(set(multi)) == k else 0
    shape = lead + (len(canon),)
    vals = rng.integers(-3, 4, size=shape) if integer else rng.standard_normal(shape)
    return vals[..., idx] * sign
