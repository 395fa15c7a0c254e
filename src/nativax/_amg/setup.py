"""Host ("symbolic") AMG setup, done once per (sparsity pattern, options) and cached.

Smoothed aggregation runs on nativax's own kernels by default (`aggregation.py`: native aggregation and
product maps, vectorised NumPy/SciPy for the rest); `host_setup="pyamg"` (and Ruge-Stuben, and complex values)
use pyamg's setup instead. Either way the transfer operators P/R come from the first values seen and stay
fixed, so the Galerkin products A_c = R (A P) are linear in A's values with fixed coefficients.

The setup computes the coarse operators directly (SciPy sparse products) and keeps every level's values
(`Symbolic.level_values`). The two linear maps per level that give the coarse values for *new* values (built
natively, one pass per product; tens of millions of terms on large problems, most of the cost of a setup that
builds them) are made lazily, once per `Symbolic`, by `Symbolic.with_maps()`: only when a numeric resetup with
new values is needed (`hierarchy.resetup` applies them by two sparse mat-vecs per level inside `jit`). Level
structures are structural products (explicit zeros kept), so the maps hold for every value set."""

import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._core.pattern import SparsityPattern
from . import aggregation as _agg

METHODS = ("smoothed_aggregation", "ruge_stuben")
HOST_SETUPS = ("native", "pyamg")

_lock = threading.Lock()
_maps_lock = threading.Lock()
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
    `values[csr_perm]` (the pattern is stored CSC-sorted). `levels` carry the Galerkin maps only once
    `with_maps()` has made them (lazily, once; the result is kept)."""

    levels: tuple[LevelStructure, ...]
    csr_perm: np.ndarray
    setup_values: np.ndarray  # the level-0 values the setup saw (CSR order)
    level_values: tuple[np.ndarray, ...] = ()  # every level's values for the setup values (CSR order)
    _mapped: list = field(default_factory=list, repr=False)  # [Symbolic with maps] once built
    structures: dict = field(default_factory=dict, repr=False)  # device structures made from this setup

    @property
    def has_maps(self) -> bool:
        return all(lv.g_ap is not None for lv in self.levels[:-1])

    def with_maps(self) -> "Symbolic":
        """This setup with the Galerkin product maps (built on the first call, natively; then kept)."""
        if self.has_maps:
            return self
        with _maps_lock:
            if not self._mapped:
                levels = []
                for lv in self.levels:
                    if lv.p is None:
                        levels.append(lv)
                        continue
                    assert lv.r is not None
                    maps, (ac_ptr, ac_idx, _), _, _ = _galerkin_maps(lv.a, _scipy(lv.p), _scipy(lv.r))
                    nxt = self.levels[len(levels) + 1].a
                    if not (np.array_equal(ac_ptr, nxt.indptr) and np.array_equal(ac_idx, nxt.indices)):
                        raise RuntimeError("nativax.AMG: internal error: Galerkin maps disagree with the coarse "
                                           "level structure")
                    levels.append(replace(lv, **maps))
                self._mapped.append(Symbolic(tuple(levels), self.csr_perm, self.setup_values, self.level_values))
            return self._mapped[0]

    def matches_setup(self, values: np.ndarray) -> bool:
        """Whether level-0 `values` (pattern order) are the ones this setup was built from."""
        return np.array_equal(np.asarray(values)[self.csr_perm], self.setup_values)


class HeldSetup:
    """A `Symbolic` held by a solver as a static field. Compares equal to every other: programs traced with a
    held solver never read it (it only serves concrete values, which are not traced), so a new setup of the
    same pattern keeps hitting jit's cache."""

    __slots__ = ("symbolic",)

    def __init__(self, symbolic: Symbolic):
        self.symbolic = symbolic

    def __eq__(self, other) -> bool:
        return isinstance(other, HeldSetup)

    def __hash__(self) -> int:
        return hash(HeldSetup)


