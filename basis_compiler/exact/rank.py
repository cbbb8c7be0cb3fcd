"""Exact linear independence of terms at a concrete d, by evaluation modulo a prime.

Each term is evaluated at the same random points with entries in Z/p (the integer forms
delta, eta, Omega, epsilon reduce mod p), giving one vector per term. Vectors independent mod p
are independent over Q (a rational relation, cleared to coprime integers, survives mod p),
so every kept term is certifiably independent. A term is dropped when its vector lies in the
span of the kept ones; by Schwartz-Zippel, a true function outside the span lands inside with
probability at most (degree / p) per point, and we evaluate at more points than terms.
"""

from __future__ import annotations

import string
from collections.abc import Iterable

import numpy as np
import opt_einsum as oe

from ..errors import UnsupportedError

PRIME = 1048573
"""Largest prime below 2**20: products fit float64 exactly in sums of up to 2**13 terms."""
_CHUNK = 1024  # residues below 2p: 1024 products of (2p)**2, plus x, stay below 2**53


def contract_mod(subscripts: str, arrays: list[np.ndarray], p: int = PRIME) -> np.ndarray:
    """einsum of int64 arrays with entries in [0, p), reduced mod p after every pairwise step."""
    lhs, out = subscripts.split("->")
    terms = lhs.split(",")
    ops = [np.asarray(a, dtype=np.int64) for a in arrays]
    if len(ops) == 1:
        return _einsum_mod(terms[0], ops[0], None, None, out, p)
    path, _ = oe.contract_path(subscripts, *ops, optimize="greedy")
    terms, ops = list(terms), list(ops)
    for i, j in path:
        i, j = sorted((i, j))
        tj, ti = terms.pop(j), terms.pop(i)
        oj, oi = ops.pop(j), ops.pop(i)
        keep = set("".join(terms) + out)
        res = "".join(dict.fromkeys(c for c in ti + tj if c in keep))
        summed = 1
        for c in set(ti + tj) - set(res):
            summed *= (oi.shape[ti.index(c)] if c in ti else oj.shape[tj.index(c)])
        if summed > 2**22:
            raise UnsupportedError("modular contraction sums too many products at once for exact int64")
        terms.append(res)
        ops.append(_einsum_mod(ti, oi, tj, oj, res, p))
    return _einsum_mod(terms[0], ops[0], None, None, out, p)


def _einsum_mod(ti, oi, tj, oj, res, p):
    letters = dict(zip(dict.fromkeys(ti + (tj or "") + res), string.ascii_letters))
    m = lambda s: "".join(letters[c] for c in s)  # noqa: E731
    if oj is None:
        return np.einsum(f"{m(ti)}->{m(res)}", oi) % p
    return np.einsum(f"{m(ti)},{m(tj)}->{m(res)}", oi, oj) % p


def _loose(x: np.ndarray, p: int) -> np.ndarray:
    """x mod p up to one multiple of p (result in (-p, 2p)), in place, for float64 integers below 2**53."""
    q = np.multiply(x, 1.0 / p)
    np.floor(q, out=q)
    q *= p
    x -= q
    return x


def _reduce(x: np.ndarray, p: int) -> np.ndarray:
    """x mod p exactly, in [0, p) (np.mod is several times slower)."""
    r = _loose(np.array(x, dtype=np.float64), p)
    r[r < 0] += p
    r[r >= p] -= p
    return r


def independent_columns(blocks: Iterable[np.ndarray], p: int = PRIME, block: int = 1024) -> list[int]:
    """Greedy maximal independent set of columns mod p (earlier columns preferred).

    `blocks` yields row blocks (evaluations at fresh random points, one column per term). The
    pivot columns of a row echelon form are exactly the greedy choice: they are the leading
    positions of the row space. Stops when a chunk of rows adds no rank (the span is complete
    with high probability), or every column is a pivot.

    Accepted rows are kept in chunks, each in reduced form among itself; a new chunk is reduced
    against the old ones in order (left-looking), so old chunks are never rewritten and all the
    heavy work is matrix products.
    """
    chunks: list[tuple[list[int], np.ndarray]] = []
    n_pivots = 0
    for rows_in in blocks:
        rows_in = _reduce(rows_in, p)
        width = rows_in.shape[1]
        for start in range(0, rows_in.shape[0], block):
            rows = rows_in[start:start + block]
            for piv, chunk in chunks:
                rows = _submul(rows, rows[:, piv], chunk, p)
            chunk = _rref(rows, p)
            if chunk is None:
                return sorted(c for piv, _ in chunks for c in piv)
            chunks.append(chunk)
            n_pivots += len(chunk[0])
            if n_pivots == width:
                return sorted(c for piv, _ in chunks for c in piv)
    return sorted(c for piv, _ in chunks for c in piv)


def independent_rows(matrix: np.ndarray, p: int = PRIME) -> list[int]:
    """Greedy maximal independent set of rows mod p (earlier rows preferred)."""
    return independent_columns([np.asarray(matrix).T], p)


def _submul(x: np.ndarray, a: np.ndarray, b: np.ndarray, p: int) -> np.ndarray:
    """(x - a @ b) mod p, loosely, for float64 residues below 2p; exact by chunking a's columns."""
    x = np.array(x, dtype=np.float64)
    for k in range(0, a.shape[1], _CHUNK):
        x -= a[:, k:k + _CHUNK] @ b[k:k + _CHUNK]
        _loose(x, p)
    return x


def _rref(rows: np.ndarray, p: int):
    """Reduced echelon form of a chunk of rows, by halves so that most work is matrix products."""
    if rows.shape[0] <= 16:
        return _echelon_small(rows, p)
    half = rows.shape[0] // 2
    top = _rref(rows[:half], p)
    bottom = rows[half:]
    if top is not None:
        bottom = _submul(bottom, bottom[:, top[0]], top[1], p)
    low = _rref(bottom, p)
    if top is None or low is None:
        return top if low is None else low
    upper = _submul(top[1], top[1][:, low[0]], low[1], p)
    return top[0] + low[0], np.vstack([upper, low[1]])


def _echelon_small(rows: np.ndarray, p: int):
    """Reduced echelon form of a few rows: (pivot columns, rows with identity at the pivots)."""
    new = np.zeros(rows.shape)
    pivots: list[int] = []
    for row in rows:
        k = len(pivots)
        if k:
            # the accepted rows are reduced among themselves, so all coefficients read at once
            row = row - row[pivots] @ new[:k]
        row = _reduce(row, p)
        nz = np.flatnonzero(row)
        if nz.size == 0:
            continue
        c = int(nz[0])
        row = _reduce(row * pow(int(row[c]), p - 2, p), p)
        if k:
            new[:k] = _loose(new[:k] - np.outer(new[:k, c], row), p)
        new[k] = row
        pivots.append(c)
    return (pivots, new[: len(pivots)]) if pivots else None
