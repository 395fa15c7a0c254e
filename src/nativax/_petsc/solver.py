"""`nativax.PETSc`: PETSc's KSP/PC (MUMPS, SuperLU_DIST, hypre BoomerAMG, GAMG, or any options string) as an
immutable lineax solver.

The work is one FFI call per solve (`ffi.py`, handler in `native/petsc/`), which finds or builds the PETSc
Mat + KSP of this pattern and options in a native cache, loads the values if they changed (symbolic analysis
reused) and solves; the adjoint solve of `jax.grad` is `KSPSolveTranspose` on the same factorization or
preconditioner. lineax's `linear_solve` supplies the derivative rules (the operator's `mv` for derivatives with
respect to the matrix values, this solver's `transpose` for the adjoint).

Operators: a `SparseOperator` (or anything `nativax.as_sparse_operator` accepts) in a single process, or a
`RowPartitionedOperator` (each process's own rows) in a program started by `mpiexec`, one rank per process.
"""

from __future__ import annotations

import functools
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, Float

from .._core import packing
from .._core.convert import as_sparse_operator
from .._core.pattern import SparsityPattern
from . import config, ext, ffi, status
from .operator import RowPartitionedOperator, _TransposedRows
from .rows import LocalRows


@functools.lru_cache(maxsize=32)
def _csr(pattern: SparsityPattern) -> tuple[LocalRows, np.ndarray]:
    """A whole (single-process) pattern as LocalRows, and the permutation from pattern order to CSR order."""
    n = pattern.shape[0]
    perm = np.asarray(pattern.transpose_perm)
    row_ptr = np.concatenate([[0], np.cumsum(np.bincount(pattern.rows, minlength=n))])
    return LocalRows(row_ptr, pattern.cols[perm], n, 0), perm


class PETScState(eqx.Module):
    values: Float[Array, " nnz"]
    """The local values in CSR order (`rows.cols` order)."""
    rows: LocalRows = eqx.field(static=True)
    transposed: bool = eqx.field(static=True)
    packed: packing.PackedStructures


