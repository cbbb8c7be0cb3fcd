"""The group families: one class each, owning everything group-specific.

Every tensor carries upper indices (x -> g x). Two tensor indices are contracted through the
invariant bilinear form B (g^T B g = B); two free output indices are joined by its inverse
B^{-1}. A family class answers every question the stages ask about its group: the form and
its inverse (as integer matrices, so they reduce exactly mod p), whether ε takes part and
when, when distinct diagrams are automatically independent, its connected components and
random elements (for tests), and how its form is applied in generated code. Stage code asks
the group object and never compares family names. A new family is one new class registered in
`FAMILIES` (see `parse_group`).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import SignatureError

_MAX_BOOST = 1.5
"""Largest rapidity of the boosts in random O(s,t) elements (keeps test values well scaled)."""
_SP_MAX_COND = 1e3
"""Random symplectic matrices are redrawn until their condition number is below this."""


@dataclass(frozen=True)
class Group:
    """A matrix group acting on R^d (abstract: use one of the family classes below)."""

    d: int
    """Dimension of the space the group acts on."""

    family: ClassVar[str] = ""
    """Short family name: 'O', 'SO', 'Ost' (indefinite orthogonal) or 'Sp' (for display and JSON)."""
    text: ClassVar[str] = ""
    """How the family is written, e.g. 'O(d)'."""
    has_parity: ClassVar[bool] = False
    """Whether det(g) can be -1, so that pseudo-tensors differ from tensors."""
    epsilon_always: ClassVar[bool] = False
    """Whether the Levi-Civita symbol is an invariant at any parity (SO(d))."""
    form_name: ClassVar[str] = "delta"
    """Name of the form between two tensor legs: 'delta', 'eta' or 'omega'."""
    inverse_name: ClassVar[str] = "delta"
    """Name of the inverse form that joins two free output legs: 'delta', 'eta' or 'omega_inverse'."""
    form_is_identity: ClassVar[bool] = True
    """Whether the form is the identity (δ): contracting through it just shares an index."""
    form_antisymmetric: ClassVar[bool] = False
    """Whether form edges are oriented (reversing one flips the sign): Omega."""
    form_is_diagonal: ClassVar[bool] = True
    """Whether the form is a diagonal sign matrix (applied in generated code as a sign vector)."""
    symbols: ClassVar[tuple[str, str, str, str]] = ("δ", r"\delta", "δ", r"\delta")
    """How formulas write the form and its inverse: (text, LaTeX, inverse text, inverse LaTeX)."""
    partition_diagrams: ClassVar[bool] = False
    """Whether the isotropic tensors are generalized deltas joining any number of legs (S(n)), so
    terms are set partitions of the legs (symbolic/partitions.py) instead of pairings."""
    pseudo_refusal: ClassVar[str] = "means nothing under {group}, whose elements all have det 1"
    """Why the 'p' flag is refused for a family without parity (follows "'p' (pseudo) ")."""
    supports_families: ClassVar[bool] = True
    """Whether family inputs (a[n]:1) can be enumerated under this group."""

    @property
    def s(self) -> int:
        """Number of +1 entries of the metric (d except for O(s,t))."""
        return self.d

    @property
    def uses_epsilon(self) -> bool:
        """Whether ε can appear in a basis term (never for Sp(d): it is a polynomial in Omega)."""
        return self.has_parity or self.epsilon_always

    def __str__(self) -> str:
        return f"{self.family}({self.d})"

    def form(self) -> np.ndarray:
        """The invariant bilinear form B (integer entries)."""
        return np.eye(self.d, dtype=np.int64)

    def inverse_form(self) -> np.ndarray:
        """B^{-1} (integer entries), which joins two free output indices."""
        return self.form()

    def form_signs(self) -> np.ndarray:
        """The diagonal of a diagonal form (+1 / -1 entries)."""
        if not self.form_is_diagonal:
            raise TypeError(f"the form of {self} is not diagonal")
        return self.form().diagonal().copy()

    def epsilon_options(self, parity: int) -> tuple[bool, ...]:
        """Whether a term with this total parity (0 or 1) has ε: the templates to enumerate."""
        if self.epsilon_always:
            return (False, True)
        if self.has_parity:
            return (bool(parity),)
        return (False,)

    def independence_is_automatic(self, legs: int) -> bool:
        """Second fundamental theorem: distinct ε-free pairings of this many legs are linearly
        independent (no rank step needed) once d >= legs / 2."""
        return 2 * self.d >= legs

    @property
    def size_symbol(self) -> str | None:
        """The name of a size written as a symbol (S(n)), None for a concrete size."""
        return None

    def component_representatives(self) -> list[np.ndarray]:
        """One integer matrix per connected component, the identity first."""
        return [np.eye(self.d, dtype=np.int64)]

    def random_element(self, rng: np.random.Generator, component: int = 0) -> np.ndarray:
        """A random float64 element in the given connected component."""
        raise NotImplementedError


@dataclass(frozen=True)
class Orthogonal(Group):
    """O(d): x -> g x with g^T g = I; two components (det +-1), so pseudo-tensors exist."""

    family: ClassVar[str] = "O"
    text: ClassVar[str] = "O(d)"
    has_parity: ClassVar[bool] = True

    def component_representatives(self) -> list[np.ndarray]:
        flip = np.eye(self.d, dtype=np.int64)
        flip[0, 0] = -1
        return [np.eye(self.d, dtype=np.int64), flip]

    def random_element(self, rng: np.random.Generator, component: int = 0) -> np.ndarray:
        return haar_orthogonal(self.d, rng, det=1 if component == 0 else -1)


@dataclass(frozen=True)
class SpecialOrthogonal(Group):
    """SO(d): rotations only; ε is an invariant tensor at any parity."""

    family: ClassVar[str] = "SO"
    text: ClassVar[str] = "SO(d)"
    epsilon_always: ClassVar[bool] = True

    def random_element(self, rng: np.random.Generator, component: int = 0) -> np.ndarray:
        return haar_orthogonal(self.d, rng)


@dataclass(frozen=True)
class IndefiniteOrthogonal(Group):
    """O(s,t): g^T η g = η with η = diag(+1 x s, -1 x t), t >= 1; O(1,3) is the Lorentz group.

    Up to four components, reached by flipping the first coordinate of either sign block."""

    plus: int = 1
    """s: the number of +1 entries of η."""

    family: ClassVar[str] = "Ost"
    text: ClassVar[str] = "O(s,t)"
    has_parity: ClassVar[bool] = True
    form_name: ClassVar[str] = "eta"
    inverse_name: ClassVar[str] = "eta"
    form_is_identity: ClassVar[bool] = False
    symbols: ClassVar[tuple[str, str, str, str]] = ("η", r"\eta", "η", r"\eta")

    @property
    def s(self) -> int:
        return self.plus

    def __str__(self) -> str:
        return f"O({self.plus},{self.d - self.plus})"

    def form(self) -> np.ndarray:
        return np.diag([1] * self.plus + [-1] * (self.d - self.plus)).astype(np.int64)

    def component_representatives(self) -> list[np.ndarray]:
        d, s = self.d, self.plus
        eye = np.eye(d, dtype=np.int64)
        flips = [i for i, present in ((0, s > 0), (s, s < d)) if present]
        reps = [eye]
        for subset in (c for r in range(1, len(flips) + 1) for c in itertools.combinations(flips, r)):
            rep = eye.copy()
            rep[list(subset), list(subset)] = -1
            reps.append(rep)
        return reps

    def random_element(self, rng: np.random.Generator, component: int = 0) -> np.ndarray:
        d, s = self.d, self.plus
        g = _block_rotation(s, d - s, rng)
        for _ in range(2 if 0 < s < d else 0):
            g = g @ _boost(d, int(rng.integers(s)), int(rng.integers(s, d)), rng) @ _block_rotation(s, d - s, rng)
        return g @ self.component_representatives()[component]


@dataclass(frozen=True)
class Symplectic(Group):
    """Sp(d), d even: g^T Ω g = Ω with Ω = [[0, I], [-I, 0]]. Connected, det g = 1 always, and
    ε is a polynomial in Ω, so it never appears. Ω is antisymmetric: edges are oriented."""

    family: ClassVar[str] = "Sp"
    text: ClassVar[str] = "Sp(d)"
    form_name: ClassVar[str] = "omega"
    inverse_name: ClassVar[str] = "omega_inverse"
    form_is_identity: ClassVar[bool] = False
    form_antisymmetric: ClassVar[bool] = True
    form_is_diagonal: ClassVar[bool] = False
    symbols: ClassVar[tuple[str, str, str, str]] = ("Ω", r"\Omega", "Ω⁻¹", r"\Omega^{-1}")

    def form(self) -> np.ndarray:
        h = self.d // 2
        omega = np.zeros((self.d, self.d), dtype=np.int64)
        omega[:h, h:] = np.eye(h, dtype=np.int64)
        omega[h:, :h] = -np.eye(h, dtype=np.int64)
        return omega

    def inverse_form(self) -> np.ndarray:
        return -self.form()

    def independence_is_automatic(self, legs: int) -> bool:
        # Omega pairings are independent only once d >= legs (not legs / 2 as for symmetric forms)
        return self.d >= legs

    def random_element(self, rng: np.random.Generator, component: int = 0) -> np.ndarray:
        return _random_symplectic(self.d, rng)


@dataclass(frozen=True)
class Permutation(Group):
    """S(n) acting on R^n by permuting coordinates: (g x)_i = x_{g^-1(i)}, g a permutation matrix.

    The isotropic tensors are the generalized Kronecker deltas (δ_{i1..ik} = 1 when all indices
    are equal), so a term joins any number of legs through one delta: terms are set partitions
    of the legs (partition diagrams, symbolic/partitions.py). d is n. Permutation matrices have
    det +-1, but sign-twisted (pseudo) types are not supported, and ε never appears.

    S(n) written with a symbol (`symbol`, e.g. "n") means every n at once: partition diagrams on
    m legs are independent for every n >= m, so the terms at n = the most legs of a term are the
    terms of every larger n. parse_group gives such a group d = 0; the stages call `at_size`
    with that number of legs once the degree is known (enumeration.at_generic_size)."""

    symbol: str | None = None
    """The size's name when it was written as a symbol (S(n)); d is then the size the terms were
    listed at, and any n >= d has the same terms."""
    family: ClassVar[str] = "S"
    text: ClassVar[str] = "S(n)"
    partition_diagrams: ClassVar[bool] = True
    pseudo_refusal: ClassVar[str] = (
        "is not supported under {group}: sign-twisted types of the permutation group are not "
        "implemented; drop the p flag"
    )
    supports_families: ClassVar[bool] = False

    def __str__(self) -> str:
        return f"S({self.symbol})" if self.symbol else super().__str__()

    @property
    def size_symbol(self) -> str | None:
        return self.symbol

    def at_size(self, n: int) -> "Permutation":
        """The same group listed at size n (the symbol, if any, is kept for display)."""
        return Permutation(n, self.symbol)

    def independence_is_automatic(self, legs: int) -> bool:
        # Partition diagrams on `legs` legs are linearly independent once n >= legs: each is a
        # sum of orbit indicators of the partitions it refines into, unitriangular (Jones 1994).
        return self.d >= legs

    def random_element(self, rng: np.random.Generator, component: int = 0) -> np.ndarray:
        # One "component" in the sense of component_representatives: a uniform random element
        # of the whole finite group. g[sigma(j), j] = 1 sends e_j to e_sigma(j).
        return permutation_matrix(rng.permutation(self.d))


def permutation_matrix(sigma) -> np.ndarray:
    """The float64 matrix g with g[sigma[j], j] = 1, so (g x)[sigma[j]] = x[j]."""
    n = len(sigma)
    g = np.zeros((n, n))
    g[np.asarray(sigma, dtype=np.int64), np.arange(n)] = 1.0
    return g


FAMILIES: tuple[type[Group], ...] = (Orthogonal, SpecialOrthogonal, IndefiniteOrthogonal, Symplectic, Permutation)
"""Every group family parse_group knows."""

_GROUP_RE = re.compile(r"^\s*(SO|Sp|S|O)\s*\(\s*([^)]*?)\s*\)\s*$")
GROUP_PREFIX = re.compile(r"^\s*(SO|Sp|S|O)\s*\([^)]*\)")
"""The group part at the start of a signature's text."""


