"""Independent reference for the dimension of spaces of equivariant polynomial maps.

This module deliberately shares NO code with the package ``basis_compiler`` (it does not
import it) and does not enumerate contraction diagrams. It computes

    dim { f : T1 x ... x Tn -> T'  polynomial, homogeneous of multidegree (a1..an),
          f(g.x1, ..., g.xn) = g.f(x1, ..., xn) for all g in G }

by exact linear algebra on coefficient arrays: f is an element of the coefficient space
    C = W (x) Sym^{a1}(V1^*) (x) ... (x) Sym^{an}(Vn^*)
(W = output space, Vi = input spaces), with basis "output basis vector (x) monomial in
the input coordinates", and the equivariant maps are the G-invariant vectors of C.

Conventions (all indices upper):
    (g.x)[a1..ak] = det(g)^p g[a1,b1] ... g[ak,bk] x[b1..bk]
A type is ``(order, symmetry, pseudo)`` with symmetry in {'none', 'sym', 'anti'} (fully
(anti)symmetric in all indices) and pseudo a bool (extra det(g) factor).

Groups: 'O' (O(d)), 'SO' (SO(d)), 'Ost' (O(s, d-s), metric diag(+1 x s, -1 x (d-s))),
'Sp' (Sp(d), d even, form Omega = [[0, I], [-I, 0]]).

Two methods are implemented, and the tests cross-check them against each other:

``method='direct'`` -- the literal definition, in the given basis with the given form.
    Columns: every basis element of C. Rows: for every element A of a basis of the Lie
    algebra g = {A : A^T B + B A = 0} the derivative constraint
        rho_W(A) f(x) - sum_i Df(x)[rho_i(A) x_i] = 0,
    and for a representative h of every non-identity connected component the finite
    constraint f(h.x) - h.f(x) = 0 (O(d): diag(-1,1,..,1); O(s,t): flips of the first +
    and of the first - coordinate; SO and Sp are connected). Dimension = nullity.
    Exact but slow on big spaces (no reduction of any kind).

``method='weight'`` (default) -- the same invariant space, computed faster over C:
    * The invariants of a real group G here are the invariants of its Zariski closure in
      GL(d, C): O(d, C) for 'O' and for 'Ost' (O(s,t) and O(d) complexify to the same
      group, so 'Ost' dimensions equal 'O' dimensions; the 'direct' method checks this
      with the actual metric eta in the tests), SO(d, C), Sp(d, C). Conjugating by a
      complex change of basis of V does not change dimensions, so we use the split form:
      basis e_1..e_m, f_1..f_m (, e_0 when d = 2m+1) with B(e_i, f_i) = 1 (B(e_0,e_0) = 1);
      for Sp this is exactly the given Omega basis.
    * The diagonal torus diag(t_1..t_m, 1/t_1..1/t_m (, 1)) lies in the group, so
      invariants lie in the zero-weight subspace C_0 of C.
    * A zero-weight vector killed by the positive simple root vectors E_alpha of the
      (semisimple, or for so(2) abelian = torus) Lie algebra is a highest-weight vector of
      weight 0, hence spans a trivial submodule: Lie-invariants in C_0 = common kernel of
      the E_alpha restricted to C_0.
    * Signed-permutation elements of the group (Weyl group representatives, and for 'O'
      a det = -1 element, which together with the identity component generates O(d, C))
      act on the basis of C_0 by signed permutations; invariant vectors are combinations
      of signed orbit sums. Columns = orbit sums, rows = images under the E_alpha.
    Dimension = (#orbit sums) - rank.

Ranks: all constraint matrices have small integer entries. A tall matrix M is first
replaced by its exact integer Gram matrix M^T M (same rank over Q, M being real); the rank
of that is computed exactly modulo the prime p = 2**31 - 1 by blocked elimination (float64
BLAS products split into limbs so that every sum stays below 2**53, i.e. is exact). Rank
mod p <= rank over Q, so a result could only ever be too LARGE, and only if p divides
every r x r minor (r = true rank) of the matrix eliminated; ``prime=`` (any prime below
2**31) lets a caller re-check with another prime. No floating-point tolerance anywhere.

Cost: dominated by the dense elimination, cubic in the number of orbit-sum columns (see
``stats=``): ~0.2 s for O(3) order-8 isotropic tensors (554 columns), ~0.5 s for O(4)
order 8 (630), ~6 s for O(5) order 8 (2619), ~20 s for O(3) order 10 (4477).
"""

