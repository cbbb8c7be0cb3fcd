"""The four group families: their invariant forms and the text that names them.

Every tensor carries upper indices (x -> g x). Two tensor indices are contracted through
`form` (g^T B g = B); two free output indices are joined by `inverse_form`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import SignatureError

FAMILIES = ("O(d)", "SO(d)", "O(s,t)", "Sp(d)")


@dataclass(frozen=True)
class Group:
    """A matrix group acting on R^d."""

    family: str
    """One of 'O', 'SO', 'Ost' (indefinite orthogonal), 'Sp'."""
    d: int
    """Dimension of the space the group acts on."""
    s: int = 0
    """Number of +1 entries of the metric (O(s,t) only; otherwise d)."""

    def __str__(self) -> str:
        if self.family == "Ost":
            return f"O({self.s},{self.d - self.s})"
        return f"{self.family}({self.d})"

    @property
    def has_parity(self) -> bool:
        """Whether det(g) can be -1, so that pseudo-tensors differ from tensors."""
        return self.family in ("O", "Ost")

    @property
    def epsilon_always(self) -> bool:
        """SO(d): the Levi-Civita symbol is an invariant, usable at any parity."""
        return self.family == "SO"

    @property
    def uses_epsilon(self) -> bool:
        """Sp(d) never needs epsilon: it is a polynomial in Omega."""
        return self.family != "Sp"

    @property
    def form_name(self) -> str:
        """Name of the contraction form: 'delta', 'eta' or 'omega'."""
        return {"O": "delta", "SO": "delta", "Ost": "eta", "Sp": "omega"}[self.family]

    @property
    def form_antisymmetric(self) -> bool:
        """Omega edges are oriented: reversing one flips the sign."""
        return self.family == "Sp"

    def form(self) -> np.ndarray:
        """The invariant bilinear form B (integer entries)."""
        d = self.d
        if self.family in ("O", "SO"):
            return np.eye(d, dtype=np.int64)
        if self.family == "Ost":
            return np.diag([1] * self.s + [-1] * (d - self.s)).astype(np.int64)
        h = d // 2
        omega = np.zeros((d, d), dtype=np.int64)
        omega[:h, h:] = np.eye(h, dtype=np.int64)
        omega[h:, :h] = -np.eye(h, dtype=np.int64)
        return omega

    def inverse_form(self) -> np.ndarray:
        """B^{-1}, which joins two free output indices (eta^-1 = eta, Omega^-1 = -Omega)."""
        return -self.form() if self.family == "Sp" else self.form()


_GROUP_RE = re.compile(r"^\s*(SO|Sp|O)\s*\(\s*([^)]*?)\s*\)\s*$")


def parse_group(text: str) -> Group:
    """Parse 'O(3)', 'SO(3)', 'O(1,3)' or 'Sp(4)'."""
    m = _GROUP_RE.match(text)
    if not m:
        raise SignatureError(f"unknown group {text.strip()!r}; valid groups are {', '.join(FAMILIES)}")
    family, args = m.group(1), [a.strip() for a in m.group(2).split(",")]
    if not all(re.fullmatch(r"-?\d+", a) for a in args) or len(args) > 2:
        raise SignatureError(f"group {text.strip()!r}: dimensions must be integers, e.g. O(3) or O(1,3)")
    nums = [int(a) for a in args]
    if len(nums) == 2:
        if family != "O":
            raise SignatureError(f"group {text.strip()!r}: only O takes two numbers (O(s,t))")
        s, t = nums
        if s < 0 or t < 0 or s + t < 1:
            raise SignatureError(f"group {text.strip()!r}: O(s,t) needs s, t >= 0 and s + t >= 1")
        if t == 0:
            return Group("O", s, s)
        return Group("Ost", s + t, s)
    d = nums[0]
    if d < 1:
        raise SignatureError(f"group {text.strip()!r}: the dimension must be >= 1")
    if family == "Sp" and d % 2:
        raise SignatureError(f"group {text.strip()!r}: Sp(d) needs an even d, e.g. Sp(4)")
    return Group(family, d, d)
