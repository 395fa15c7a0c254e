"""The numeric AMG hierarchy as a pytree, and its resetup inside `jit` from new level-0 values.

`Structure` holds the fixed arrays of a `Symbolic` setup as pytree leaves (pass it into `jit` as an argument);
`resetup` computes every level's values by Galerkin products (two fixed sparse linear maps per level, applied
with the CSR mat-vec), Jacobi diagonals,
spectral-radius estimates for the smoothers, and the LU factors of the dense coarsest matrix."""

from typing import Any, cast

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from jaxtyping import Array, Inexact, Int

from .setup import CsrStructure, Symbolic
from .spmv import Csr, matvec

_POWER_STEPS = 15


def _csr(c: CsrStructure, data=None) -> Csr:
    """A host (NumPy) Csr; `Structure.from_symbolic` moves all of them to the device in one transfer."""
    host: Any = c  # NumPy arrays until `from_symbolic`'s device_put
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

    @classmethod
    def from_symbolic(cls, sym: Symbolic) -> "Structure":
        """All fixed arrays as one pytree of NumPy arrays, moved to the device by one `jax.device_put` (no
        per-array dispatch, nothing compiled)."""
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
        return jax.device_put(cls(tuple(levels), cast(Any, sym.csr_perm)))

    @property
    def n(self) -> int:
        return self.levels[0].a.n_rows


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
    """Numeric setup from level-0 values in the pattern's (CSC) order; no host work, traceable."""
    vals = values[structure.csr_perm]
    levels = []
    for k, la in enumerate(structure.levels):
        a = la.a.with_data(vals)
        d = jnp.where(la.diag >= 0, vals[jnp.maximum(la.diag, 0)], 0)
        dinv = 1 / d
        rho = _spectral_radius(a, dinv)
        if k + 1 < len(structure.levels):
            assert la.p is not None and la.r is not None and la.g_ap is not None and la.g_c is not None
            dtype = vals.dtype
            p, r = la.p.with_data(la.p.data.astype(dtype)), la.r.with_data(la.r.data.astype(dtype))
            levels.append(Level(a, dinv, rho, p, r))
            ap = matvec(la.g_ap.with_data(la.g_ap.data.astype(dtype)), vals)
            vals = matvec(la.g_c.with_data(la.g_c.data.astype(dtype)), ap)
        else:
            levels.append(Level(a, dinv, rho, None, None))
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