from __future__ import annotations

import itertools
from bisect import insort
from collections import deque

import numpy as np

__all__ = ["equivariant_dimension", "isotropic_dimension", "DEFAULT_PRIME"]

DEFAULT_PRIME = 2147483647  # 2**31 - 1; products of two residues fit in int64

_GROUPS = ("O", "SO", "Ost", "Sp")
_SYMS = ("none", "sym", "anti")


# ----------------------------------------------------------------------------------
# Tensor index bookkeeping
# ----------------------------------------------------------------------------------

def _canon(idx, sym):
    """(sign, canonical index tuple) of a component of a tensor of the given symmetry.

    For 'sym' and 'anti' tensors the independent components are the sorted index tuples;
    an arbitrary component equals sign * that component. For 'anti' with a repeated index
    the component is identically 0: returns (0, None).
    """
    if sym == "none":
        return 1, tuple(idx)
    lst = list(idx)
    if sym == "sym":
        lst.sort()
        return 1, tuple(lst)
    sign = 1
    for i in range(1, len(lst)):  # insertion sort, counting transpositions
        j = i
        while j > 0 and lst[j - 1] > lst[j]:
            lst[j - 1], lst[j] = lst[j], lst[j - 1]
            sign = -sign
            j -= 1
    for i in range(1, len(lst)):
        if lst[i] == lst[i - 1]:
            return 0, None
    return sign, tuple(lst)


def _index_tuples(d, k, sym):
    if sym == "none":
        return list(itertools.product(range(d), repeat=k))
    if sym == "sym":
        return list(itertools.combinations_with_replacement(range(d), k))
    return list(itertools.combinations(range(d), k))


class _Space:
    """A space of tensors of one type, with a basis indexed by canonical index tuples.

    The same index set serves two roles:
    * as a basis of the OUTPUT space W: w_J = e_J in V^{(x)k}, resp. the symmetric-algebra
      monomial e_{j1}...e_{jk} in Sym^k V, resp. e_{j1} ^ ... ^ e_{jk} in Lambda^k V
      (isomorphic G-modules to the (anti)symmetric tensors);
    * as the coordinate functions x[I] on an INPUT space.
    """

    def __init__(self, d, order, sym, pseudo):
        if sym not in _SYMS:
            raise ValueError(f"unknown symmetry {sym!r}")
        if order < 0:
            raise ValueError("negative order")
        self.d, self.k, self.sym, self.pseudo = d, order, sym, bool(pseudo)
        self.basis = _index_tuples(d, order, sym)
        self.pos = {t: i for i, t in enumerate(self.basis)}

    def __len__(self):
        return len(self.basis)

    def _collect(self, acc):
        return [(c, self.pos[t]) for t, c in acc.items() if c != 0]

    def lie_on_vectors(self, A):
        """Derivation action of a Lie algebra element A (sparse dict (a,b)->val meaning
        A e_b = sum_a A[a,b] e_a) on the basis w_J. Returns a lazy table:
        table[J index] = [(coef, J2 index)]."""
        by_col = {}
        for (a, b), v in A.items():
            by_col.setdefault(b, []).append((a, v))

        def one(j):
            J = self.basis[j]
            acc = {}
            for l, b in enumerate(J):
                for a, v in by_col.get(b, ()):
                    s, t = _canon(J[:l] + (a,) + J[l + 1:], self.sym)
                    if s:
                        acc[t] = acc.get(t, 0) + s * v
            return self._collect(acc)

        return _LazyTable(one)

    def lie_on_coords(self, A):
        """Action of A on the coordinate functions x[I] (the dual action):
        (A.x[I])(x) = -(A x)[I] = -sum_l sum_b A[I_l, b] x[I with I_l -> b].
        Lazy table: table[I index] = [(coef, I2 index)]."""
        by_row = {}
        for (a, b), v in A.items():
            by_row.setdefault(a, []).append((b, v))

        def one(i):
            I = self.basis[i]
            acc = {}
            for l, a in enumerate(I):
                for b, v in by_row.get(a, ()):
                    s, t = _canon(I[:l] + (b,) + I[l + 1:], self.sym)
                    if s:
                        acc[t] = acc.get(t, 0) - s * v
            return self._collect(acc)

        return _LazyTable(one)

    def signed_perm(self, perm, signs, det):
        """Action of a signed permutation matrix g (g e_b = signs[b] e_{perm[b]}) with
        determinant det. Since g^{-T} = g, the coordinate functions x[I] -> x[I] o g^{-1}
        transform exactly like the basis vectors e_I, so one table serves both roles.
        Lazy table: table[J index] = (sign, J2 index); the det^pseudo factor is included."""
        base = det if self.pseudo else 1

        def one(j):
            J = self.basis[j]
            s = base
            for b in J:
                s *= signs[b]
            cs, t = _canon(tuple(perm[b] for b in J), self.sym)
            assert cs != 0
            return s * cs, self.pos[t]

        return _LazyTable(one)


