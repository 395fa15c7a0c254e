"""The numeric AMG hierarchy as a pytree, and its resetup inside `jit` from new level-0 values.

`Structure` holds the fixed arrays of a `Symbolic` setup as pytree leaves (pass it into `jit` as an argument);
`resetup` computes every level's values by Galerkin products (two fixed sparse linear maps per level, applied
with the CSR mat-vec) when the structure holds the maps, else takes the coarse levels' values from the setup
(level 0 is always the given values); then Jacobi diagonals,
spectral-radius estimates for the smoothers, and the LU factors of the dense coarsest matrix."""

from typing import Any, cast

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import scipy.linalg
import scipy.sparse as sp
from jaxtyping import Array, Inexact, Int

from .setup import CsrStructure, Symbolic
from .spmv import Csr, matvec

_POWER_STEPS = 15


def _csr(c: CsrStructure, data=None) -> Csr:
    """A host (NumPy) Csr; `engine._structure` moves all of them to the device in one transfer."""
    host: Any = c  # NumPy arrays until the one device_put
    return Csr(host.indptr, host.indices, host.rows, host.data if data is None else data, c.n_cols)


class LevelArrays(eqx.Module):
    """Fixed arrays of one level (structure of A and A^T, transfer operators, Galerkin product maps)."""

    a: Csr  # data: placeholder zeros (values come from resetup)
    at: Csr
    t_perm: Int[Array, " nnz"]
    diag: Int[Array, " n"]
    p: Csr | None
    r: Csr | None
    rt: Csr | None
    pt: Csr | None
    g_ap: Csr | None  # values(AP) = g_ap @ values(A)
    g_c: Csr | None  # values(Ac) = g_c @ values(AP)


class Structure(eqx.Module):
    """Every fixed array of a hierarchy, as pytree leaves."""

    levels: tuple[LevelArrays, ...]
    csr_perm: Int[Array, " nnz"]
    coarse: "CoarseSetup | None" = None
    """The coarse levels of the setup values (used when the Galerkin maps are absent)."""

    @property
    def galerkin(self) -> bool:
        """Whether `resetup` recomputes the coarse levels from new values (the structure holds the maps)."""
        return all(la.g_ap is not None for la in self.levels[:-1])

    @classmethod
    def from_symbolic(cls, sym: Symbolic) -> "Structure":
        """All fixed arrays as one pytree of NumPy arrays (move it to the device by one `jax.device_put`: no
        per-array dispatch, nothing compiled). Without Galerkin maps in `sym`, the coarse levels' setup values
        come instead."""
        levels = []
        for lv in sym.levels:
            opt_csr = (lambda c: None if c is None else _csr(c))
            levels.append(
                LevelArrays(
                    _csr(lv.a, np.zeros(0)), _csr(lv.at, np.zeros(0)), cast(Any, lv.t_perm), cast(Any, lv.diag),
                    opt_csr(lv.p), opt_csr(lv.r), opt_csr(lv.rt), opt_csr(lv.pt),
                    opt_csr(lv.g_ap), opt_csr(lv.g_c),
                )
            )
        coarse = None if sym.has_maps else CoarseSetup.of(sym)
        return cls(tuple(levels), cast(Any, sym.csr_perm), coarse)

    @property
    def n(self) -> int:
        return self.levels[0].a.n_rows


def _host_spectral_radius(a: sp.csr_matrix, dinv: np.ndarray) -> float:
    """`_spectral_radius` in NumPy (same start vector and steps)."""
    v = 1.0 + 0.5 * np.sin(np.arange(a.shape[0], dtype=np.float64))
    v = v / np.linalg.norm(v)
    lam = 0.0
    for _ in range(_POWER_STEPS):
        w = dinv * (a @ v)
        lam = float(np.linalg.norm(w))
        v = w / (lam if lam > 0 else 1.0)
    return lam


class CoarseSetup(eqx.Module):
    """Levels 1.. of the setup values, fully set up on the host (values, inverse diagonals, rho estimates, the
    coarsest LU): with them the traced numeric setup only handles level 0 (smaller program, faster compile)."""

    values: tuple[Array, ...]
    dinv: tuple[Array, ...]
    rho: tuple[Array, ...]
    lu: Array
    piv: Array

    @classmethod
    def of(cls, sym: Symbolic) -> "CoarseSetup":
        values, dinvs, rhos = [], [], []
        for lv, vals in zip(sym.levels[1:], sym.level_values[1:]):
            n = lv.a.n_rows
            a = sp.csr_matrix((vals, lv.a.indices, lv.a.indptr), shape=(n, n))
            d = np.where(lv.diag >= 0, vals[np.maximum(lv.diag, 0)], 0)
            with np.errstate(divide="ignore"):
                dinv = 1 / d
            values.append(vals)
            dinvs.append(dinv)
            rhos.append(np.asarray(_host_spectral_radius(a, dinv) if np.isrealobj(vals) else np.nan))
        last, vals = sym.levels[-1], sym.level_values[-1]
        dense = np.zeros((last.a.n_rows,) * 2, vals.dtype)
        dense[last.a.rows, last.a.indices] = vals
        lu, piv = scipy.linalg.lu_factor(dense, check_finite=False)
        host: Any = (tuple(values), tuple(dinvs), tuple(rhos), lu, piv.astype(np.int32))  # NumPy until device_put
        return cls(values=host[0], dinv=host[1], rho=host[2], lu=host[3], piv=host[4])