class PETSc(lx.AbstractLinearSolver[PETScState]):
    """Solve with PETSc: a preset (`"mumps_lu"`, `"mumps_cholesky"`, `"superlu_dist"`, `"hypre"` = CG +
    BoomerAMG, `"gamg"` = CG + GAMG) and/or raw PETSc `options` (appended after the preset; they win).

    Float64 (float32 inputs are solved in float64 and cast back); this PETSc build is real, so complex systems
    are refused. Failures (singular matrix, factorization out of memory, Krylov divergence or iteration cap,
    NaN/Inf input, ranks out of step) come back as `lx.RESULTS` (raised by `lx.linear_solve`'s default
    `throw=True`) with the reason in `stats["petsc_status"]` and `stats["ksp_reason"]`, the same on every rank.
    """

    preset: str | None = eqx.field(static=True, default="mumps_lu")
    """One of `nativax.petsc.PRESETS`, or None to use `options` alone."""
    options: str = eqx.field(static=True, default="", converter=config.check_options)
    """Extra PETSc options, e.g. `"-pc_hypre_boomeramg_strong_threshold 0.5"` or `"-ksp_type gmres -pc_type
    ilu"` (without a preset); applied after the preset's."""
    rtol: float = eqx.field(static=True, default=1e-10)
    """Krylov presets/options: stop when ||b - A x|| <= max(rtol ||b||, atol) (unpreconditioned norm for the
    CG presets)."""
    atol: float = eqx.field(static=True, default=0.0)
    """Krylov presets/options: absolute tolerance."""
    max_steps: int = eqx.field(static=True, default=10_000)
    """Krylov presets/options: iteration cap (`lx.RESULTS.max_steps_reached` beyond it)."""

    def __check_init__(self):
        if self.preset is not None and self.preset not in config.PRESETS:
            raise ValueError(f"nativax.PETSc: unknown `preset` {self.preset!r}; expected one of {tuple(config.PRESETS)} or None")
        if self.preset is None and not self.options:
            raise ValueError("nativax.PETSc: give a `preset` or PETSc `options` (both are empty)")
        for name, tol in (("rtol", self.rtol), ("atol", self.atol)):
            if not isinstance(tol, (int, float)) or isinstance(tol, bool) or not np.isfinite(tol) or tol < 0:
                raise ValueError(f"nativax.PETSc: `{name}` must be a finite float >= 0, got {tol!r}")
        if not isinstance(self.max_steps, int) or isinstance(self.max_steps, bool) or self.max_steps < 1:
            raise ValueError(f"nativax.PETSc: `max_steps` must be a positive int, got {self.max_steps!r}")

    @property
    def options_string(self) -> str:
        """The complete PETSc options this solver runs with (preset, tolerances, then `options`)."""
        return config.options_string(self.preset, self.options, self.rtol, self.atol, self.max_steps)

    # ---- lineax solver interface ----------------------------------------------------------------------
    def init(self, operator: lx.AbstractLinearOperator, options: dict[str, Any]) -> PETScState:
        del options
        e = ext.require()
        if isinstance(operator, _TransposedRows):
            state = self.init(operator.operator, {})
            return PETScState(state.values, state.rows, True, packing.transpose(state.packed))
        if isinstance(operator, RowPartitionedOperator):
            rows, values = operator.rows, operator.values
        else:
            op = as_sparse_operator(operator)
            op.pattern.require_square("nativax.PETSc")
            if jnp.iscomplexobj(op.values):
                raise ValueError(_COMPLEX)
            err = e.initialize()
            if err:
                raise RuntimeError(f"nativax.PETSc: {err}")
            rank_size = e.comm()
            if rank_size[1] > 1:
                raise ValueError(
                    f"nativax.PETSc: this is rank {rank_size[0]} of {rank_size[1]} MPI ranks; in a multi-process "
                    "run pass each process's rows as a nativax.petsc.RowPartitionedOperator, not a whole operator"
                )
            if self.preset == "mumps_cholesky" and not op.pattern.is_structurally_symmetric:
                raise ValueError(
                    "nativax.PETSc(preset='mumps_cholesky') needs a symmetric matrix stored with both triangles, but "
                    "the sparsity pattern is not symmetric; use preset='mumps_lu' or 'superlu_dist'"
                )
            rows, perm = _csr(op.pattern)
            values = op.values[perm]
        if jnp.iscomplexobj(values):
            raise ValueError(_COMPLEX)
        return PETScState(values, rows, False, packing.pack(operator))

    def compute(self, state: PETScState, vector, options: dict[str, Any]):
        del options
        b = packing.ravel(vector, state.packed, "nativax.PETSc")
        if jnp.iscomplexobj(b):
            raise ValueError(_COMPLEX)
        if jax.dtypes.canonicalize_dtype(jnp.float64) != np.dtype(np.float64):
            raise ValueError("nativax.PETSc computes in float64; enable it with jax.config.update('jax_enable_x64', True)")
        rows = state.rows
        # The symmetric presets need A = A^T, so their adjoint is the forward solve (same factorization or
        # preconditioner); others use KSPSolveTranspose (natively: an explicit A^T where PETSc's own transpose
        # solve is unreliable, see native/petsc/system.cc).
        transposed = state.transposed and self.preset not in config.SYMMETRIC
        if transposed and _uses_superlu_dist(self.options_string):
            raise NotImplementedError(
                "nativax.PETSc: the transposed (adjoint) solve with SuperLU_DIST is not available: PETSc 3.18's "
                "SuperLU_DIST transpose solve returns A^-1 b instead of A^-T b, and factoring an explicit A^T with "
                "SuperLU_DIST crashed (heap corruption at PetscFinalize). Differentiate with preset='mumps_lu'."
            )
        x, info = ffi.solve(rows.row_ptr, rows.cols, state.values.astype(jnp.float64), b.astype(jnp.float64),
                            self.options_string, rows.n_global, transposed)
        code = info[0]
        out_dtype = packing.promote(state.values.dtype, b.dtype)
        stats = {"petsc_status": code, "ksp_reason": info[1], "num_steps": info[2]}
        return packing.unravel(x.astype(out_dtype), state.packed), status.to_result(code), stats

    def transpose(self, state: PETScState, options: dict[str, Any]):
        return PETScState(state.values, state.rows, not state.transposed, packing.transpose(state.packed)), options

    def conj(self, state: PETScState, options: dict[str, Any]):
        return state, options  # real values only

    def assume_full_rank(self) -> bool:
        return True


def _uses_superlu_dist(options: str) -> bool:
    tokens = options.split()
    types = [tokens[i + 1] for i, t in enumerate(tokens[:-1]) if t == "-pc_factor_mat_solver_type"]
    return bool(types) and types[-1] == "superlu_dist"


_COMPLEX = (
    "nativax.PETSc: this PETSc build is real (libpetsc-real); complex systems need a complex PETSc build, which "
    "nativax does not link. Use nativax.UMFPACK/KLU for complex matrices."
)


def rank_and_size() -> tuple[int, int]:
    """(rank, size) of PETSc's MPI communicator (initializes PETSc; (0, 1) in a plain single process)."""
    e = ext.require()
    err = e.initialize()
    if err:
        raise RuntimeError(f"nativax.PETSc: {err}")
    r, s = e.comm()
    return int(r), int(s)


def cache_info() -> dict[str, int]:
    """The PETSc engine's counters: setups (new Mat + KSP), numeric_updates (new values on a cached system),
    reuses (solves on the loaded values: factorization/preconditioner reused), solves, transpose_solves, ..."""
    return dict(ext.require().cache_info())


def reset_cache_counters() -> None:
    """Zero the PETSc engine's counters (cached systems are kept)."""
    ext.require().reset_cache_counters()