def parse_group(text: str) -> Group:
    """Parse 'O(3)', 'SO(3)', 'O(1,3)', 'Sp(4)', 'S(5)' or 'S(n)' (every n, see Permutation)."""
    m = _GROUP_RE.match(text)
    valid = ", ".join(f.text for f in FAMILIES)
    if not m:
        raise SignatureError(f"unknown group {text.strip()!r}; valid groups are {valid}")
    name, args = m.group(1), [a.strip() for a in m.group(2).split(",")]
    if name == "S" and len(args) == 1 and re.fullmatch(r"[A-Za-z_]\w*", args[0]):
        return Permutation(0, args[0])
    if not all(re.fullmatch(r"-?\d+", a) for a in args) or len(args) > 2:
        if name == "S" and len(args) == 1:
            raise SignatureError(f"group {text.strip()!r}: the size must be a name or a whole number, e.g. S(n) or S(5)")
        raise SignatureError(f"group {text.strip()!r}: dimensions must be integers, e.g. O(3) or O(1,3)"
                             + ("; only S(n) takes a symbolic size" if name != "S" else ""))
    nums = [int(a) for a in args]
    if len(nums) == 2:
        if name != "O":
            raise SignatureError(f"group {text.strip()!r}: only O takes two numbers (O(s,t))")
        s, t = nums
        if s < 0 or t < 0 or s + t < 1:
            raise SignatureError(f"group {text.strip()!r}: O(s,t) needs s, t >= 0 and s + t >= 1")
        return Orthogonal(s) if t == 0 else IndefiniteOrthogonal(s + t, s)
    d = nums[0]
    if d < 1:
        raise SignatureError(f"group {text.strip()!r}: the dimension must be >= 1")
    if name == "Sp" and d % 2:
        raise SignatureError(f"group {text.strip()!r}: Sp(d) needs an even d, e.g. Sp(4)")
    return {"O": Orthogonal, "SO": SpecialOrthogonal, "Sp": Symplectic, "S": Permutation}[name](d)


