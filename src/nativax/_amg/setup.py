"""Host ("symbolic") AMG setup with pyamg, done once per (sparsity pattern, options) and cached.

pyamg builds the transfer operators P/R from the first values it sees; we keep them fixed, so the Galerkin
products A_c = R (A P) are linear in A's values with fixed coefficients. We store those two linear maps per
level as sparse matrices, and new values with the same structure are set up inside `jit` by two sparse
mat-vecs per level (`_amg_hierarchy.resetup`). Level structures are our own structural products
(explicit zeros kept), so the maps stay valid for every value set."""

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._core.pattern import SparsityPattern

METHODS = ("smoothed_aggregation", "ruge_stuben")

_lock = threading.Lock()
_cache: "OrderedDict[Any, Symbolic]" = OrderedDict()
_CACHE_SIZE = 16
_counters = {"setups": 0, "hits": 0}


def _i32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int32)


@dataclass(frozen=True, eq=False)
class CsrStructure:
    """CSR structure (+ fixed data for transfer operators) as NumPy arrays."""

    indptr: np.ndarray
    indices: np.ndarray
    rows: np.ndarray
    n_cols: int
    data: np.ndarray | None = None

    @classmethod
    def of(cls, m: sp.csr_matrix, with_data: bool) -> "CsrStructure":
        m = sp.csr_matrix(m)
        m.sort_indices()
        rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
        data = np.ascontiguousarray(m.data) if with_data else None
        return cls(_i32(m.indptr), _i32(m.indices), _i32(rows), int(m.shape[1]), data)

    @property
    def nnz(self) -> int:
        return int(self.indices.shape[0])

    @property
    def n_rows(self) -> int:
        return int(self.indptr.shape[0]) - 1


@dataclass(frozen=True, eq=False)
class LevelStructure:
    """One level: A's CSR structure, its transpose map, diagonal slots and (unless coarsest) transfers and the
    Galerkin index maps to the next level."""

    a: CsrStructure
    at: CsrStructure  # structure of A^T; A^T data = A data[t_perm]
    t_perm: np.ndarray
    diag: np.ndarray  # slot of A[i, i] for each row (-1 when structurally missing)
    p: CsrStructure | None = None
    r: CsrStructure | None = None
    rt: CsrStructure | None = None  # R^T: the prolongation of the transposed hierarchy
    pt: CsrStructure | None = None  # P^T: the restriction of the transposed hierarchy
    g_ap: CsrStructure | None = None  # values(AP) = g_ap @ values(A)   (entries: P's values)
    g_c: CsrStructure | None = None  # values(Ac) = g_c @ values(AP)    (entries: R's values)


@dataclass(frozen=True, eq=False)
class Symbolic:
    """The fixed part of an AMG hierarchy. Level 0 values come from the operator in CSR order:
    `values[csr_perm]` (the pattern is stored CSC-sorted)."""

    levels: tuple[LevelStructure, ...]
    csr_perm: np.ndarray
    setup_values: np.ndarray  # the level-0 values pyamg saw (CSR order)


