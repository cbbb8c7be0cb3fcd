"""Every identifier a generated module introduces comes from one Namespace, so none can collide
with a user input, a Python keyword or builtin, ``torch``, ``self``, or a runtime helper.

The approach of torch.fx (``torch/fx/graph.py``, ``_Namespace.create_name``): a set of illegal
names plus the names already handed out; a wanted name that is taken gets a numeric suffix.
User inputs are the API (keyword arguments of forward): they keep their names and are
reserved first; everything else is fresh.
"""

from __future__ import annotations

import builtins
import keyword
import re

from ..errors import SignatureError

RESERVED = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins)) | {"torch", "self"}
"""Names never handed out to a generated identifier."""


NOT_KEYWORD_ARGUMENTS = {"self": "torch.nn.Module.__call__(self, *args, **kwargs) takes it as the module itself"}
"""Input names a module call cannot pass as keyword arguments, and why."""


def check_input_names(signature) -> None:
    """Refuse an input name that cannot be a keyword argument of the module call."""
    for spec in signature.inputs:
        if spec.name in NOT_KEYWORD_ARGUMENTS:
            raise SignatureError(f"input name {spec.name!r} cannot be a keyword argument of a generated module: "
                                 f"{NOT_KEYWORD_ARGUMENTS[spec.name]}; pick another, e.g. v")


class Namespace:
    """Hands out unique identifiers; `reserve` claims the user's names first."""

    def __init__(self, reserved=()):
        self._taken: set[str] = set(RESERVED)
        self._counters: dict[str, int] = {}
        for name in reserved:
            self.reserve(name)

    def reserve(self, name: str) -> str:
        """Claim a name exactly (a user input, an API name): never handed out by `create`."""
        self._taken.add(name)
        return name

    def create(self, wanted: str, numbered: bool = False) -> str:
        """A fresh identifier: `wanted` itself when free (numbered: wanted1, wanted2, ...),
        otherwise `wanted_1`, `wanted_2`, ... (numbered: the next free number)."""
        base = re.sub(r"\W", "_", wanted) or "_"
        if base[0].isdigit():
            base = "_" + base
        if numbered:
            while True:
                k = self._counters[base] = self._counters.get(base, 0) + 1
                if f"{base}{k}" not in self._taken:
                    return self._claim(f"{base}{k}")
        if base not in self._taken:
            return self._claim(base)
        k = 1
        while f"{base}_{k}" in self._taken:
            k += 1
        return self._claim(f"{base}_{k}")

    def _claim(self, name: str) -> str:
        self._taken.add(name)
        return name

    def __contains__(self, name: str) -> bool:
        return name in self._taken
