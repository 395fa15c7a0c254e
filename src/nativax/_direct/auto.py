"""`nativax.Auto`: picks the sparse direct engine for an operator, once per sparsity pattern, at trace time.

The rule (measured in benchmarks/direct_bench.py, documented in docs/choosing-a-solver.md):
  1. CHOLMOD when the operator is tagged positive (semi)definite (`lx.positive_semidefinite_tag`) and its
     pattern is symmetric: a supernodal Cholesky does half the work of any LU on such matrices.
  2. KLU when the matrix is circuit-like: many BTF blocks (at least `btf_fraction * n`), or a low AMD fill
     estimate ((nnz(L) + nnz(U)) / nnz(A) at most `fill_ratio`, from KLU's own analysis). Little fill means
     supernodes/frontal matrices do not pay for their overhead.
  3. UMFPACK otherwise (mesh-like nonsymmetric or untagged matrices: fill is large, BLAS-3 fronts win).
Without the GPL engines in the build, KLU always. Values never enter the decision, so it is static under
`jit` and one decision serves every matrix of a pattern.
"""

import threading
from collections import OrderedDict
from typing import Any

import equinox as eqx
import lineax as lx
import numpy as np

from .._core.convert import as_sparse_operator
from .._core.native import lib
from .._core.pattern import SparsityPattern
from . import functional as _f
from .base import AbstractDirectSolver
from .cholmod.solver import CHOLMOD
from .engine import KLU as _KLU_ENGINE
from .numerics import DEFAULT_RCOND_MIN
from .umfpack.solver import UMFPACK

_DECISIONS: OrderedDict[Any, tuple[str, str]] = OrderedDict()
_LOCK = threading.Lock()
_MAX_DECISIONS = 256


def _solver(name: str, **numerics) -> AbstractDirectSolver:
    from .klu.solver import KLU

    return {"klu": KLU, "cholmod": CHOLMOD, "umfpack": UMFPACK}[name](**numerics)


class _AutoState(eqx.Module):
    solver: AbstractDirectSolver = eqx.field(static=True)
    state: Any


class Auto(lx.AbstractLinearSolver[_AutoState]):
    """Chooses CHOLMOD, KLU or UMFPACK for each operator (see `choose`), then behaves exactly as that solver
    (caches, `jit`/`vmap`/`grad`). `Auto().choose(op)` returns the solver and the reason."""

    btf_fraction: float = eqx.field(static=True, default=0.05)
    """KLU when the number of BTF blocks is at least this fraction of n."""
    fill_ratio: float = eqx.field(static=True, default=4.0)
    """KLU when KLU's AMD estimate (nnz(L) + nnz(U)) / nnz(A) is at most this."""
    refine: int = eqx.field(static=True, default=0)
    """Passed to the chosen solver (see `nativax.KLU.refine`)."""
    refine_tol: float = eqx.field(static=True, default=float(np.finfo(np.float64).eps))
    """Passed to the chosen solver."""
    rcond_min: float = eqx.field(static=True, default=DEFAULT_RCOND_MIN)
    """Passed to the chosen solver."""
    condest: bool = eqx.field(static=True, default=False)
    """Passed to the chosen solver."""

    def choose(self, operator: lx.AbstractLinearOperator) -> tuple[AbstractDirectSolver, str]:
        """The solver Auto uses for `operator` and why (decided once per pattern and tag set; eager or traced)."""
        op = as_sparse_operator(operator)
        numerics = {"refine": self.refine, "refine_tol": self.refine_tol, "rcond_min": self.rcond_min,
                    "condest": self.condest}
        if op.pattern.shape == (0, 0):
            return _solver("klu", **numerics), "empty (0 x 0) system: nothing to factor"
        op.pattern.require_square("Auto")
        psd = lx.is_positive_semidefinite(operator) or lx.is_positive_semidefinite(op)
        key = (op.pattern, psd, self.btf_fraction, self.fill_ratio)
        with _LOCK:
            hit = _DECISIONS.get(key)
            if hit is not None:
                _DECISIONS.move_to_end(key)
        if hit is None:
            hit = self._decide(op.pattern, psd)
            with _LOCK:
                _DECISIONS[key] = hit
                while len(_DECISIONS) > _MAX_DECISIONS:
                    _DECISIONS.popitem(last=False)
        return _solver(hit[0], **numerics), hit[1]

    def _decide(self, pattern: SparsityPattern, psd: bool) -> tuple[str, str]:
        n = pattern.shape[0]
        if not (lib.HAS_CHOLMOD or lib.HAS_UMFPACK):
            return "klu", "the only engine in this build (no NATIVAX_GPL engines)"
        if psd and lib.HAS_CHOLMOD and pattern.is_structurally_symmetric:
            return "cholmod", "tagged positive (semi)definite with a symmetric pattern: Cholesky"
        with _f.analyze(_KLU_ENGINE, pattern.rows, pattern.cols, n, fn="Auto.choose") as sym:
            info = lib.klu_symbolic_stats(sym.id)
        blocks, fill = int(info["nblocks"]), (float(info["lnz"]) + float(info["unz"])) / max(pattern.nnz, 1)
        if blocks >= max(2, self.btf_fraction * n):
            return "klu", f"circuit-like: {blocks} BTF blocks for n = {n}"
        if fill <= self.fill_ratio:
            return "klu", f"low fill: AMD estimate nnz(L+U)/nnz(A) = {fill:.2f} <= {self.fill_ratio}"
        if not lib.HAS_UMFPACK:
            return "klu", f"general matrix (fill estimate {fill:.1f}); UMFPACK is not in this build"
        return "umfpack", f"general matrix with fill: AMD estimate nnz(L+U)/nnz(A) = {fill:.1f} > {self.fill_ratio}"

    def init(self, operator: lx.AbstractLinearOperator, options: dict[str, Any]) -> _AutoState:
        solver, _ = self.choose(operator)
        return _AutoState(solver, solver.init(operator, options))

    def compute(self, state: _AutoState, vector, options: dict[str, Any]):
        return state.solver.compute(state.state, vector, options)

    def transpose(self, state: _AutoState, options: dict[str, Any]):
        inner, options = state.solver.transpose(state.state, options)
        return _AutoState(state.solver, inner), options

    def conj(self, state: _AutoState, options: dict[str, Any]):
        inner, options = state.solver.conj(state.state, options)
        return _AutoState(state.solver, inner), options

    def assume_full_rank(self) -> bool:
        return True
