"""Solves with the pieces of a CHOLMOD factorization P A P^T = L D L^H (CHOLMOD's solve systems), on a held
`NumericHandle` or on the cache-managed factorization of an operator's values (under `jit`/`vmap`).

A supernodal factorization is L L^H (D = I); a simplicial one (very sparse matrices, or after a rank-k
update) is L D L^H with unit L. Each system is a linear map of `b`, differentiable wrt `b` (reverse mode
through its adjoint system: L <-> L^H, LD <-> DL^H, P <-> P^T; A, LDL^H and D are self-adjoint).
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Inexact

from ..._core.status import raise_if_failed
from ..engine import CHOLMOD

SYSTEMS: dict[str, int] = {"A": 0, "LDLt": 1, "LD": 2, "DLt": 3, "L": 4, "Lt": 5, "D": 6, "P": 7, "Pt": 8}
"""CHOLMOD's systems: "L" solves L x = b, "Lt" solves L^H x = b, "P" is x = P b, "Pt" is x = P^T b, ..."""
SAMPLE = 9  # x = P^T L^{-H} D^{-1/2} z
_ADJOINT = {0: 0, 1: 1, 2: 3, 3: 2, 4: 5, 5: 4, 6: 6, 7: 8, 8: 7}


def on_values(rows, cols, v2: Array, b3: Array, system: int) -> Array:
    """The system applied with the cached factorization of COO values v2 (vb..., nnz) to b3 (bb..., n, k)."""
    out = (jax.ShapeDtypeStruct(b3.shape, b3.dtype), jax.ShapeDtypeStruct(b3.shape[:-2], jnp.int32))
    call = jax.ffi.ffi_call(CHOLMOD.target("factor_solve"), out, vmap_method="expand_dims")
    x, status = call(rows, cols, v2, b3, system=np.int64(system))
    return raise_if_failed(x, status)


def on_handle(words, b3: Array, system: int) -> Array:
    """The system applied with a held factorization (registry id words) to b3 (..., n, k)."""
    out = (jax.ShapeDtypeStruct(b3.shape, b3.dtype), jax.ShapeDtypeStruct(b3.shape[:-2], jnp.int32))
    call = jax.ffi.ffi_call(CHOLMOD.target("factor_solve_numeric"), out, vmap_method="expand_dims")
    x, status = call(words, b3, system=np.int64(system))
    return raise_if_failed(x, status)


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def held_system(words, b3: Inexact[Array, "*batch n k"], system: int) -> Array:
    return on_handle(words, b3, system)


def _fwd(words, b3, system):
    return on_handle(words, b3, system), words


def _bwd(system, words, ct):
    # The transpose of b -> M b is ct -> M^T ct = conj(M^H conj(ct)), and M^H is the adjoint system.
    conj = jnp.conj if jnp.iscomplexobj(ct) else (lambda a: a)
    return None, conj(on_handle(words, conj(ct), _ADJOINT[system]))


held_system.defvjp(_fwd, _bwd)
