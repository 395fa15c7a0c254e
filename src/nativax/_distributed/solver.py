"""`DistributedCholesky`: the lineax solver around the multi-device Cholesky of `distributed`."""

from __future__ import annotations

import dataclasses
import functools as ft
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx

from .._core import packing
from .checks import _Cfg, _constrain, _has_explicit_axes, _resolve, _sharding_of
from .factor import NotPositiveDefiniteError, _factor_jit, _solve_with_factor

__all__ = ["DistributedCholesky", "NotPositiveDefiniteError"]

# --------------------------------------------------------------------------------------------
# lineax solver
# --------------------------------------------------------------------------------------------


class _State(eqx.Module):
    factor: Any
    info: Any
    cfg: _Cfg = eqx.field(static=True)
    negate: bool = eqx.field(static=True)
    conjugate: bool = eqx.field(static=True)
    packed: packing.PackedStructures
    """The operator's (pytree) output and input structures, as lineax packs them."""


class DistributedCholesky(lx.AbstractLinearSolver):
    """Multi-device Cholesky solver for (possibly sharded) positive/negative definite matrices.

    Use with `lineax.MatrixLinearOperator(A, lineax.positive_semidefinite_tag)` (or the
    negative-semidefinite tag). ``init`` factors once (distributed, `potrf`-style in the
    internal block-cyclic order); ``compute`` runs the distributed triangular solves, so a
    factorization is reused by every solve, by the JVP and by the adjoint (the matrix is
    self-adjoint: ``transpose``/``conj`` only flip a flag). A matrix that is not positive
    definite gives ``lineax.RESULTS.singular`` (``throw=True`` raises).

    **Arguments:** `mesh`, `in_specs`, `tile`, `pad`, `engine` as in `potri` (defaults: the
    matrix's own sharding, else a 1-D mesh over all devices).
    """

    mesh: Any = eqx.field(static=True, default=None)
    in_specs: Any = eqx.field(static=True, default=None)
    tile: int = eqx.field(static=True, default=256)
    pad: bool = eqx.field(static=True, default=True)
    engine: str = eqx.field(static=True, default="auto")
    raise_on_failure: bool = eqx.field(static=True, default=True)

    def init(self, operator, options):
        del options
        is_nsd = lx.is_negative_semidefinite(operator)
        if not (lx.is_positive_semidefinite(operator) or is_nsd):
            raise ValueError(
                "DistributedCholesky may only be used for positive or negative definite "
                "operators: tag them with lineax.positive_semidefinite_tag (or "
                "negative_semidefinite_tag)."
            )
        if operator.in_size() != operator.out_size():
            raise ValueError("DistributedCholesky requires a square operator.")
        if operator.in_structure() != operator.out_structure():
            raise ValueError("DistributedCholesky requires matching input and output structures.")
        matrix = operator.as_matrix()
        cfg = _resolve(matrix, self.tile, self.mesh, self.in_specs, self.pad, self.engine,
                       "DistributedCholesky")
        if is_nsd:
            matrix = -matrix
        factor, info = _factor_jit(matrix, cfg, bool(self.raise_on_failure))
        return _State(factor, info, cfg, bool(is_nsd), False, packing.pack(operator))

    def compute(self, state: _State, vector, options):
        del options
        flat = packing.ravel(vector, state.packed, "DistributedCholesky")
        dtype = state.factor.dtype
        b = flat.astype(packing.promote(dtype, flat.dtype))
        if jnp.dtype(b.dtype) != jnp.dtype(dtype):
            raise TypeError(
                f"DistributedCholesky: right-hand side dtype {flat.dtype} needs a {b.dtype} "
                f"factorization, but the matrix is {dtype}."
            )
        if state.conjugate:
            b = jnp.conj(b)
        x = _solve_jit(state.factor, b[:, None], state.cfg)[:, 0]
        if state.conjugate:
            x = jnp.conj(x)
        if state.negate:
            x = -x
        x = jnp.where(state.info == 0, x, jnp.full((), jnp.nan, x.dtype))
        x = _laid_out_like(x, flat, state.cfg)
        solution = packing.unravel(x, state.packed)
        result = lx.RESULTS.where(state.info == 0, lx.RESULTS.successful, lx.RESULTS.singular)
        return solution, result, {}

    def transpose(self, state: _State, options):
        # Hermitian: A^T = conj(A), so solve with the conjugated factor (a flag, no copy).
        return dataclasses.replace(state, conjugate=not state.conjugate, packed=packing.transpose(state.packed)), options

    def conj(self, state: _State, options):
        return dataclasses.replace(state, conjugate=not state.conjugate), options

    def assume_full_rank(self):
        return True


def _laid_out_like(x, b, cfg: _Cfg):
    """On a mesh with Explicit axes, give the (replicated) solution the sharding of the right-hand side: the
    operator's input and output structures are equal, so the solution's type must be the vector's."""
    sharding = _sharding_of(b)
    if sharding is None or not _has_explicit_axes(cfg.mesh):
        return x
    return _constrain(x, cfg, sharding.spec)


@ft.partial(jax.jit, static_argnums=2)
def _solve_jit(factor, b, cfg: _Cfg):
    return _solve_with_factor(factor, b, cfg)


DistributedCholesky.__init__.__doc__ = """**Arguments:**

- `mesh`: `jax.sharding.Mesh` (default: from the matrix's sharding, else all devices).
- `in_specs`: ``P(axis, None)`` (default: from the matrix's sharding or the mesh's only axis).
- `tile`: tile width of the block-cyclic distribution (default 256).
- `pad`: allow identity padding of shards (default True).
- `engine`: ``"auto"``, ``"shard_map"`` or ``"cusolvermg"`` (unverified).
- `raise_on_failure`: raise `NotPositiveDefiniteError` (from a host callback on every device
  at once) when the matrix is not positive definite (default True). ``False`` instead returns
  NaN and ``lineax.RESULTS.singular``: use it **only together with**
  ``lineax.linear_solve(..., throw=False)``. With ``throw=True`` on a multi-device mesh,
  equinox's error branch runs its host callback on one device while the others wait for its
  result in a collective, which XLA aborts after a 40 s rendezvous timeout.
"""
