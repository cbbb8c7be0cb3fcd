"""Memory layouts of a term's pairwise contraction steps, chosen at generation time so that each
step is one torch.matmul on views of its operands.

Why: torch.einsum picks the memory layout of every intermediate by its own fixed rule, so the
next step often finds its contracted axes apart and copies the intermediate into a new layout
first. For the channel-mixing layers (W[o, i, j] X_i X_j) that intermediate is B x 9 x C^2
numbers and the copy, not the arithmetic, dominated the forward. Here each step is written as
matmul over the groups L (axes both operands keep: batched), M (axes only the first keeps: rows),
K (contracted) and N (axes only the second keeps: columns), and its result is laid out
(..., L, M, N). A search over the orders inside each group, which operand comes first, and
whether one kept axis is "promoted" into L (the operand without it is broadcast along it, i.e.
the smaller one is copied instead of the larger) picks, per term, the layouts for which the
estimated elements copied (operands that are not views of the needed shape, broadcast weights,
the final permute into output order) are fewest. The arithmetic is the same in every choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import permutations

from .planning import PLAN_BATCH

MAX_GROUP_ORDERS = 4
"""Groups longer than this keep the operand's own order (the search stays small)."""


@dataclass(frozen=True)
class Arrange:
    """Views that bring one operand into matmul form (..., [L], rows, cols)."""

    ops: tuple[tuple, ...]
    """('unsqueeze', dim), ('movedim', src, dst), ('flatten', start, end): applied in order."""


@dataclass(frozen=True)
class StepLayout:
    """One pairwise step as torch.matmul: which operand goes first and the axis groups."""

    first: int
    """Index (0 or 1, in the step's operand pair) of the operand that is matmul's left side."""
    L: str
    M: str
    K: str
    N: str

    @property
    def result(self) -> str:
        """Letters of the result in memory order."""
        return self.L + self.M + self.N


def _numel(letters: str, batch: bool, sizes: dict) -> int:
    return math.prod(sizes[c] for c in letters) * (PLAN_BATCH if batch else 1)


def _orders(group: frozenset | set, own: str) -> list[str]:
    """Candidate orders of one group: the operand's own order first, then the others."""
    base = "".join(c for c in own if c in group)
    base += "".join(sorted(c for c in group if c not in base))
    if len(base) > MAX_GROUP_ORDERS:
        return [base]
    rest = sorted({"".join(p) for p in permutations(base)} - {base})
    return [base] + rest


def _copy_cost(phys: str, batch: bool, other_batch: bool, L: str, rows: str, cols: str, first: bool,
               sizes: dict) -> int:
    """Elements copied to bring an operand (memory order `phys`) into matmul form."""
    n = _numel(phys, batch, sizes)
    missing = [c for c in L if c not in phys]
    expand = math.prod(sizes[c] for c in missing)
    if L and not batch and other_batch:
        return n * expand * PLAN_BATCH  # a weight broadcast along the batch: matmul copies it
    if missing:
        return n * expand
    fold = not L and batch and not other_batch
    if fold:  # matmul folds the batch into the rows: (batch * rows, cols) must be a view
        return 0 if (first and phys == rows + cols) or (not first and phys in (rows + cols, cols + rows)) else n
    if not batch and not other_batch:
        return 0 if phys in (L + rows + cols, L + cols + rows) else n
    if not batch and not L:  # a plain matrix against a batched operand
        return 0 if phys in (rows + cols, cols + rows) else n
    return 0 if phys in (L + rows + cols, L + cols + rows) else n