def _csr_of(indptr, indices, data, shape, rows=None) -> CsrStructure:
    """A CsrStructure from arrays already in CSR order (no sorting: the mat-vec does not need it)."""
    indptr = _i32(indptr)
    if rows is None:
        rows = np.repeat(np.arange(shape[0], dtype=np.int32), np.diff(indptr))
    return CsrStructure(indptr, _i32(indices), _i32(rows), int(shape[1]),
                        None if data is None else np.ascontiguousarray(data, dtype=np.float64))


def _galerkin_maps(a: CsrStructure, p: sp.csr_matrix, r: sp.csr_matrix):
    """Linear maps from A's values to AP = A P's and from those to Ac = R AP's (native product maps), plus
    Ac's CSR structure (the structural product: explicit zeros kept, so the maps hold for every value set)."""
    (_, _, g_ap), (ac_ptr, ac_idx, g_c) = _agg.galerkin(a.indptr, a.indices, p, r)
    n_coarse = p.shape[1]
    maps = dict(g_ap=_csr_of(g_ap[0], g_ap[1], g_ap[2], g_ap[4], g_ap[3]),
                g_c=_csr_of(g_c[0], g_c[1], g_c[2], g_c[4], g_c[3]))
    return maps, (ac_ptr, ac_idx, n_coarse), g_ap, g_c


def _scipy(c: CsrStructure) -> sp.csr_matrix:
    return sp.csr_matrix((c.data, c.indices, c.indptr), shape=(c.n_rows, c.n_cols))


def _ones(m: sp.csr_matrix) -> sp.csr_matrix:
    return sp.csr_matrix((np.ones(m.indices.shape[0]), m.indices, m.indptr), shape=m.shape)


def _coarse(a: sp.csr_matrix, p: sp.csr_matrix, r: sp.csr_matrix):
    """Ac = R (A P) directly (SciPy products), on the *structural* product's pattern (explicit zeros kept, as the
    lazily built maps need): the structure from all-ones factors (no cancellation), the values scattered in."""
    s = _ones(r) @ (_ones(a) @ _ones(p))
    s.sort_indices()
    c = sp.csr_matrix(r @ (a @ p))
    c.sort_indices()
    n = s.shape[1]
    key_s = np.repeat(np.arange(s.shape[0], dtype=np.int64), np.diff(s.indptr)) * n + s.indices
    key_c = np.repeat(np.arange(c.shape[0], dtype=np.int64), np.diff(c.indptr)) * n + c.indices
    values = np.zeros(s.indices.shape[0], dtype=c.dtype)
    values[np.searchsorted(key_s, key_c)] = c.data
    return s.indptr, s.indices, values


def _level(indptr: np.ndarray, indices: np.ndarray) -> dict:
    """A level's structure from CSR arrays with sorted columns: A, A^T (+ the slot permutation), diagonal slots."""
    n = indptr.shape[0] - 1
    nnz = indices.shape[0]
    rows = np.repeat(np.arange(n, dtype=np.int32), np.diff(indptr))
    slots = sp.csr_matrix((np.arange(nnz, dtype=np.float64), indices, indptr), shape=(n, n))
    at = slots.T.tocsr()
    at.sort_indices()
    diag = np.full(n, -1, dtype=np.int32)
    on = rows == indices
    diag[rows[on]] = np.flatnonzero(on)
    return dict(a=_csr_of(indptr, indices, None, (n, n), rows), at=_csr_of(at.indptr, at.indices, None, (n, n)),
                t_perm=_i32(at.data), diag=diag)


def _pyamg_solver(a: sp.csr_matrix, method: str, max_levels: int, max_coarse: int, theta: float = 0.0):
    import pyamg

    if method == "smoothed_aggregation":
        sym = "hermitian" if (abs(a - a.T) > 1e-12 * abs(a).max()).nnz == 0 else "nonsymmetric"
        return pyamg.smoothed_aggregation_solver(a, symmetry=sym, strength=("symmetric", {"theta": theta}),
                                                 max_levels=max_levels, max_coarse=max_coarse)
    return pyamg.ruge_stuben_solver(a, max_levels=max_levels, max_coarse=max_coarse)


