"""nativax's own host setup for smoothed aggregation: vectorised NumPy/SciPy plus two native kernels.

Per level: strength of connection (pyamg's "symmetric" measure: a_ij is strong when
|a_ij| >= theta sqrt(|a_ii a_jj|); `AMG.theta`), standard aggregation (native, three passes), the tentative
prolongator of one near-nullspace candidate (constants on level 0, smoothed by a few Jacobi sweeps on A x = 0;
per aggregate T = B / ||B||, the coarse candidate is the norms, as the QR of pyamg's fit), the Jacobi-smoothed prolongator P = (I - (4/3)/rho D^-1 A) T and
R = P^T. rho is the Gershgorin bound max_i sum_j |a_ij / a_ii| >= rho(D^-1 A) (pyamg estimates rho by
Arnoldi/Lanczos iterations, which dominate its setup); an upper bound only under-damps the prolongator
smoothing a little (2-D Poisson: bound 2.0 against rho ~ 1.99). The Galerkin products come from the native
product maps (`galerkin`), so the coarse values and the resetup maps are built in one pass.
"""

import numpy as np
import scipy.sparse as sp
from scipy.sparse import _sparsetools  # type: ignore[attr-defined]

from .._core import native

SMOOTH_OMEGA = 4.0 / 3.0
CANDIDATE_SWEEPS = 4


def strength(a: sp.csr_matrix, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """CSR (indptr int64, indices int32) of the strong connections: off-diagonal entries with
    |a_ij| >= theta sqrt(|a_ii a_jj|) and a_ij != 0 (pyamg's "symmetric" strength)."""
    n, nnz = a.shape[0], int(a.indptr[-1])
    cols, vals = a.indices[:nnz], a.data[:nnz]
    rows = np.repeat(np.arange(n, dtype=np.int32), np.diff(a.indptr))
    d = np.abs(a.diagonal())
    keep = (cols != rows) & (vals != 0)
    if theta > 0:
        keep &= np.abs(vals) >= theta * np.sqrt(d[rows] * d[cols])
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[keep], minlength=n), out=indptr[1:])
    return indptr, np.ascontiguousarray(cols[keep], dtype=np.int32)


def aggregate(a: sp.csr_matrix, theta: float) -> tuple[np.ndarray, int]:
    """Standard aggregation of `a`'s strength graph: (aggregate of each node, -1 = isolated; count)."""
    indptr, indices = strength(a, theta)
    agg, count = native.lib.amg_standard_aggregation(indptr, indices)
    return np.asarray(agg), int(count)


def tentative(agg: np.ndarray, count: int, b: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """T (n x count, one entry per aggregated row, orthonormal columns) and the coarse candidate."""
    n = agg.shape[0]
    ok = agg >= 0
    norms = np.sqrt(np.bincount(agg[ok], weights=b[ok] ** 2, minlength=count))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(ok, out=indptr[1:])
    data = b[ok] / norms[agg[ok]]
    return sp.csr_matrix((data, agg[ok], indptr), shape=(n, count)), norms


def gershgorin_rho(a: sp.csr_matrix, dinv: np.ndarray) -> float:
    """max_i sum_j |a_ij| / |a_ii|: an upper bound of rho(D^-1 A)."""
    rowsum = np.add.reduceat(np.abs(a.data), a.indptr[:-1]) if a.nnz else np.zeros(a.shape[0])
    rowsum[np.diff(a.indptr) == 0] = 0
    return float(np.max(rowsum * np.abs(dinv), initial=0.0))


def smoothed_prolongator(a: sp.csr_matrix, t: sp.csr_matrix) -> sp.csr_matrix:
    """P = (I - omega/rho D^-1 A) T with omega = 4/3 and rho the Gershgorin bound."""
    d = a.diagonal()
    dinv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1.0), 0.0)
    rho = gershgorin_rho(a, dinv)
    scale = SMOOTH_OMEGA / rho if rho > 0 else 0.0
    rows = np.repeat(np.arange(a.shape[0]), np.diff(a.indptr))
    scaled = sp.csr_matrix((a.data * (scale * dinv[rows]), a.indices, a.indptr), shape=a.shape)
    p = sp.csr_matrix(t - scaled @ t)
    p.sort_indices()
    return p


def galerkin(a_indptr: np.ndarray, a_indices: np.ndarray, p: sp.csr_matrix, r: sp.csr_matrix):
    """Structures and linear maps of AP = A P (A variable) and Ac = R (AP) (AP variable).

    Returns (ap_indptr, ap_indices, g_ap), (ac_indptr, ac_indices, g_c) with values(AP) = g_ap @ values(A) and
    values(Ac) = g_c @ values(AP); each map as (indptr, indices, data, rows, shape) in CSR order (rows: product
    entries; columns not sorted)."""
    n, nc = p.shape
    ap_ptr, ap_idx, m_ptr, m_idx, m_dat, m_rows = map(np.asarray, native.lib.amg_product_map(
        np.ascontiguousarray(a_indptr, np.int64), np.ascontiguousarray(a_indices, np.int32), n,
        np.ascontiguousarray(p.indptr, np.int64), np.ascontiguousarray(p.indices, np.int32), nc,
        np.ascontiguousarray(p.data, np.float64), True))
    g_ap = (m_ptr, m_idx, m_dat, m_rows, (ap_idx.shape[0], int(a_indices.shape[0])))
    ac_ptr, ac_idx, c_ptr, c_idx, c_dat, c_rows = map(np.asarray, native.lib.amg_product_map(
        np.ascontiguousarray(r.indptr, np.int64), np.ascontiguousarray(r.indices, np.int32), n,
        ap_ptr, ap_idx, nc, np.ascontiguousarray(r.data, np.float64), False))
    g_c = (c_ptr, c_idx, c_dat, c_rows, (ac_idx.shape[0], ap_idx.shape[0]))
    return (ap_ptr, ap_idx, g_ap), (ac_ptr, ac_idx, g_c)


def apply_map(g, values: np.ndarray) -> np.ndarray:
    """values(C) = map @ values (scipy's CSR mat-vec; the arrays are already valid CSR, so no format check)."""
    indptr, indices, data, _, shape = g
    out = np.zeros(shape[0])
    _sparsetools.csr_matvec(shape[0], shape[1], indptr.astype(indices.dtype), indices, data,
                            np.ascontiguousarray(values, np.float64), out)
    return out


def improve_candidate(a: sp.csr_matrix, b: np.ndarray, sweeps: int = CANDIDATE_SWEEPS) -> np.ndarray:
    """A few damped Jacobi sweeps on A x = 0 from the candidate (pyamg smooths it by Gauss-Seidel): near the
    boundary the constant is far from A's near-nullspace; this bends it there (2-D Poisson: one CG step less)."""
    d = a.diagonal()
    dinv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1.0), 0.0)
    rho = gershgorin_rho(a, dinv)
    if rho <= 0:
        return b
    w = (SMOOTH_OMEGA / rho) * dinv
    for _ in range(sweeps):
        b = b - w * (a @ b)
    return b


def transfers(a: sp.csr_matrix, b: np.ndarray, theta: float) -> tuple[sp.csr_matrix, np.ndarray] | None:
    """(P, coarse candidate) for one level, or None when aggregation does not coarsen."""
    agg, count = aggregate(a, theta)
    if count == 0 or count >= a.shape[0]:
        return None
    t, bc = tentative(agg, count, improve_candidate(a, b))
    return smoothed_prolongator(a, t), bc