def haar_orthogonal(d: int, rng: np.random.Generator, det: int = 1) -> np.ndarray:
    """Haar-random orthogonal d x d matrix with the given determinant.

    QR of a Gaussian matrix is Haar distributed only after fixing the signs of R's diagonal
    (otherwise the distribution depends on the QR routine's sign convention)."""
    if d == 0:
        return np.eye(0)
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) * det < 0:
        q[:, 0] = -q[:, 0]
    return q


def _block_rotation(s: int, t: int, rng: np.random.Generator) -> np.ndarray:
    """block diag(SO(s), SO(t)) element."""
    g = np.zeros((s + t, s + t))
    g[:s, :s] = haar_orthogonal(s, rng)
    g[s:, s:] = haar_orthogonal(t, rng)
    return g


def _boost(d: int, i: int, j: int, rng: np.random.Generator) -> np.ndarray:
    """Boost mixing + coordinate i and - coordinate j with rapidity in [-1.5, 1.5]."""
    phi = rng.uniform(-_MAX_BOOST, _MAX_BOOST)
    g = np.eye(d)
    g[i, i] = g[j, j] = np.cosh(phi)
    g[i, j] = g[j, i] = np.sinh(phi)
    return g


def _random_symplectic(d: int, rng: np.random.Generator) -> np.ndarray:
    """Product of symplectic generators for Omega = [[0, I], [-I, 0]], condition number below 1e3."""
    h = d // 2
    eye, zero = np.eye(h), np.zeros((h, h))
    while True:
        s1, s2 = (0.5 * (m + m.T) for m in 0.5 * rng.standard_normal((2, h, h)))
        a = haar_orthogonal(h, rng) @ np.diag(np.exp(rng.uniform(-0.5, 0.5, h)))
        g = (
            _unitary_symplectic(h, rng)
            @ np.block([[eye, s1], [zero, eye]])
            @ np.block([[a, zero], [zero, np.linalg.inv(a).T]])
            @ np.block([[eye, zero], [s2, eye]])
            @ _unitary_symplectic(h, rng)
        )
        if np.linalg.cond(g) < _SP_MAX_COND:
            return g


def _unitary_symplectic(h: int, rng: np.random.Generator) -> np.ndarray:
    """Orthogonal symplectic [[X, -Y], [Y, X]] from a Haar unitary X + iY."""
    q, r = np.linalg.qr(rng.standard_normal((h, h)) + 1j * rng.standard_normal((h, h)))
    u = q * (np.diag(r) / np.abs(np.diag(r)))
    return np.block([[u.real, -u.imag], [u.imag, u.real]])
