"""Operations on a held CHOLMOD factorization (`nativax.cholmod.factor`): solves with its pieces, log det, and
rank-k update/downdate (`cholmod_updown`) into a new handle."""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Inexact

from ..engine import CHOLMOD
from ..ffi import handle_words
from ..handles import (
    NumericHandle,
    SingularMatrixError,
    _flatten_numeric,
    _unflatten_numeric,
)
from . import pieces
from .selinv import check_numeric


class UpdatedNumericHandle(NumericHandle):
    """A CHOLMOD factorization of `A + sign * C C^T`, made by `nativax.gaussian.update`/`downdate` from a held
    factorization of A. Solves, log det, selected inversion and sampling use the updated matrix; `values`
    still holds A's values (A + C C^T may have entries outside A's pattern), so it cannot be pickled or
    refactored in place of the updated matrix."""

    __slots__ = ()

    def __reduce__(self):
        raise TypeError("nativax: an updated CHOLMOD factorization cannot be pickled (its matrix A + C C^T is not "
                        "stored); pickle the original handle and the update columns instead")


def solve_factor(numeric: NumericHandle, b: Inexact[ArrayLike, "n ..."], system: str = "A") -> Inexact[Array, "n ..."]:
    """Solve with one piece of the held factorization P A P^T = L D L^H: `system` is one of "A", "LDLt", "LD",
    "DLt", "L", "Lt", "D", "P", "Pt" (CHOLMOD's systems: "L" solves L x = b, "Lt" solves L^H x = b, "P" gives
    P b, "Pt" gives P^T b). `b` has shape (n,) or (n, k). Differentiable wrt `b` (reverse mode)."""
    check_numeric(numeric, "solve_factor")
    if system not in pieces.SYSTEMS:
        raise ValueError(f"nativax.gaussian.solve_factor: `system` must be one of {sorted(pieces.SYSTEMS)}, got "
                         f"{system!r}")
    b = jnp.asarray(b)
    if b.ndim not in (1, 2) or b.shape[0] != numeric.n:
        raise ValueError(f"nativax.gaussian.solve_factor: `b` must have shape (n,) or (n, k) with n = {numeric.n}, "
                         f"got {b.shape}")
    if not jnp.issubdtype(b.dtype, jnp.inexact):
        raise TypeError(f"nativax.gaussian.solve_factor: `b` must be floating or complex, got {b.dtype}")
    cplx = np.iscomplexobj(numeric.values)
    if jnp.iscomplexobj(b) and not cplx:
        raise TypeError("nativax.gaussian.solve_factor: complex `b` for a real factorization")
    b3 = b.astype(jnp.complex128 if cplx else jnp.float64).reshape(1, numeric.n, -1)
    x = pieces.held_system(handle_words(numeric.id), b3, pieces.SYSTEMS[system])
    return x.reshape(b.shape)


def handle_logdet(numeric: NumericHandle) -> Float[Array, ""]:
    """log det A of a held factorization (eager, from its diagonal; no refactorization)."""
    check_numeric(numeric, "logdet")
    return jnp.asarray(CHOLMOD.native("handle_logdet")(numeric.id))


def _updown(numeric: NumericHandle, C: Float[ArrayLike, "n ..."], downdate: bool, fn: str) -> UpdatedNumericHandle:
    check_numeric(numeric, fn)
    if np.iscomplexobj(numeric.values):
        raise TypeError(f"nativax.gaussian.{fn}: CHOLMOD's rank-k update/downdate is real only; got a complex "
                        "factorization")
    c = np.asarray(C)
    if c.dtype == np.bool_ or not (np.issubdtype(c.dtype, np.floating) or np.issubdtype(c.dtype, np.integer)):
        raise TypeError(f"nativax.gaussian.{fn}: `C` must be a real array, got dtype {c.dtype}")
    if c.ndim == 1:
        c = c[:, None]
    if c.ndim != 2 or c.shape[0] != numeric.n:
        raise ValueError(f"nativax.gaussian.{fn}: `C` must have shape (n,) or (n, k) with n = {numeric.n}, "
                         f"got {np.shape(C)}")
    c = np.asfortranarray(c, dtype=np.float64)
    if not np.all(np.isfinite(c)):
        raise ValueError(f"nativax.gaussian.{fn}: `C` contains NaN or Inf")
    result = int(CHOLMOD.native("updown")(numeric.id, c, downdate))
    if result < 0:
        what = "the downdated matrix A - C C^T is not positive definite" if downdate else "the update failed"
        raise SingularMatrixError(f"nativax.gaussian.{fn}: {what} (status {-result}); the original factorization "
                                  "is unchanged")
    return UpdatedNumericHandle(result, numeric.symbolic, numeric.values)


def update(numeric: NumericHandle, C: Float[ArrayLike, "n ..."]) -> UpdatedNumericHandle:
    """A new handle factorizing `A + C C^T` (C real, shape (n,) or (n, k)), by CHOLMOD's rank-k update of the
    held factorization of A: O(k * fill along C's elimination paths), far less than a fresh factorization for
    small k. `numeric` stays valid and unchanged; the new handle follows the usual lifetime rules (`with`,
    `.close()`, garbage collection)."""
    return _updown(numeric, C, False, "update")


def downdate(numeric: NumericHandle, C: Float[ArrayLike, "n ..."]) -> UpdatedNumericHandle:
    """A new handle factorizing `A - C C^T`, as `update`. Raises `nativax.SingularMatrixError` when
    `A - C C^T` is not positive definite; `numeric` is unchanged either way."""
    return _updown(numeric, C, True, "downdate")


def _unflatten_updated(aux: None, leaves: tuple) -> UpdatedNumericHandle:
    h = _unflatten_numeric(aux, leaves)
    if isinstance(h, UpdatedNumericHandle):
        return h
    view = UpdatedNumericHandle.__new__(UpdatedNumericHandle)
    view._init_view(h.words)
    view.symbolic, view.values, view.info = h.symbolic, h.values, h.info
    return view


# A pytree like every numeric handle (registry id, symbolic, values, info as leaves).
jax.tree_util.register_pytree_node(UpdatedNumericHandle, _flatten_numeric, _unflatten_updated)
