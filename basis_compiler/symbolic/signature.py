"""Tensor signatures: parse and print `GROUP: NAME:TYPE, ... -> TYPE` (round-trips)."""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, replace

from ..errors import SignatureError
from .groups import GROUP_PREFIX, Group, parse_group

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_TYPE_RE = re.compile(r"^(\d+)([sap]*)$")
_INPUT_RE = re.compile(rf"^({_NAME})(?:\[\s*([^\]]*?)\s*\]|\{{\s*([^}}]*?)\s*\}})?\s*:\s*(\S+)$")


@dataclass(frozen=True)
class TensorType:
    """Order, index symmetry and parity of a tensor."""

    order: int
    """Number of indices."""
    symmetry: str = "none"
    """'none', 'sym' (fully symmetric) or 'anti' (fully antisymmetric)."""
    pseudo: bool = False
    """Odd parity: picks up det(g) under the group action."""

    def __str__(self) -> str:
        flag = {"none": "", "sym": "s", "anti": "a"}[self.symmetry]
        return f"{self.order}{flag}{'p' if self.pseudo else ''}"


@dataclass(frozen=True)
class InputSpec:
    """One named input of a signature; a family when `family` is set."""

    name: str
    """Identifier used in generated code and formulas."""
    type: TensorType
    """Type of each tensor (of each member, for a family)."""
    family: int | str | None = None
    """None for a single tensor; an int or a symbol name for a stack of that many tensors."""
    exchangeable: bool = False
    """A set family, written a{n}:1: the members are interchangeable, so the symmetry group is
    G x S(n) and a term sums over members (docs/math.md, "Set families"). False for a[n]:1,
    whose terms are indexed by index tuples J."""

    def __str__(self) -> str:
        fam = "" if self.family is None else f"{{{self.family}}}" if self.exchangeable else f"[{self.family}]"
        return f"{self.name}{fam}:{self.type}"

    @property
    def is_family(self) -> bool:
        """True for a stack of tensors of one type (a[n]:1 or a set family a{n}:1)."""
        return self.family is not None

    @property
    def is_set_family(self) -> bool:
        """True for a set family a{n}:1 (members exchangeable; terms sum over members, no index
        tuples J). Stages built on index tuples (code generation) must check this and refuse."""
        return self.family is not None and self.exchangeable


@dataclass(frozen=True)
class Signature:
    """A group, named inputs and an output type: the domain of one compilation."""

    group: Group
    """The symmetry group."""
    inputs: tuple[InputSpec, ...]
    """Inputs in signature order (multidegrees follow this order)."""
    output: TensorType
    """Type of the output tensor."""

    def __str__(self) -> str:
        ins = ", ".join(str(i) for i in self.inputs)
        return f"{self.group}: {ins} -> {self.output}" if ins else f"{self.group}: -> {self.output}"

    @property
    def d(self) -> int:
        """Dimension of the underlying space."""
        return self.group.d

    def input(self, name: str) -> InputSpec:
        """The input called `name`."""
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise SignatureError(f"no input named {name!r} in {self}")

    def with_family_sizes(self, **sizes: int) -> "Signature":
        """The same signature with concrete sizes for the named symbolic families."""
        new = []
        for spec in self.inputs:
            if spec.name in sizes:
                if not spec.is_family:
                    raise SignatureError(f"input {spec.name!r} is not a family; families read like a[n]:1")
                new.append(replace(spec, family=_family_size(str(sizes[spec.name]), spec.name, spec.exchangeable)))
            else:
                new.append(spec)
        return Signature(self.group, tuple(new), self.output)

    @property
    def is_concrete(self) -> bool:
        """True when every family has an integer size."""
        return all(not isinstance(s.family, str) for s in self.inputs)

    @classmethod
    def parse(cls, text: "str | Signature") -> "Signature":
        """Parse the text form, e.g. 'O(3): v:1, X:2s -> 2s'."""
        if isinstance(text, Signature):
            return text
        if not isinstance(text, str):
            raise SignatureError(f"a signature must be a str or Signature, not {type(text).__name__}")
        head, colon, rest = text.partition(":")
        group_prefix = GROUP_PREFIX.match(text)
        if not colon or (group_prefix and head.strip() != group_prefix.group(0).strip()):
            raise SignatureError(f"missing ':' after the group in {text!r}")
        group = parse_group(head)
        lhs, arrow, out_text = rest.partition("->")
        if not arrow:
            raise SignatureError(f"missing '->' before the output type in {text!r}")
        output = _parse_type(out_text.strip(), group, "output")
        inputs: list[InputSpec] = []
        if lhs.strip():
            for token in lhs.split(","):
                inputs.append(_parse_input(token.strip(), group))
        names = [i.name for i in inputs]
        for name in names:
            if names.count(name) > 1:
                raise SignatureError(f"duplicate input name {name!r}")
        return cls(group, tuple(inputs), output)