class _LazyTable(dict):
    """dict computing (and caching) missing entries with a function."""

    def __init__(self, fn):
        super().__init__()
        self._fn = fn

    def __missing__(self, key):
        val = self[key] = self._fn(key)
        return val


# ----------------------------------------------------------------------------------
# The coefficient space C = W (x) Sym^{a1}(V1^*) (x) ... and actions on it
# ----------------------------------------------------------------------------------
#
# A basis element is a tuple (j, M1, ..., Mn): j = index of an output basis vector,
# Mr = sorted tuple (multiset, size ar) of coordinate indices of input r (a monomial).

def _apply_lie(b, out_tab, in_tabs):
    """A.b for the derivation action; returns dict basis element -> coefficient."""
    res = {}
    j = b[0]
    tail = b[1:]
    for c, j2 in out_tab[j]:
        key = (j2,) + tail
        res[key] = res.get(key, 0) + c
    for r, tab in enumerate(in_tabs):
        M = b[r + 1]
        for p, u in enumerate(M):
            entries = tab[u]
            if not entries:
                continue
            rest = M[:p] + M[p + 1:]
            for c, u2 in entries:
                lst = list(rest)
                insort(lst, u2)
                key = b[: r + 1] + (tuple(lst),) + b[r + 2:]
                res[key] = res.get(key, 0) + c
    return res


def _apply_signed_perm(b, out_tab, in_tabs):
    """g.b for a signed permutation g; returns (sign, basis element)."""
    s, j2 = out_tab[b[0]]
    parts = [j2]
    for r, tab in enumerate(in_tabs):
        lst = []
        for u in b[r + 1]:
            su, u2 = tab[u]
            s *= su
            lst.append(u2)
        lst.sort()
        parts.append(tuple(lst))
    return s, tuple(parts)


def _multisets(n_coords, a):
    return itertools.combinations_with_replacement(range(n_coords), a)


# ----------------------------------------------------------------------------------
# Exact rank modulo a prime
# ----------------------------------------------------------------------------------

def _matmul_mod(X, Y, p):
    """X @ Y mod p, exactly, for int64 arrays with entries in [0, p), p < 2**31, and inner
    dimension <= _BLOCK = 64. X is split into a 16-bit and a 15-bit limb; each float64
    BLAS product sum is then an integer < 64 * 2**16 * 2**31 = 2**53, hence exact."""
    assert X.shape[1] <= _BLOCK
    Yf = Y.astype(np.float64)
    lo = ((X & 0xFFFF).astype(np.float64) @ Yf).astype(np.int64) % p
    hi = ((X >> 16).astype(np.float64) @ Yf).astype(np.int64) % p
    return (lo + (hi << 16)) % p


def _inv_mod(P, p):
    """Inverse of a square int64 matrix mod p (Gauss-Jordan); P must be invertible."""
    k = P.shape[0]
    A = np.concatenate([P % p, np.eye(k, dtype=np.int64)], axis=1)
    for c in range(k):
        r = c + int(np.flatnonzero(A[c:, c])[0])
        if r != c:
            A[[c, r]] = A[[r, c]]
        A[c] = (A[c] * pow(int(A[c, c]), p - 2, p)) % p
        f = A[:, c].copy()
        f[c] = 0
        A = (A - f[:, None] * A[c][None, :]) % p
    return A[:, k:]


