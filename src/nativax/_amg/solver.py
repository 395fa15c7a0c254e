"""`nativax.AMG`: algebraic multigrid as an immutable lineax solver (JAX engine on any backend).

The hierarchy (aggregation/coarsening, transfer operators) is set up once per sparsity pattern on the host with
pyamg; coarse operators, smoother parameters and the coarse LU are recomputed inside `jit` from the operator's
values, so changing coefficients costs no host round-trip. Cycles and Krylov loops are pure JAX; the CSR
mat-vecs use nativax's parallel native kernel on CPU."""

import dataclasses
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, Inexact

from .._core import packing
from .._core.convert import as_sparse_operator
from .._core.operator import SparseOperator
from .._core.pattern import SparsityPattern
from . import amgx as _amgx
from . import cycle as cyc
from . import hierarchy as hier
from . import krylov as kry
from . import setup as setup_
from .spmv import matvec

_AUTO = "auto"


class _AMGState(eqx.Module):
    hierarchy: hier.Hierarchy
    structure: hier.Structure
    values: Inexact[Array, " nnz"]
    symmetric: bool = eqx.field(static=True)
    transposed: bool = eqx.field(static=True)
    conjugated: bool = eqx.field(static=True)
    packed: packing.PackedStructures
    """The operator's (pytree) output and input structures, as lineax packs them."""
    hermitian: bool = eqx.field(static=True, default=False)
    """Complex and only Hermitian (tagged positive semidefinite, not symmetric): A^T = conj(A)."""


def _concrete(x: Array) -> np.ndarray | None:
    try:
        return np.asarray(x)
    except Exception:  # traced
        return None