def _parse_type(token: str, group: Group, where: str) -> TensorType:
    m = _TYPE_RE.match(token)
    if not m:
        raise SignatureError(f"bad type {token!r} for {where}: expected an order then flags s/a/p, like 2s or 1p")
    order, flags = int(m.group(1)), m.group(2)
    for f in flags:
        if flags.count(f) > 1:
            raise SignatureError(f"type {token!r} for {where}: flag {f!r} repeated")
    if "s" in flags and "a" in flags:
        raise SignatureError(f"type {token!r} for {where}: a tensor cannot be both symmetric (s) and antisymmetric (a)")
    if ("s" in flags or "a" in flags) and order < 2:
        raise SignatureError(f"type {token!r} for {where}: symmetry flags need order >= 2, e.g. 2s")
    if "p" in flags and not group.has_parity:
        raise SignatureError(
            f"type {token!r} for {where}: 'p' (pseudo) {group.pseudo_refusal.format(group=group)}"
        )
    symmetry = "sym" if "s" in flags else "anti" if "a" in flags else "none"
    if flags.replace("p", "") not in ("", "s", "a") or (flags and flags[-1] != "p" and "p" in flags):
        raise SignatureError(f"type {token!r} for {where}: write the symmetry flag before p, e.g. 2sp")
    return TensorType(order, symmetry, "p" in flags)


def _family_size(text: str, name: str, exchangeable: bool = False) -> int | str:
    written = f"{name}{{{text}}}" if exchangeable else f"{name}[{text}]"
    if re.fullmatch(r"\d+", text):
        n = int(text)
        if n < 1:
            raise SignatureError(f"family {written}: the size must be >= 1")
        return n
    if re.fullmatch(_NAME, text):
        return text
    example = "a{n}:1 or a{5}:1" if exchangeable else "a[n]:1 or a[100]:1"
    raise SignatureError(f"family {written}: the size must be an int or a symbol, e.g. {example}")


def _parse_input(token: str, group: Group) -> InputSpec:
    m = _INPUT_RE.match(token)
    if not m:
        raise SignatureError(
            f"bad input {token!r}: expected NAME:TYPE, NAME[n]:TYPE or NAME{{n}}:TYPE, e.g. v:1, a[n]:1 or a{{n}}:1"
        )
    name, indexed, exchangeable, type_text = m.groups()
    fam = indexed if exchangeable is None else exchangeable
    if keyword.iskeyword(name):
        raise SignatureError(f"input name {name!r} is a Python keyword; pick another, e.g. v")
    family = None if fam is None else _family_size(fam, name, exchangeable is not None)
    if family is not None and not group.supports_families:
        raise SignatureError(
            f"input {token!r}: family inputs (NAME[n]:TYPE, NAME{{n}}:TYPE) are not supported under {group} yet; "
            f"list the tensors as separate inputs, e.g. \"{group}: a:1, b:1 -> 2\""
        )
    return InputSpec(name, _parse_type(type_text, group, f"input {name!r}"), family, exchangeable is not None)