_BLOCK = 64


def _panel_pivots(panel, p):
    """Gaussian elimination mod p on an (n x b) panel. Returns (pivot rows, pivot cols):
    the pivot columns are a basis of the panel's column space and the pivot-row x
    pivot-column submatrix is invertible."""
    W = panel.copy()
    n, b = W.shape
    free = np.ones(n, dtype=bool)
    prows, pcols = [], []
    for c in range(b):
        cand = np.flatnonzero(free & (W[:, c] != 0))
        if cand.size == 0:
            continue
        r = int(cand[0])
        free[r] = False
        prows.append(r)
        pcols.append(c)
        others = cand[1:]
        if others.size and c + 1 < b:
            inv = pow(int(W[r, c]), p - 2, p)
            f = (W[others, c] * inv) % p
            W[others, c + 1:] = (W[others, c + 1:] - f[:, None] * W[r, c + 1:][None, :]) % p
        W[others, c] = 0
    return prows, pcols


def _rank_dense_mod_p(A, p):
    """Rank mod p of an int64 matrix with entries in [0, p), by blocked elimination:
    rank [[P, Q], [R, T]] = rank P + rank(T - R P^-1 Q) for invertible P."""
    rank = 0
    while A.shape[0] and A.shape[1]:
        b = min(_BLOCK, A.shape[1])
        prows, pcols = _panel_pivots(A[:, :b], p)
        k = len(prows)
        rank += k
        rest = np.ones(A.shape[0], dtype=bool)
        rest[prows] = False
        if k == 0:
            A = A[:, b:]
            continue
        if not rest.any() or A.shape[1] == b:
            break
        # non-pivot panel columns are combinations of the pivot ones: their Schur
        # complement is zero, so only the trailing columns remain.
        pr = np.array(prows)
        X = _matmul_mod(_inv_mod(A[np.ix_(pr, pcols)], p), A[pr, b:], p)
        A = (A[rest, b:] - _matmul_mod(A[np.ix_(rest, pcols)], X, p)) % p
    return rank


def _gram_sparse(r, c, v, n):
    """Exact integer Gram matrix G = M^T M (n x n) of the sparse matrix with entries
    M[r[t], c[t]] = v[t] (int64 arrays), from the pairs of entries sharing a row."""
    order = np.argsort(r, kind="stable")
    r, c, v = r[order], c[order], v[order]
    starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
    sizes = np.diff(np.r_[starts, r.size])
    k_e = np.repeat(sizes, sizes)  # size of the row of each entry
    s_e = np.repeat(starts, sizes)  # start of the row of each entry
    left = np.repeat(np.arange(r.size), k_e)
    offs = np.arange(left.size) - np.repeat(np.cumsum(k_e) - k_e, k_e)
    right = s_e[left] + offs
    G = np.zeros(n * n, dtype=np.int64)
    np.add.at(G, c[left] * n + c[right], v[left] * v[right])
    return G.reshape(n, n)


def _rank_mod_p(entries, n_rows, n_cols, p):
    """Exact rank mod p (p < 2**31) of the integer matrix given as dict (row, col) -> int.

    A tall matrix M (more rows than columns; a wide one is transposed first) is replaced
    by its Gram matrix M^T M, computed exactly in integers: it has the same rank over Q as
    M since M is real. The rank of the resulting small square matrix is computed mod p.
    """
    entries = {k: v for k, v in entries.items() if v}
    if n_rows == 0 or n_cols == 0 or not entries:
        return 0
    assert 2 < p < 2 ** 31
    rc = np.array(list(entries.keys()), dtype=np.int64).reshape(-1, 2)
    vals = [int(x) for x in entries.values()]
    r, c = rc[:, 0], rc[:, 1]
    if n_cols > n_rows:
        r, c, n_rows, n_cols = c, r, n_cols, n_rows
    amax = max(abs(x) for x in vals)
    col_nnz = int(np.bincount(c, minlength=n_cols).max())
    if n_rows > n_cols and amax * amax * col_nnz < 2 ** 62:  # no int64 overflow
        M = _gram_sparse(r, c, np.array(vals, dtype=np.int64), n_cols)
    else:
        M = np.zeros((n_rows, n_cols), dtype=np.int64)
        M[r, c] = np.array([x % p for x in vals], dtype=np.int64)
    M = M % p
    # sparse columns first (only a heuristic; the rank does not depend on the order)
    order = np.argsort(np.count_nonzero(M, axis=0), kind="stable")
    return _rank_dense_mod_p(np.ascontiguousarray(M[:, order]), p)