def _transfer_level(info: dict, a: sp.csr_matrix, p: sp.csr_matrix, r: sp.csr_matrix):
    """The level (transfers, no maps) and the next level's CSR arrays (structural product, values)."""
    rt, pt = r.T.tocsr(), p.T.tocsr()
    lv = LevelStructure(**info, p=CsrStructure.of(p, True), r=CsrStructure.of(r, True), rt=CsrStructure.of(rt, True),
                        pt=CsrStructure.of(pt, True))
    return lv, _coarse(a, p, r)


Built = tuple[list[LevelStructure], list[np.ndarray]]


def _build_native(a0: sp.csr_matrix, max_levels: int, max_coarse: int, theta: float) -> Built:
    """Smoothed aggregation by nativax's own kernels (`aggregation.py`); R = P^T."""
    levels: list[LevelStructure] = []
    level_values: list[np.ndarray] = []
    indptr, indices, values = a0.indptr, a0.indices, a0.data
    b = np.ones(a0.shape[0])
    while True:
        n = indptr.shape[0] - 1
        info = _level(indptr, indices)
        a = sp.csr_matrix((values, indices, indptr), shape=(n, n))
        level_values.append(np.ascontiguousarray(values, dtype=np.float64))
        out = None if (len(levels) + 1 >= max_levels or n <= max_coarse) else _agg.transfers(a, b, theta)
        if out is None:
            levels.append(LevelStructure(**info))
            return levels, level_values
        p, b = out
        r = p.T.tocsr()
        lv, (indptr, indices, values) = _transfer_level(info, a, p, r)
        levels.append(lv)


def _build_pyamg(a0: sp.csr_matrix, method: str, max_levels: int, max_coarse: int, theta: float) -> Built:
    """pyamg's setup (the reference, and Ruge-Stuben); only its P and R are kept."""
    ml = _pyamg_solver(a0, method, max_levels, max_coarse, theta)
    levels: list[LevelStructure] = []
    level_values: list[np.ndarray] = []
    indptr, indices, values = a0.indptr, a0.indices, a0.data
    for lvl in ml.levels[:-1]:
        p, r = sp.csr_matrix(lvl.P), sp.csr_matrix(lvl.R)
        p.sort_indices()
        r.sort_indices()
        n = indptr.shape[0] - 1
        a = sp.csr_matrix((values, indices, indptr), shape=(n, n))
        level_values.append(np.asarray(values))
        lv, (indptr, indices, values) = _transfer_level(_level(indptr, indices), a, p, r)
        levels.append(lv)
    levels.append(LevelStructure(**_level(indptr, indices)))
    level_values.append(np.asarray(values))
    return levels, level_values


def native_applies(method: str, values: np.ndarray) -> bool:
    """nativax's own setup serves real smoothed aggregation; the rest goes to pyamg."""
    return method == "smoothed_aggregation" and not np.iscomplexobj(values)


def build(pattern: SparsityPattern, values: np.ndarray, method: str, max_levels: int, max_coarse: int,
          host_setup: str = "native", theta: float = 0.0) -> Symbolic:
    """Run the host setup on the matrix and freeze its structure (not cached; see `symbolic`)."""
    perm = pattern.transpose_perm
    n = pattern.shape[0]
    a0 = sp.csr_matrix((values[perm], pattern.cols[perm], _csr_indptr(pattern, perm)), shape=(n, n))
    if host_setup == "native" and native_applies(method, values):
        levels, level_values = _build_native(a0, max_levels, max_coarse, theta)
    else:
        levels, level_values = _build_pyamg(a0, method, max_levels, max_coarse, theta)
    return Symbolic(tuple(levels), _i32(perm), np.asarray(values[perm]), tuple(level_values))


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
             max_coarse: int, refresh: bool = False, host_setup: str = "native", theta: float = 0.0) -> Symbolic:
    """The cached symbolic setup for (pattern, options). Built from `values` on a miss (or always, with
    `refresh`); with `values=None` (traced), a setup from real values is preferred, else one from
    `proxy_values(pattern)` is used/built."""
    base = (pattern, method, max_levels, max_coarse, host_setup, theta)
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
    sym = build(pattern, values, method, max_levels, max_coarse, host_setup, theta)
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