def candidates(a: tuple[str, bool], b: tuple[str, bool], res: set, sizes: dict):
    """(layout, copy cost) of each way to write the step a x b -> res as one matmul; [] when the
    step sums an axis only one operand carries (then it stays an einsum)."""
    (pa, ba), (pb, bb) = a, b
    sa, sb = set(pa), set(pb)
    if (sa - sb - res) or (sb - sa - res) or not (ba or bb):
        return []
    out = []
    firsts = (0, 1) if ba == bb else ((0,) if ba else (1,))
    for first in firsts:
        (p1, b1), (p2, b2) = (a, b) if first == 0 else (b, a)
        s1, s2 = set(p1), set(p2)
        L0, K = s1 & s2 & res, (s1 & s2) - res
        M0, N0 = (s1 - s2) & res, (s2 - s1) & res
        promos = [None] + sorted(M0 | N0) if (b1 and b2) else [None]
        for p in promos:
            L, M, N = set(L0) | ({p} if p else set()), M0 - {p}, N0 - {p}
            for lo in _orders(L, p2 if p in M0 else p1):
                for mo in _orders(M, p1):
                    for ko in _orders(K, p1):
                        for no in _orders(N, p2):
                            cost = (_copy_cost(p1, b1, b2, lo, mo, ko, True, sizes)
                                    + _copy_cost(p2, b2, b1, lo, ko, no, False, sizes))
                            out.append((StepLayout(first, lo, mo, ko, no), cost))
    return out


def choose(ops: list[tuple[str, bool]], path, reslist: list[set], final: str, sizes: dict):
    """The cheapest layouts for every step of a path (ops: (letters, batch) of the operands), as
    a list of StepLayout, or None when some step cannot be one matmul. Exhaustive over the
    candidates, memoized on the operands' layouts; ties go to the first candidate (no
    promotion, operands' own orders)."""

    @lru_cache(maxsize=None)
    def best(k: int, state: tuple) -> tuple[int, tuple] | None:
        if k == len(path):
            (letters, batch), = state
            return (0 if letters == final else _numel(letters, batch, sizes)), ()
        step = path[k]
        a, b = (state[i] for i in step)
        rest = tuple(o for i, o in enumerate(state) if i not in step)
        found = None
        for layout, cost in candidates(a, b, reslist[k], sizes):
            nxt = best(k + 1, rest + ((layout.result, a[1] or b[1]),))
            if nxt is None:
                return None
            total = cost + nxt[0]
            if found is None or total < found[0]:
                found = (total, (layout,) + nxt[1])
        return found

    if any(len(step) != 2 for step in path):
        return None
    got = best(0, tuple(ops))
    best.cache_clear()
    return None if got is None else list(got[1])


def arrange(phys: str, L: str, rows: str, cols: str) -> Arrange:
    """Views turning an operand with memory order `phys` into (..., [L], rows, cols); letters of L
    it lacks become size-1 axes (matmul broadcasts them), an empty rows or cols group one too."""
    ops = []
    cur = list(phys)
    for c in L:
        if c not in cur:
            ops.append(("unsqueeze", -1))
            cur.append(c)
    groups = [list(L), list(rows) or ["#r"], list(cols) or ["#c"]]
    for g in groups[1:]:
        if g[0].startswith("#"):
            ops.append(("unsqueeze", -1))
            cur.append(g[0])
    target = [c for g in groups for c in g]
    if cur != target:
        k = len(cur)
        src = tuple(cur.index(c) - k for c in target)
        moved = [(s, d) for s, d in zip(src, range(-k, 0)) if s != d]
        ops.append(("movedim", tuple(s for s, _ in moved), tuple(d for _, d in moved)))
    end = len(target)
    for g in groups:
        start = -end
        if len(g) > 1:
            ops.append(("flatten", start, start + len(g) - 1))
        end -= len(g)
    return Arrange(tuple(ops))


def unarrange(L: str, M: str, N: str, sizes: dict) -> tuple[tuple, ...]:
    """Views turning matmul's (..., [L], rows, cols) back into (..., *L, *M, *N). The output
    channel axis 'o' is sized at construction (out_channels), so it is split off as -1."""
    ops, after = [], 0
    for k, g in enumerate((N, M, L)):
        dim = -1 - after
        if not g and k < 2:
            ops.append(("squeeze", dim))
            continue
        if len(g) > 1:
            ops.append(("unflatten", dim, tuple(-1 if c == "o" else sizes[c] for c in g)))
        after += len(g)
    return tuple(ops)