# ----------------------------------------------------------------------------------
# Argument handling
# ----------------------------------------------------------------------------------

def _check_args(group, d, inputs, output, multidegree, s):
    if group not in _GROUPS:
        raise ValueError(f"group must be one of {_GROUPS}, got {group!r}")
    if not isinstance(d, (int, np.integer)) or d < 1:
        raise ValueError("d must be a positive integer")
    if group == "Sp" and d % 2:
        raise ValueError("Sp(d) needs d even")
    if group == "Ost":
        if s is None or not (0 <= s <= d):
            raise ValueError("group 'Ost' needs 0 <= s <= d")
    inputs = [tuple(t) for t in inputs]
    output = tuple(output)
    multidegree = tuple(int(a) for a in multidegree)
    if len(multidegree) != len(inputs):
        raise ValueError("multidegree must have one entry per input")
    if any(a < 0 for a in multidegree):
        raise ValueError("negative degree")
    for t in inputs + [output]:
        if len(t) != 3 or t[1] not in _SYMS:
            raise ValueError(f"bad tensor type {t!r}; expected (order, symmetry, pseudo)")
    return inputs, output, multidegree


# ----------------------------------------------------------------------------------
# Method 1: direct (given basis, full coefficient space)
# ----------------------------------------------------------------------------------

def _direct_group_data(group, d, s):
    """Form B, a basis of the Lie algebra (sparse dicts), component representatives
    (signed permutations: (perm, signs, det))."""
    if group in ("O", "SO"):
        B = np.eye(d, dtype=np.int64)
    elif group == "Ost":
        B = np.diag([1] * s + [-1] * (d - s)).astype(np.int64)
    else:
        m = d // 2
        B = np.zeros((d, d), dtype=np.int64)
        B[:m, m:] = np.eye(m, dtype=np.int64)
        B[m:, :m] = -np.eye(m, dtype=np.int64)
    lie = []
    if group == "Sp":
        Binv = -B  # Omega^{-1} = -Omega
        for i in range(d):
            for j in range(i, d):
                S = np.zeros((d, d), dtype=np.int64)
                S[i, j] = S[j, i] = 1
                lie.append(Binv @ S)
    else:
        Binv = B  # diagonal +-1
        for i in range(d):
            for j in range(i + 1, d):
                S = np.zeros((d, d), dtype=np.int64)
                S[i, j], S[j, i] = 1, -1
                lie.append(Binv @ S)
    for A in lie:
        assert not (A.T @ B + B @ A).any()
    lie = [{(a, b): int(A[a, b]) for a, b in zip(*np.nonzero(A))} for A in lie]

    def flip(i):
        signs = [1] * d
        signs[i] = -1
        return list(range(d)), signs, -1

    comps = []
    if group == "O":
        comps = [flip(0)]
    elif group == "Ost":
        if s >= 1:
            comps.append(flip(0))
        if d - s >= 1:
            comps.append(flip(s))
    return lie, comps


