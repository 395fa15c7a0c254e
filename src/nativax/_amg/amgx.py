"""AmgX engine of `nativax.AMG` (optional CUDA extension ``nativax._amgx_cuda``).

STATUS: UNVERIFIED. The extension compiles against AmgX's public ``amgx_c.h``, but this code path has never
been executed on a GPU (nor against a real ``libamgxsh.so``) by this project.

The extension is built only when CUDA and AmgX are found at build time (``AMGX_DIR=/path/to/amgx pip install
.``); it ``dlopen``s ``libamgxsh.so`` at run time. One FFI call (``nativax_amgx_solve``) finds or builds an
AmgX system (config, resources, matrix, vectors, solver) in a native LRU cache keyed by the exact CSR structure,
the config string, the device and a transposed flag; new values on a cached structure cost
``AMGX_matrix_replace_coefficients`` + ``AMGX_solver_resetup``. The adjoint (lineax's ``transpose``) solves with
A^T, whose CSR arrays are A's CSC arrays: no transpose is computed at run time.
"""

from __future__ import annotations

import atexit
import functools
import json
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, Inexact

from .._core.packing import promote
from .._core.pattern import SparsityPattern

TARGET = "nativax_amgx_solve"
BUILD_HINT = (
    "The AmgX engine is built only from source on a machine with the CUDA toolkit and an AmgX build/install: "
    "`AMGX_DIR=/path/to/amgx pip install .` (AMGX_DIR holds include/amgx_c.h and lib/libamgxsh.so); "
    "see docs/amg.md. The AmgX engine is unverified (never run on a GPU by this project)"
)

# AmgX_SOLVE_STATUS values (amgx_c.h).
SOLVE_SUCCESS, SOLVE_FAILED, SOLVE_DIVERGED, SOLVE_NOT_CONVERGED = 0, 1, 2, 3

_ext: Any = None
_err: Exception | None = None


def load() -> Any:
    """Import the extension, register its FFI target for CUDA and its cache hooks (once). None if absent."""
    global _ext, _err
    if _ext is None and _err is None:
        try:
            from .. import _amgx_cuda as ext  # type: ignore[attr-defined]

            for name, capsule in ext.ffi_targets().items():
                jax.ffi.register_ffi_target(name, capsule, platform="CUDA")
            from .._core.caches import register_engine

            register_engine("amgx", lambda: dict(ext.cache_info()), ext.clear_caches, ext.finalize)
            atexit.register(ext.finalize)  # AMGX_finalize before the CUDA runtime goes away
            _ext = ext
        except Exception as e:  # ImportError, or no CUDA-enabled jaxlib to register with
            _err = e
    return _ext


def _cuda_devices() -> list:
    try:
        return list(jax.devices("cuda"))
    except Exception:
        return []


def unavailable_reason() -> str | None:
    """Why `AMG(engine="amgx")` cannot run here (None when it can)."""
    ext = load()
    if ext is None:
        return f"the optional CUDA extension nativax._amgx_cuda is not built or cannot be loaded ({_err})"
    why = ext.load_error()
    if why:
        return str(why)
    if not _cuda_devices():
        return "no CUDA device is visible to JAX (install jax[cuda] and run on an NVIDIA GPU)"
    return None


# ---- configuration ----------------------------------------------------------------------------------


def canonical_config(config: Any) -> str | None:
    """Validate an AmgX config (dict or JSON string, AmgX config_version 2) -> canonical JSON string."""
    if config is None:
        return None
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except json.JSONDecodeError as e:
            raise ValueError(
                f"nativax.AMG: `amgx_config` is not valid JSON ({e}); pass a dict or a JSON object string "
                "(AmgX config_version 2 format)"
            ) from None
    if not isinstance(config, dict):
        raise ValueError(f"nativax.AMG: `amgx_config` must be a dict or a JSON object string, got {type(config).__name__}")
    config = dict(config)
    version = config.setdefault("config_version", 2)
    if version != 2:
        raise ValueError(f"nativax.AMG: `amgx_config['config_version']` must be 2, got {version!r}")
    if not isinstance(config.get("solver"), (dict, str)):
        raise ValueError("nativax.AMG: `amgx_config` needs a 'solver' entry (a dict, AmgX config_version 2 format)")
    try:
        return json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"nativax.AMG: `amgx_config` is not JSON-serialisable: {e}") from None


_KRYLOV = {"cg": "PCG", "gmres": "FGMRES", "bicgstab": "PBICGSTAB"}
_ALGORITHM = {"smoothed_aggregation": ("AGGREGATION", "SIZE_2"), "ruge_stuben": ("CLASSICAL", "PMIS")}
_SMOOTHER = {"jacobi": "BLOCK_JACOBI", "chebyshev": "CHEBYSHEV_POLY"}


