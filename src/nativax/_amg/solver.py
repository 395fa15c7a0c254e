"""`nativax.AMG`: algebraic multigrid as an immutable lineax solver.

The options live here; the work is done by the engine object the solver holds (`engine.py`): the JAX engine
(any backend) sets the hierarchy up once per sparsity pattern on the host (nativax's own smoothed
aggregation kernels, or pyamg) and recomputes coarse
operators, smoother parameters and the coarse LU inside `jit` from the operator's values, so changing
coefficients costs no host round-trip; the AmgX engine hands the system to NVIDIA AmgX."""

from typing import Any

import equinox as eqx
import jax
import lineax as lx
import numpy as np

from .._core import packing
from .._core.convert import as_sparse_operator
from .._core.operator import SparseOperator
from .._core.pattern import SparsityPattern
from . import amgx as _amgx
from . import cycle as cyc
from . import hierarchy as hier
from . import krylov as kry
from . import setup as setup_
from .engine import AUTO, AbstractAMGEngine, AMGState, JaxEngine, as_engine, concrete_values

_JAX = JaxEngine()


class AMG(lx.AbstractLinearSolver[AMGState | _amgx.AmgXState]):
    """Algebraic multigrid for square sparse operators (SPD/elliptic best; nonsymmetric with GMRES/BiCGStab).

    Recommended: `solver = AMG(...).setup(operator)` eagerly (the host setup runs on the operator's real values, once
    per sparsity pattern and options, cached), then pass `solver` into jitted functions as an argument: its
    hierarchy arrays are pytree leaves, and new values with the same pattern are set up inside `jit`. Without
    `setup`, a solve inside `jit` (including `lx.linear_solve`, which traces) uses a cached setup for the
    pattern, or builds one from the pattern alone (aggregating as for its graph Laplacian; coarse operators
    still come from the real values), and its arrays are then embedded in the compiled program as constants.
    """

    engine: AbstractAMGEngine = eqx.field(static=True, default="jax", converter=as_engine)
    """"jax" (any backend) or "amgx" (NVIDIA AmgX on a CUDA GPU; only in builds made with `AMGX_DIR`, see the
    docs; unverified: never run on a GPU by this project); stored as the engine object that does the work."""
    method: str = eqx.field(static=True, default="smoothed_aggregation")
    """"smoothed_aggregation" or "ruge_stuben"."""
    host_setup: str = eqx.field(static=True, default="native")
    """Who builds the hierarchy on the host: "native" (nativax's kernels; real smoothed aggregation, else
    pyamg) or "pyamg" (pyamg's own setup, the reference)."""
    theta: float = eqx.field(static=True, default=0.02)
    """Strength of connection for smoothed aggregation: a_ij is strong when |a_ij| >= theta sqrt(|a_ii a_jj|).
    0.02 keeps every connection of constant-coefficient stencils and cuts those across coefficient jumps of
    ~10^3 and more (pyamg's default, 0, aggregates across them: ~9x the CG steps at a 10^4 jump)."""
    cycle: str = eqx.field(static=True, default="V")
    """Multigrid cycle: "V", "W" or "F"."""
    smoother: str = eqx.field(static=True, default="jacobi")
    """"jacobi" (damped by 4/(3 rho(D^-1 A))) or "chebyshev" (degree 2, Jacobi-preconditioned)."""
    sweeps: int = eqx.field(static=True, default=1)
    """Smoother applications before and after each coarse correction."""
    krylov: str | None = eqx.field(static=True, default=AUTO)
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
    held_setup: setup_.HeldSetup | None = eqx.field(static=True, default=None)
    """The host setup `structure` came from (makes the Galerkin maps when concrete new values need them)."""
    amgx_config: str | None = eqx.field(static=True, default=None, converter=_amgx.canonical_config)
    """engine="amgx" only: an AmgX configuration (dict or JSON string, config_version 2) passed through as is;
    None = one derived from the fields above. Stored as canonical JSON."""

    def __check_init__(self):
        for name, value, allowed in (
            ("method", self.method, setup_.METHODS),
            ("host_setup", self.host_setup, setup_.HOST_SETUPS),
            ("cycle", self.cycle, cyc.CYCLES),
            ("smoother", self.smoother, cyc.SMOOTHERS),
            ("krylov", self.krylov, (*kry.KRYLOVS, AUTO)),
        ):
            if value not in allowed:
                raise ValueError(f"nativax.AMG: unknown `{name}` {value!r}; expected one of {allowed}")
        for name, value in (("sweeps", self.sweeps), ("max_steps", self.max_steps), ("max_levels", self.max_levels),
                            ("max_coarse", self.max_coarse)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"nativax.AMG: `{name}` must be a positive int, got {value!r}")
        for name, tol in (("rtol", self.rtol), ("atol", self.atol), ("theta", self.theta)):
            if not isinstance(tol, (int, float)) or not np.isfinite(tol) or tol < 0:
                raise ValueError(f"nativax.AMG: `{name}` must be a finite float >= 0, got {tol!r}")
        self.engine.check(self)

    # ---- setup --------------------------------------------------------------------------------------
    def setup(self, operator: lx.AbstractLinearOperator, resetup: bool = True) -> "AMG":
        """Run the host setup on `operator` now (eager; values concrete) and return a solver holding the result.

        The coarse operators are computed directly. With `resetup=True` (default, as before) the Galerkin maps
        are made now and the held solver recomputes every level from new values inside `jit` (differentiably):
        one setup serves many value sets (time stepping, optimisation loops, `vmap` over coefficients). With
        `resetup=False` (the fast one-shot setup: no maps, less time and memory) the held hierarchy keeps the
        setup's coarse levels when the solver meets *traced* values (inside `jit`): level 0 (the Krylov operator
        and the finest smoother) always uses the given values, so solutions are exact; only convergence reflects
        the setup's coarse levels. Concrete new values (same pattern) still get a full numeric resetup: the
        Galerkin maps are then made once and kept.

        The result also replaces the cached setup for this pattern and these options."""
        op = _square(as_sparse_operator(operator))
        if concrete_values(op) is None:
            raise ValueError("nativax.AMG.setup: call it eagerly (outside jit); `operator` values are traced")
        if not isinstance(resetup, bool):
            raise ValueError(f"nativax.AMG.setup: `resetup` must be a bool, got {resetup!r}")
        return self.engine.setup(self, op, resetup)

    def hierarchy(self, operator: lx.AbstractLinearOperator) -> AMGState:
        """The numeric (JAX) hierarchy for `operator` (traceable when this solver holds a setup)."""
        return _JAX.init(self, operator, _square(as_sparse_operator(operator)))

    # ---- lineax solver interface ----------------------------------------------------------------------
    def init(self, operator: lx.AbstractLinearOperator, options: dict[str, Any]):
        del options
        return self.engine.init(self, operator, _square(as_sparse_operator(operator)))

    def compute(self, state, vector, options: dict[str, Any]):
        del options
        x, result, stats = self.engine.solve(self, state, packing.ravel(vector, state.packed, "nativax.AMG"))
        return packing.unravel(x, state.packed), result, stats

    def transpose(self, state, options: dict[str, Any]):
        return self.engine.transpose(state), options

    def conj(self, state, options: dict[str, Any]):
        return self.engine.conj(state), options

    def assume_full_rank(self) -> bool:
        return True

    def summary(self, operator: lx.AbstractLinearOperator) -> str:
        """A text summary of the hierarchy for `operator` (like pyamg's `print(ml)`): per level the size, the
        nonzeros and their share, plus grid and operator complexity. Cheap: uses the cached symbolic setup."""
        return self.engine.summary(self, _square(as_sparse_operator(operator)))

    # ---- preconditioner -------------------------------------------------------------------------------
    def preconditioner(self, operator: lx.AbstractLinearOperator) -> lx.FunctionLinearOperator:
        """One AMG cycle as a lineax operator, e.g. `options={"preconditioner": ...}` for `lx.CG`/`lx.GMRES`/
        `lx.BiCGStab`.

        Call it on a solver that holds a setup (`AMG(...).setup(operator)`): then it only runs the numeric
        resetup (one compiled call eagerly; inline under `jit`) and never the host setup. The hierarchy arrays
        are leaves of the returned operator, so pass it (or the solver) into `jit` as an argument rather than
        closing over it. Tagged symmetric positive semidefinite when the operator is (R = P^T and mirrored
        smoothing keep the cycle symmetric), as `lx.CG` requires. The hierarchy is cut from autodiff
        (`stop_gradient`): a preconditioner changes how fast a solve converges, not its solution, and lineax
        refuses tangents in `options`."""
        state = self.hierarchy(operator)
        tags = (lx.symmetric_tag, lx.positive_semidefinite_tag) if state.symmetric else ()
        return lx.FunctionLinearOperator(
            _Cycle(jax.lax.stop_gradient(state.hierarchy), state.packed, self.cycle, self.smoother, self.sweeps),
            operator.out_structure(), tags)


class _Cycle(eqx.Module):
    """v -> one multigrid cycle applied to v (the hierarchy as pytree leaves, not closed-over constants)."""

    hierarchy: hier.Hierarchy
    packed: packing.PackedStructures
    cycle: str = eqx.field(static=True)
    smoother: str = eqx.field(static=True)
    sweeps: int = eqx.field(static=True)

    def __call__(self, v):
        x = cyc.apply(self.hierarchy, packing.ravel(v, self.packed, "nativax.AMG.preconditioner"), self.cycle,
                      self.smoother, self.sweeps)
        return packing.unravel(x, self.packed)


def _square(op: SparseOperator) -> SparseOperator:
    op.pattern.require_square("nativax.AMG")
    return op


def setup_info() -> dict[str, int]:
    """Host setups done so far, symbolic-cache hits and live entries."""
    return setup_.setup_info()


def clear_setup_cache() -> None:
    """Drop every cached symbolic AMG setup."""
    setup_.clear()