def _direct_dimension(group, d, s, inputs, output, degs, prime):
    lie, comps = _direct_group_data(group, d, s)
    out = _Space(d, *output)
    ins = [_Space(d, *t) for t in inputs]
    basis = list(
        itertools.product(range(len(out)), *[list(_multisets(len(sp), a)) for sp, a in zip(ins, degs)])
    )
    col = {b: i for i, b in enumerate(basis)}
    entries = {}
    row_of = {}

    def row(key):
        r = row_of.get(key)
        if r is None:
            r = row_of[key] = len(row_of)
        return r

    for gi, A in enumerate(lie):
        out_tab = out.lie_on_vectors(A)
        in_tabs = [sp.lie_on_coords(A) for sp in ins]
        for b, ci in col.items():
            for key, c in _apply_lie(b, out_tab, in_tabs).items():
                if c:
                    rk = (gi, key)
                    entries[(row(rk), ci)] = entries.get((row(rk), ci), 0) + c
    for hi, (perm, signs, det) in enumerate(comps):
        out_tab = out.signed_perm(perm, signs, det)
        in_tabs = [sp.signed_perm(perm, signs, det) for sp in ins]
        for b, ci in col.items():
            # rows of (h.f - f): basis element b contributes +sign at h.b and -1 at b
            sg, b2 = _apply_signed_perm(b, out_tab, in_tabs)
            r1, r2 = row(("h", hi, b2)), row(("h", hi, b))
            entries[(r1, ci)] = entries.get((r1, ci), 0) + sg
            entries[(r2, ci)] = entries.get((r2, ci), 0) - 1
    rank = _rank_mod_p(entries, len(row_of), len(basis), prime)
    return len(basis) - rank


# ----------------------------------------------------------------------------------
# Method 2: weights (split basis, zero-weight space, simple root vectors, Weyl orbits)
# ----------------------------------------------------------------------------------

def _split_group_data(group, d, all_roots=False):
    """Split-form data over C.

    Index layout: i in [0, m) is e_{i}, m + i is f_{i}, and 2m is e_0 when d is odd.
    Returns (B, index weights, root vectors [(sparse A, weight)], symmetry generators
    [(perm, signs, det)]).
    """
    kind = "Sp" if group == "Sp" else "O"  # 'SO' and 'Ost' share the O(d, C) Lie algebra
    m = d // 2
    odd = d % 2 == 1
    B = np.zeros((d, d), dtype=np.int64)
    for i in range(m):
        B[i, m + i] = 1
        B[m + i, i] = -1 if kind == "Sp" else 1
    if odd:
        B[2 * m, 2 * m] = 1
    zero = (0,) * m

    def unit(i, c=1):
        w = [0] * m
        w[i] = c
        return tuple(w)

    wts = [unit(i) for i in range(m)] + [unit(i, -1) for i in range(m)] + ([zero] if odd else [])

    def mat(*terms):
        A = {}
        for a, b, v in terms:
            A[(a, b)] = A.get((a, b), 0) + v
        return A

    def addw(u, v):
        return tuple(x + y for x, y in zip(u, v))

    roots = []  # (A, weight)
    pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
    if not all_roots:
        pairs_minus = [(i, i + 1) for i in range(m - 1)]
    else:
        pairs_minus = pairs
    for i, j in pairs_minus:  # eps_i - eps_j
        roots.append((mat((i, j, 1), (m + j, m + i, -1)), addw(unit(i), unit(j, -1))))
    if kind == "O":
        if odd:
            short = range(m) if all_roots else ([m - 1] if m >= 1 else [])
            for i in short:  # eps_i
                roots.append((mat((i, 2 * m, 1), (2 * m, m + i, -1)), unit(i)))
            plus = pairs if all_roots else []
        else:
            plus = pairs if all_roots else ([(m - 2, m - 1)] if m >= 2 else [])
        for i, j in plus:  # eps_i + eps_j
            roots.append((mat((i, m + j, 1), (j, m + i, -1)), addw(unit(i), unit(j))))
    else:
        plus = pairs if all_roots else []
        for i, j in plus:  # eps_i + eps_j
            roots.append((mat((i, m + j, 1), (j, m + i, 1)), addw(unit(i), unit(j))))
        longs = range(m) if all_roots else ([m - 1] if m >= 1 else [])
        for i in longs:  # 2 eps_i
            roots.append((mat((i, m + i, 1)), unit(i, 2)))
    # sanity: each A is in the Lie algebra and is a weight vector of the claimed weight
    for A, w in roots:
        Ad = np.zeros((d, d), dtype=np.int64)
        for (a, b), v in A.items():
            Ad[a, b] = v
            assert addw(wts[b], w) == wts[a]
        assert not (Ad.T @ B + B @ Ad).any()

    def perm_elem(images):
        """images[b] = (sign, target index)."""
        perm = [t for _, t in images]
        signs = [sg for sg, _ in images]
        P = np.zeros((d, d), dtype=np.int64)
        for b_, (sg, t) in enumerate(images):
            P[t, b_] = sg
        assert not (P.T @ B @ P - B).any()
        det = int(round(np.linalg.det(P)))
        return perm, signs, det

    ident = [(1, b) for b in range(d)]
    syms = []
    for i in range(m - 1):  # simultaneous swap of pairs i, i+1
        im = list(ident)
        im[i], im[i + 1] = (1, i + 1), (1, i)
        im[m + i], im[m + i + 1] = (1, m + i + 1), (1, m + i)
        syms.append(perm_elem(im))

    def sigma(im, i):  # e_i <-> f_i (orthogonal), det -1
        im[i], im[m + i] = (1, m + i), (1, i)

    if group == "Sp":
        if m >= 1:  # e_i -> f_i, f_i -> -e_i
            im = list(ident)
            im[m - 1], im[2 * m - 1] = (1, 2 * m - 1), (-1, m - 1)
            syms.append(perm_elem(im))
    elif group == "SO":
        if odd and m >= 1:
            im = list(ident)
            sigma(im, m - 1)
            im[2 * m] = (-1, 2 * m)
            syms.append(perm_elem(im))
        elif not odd and m >= 2:
            im = list(ident)
            sigma(im, m - 1)
            sigma(im, m - 2)
            syms.append(perm_elem(im))
    else:  # 'O' and 'Ost': full O(d, C), including det -1 elements
        if m >= 1:
            im = list(ident)
            sigma(im, m - 1)
            syms.append(perm_elem(im))
        if odd:
            im = list(ident)
            im[2 * m] = (-1, 2 * m)
            syms.append(perm_elem(im))
    if group == "SO":
        assert all(det == 1 for _, _, det in syms)
    if not all_roots:
        roots = _dedupe_roots(roots, syms, wts, m)
    return B, wts, roots, syms