def default_config(*, krylov: str | None, method: str, cycle: str, smoother: str, sweeps: int, rtol: float,
                   atol: float, max_steps: int, max_levels: int, max_coarse: int) -> str:
    """An AmgX config mirroring `AMG`'s fields (used when no `amgx_config` is given)."""
    algorithm, selector = _ALGORITHM[method]
    amg = {
        "scope": "amg", "solver": "AMG", "algorithm": algorithm, "selector": selector, "cycle": cycle,
        "presweeps": sweeps, "postsweeps": sweeps, "max_levels": max_levels, "dense_lu_num_rows": max_coarse,
        "smoother": {"scope": "smoother", "solver": _SMOOTHER[smoother], "monitor_residual": 0,
                     "print_solve_stats": 0},
        "print_grid_stats": 0, "print_solve_stats": 0,
    }
    # AmgX has one convergence criterion: relative (to the initial residual = ||b||) unless only atol is set.
    if rtol > 0 or atol == 0:
        stop = {"convergence": "RELATIVE_INI_CORE", "tolerance": rtol}
    else:
        stop = {"convergence": "ABSOLUTE", "tolerance": atol}
    outer = {"scope": "main", "max_iters": max_steps, "monitor_residual": 1, "norm": "L2",
             "print_solve_stats": 0, "obtain_timings": 0, **stop}
    if krylov is None:
        solver = {**amg, **outer}
    else:
        solver = {**outer, "solver": _KRYLOV[krylov],
                  "preconditioner": {**amg, "max_iters": 1, "monitor_residual": 0}}
    result = canonical_config({"config_version": 2, "solver": solver})
    assert result is not None
    return result


# ---- state and solve ----------------------------------------------------------------------------------


class AmgXState(eqx.Module):
    values: Inexact[Array, " nnz"]  # the operator's values, CSC (pattern) order
    pattern: SparsityPattern = eqx.field(static=True)
    symmetric: bool = eqx.field(static=True)
    transposed: bool = eqx.field(static=True)
    packed: Any
    """The operator's (pytree) output and input structures (lineax's `PackedStructures`)."""


@functools.lru_cache(maxsize=32)
def _csr(pattern: SparsityPattern, transposed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(row_ptr, col_ind, perm) of A (or of A^T): CSR values are `values[perm]` (perm None = as stored).

    A^T's CSR is A's CSC, which is how the pattern stores A."""
    n = pattern.shape[0]
    if transposed:
        counts = np.bincount(pattern.cols, minlength=n)
        col_ind, perm = pattern.rows, None
    else:
        counts = np.bincount(pattern.rows, minlength=n)
        perm = np.asarray(pattern.transpose_perm)
        col_ind = pattern.cols[perm]
    row_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return row_ptr, np.ascontiguousarray(col_ind, dtype=np.int32), perm


def solve(state: AmgXState, vector: Array, config: str) -> tuple[Array, Any, dict[str, Any]]:
    n = state.pattern.shape[0]
    vector = jnp.asarray(vector)
    if vector.shape != (n,):
        raise ValueError(f"nativax.AMG: `vector` must have shape ({n},), got {vector.shape}")
    if jnp.iscomplexobj(state.values) or jnp.iscomplexobj(vector):
        raise ValueError("nativax.AMG: engine='amgx' supports real float64 systems only (complex given)")
    if jax.dtypes.canonicalize_dtype(jnp.float64) != np.dtype(np.float64):
        raise ValueError("nativax.AMG: engine='amgx' computes in float64; enable `jax_enable_x64`")
    out_dtype = promote(state.values.dtype, vector.dtype)
    transposed = state.transposed and not state.symmetric
    row_ptr, col_ind, perm = _csr(state.pattern, transposed)
    values = state.values.astype(jnp.float64)
    if perm is not None:
        values = values[perm]
    b = vector.astype(jnp.float64)
    call = jax.ffi.ffi_call(
        TARGET,
        (jax.ShapeDtypeStruct((n,), jnp.float64), jax.ShapeDtypeStruct((2,), jnp.int32)),
        vmap_method="sequential",
    )
    x, info = call(jnp.asarray(row_ptr), jnp.asarray(col_ind), values, b, config=config,
                   transposed=np.int64(transposed))
    status, steps = info[0], info[1]
    finite_in = jnp.all(jnp.isfinite(values)) & jnp.all(jnp.isfinite(b))
    result = lx.RESULTS.where(
        status == SOLVE_SUCCESS,
        lx.RESULTS.successful,
        lx.RESULTS.where(
            ~finite_in,
            lx.RESULTS.nonfinite_input,
            lx.RESULTS.where(status == SOLVE_NOT_CONVERGED, lx.RESULTS.max_steps_reached, lx.RESULTS.breakdown),
        ),
    )
    return x.astype(out_dtype), result, {"num_steps": steps, "amgx_status": status}