class AMG(lx.AbstractLinearSolver[_AMGState | _amgx.AmgXState]):
    """Algebraic multigrid for square sparse operators (SPD/elliptic best; nonsymmetric with GMRES/BiCGStab).

    Recommended: `solver = AMG(...).setup(operator)` eagerly (pyamg runs on the operator's real values, once
    per sparsity pattern and options, cached), then pass `solver` into jitted functions as an argument: its
    hierarchy arrays are pytree leaves, and new values with the same pattern are set up inside `jit`. Without
    `setup`, a solve inside `jit` (including `lx.linear_solve`, which traces) uses a cached setup for the
    pattern, or builds one from the pattern alone (aggregating as for its graph Laplacian; coarse operators
    still come from the real values), and its arrays are then embedded in the compiled program as constants.
    """

    engine: str = eqx.field(static=True, default="jax")
    """"jax" (any backend) or "amgx" (NVIDIA AmgX on a CUDA GPU; only in builds made with `AMGX_DIR`, see the
    docs; unverified: never run on a GPU by this project)."""
    method: str = eqx.field(static=True, default="smoothed_aggregation")
    """"smoothed_aggregation" or "ruge_stuben" (pyamg's setups)."""
    cycle: str = eqx.field(static=True, default="V")
    """Multigrid cycle: "V", "W" or "F"."""
    smoother: str = eqx.field(static=True, default="jacobi")
    """"jacobi" (damped by 4/(3 rho(D^-1 A))) or "chebyshev" (degree 2, Jacobi-preconditioned)."""
    sweeps: int = eqx.field(static=True, default=1)
    """Smoother applications before and after each coarse correction."""
    krylov: str | None = eqx.field(static=True, default=_AUTO)
    """"cg" (Hermitian positive definite), "gmres", "bicgstab", None (stationary cycling) or "auto" (CG for
    operators tagged symmetric/positive semidefinite with real values, else GMRES)."""
    rtol: float = eqx.field(static=True, default=1e-8)
    """Relative tolerance: stop when ||b - A x|| <= atol + rtol ||b||."""
    atol: float = eqx.field(static=True, default=0.0)
    """Absolute tolerance."""
    max_steps: int = eqx.field(static=True, default=1000)
    """Iteration cap; exceeding it gives `lx.RESULTS.max_steps_reached`."""
    max_levels: int = eqx.field(static=True, default=10)
    """Most levels in the hierarchy."""
    max_coarse: int = eqx.field(static=True, default=300)
    """Coarsest size at most this (solved by dense LU)."""
    structure: hier.Structure | None = None
    """Held symbolic setup (from `setup`), as pytree leaves; None = look it up in the host cache."""
    pattern: SparsityPattern | None = eqx.field(static=True, default=None)
    """The pattern `structure` belongs to."""
    amgx_config: str | None = eqx.field(static=True, default=None, converter=_amgx.canonical_config)
    """engine="amgx" only: an AmgX configuration (dict or JSON string, config_version 2) passed through as is;
    None = one derived from the fields above. Stored as canonical JSON."""

    def __check_init__(self):
        if self.engine not in ("jax", "amgx"):
            raise ValueError(f"nativax.AMG: unknown `engine` {self.engine!r}; expected 'jax' or 'amgx'")
        if self.engine != "amgx" and self.amgx_config is not None:
            raise ValueError("nativax.AMG: `amgx_config` applies to engine='amgx' only")
        for name, value, allowed in (
            ("method", self.method, setup_.METHODS),
            ("cycle", self.cycle, cyc.CYCLES),
            ("smoother", self.smoother, cyc.SMOOTHERS),
            ("krylov", self.krylov, (*kry.KRYLOVS, _AUTO)),
        ):
            if value not in allowed:
                raise ValueError(f"nativax.AMG: unknown `{name}` {value!r}; expected one of {allowed}")
        for name, value in (("sweeps", self.sweeps), ("max_steps", self.max_steps), ("max_levels", self.max_levels),
                            ("max_coarse", self.max_coarse)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"nativax.AMG: `{name}` must be a positive int, got {value!r}")
        for name, tol in (("rtol", self.rtol), ("atol", self.atol)):
            if not isinstance(tol, (int, float)) or not np.isfinite(tol) or tol < 0:
                raise ValueError(f"nativax.AMG: `{name}` must be a finite float >= 0, got {tol!r}")
        if self.engine == "amgx":
            why = _amgx.unavailable_reason()
            if why is not None:
                raise ValueError(
                    f"nativax.AMG: `engine='amgx'` is not available: {why}. {_amgx.BUILD_HINT}. "
                    "Use engine='jax', which runs on GPUs too."
                )

    # ---- setup --------------------------------------------------------------------------------------
    def _symbolic(self, op: SparseOperator, refresh: bool = False) -> setup_.Symbolic:
        values = _concrete(op.values)
        if values is not None and not np.all(np.isfinite(values)):
            raise ValueError("nativax.AMG: the operator's `values` contain NaN or Inf")
        return setup_.symbolic(op.pattern, values, self.method, self.max_levels, self.max_coarse, refresh)

    def setup(self, operator: lx.AbstractLinearOperator) -> "AMG":
        """Run pyamg on `operator` now (eager; values concrete) and return a solver holding the result.

        The result also replaces the cached setup for this pattern and these options."""
        op = _square(as_sparse_operator(operator))
        if _concrete(op.values) is None:
            raise ValueError("nativax.AMG.setup: call it eagerly (outside jit); `operator` values are traced")
        if self.engine == "amgx":
            return self  # AmgX sets itself up inside the solve (native resource cache)
        structure = hier.Structure.from_symbolic(self._symbolic(op, refresh=True))
        return dataclasses.replace(self, structure=structure, pattern=op.pattern)

    def _structure(self, op: SparseOperator) -> hier.Structure:
        if self.structure is not None:
            if self.pattern != op.pattern:
                raise ValueError("nativax.AMG: the operator's sparsity pattern differs from the one this solver was "
                                 "set up for; call `setup` again with the new operator")
            return self.structure
        return hier.Structure.from_symbolic(self._symbolic(op))

    def hierarchy(self, operator: lx.AbstractLinearOperator) -> _AMGState:
        """The numeric hierarchy for `operator` (traceable when this solver holds a setup)."""
        op = _square(as_sparse_operator(operator))
        structure = self._structure(op)
        symmetric = lx.is_symmetric(op) or lx.is_positive_semidefinite(op)
        hermitian = symmetric and jnp.iscomplexobj(op.values) and not lx.is_symmetric(op)
        h = hier.resetup(structure, op.values)
        return _AMGState(h, structure, op.values, bool(symmetric), False, False, packing.pack(operator),
                         bool(hermitian))

    # ---- lineax solver interface ----------------------------------------------------------------------
    def init(self, operator: lx.AbstractLinearOperator, options: dict[str, Any]) -> _AMGState | _amgx.AmgXState:
        del options
        if self.engine == "amgx":
            op = _square(as_sparse_operator(operator))
            values = _concrete(op.values)
            if values is not None and not np.all(np.isfinite(values)):
                raise ValueError("nativax.AMG: the operator's `values` contain NaN or Inf")
            symmetric = lx.is_symmetric(op) or lx.is_positive_semidefinite(op)
            return _amgx.AmgXState(op.values, op.pattern, bool(symmetric), False, packing.pack(operator))
        return self.hierarchy(operator)

    def _amgx_config(self, state: _amgx.AmgXState) -> str:
        if self.amgx_config is not None:
            return self.amgx_config
        krylov = self.krylov
        if krylov == _AUTO:
            krylov = "cg" if state.symmetric and not jnp.iscomplexobj(state.values) else "gmres"
        return _amgx.default_config(
            krylov=krylov, method=self.method, cycle=self.cycle, smoother=self.smoother, sweeps=self.sweeps,
            rtol=self.rtol, atol=self.atol, max_steps=self.max_steps, max_levels=self.max_levels,
            max_coarse=self.max_coarse,
        )

    def _effective(self, state: _AMGState) -> hier.Hierarchy:
        h = state.hierarchy
        if state.transposed and not state.symmetric:
            h = hier.transpose(h, state.structure)
        if state.conjugated:
            h = hier.conj(h)
        return h

    def _krylov(self, state: _AMGState) -> str | None:
        if self.krylov != _AUTO:
            return self.krylov
        real = not jnp.iscomplexobj(state.values)
        return "cg" if state.symmetric and real else "gmres"

    def compute(self, state: _AMGState | _amgx.AmgXState, vector, options: dict[str, Any]):
        del options
        vector = packing.ravel(vector, state.packed, "nativax.AMG")
        if isinstance(state, _amgx.AmgXState):
            x, result, stats = _amgx.solve(state, vector, self._amgx_config(state))
            return packing.unravel(x, state.packed), result, stats
        h = self._effective(state)
        a0 = h.levels[0].a
        dtype = packing.promote(a0.data.dtype, vector.dtype)
        b = vector.astype(dtype)
        x, steps, converged = kry.run(
            self._krylov(state), lambda v: matvec(a0, v),
            lambda v: cyc.apply(h, v, self.cycle, self.smoother, self.sweeps),
            b, self.rtol, self.atol, self.max_steps,
        )
        finite_in = jnp.all(jnp.isfinite(state.values)) & jnp.all(jnp.isfinite(b))
        # Non-finite input first: it must never read as converged (the tolerance rtol*||b|| is then Inf too).
        result = lx.RESULTS.where(
            ~finite_in,
            lx.RESULTS.nonfinite_input,
            lx.RESULTS.where(
                converged & jnp.all(jnp.isfinite(x)),
                lx.RESULTS.successful,
                lx.RESULTS.where(jnp.all(jnp.isfinite(x)), lx.RESULTS.max_steps_reached, lx.RESULTS.breakdown),
            ),
        )
        # Arrays only: `jax.jit` may return the whole Solution. `AMG.summary(op)` gives the text version.
        stats = {"num_steps": steps, "n": jnp.asarray(state.structure.n), "nnz": jnp.asarray(state.values.shape[0]),
                 "levels": jnp.asarray(len(h.levels)),
                 "level_sizes": jnp.asarray([int(lv.a.indptr.shape[0]) - 1 for lv in h.levels]),
                 "level_nnz": jnp.asarray([int(lv.a.indices.shape[0]) for lv in h.levels])}
        return packing.unravel(x, state.packed), result, stats

    def transpose(self, state: _AMGState | _amgx.AmgXState, options: dict[str, Any]):
        packed = packing.transpose(state.packed)
        if isinstance(state, _AMGState) and state.hermitian:  # A^T = conj(A): the same hierarchy, conjugated
            return dataclasses.replace(state, conjugated=not state.conjugated, packed=packed), options
        return dataclasses.replace(state, transposed=not state.transposed, packed=packed), options

    def conj(self, state: _AMGState | _amgx.AmgXState, options: dict[str, Any]):
        if isinstance(state, _amgx.AmgXState):
            return state, options  # real systems only
        return dataclasses.replace(state, conjugated=not state.conjugated), options

    def assume_full_rank(self) -> bool:
        return True

    def summary(self, operator: lx.AbstractLinearOperator) -> str:
        """A text summary of the hierarchy for `operator` (like pyamg's `print(ml)`): per level the size, the
        nonzeros and their share, plus grid and operator complexity. Cheap: uses the cached symbolic setup."""
        if self.engine == "amgx":
            return "nativax.AMG(engine='amgx'): the hierarchy lives inside AmgX; no summary available"
        op = _square(as_sparse_operator(operator))
        levels = self._structure(op).levels
        sizes = [int(lv.a.indptr.shape[0]) - 1 for lv in levels]
        nnzs = [int(lv.a.indices.shape[0]) for lv in levels]
        lines = [
            f"nativax.AMG {self.method}, cycle {self.cycle}, smoother {self.smoother} x{self.sweeps}",
            f"Number of levels:    {len(levels)}",
            f"Operator complexity: {sum(nnzs) / max(nnzs[0], 1):.3f}",
            f"Grid complexity:     {sum(sizes) / max(sizes[0], 1):.3f}",
            "  level   unknowns     nonzeros",
        ]
        total = max(sum(nnzs), 1)
        for i, (m, z) in enumerate(zip(sizes, nnzs)):
            lines.append(f"  {i:>5} {m:>10} {z:>12} [{100 * z / total:5.2f}%]")
        return "\n".join(lines)

    # ---- preconditioner -------------------------------------------------------------------------------
    def preconditioner(self, operator: lx.AbstractLinearOperator) -> lx.FunctionLinearOperator:
        """One AMG cycle as a lineax operator, e.g. `options={"preconditioner": ...}` for `lx.CG`/`lx.GMRES`.

        Tagged symmetric positive semidefinite when the operator is (R = P^T and mirrored smoothing keep the
        cycle symmetric), as `lx.CG` requires."""
        state = self.hierarchy(operator)
        tags = (lx.symmetric_tag, lx.positive_semidefinite_tag) if state.symmetric else ()
        h, packed = state.hierarchy, state.packed

        def fn(v):
            x = cyc.apply(h, packing.ravel(v, packed, "nativax.AMG.preconditioner"), self.cycle, self.smoother,
                          self.sweeps)
            return packing.unravel(x, packed)

        return lx.FunctionLinearOperator(fn, operator.out_structure(), tags)


def _square(op: SparseOperator) -> SparseOperator:
    op.pattern.require_square("nativax.AMG")
    return op


def setup_info() -> dict[str, int]:
    """Host (pyamg) setups done so far, symbolic-cache hits and live entries."""
    return setup_.setup_info()


def clear_setup_cache() -> None:
    """Drop every cached symbolic AMG setup."""
    setup_.clear()