def _dedupe_roots(roots, syms, wts, m):
    """Keep one root vector per orbit of the symmetry generators on root weights.

    Invariants are fixed by every s in <syms>, and s E_alpha s^-1 is a nonzero multiple of
    E_{s(alpha)} (root spaces are 1-dimensional), so for an s-fixed v:
    E_alpha v = 0  <=>  E_{s(alpha)} v = 0. Hence it suffices to impose one root of each
    orbit, as long as every simple root lies in the orbit of a kept one.
    """

    def act(g, w):
        perm = g[0]
        out = [0] * m
        for i, c in enumerate(w):
            if c:
                for t, x in enumerate(wts[perm[i]]):
                    out[t] += c * x
        return tuple(out)

    seen = set()
    kept = []
    for A, w in roots:
        if w in seen:
            continue
        kept.append((A, w))
        stack = [w]
        seen.add(w)
        while stack:
            u = stack.pop()
            for g in syms:
                u2 = act(g, u)
                if u2 not in seen:
                    seen.add(u2)
                    stack.append(u2)
    return kept


def _weight_dimension(group, d, inputs, output, degs, prime, all_roots=False, stats=None):
    B, wts, roots, syms = _split_group_data(group, d, all_roots)
    m = d // 2
    zero = (0,) * m
    out = _Space(d, *output)
    ins = [_Space(d, *t) for t in inputs]

    W = np.array(wts, dtype=np.int64).reshape(d, m)

    def weights_of(space):
        """weights (as tuples) of the basis vectors e_J of a space."""
        if m == 0 or space.k == 0:
            return [(0,) * m] * len(space)
        idx = np.array(space.basis, dtype=np.int64).reshape(len(space), space.k)
        return [tuple(r) for r in W[idx].sum(axis=1).tolist()]

    # factor tables: weight -> list of factor values
    factors = []
    tab = {}
    for j, w in enumerate(weights_of(out)):
        tab.setdefault(w, []).append(j)
    factors.append(tab)
    for sp, a in zip(ins, degs):
        cw = weights_of(sp)  # the coordinate function x[I] has weight -wt(I)
        tab = {}
        for M in _multisets(len(sp), a):
            w = [0] * m
            for u in M:
                for i, x in enumerate(cw[u]):
                    w[i] -= x
            tab.setdefault(tuple(w), []).append(M)
        factors.append(tab)

    # enumerate the zero-weight basis elements
    zero_basis = []
    nf = len(factors)

    def rec(k, partial, acc):
        if k == nf - 1:
            need = tuple(-x for x in partial)
            for v in factors[k].get(need, ()):
                zero_basis.append(acc + (v,))
            return
        for w, vals in factors[k].items():
            p2 = tuple(x + y for x, y in zip(partial, w))
            for v in vals:
                rec(k + 1, p2, acc + (v,))

    rec(0, zero, ())
    zpos = {b: i for i, b in enumerate(zero_basis)}

    # signed orbit sums under the symmetry generators
    g_tabs = [
        (out.signed_perm(*g), [sp.signed_perm(*g) for sp in ins]) for g in syms
    ]
    sign_of = {}
    orbits = []
    for b0 in zero_basis:
        if b0 in sign_of:
            continue
        sign_of[b0] = 1
        orbit = [b0]
        ok = True
        queue = deque([b0])
        while queue:
            b = queue.popleft()
            sb = sign_of[b]
            for ot, its in g_tabs:
                sg, b2 = _apply_signed_perm(b, ot, its)
                assert b2 in zpos
                s2 = sb * sg
                prev = sign_of.get(b2)
                if prev is None:
                    sign_of[b2] = s2
                    orbit.append(b2)
                    queue.append(b2)
                elif prev != s2:
                    ok = False
        if ok:
            orbits.append(orbit)

    # constraint matrix: images of the orbit sums under the simple root vectors
    r_tabs = [(out.lie_on_vectors(A), [sp.lie_on_coords(A) for sp in ins]) for A, _ in roots]
    row_of = {}
    entries = {}
    for ci, orbit in enumerate(orbits):
        for b in orbit:
            sb = sign_of[b]
            for ot, its in r_tabs:
                for key, c in _apply_lie(b, ot, its).items():
                    if c:
                        r = row_of.get(key)
                        if r is None:
                            r = row_of[key] = len(row_of)
                        entries[(r, ci)] = entries.get((r, ci), 0) + sb * c
    entries = {k: v for k, v in entries.items() if v}
    rank = _rank_mod_p(entries, len(row_of), len(orbits), prime)
    if stats is not None:
        stats.update(zero_weight=len(zero_basis), columns=len(orbits), rows=len(row_of), rank=rank)
    return len(orbits) - rank