def _expand(indptr: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each k, the slots indptr[which[k]] .. indptr[which[k] + 1]: returns (owner k, slot)."""
    start = indptr[which].astype(np.int64)
    cnt = indptr[which + 1].astype(np.int64) - start
    owner = np.repeat(np.arange(which.shape[0], dtype=np.int64), cnt)
    offs = np.arange(owner.shape[0], dtype=np.int64) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    return owner, np.repeat(start, cnt) + offs


def _galerkin_maps(a: CsrStructure, p: CsrStructure, r: CsrStructure, n_coarse: int):
    """Linear maps from A's values to AP = A P's and from those to Ac = R AP's, plus Ac's CSR structure."""
    # Stage 1: entry e = (i, j) of A times entries (j, J) of P.
    e, p_slot = _expand(p.indptr, a.indices.astype(np.int64))
    key = a.rows[e].astype(np.int64) * n_coarse + p.indices[p_slot]
    ap_keys, ap_slot = np.unique(key, return_inverse=True)
    ap_rows = ap_keys // n_coarse
    ap_cols = ap_keys % n_coarse
    # Stage 2: entries (I, i) of R (R^T CSR: rows i) times AP entries (i, J).
    r_csr = sp.csr_matrix((np.arange(r.nnz, dtype=np.float64), r.indices, r.indptr), shape=(r.n_rows, r.n_cols))
    rt = sp.csr_matrix(r_csr.T)
    rt.sort_indices()
    s, k = _expand(_i32(rt.indptr), ap_rows)
    big_i = rt.indices[k].astype(np.int64)
    c_keys, c_slot = np.unique(big_i * n_coarse + ap_cols[s], return_inverse=True)
    c_rows, c_cols = c_keys // n_coarse, c_keys % n_coarse
    ac = sp.csr_matrix((np.ones(c_keys.shape[0]), (c_rows, c_cols)), shape=(n_coarse, n_coarse))
    ac.sort_indices()
    # Both stages are linear in the values with fixed coefficients: store them as sparse matrices, so the
    # resetup is two (native, parallel) sparse mat-vecs. Each (target, source) pair occurs once.
    assert p.data is not None and r.data is not None
    g_ap = sp.csr_matrix((p.data[p_slot], (ap_slot.reshape(-1), e)), shape=(ap_keys.shape[0], a.nnz))
    r_vals = r.data[rt.data.astype(np.int64)[k]]
    g_c = sp.csr_matrix((r_vals, (c_slot.reshape(-1), s)), shape=(c_keys.shape[0], ap_keys.shape[0]))
    return dict(g_ap=CsrStructure.of(g_ap, True), g_c=CsrStructure.of(g_c, True)), ac


def _level(a: sp.csr_matrix) -> dict:
    a = sp.csr_matrix(a)
    a.sort_indices()
    slots = sp.csr_matrix((np.arange(a.nnz, dtype=np.float64), a.indices, a.indptr), shape=a.shape)
    at = sp.csr_matrix(slots.T)
    at.sort_indices()
    n = a.shape[0]
    diag = np.full(n, -1, dtype=np.int64)
    rows = np.repeat(np.arange(n), np.diff(a.indptr))
    on = rows == a.indices
    diag[rows[on]] = np.flatnonzero(on)
    return dict(a=CsrStructure.of(a, False), at=CsrStructure.of(at, False), t_perm=_i32(at.data), diag=_i32(diag))


def _pyamg_solver(a: sp.csr_matrix, method: str, max_levels: int, max_coarse: int):
    import pyamg

    if method == "smoothed_aggregation":
        sym = "hermitian" if (abs(a - a.T) > 1e-12 * abs(a).max()).nnz == 0 else "nonsymmetric"
        return pyamg.smoothed_aggregation_solver(a, symmetry=sym, max_levels=max_levels, max_coarse=max_coarse)
    return pyamg.ruge_stuben_solver(a, max_levels=max_levels, max_coarse=max_coarse)


def build(pattern: SparsityPattern, values: np.ndarray, method: str, max_levels: int, max_coarse: int) -> Symbolic:
    """Run pyamg on the matrix and freeze its structure (not cached; see `symbolic`)."""
    perm = pattern.transpose_perm
    n = pattern.shape[0]
    a0 = sp.csr_matrix((values[perm], pattern.cols[perm], _csr_indptr(pattern, perm)), shape=(n, n))
    ml = _pyamg_solver(a0, method, max_levels, max_coarse)
    levels = []
    a_struct = sp.csr_matrix((np.ones(a0.nnz), a0.indices, a0.indptr), shape=a0.shape)
    for lvl in ml.levels[:-1]:
        info = _level(a_struct)
        p = CsrStructure.of(lvl.P, True)
        r = CsrStructure.of(lvl.R, True)
        maps, a_struct = _galerkin_maps(info["a"], p, r, p.n_cols)
        levels.append(LevelStructure(**info, p=p, r=r, rt=CsrStructure.of(lvl.R.T, True),
                                     pt=CsrStructure.of(lvl.P.T, True), **maps))
    levels.append(LevelStructure(**_level(a_struct)))
    return Symbolic(tuple(levels), _i32(perm), np.asarray(values[perm]))


def _csr_indptr(pattern: SparsityPattern, perm: np.ndarray) -> np.ndarray:
    counts = np.bincount(pattern.rows, minlength=pattern.shape[0])
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def proxy_values(pattern: SparsityPattern) -> np.ndarray:
    """Values for a pattern-only setup (when the real values are traced): the graph Laplacian of the
    symmetrised pattern with a slightly dominant diagonal, an M-matrix with the operator's structure."""
    off = pattern.rows != pattern.cols
    g = sp.coo_matrix((np.ones(int(off.sum())), (pattern.rows[off], pattern.cols[off])), shape=pattern.shape)
    g = ((g + g.T) != 0).astype(np.float64).tocsr()
    degree = np.asarray(g.sum(axis=1)).ravel()
    vals = np.where(off, -1.0, 0.0)
    diag_rows, diag_slots = pattern.diagonal_slots
    vals[diag_slots] = degree[diag_rows] * (1 + 1e-3) + 1e-3
    return vals


def symbolic(pattern: SparsityPattern, values: np.ndarray | None, method: str, max_levels: int,
             max_coarse: int, refresh: bool = False) -> Symbolic:
    """The cached symbolic setup for (pattern, options). Built from `values` on a miss (or always, with
    `refresh`); with `values=None` (traced), a setup from real values is preferred, else one from
    `proxy_values(pattern)` is used/built."""
    base = (pattern, method, max_levels, max_coarse)
    keys = [(*base, "values")] if values is not None else [(*base, "values"), (*base, "pattern")]
    with _lock:
        for key in keys if not refresh else []:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                _counters["hits"] += 1
                return hit
    if pattern.diagonal_slots[0].shape[0] != pattern.shape[0]:
        raise ValueError("nativax.AMG: the operator's pattern lacks stored diagonal entries (the smoothers need them)")
    if values is None:
        values = proxy_values(pattern)
    sym = build(pattern, values, method, max_levels, max_coarse)
    with _lock:
        _counters["setups"] += 1
        _cache[keys[-1]] = sym
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return sym


def setup_info() -> dict[str, int]:
    """Host setups performed and cache hits so far, plus live cache entries."""
    with _lock:
        return {**_counters, "entries": len(_cache)}


def clear() -> None:
    with _lock:
        _cache.clear()