class Level(eqx.Module):
    """Numeric level: A (CSR), inverse diagonal, rho(D^-1 A) estimate, transfers (None on the coarsest)."""

    a: Csr
    dinv: Inexact[Array, " n"]
    rho: Inexact[Array, ""]
    p: Csr | None
    r: Csr | None


class Hierarchy(eqx.Module):
    """A numeric hierarchy; `lu`/`piv` factor the dense coarsest matrix."""

    levels: tuple[Level, ...]
    lu: Inexact[Array, "nc nc"]
    piv: Int[Array, " nc"]
    transposed: bool = eqx.field(static=True, default=False)


def _spectral_radius(a: Csr, dinv: Array) -> Array:
    """Power iteration estimate of rho(D^-1 A) from a fixed, nonsymmetric-friendly start vector."""
    n = a.n_rows
    v0 = (1.0 + 0.5 * jnp.sin(jnp.arange(n, dtype=jnp.float64 if dinv.dtype == jnp.float64 else jnp.float32)))
    v0 = v0.astype(dinv.dtype)

    def step(_, carry):
        v, _ = carry
        w = dinv * matvec(a, v)
        nrm = jnp.linalg.norm(w)
        return w / jnp.where(nrm > 0, nrm, 1).astype(w.dtype), nrm

    v0 = v0 / jnp.linalg.norm(v0).astype(v0.dtype)
    _, lam = jax.lax.fori_loop(0, _POWER_STEPS, step, (v0, jnp.zeros((), jnp.abs(v0).dtype)))
    return lam


def resetup(structure: Structure, values: Inexact[Array, " nnz"]) -> Hierarchy:
    """Numeric setup from level-0 values in the pattern's (CSC) order; no host work, traceable. Without Galerkin
    maps (`Structure.galerkin` false) only level 0 follows `values`; levels 1.. are the setup's."""
    vals = values[structure.csr_perm]
    levels = []
    coarse = structure.coarse
    for k, la in enumerate(structure.levels):
        dtype = vals.dtype
        a = la.a.with_data(vals)
        if k > 0 and coarse is not None:
            dinv, rho = coarse.dinv[k - 1].astype(dtype), coarse.rho[k - 1]
            if jnp.iscomplexobj(vals):  # complex levels: no host estimate (rho stored as NaN)
                rho = _spectral_radius(a, dinv)
        else:
            d = jnp.where(la.diag >= 0, vals[jnp.maximum(la.diag, 0)], 0)
            dinv = 1 / d
            rho = _spectral_radius(a, dinv)
        if k + 1 < len(structure.levels):
            assert la.p is not None and la.r is not None
            p, r = la.p.with_data(la.p.data.astype(dtype)), la.r.with_data(la.r.data.astype(dtype))
            levels.append(Level(a, dinv, rho.astype(jnp.abs(vals).dtype), p, r))
            if la.g_ap is not None and la.g_c is not None:
                ap = matvec(la.g_ap.with_data(la.g_ap.data.astype(dtype)), vals)
                vals = matvec(la.g_c.with_data(la.g_c.data.astype(dtype)), ap)
            else:  # no maps: the setup's coarse values (see `Structure.galerkin`)
                assert coarse is not None
                vals = coarse.values[k].astype(dtype)
        else:
            levels.append(Level(a, dinv, rho.astype(jnp.abs(vals).dtype), None, None))
            if coarse is not None and k > 0:
                lu, piv = coarse.lu.astype(dtype), coarse.piv
            else:
                n = a.n_rows
                dense = jnp.zeros((n, n), vals.dtype).at[la.a.rows, la.a.indices].set(vals)
                lu, piv = jsl.lu_factor(dense)
    return Hierarchy(tuple(levels), lu, piv)


def transpose(h: Hierarchy, structure: Structure) -> Hierarchy:
    """The hierarchy of A^T: transposed level matrices, P' = R^T, R' = P^T, same coarse LU (solved with trans)."""
    levels = []
    for lv, la in zip(h.levels, structure.levels):
        at = la.at.with_data(lv.a.data[la.t_perm])
        if lv.p is None:
            levels.append(Level(at, lv.dinv, lv.rho, None, None))
        else:
            assert la.rt is not None and la.pt is not None
            dtype = lv.p.data.dtype
            levels.append(Level(at, lv.dinv, lv.rho, la.rt.with_data(la.rt.data.astype(dtype)),
                                la.pt.with_data(la.pt.data.astype(dtype))))
    return Hierarchy(tuple(levels), h.lu, h.piv, not h.transposed)


def conj(h: Hierarchy) -> Hierarchy:
    """The hierarchy of conj(A)."""
    return jax.tree_util.tree_map(lambda x: x.conj() if jnp.iscomplexobj(x) else x, h)