# ----------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------

def equivariant_dimension(group, d, inputs, output, multidegree, s=None, *, method="weight",
                          prime=DEFAULT_PRIME, all_roots=False, stats=None):
    """Dimension of the space of G-equivariant polynomial maps T1 x ... x Tn -> T'
    homogeneous of multidegree (a1, ..., an).

    group: 'O', 'SO', 'Ost' (needs s: metric diag(+1 x s, -1 x (d-s))), 'Sp' (d even).
    inputs: list of types (order, symmetry, pseudo); output: one type; symmetry in
    {'none', 'sym', 'anti'}; pseudo: extra det(g) factor in the action.
    method: 'weight' (default, fast) or 'direct' (literal definition; slow, for checks).
    prime: modulus of the exact rank computation. all_roots: ('weight' only) use every
    positive root vector instead of the simple ones (a redundant self-check).
    stats: optional dict, filled with sizes ('weight' only).
    """
    inputs, output, degs = _check_args(group, d, inputs, output, multidegree, s)
    if method == "weight":
        return _weight_dimension(group, d, inputs, output, degs, prime, all_roots, stats)
    if method == "direct":
        return _direct_dimension(group, d, s, inputs, output, degs, prime)
    raise ValueError(f"unknown method {method!r}")


def isotropic_dimension(group, d, order, s=None, pseudo=False, **kw):
    """Dimension of the space of G-invariant (non-symmetric) tensors of the given order
    (pseudo=True: tensors c with g.c = det(g) c)."""
    return equivariant_dimension(group, d, [], (order, "none", pseudo), (), s, **kw)
