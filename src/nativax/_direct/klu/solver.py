"""`nativax.KLU`: SuiteSparse KLU as an immutable lineax solver."""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, Inexact

from ..._core import packing
from ..._core.convert import as_sparse_operator
from ..._core.handles import NumericHandle, SymbolicHandle
from ..._core.operator import SparseOperator
from ..._core.pattern import SparsityPattern
from ..._core.status import to_result
from .. import shapes as shapes
from . import ffi as ffi
from . import functional as _klu


class _KLUState(eqx.Module):
    values: Inexact[Array, " nnz"]
    pattern: SparsityPattern = eqx.field(static=True)
    transposed: bool = eqx.field(static=True)
    conjugated: bool = eqx.field(static=True)
    packed: packing.PackedStructures
    """The operator's (pytree) output and input structures, as lineax packs them."""


class KLU(lx.AbstractLinearSolver[_KLUState]):
    """Sparse direct LU (SuiteSparse KLU) for square sparse operators.

    By default factorizations are found or built in a content-addressed native cache at solve time, so this
    solver works under `jit`/`vmap`/`grad` and the adjoint solve reuses the forward factorization (KLU tsolve).
    Any lineax operator is accepted: `SparseOperator` directly; sums/scalings/tags of sparse, identity,
    diagonal and tridiagonal operators keep their sparsity; `MatrixLinearOperator` is sparsified (a
    convenience); matrix-free operators go through Jacobian sparsity detection and coloring.

    Handles (eager, outside `jit`): `KLU().analyze(pattern)` holds a symbolic analysis;
    `KLU.factor(operator)` holds a numeric factorization for factor-once/solve-many. A held factorization is
    only used for the exact matrix it was built from (checked, also under `jit`), unless `frozen=True`
    (chord / frozen-Jacobian mode), which deliberately applies it to any matrix with the same pattern.
    """

    symbolic: SymbolicHandle | None = eqx.field(static=True, default=None)
    """A held symbolic analysis (from `KLU().analyze`), or None."""
    numeric: NumericHandle | None = eqx.field(static=True, default=None)
    """A held numeric factorization (from `KLU.factor`), or None."""
    frozen: bool = eqx.field(static=True, default=False)
    """Chord mode: apply the held factorization to any matrix with the same pattern."""

    def __check_init__(self):
        if self.frozen and self.numeric is None:
            raise ValueError("KLU(frozen=True) needs a held factorization; use KLU.factor(operator, frozen=True)")

    # ---- handle constructors --------------------------------------------------------------------------
    def analyze(self, pattern: SparsityPattern | SparseOperator) -> "KLU":
        """Return a solver holding the symbolic analysis of `pattern` (eager)."""
        if isinstance(pattern, SparseOperator):
            pattern = pattern.pattern
        if not isinstance(pattern, SparsityPattern):
            raise TypeError(f"KLU.analyze: `pattern` must be a SparsityPattern or SparseOperator, got {type(pattern).__name__}")
        pattern.require_square("KLU")
        return KLU(symbolic=_klu.analyze(pattern.rows, pattern.cols, pattern.shape[0]))

    @classmethod
    def factor(cls, operator: lx.AbstractLinearOperator, *, frozen: bool = False) -> "KLU":
        """Return a solver holding the numeric factorization of `operator` (eager; values must be concrete)."""
        op = as_sparse_operator(operator)
        op.pattern.require_square("KLU")
        values = shapes.concrete(op.values, "operator.values", "factor")
        sym = _klu.analyze(op.pattern.rows, op.pattern.cols, op.shape[0])
        return cls(symbolic=sym, numeric=_klu.factor(sym, values), frozen=frozen)

    # ---- lineax solver interface ----------------------------------------------------------------------
    def init(self, operator: lx.AbstractLinearOperator, options: dict[str, Any]) -> _KLUState:
        del options
        op = as_sparse_operator(operator)
        op.pattern.require_square("KLU")
        held = self.numeric.symbolic if self.numeric is not None else self.symbolic
        values = op.values
        if held is not None:
            if not (np.array_equal(held.rows, op.pattern.rows) and np.array_equal(held.cols, op.pattern.cols)
                    and held.n == op.shape[0]):
                raise ValueError("KLU: the operator's sparsity pattern differs from the held analysis/factorization")
            if self.numeric is not None and not self.frozen and shapes.is_concrete(values):
                _check_same_values(values, self.numeric)
        return _KLUState(values, op.pattern, False, False, packing.pack(operator))

    def compute(self, state: _KLUState, vector, options: dict[str, Any]):
        del options
        vector = packing.ravel(vector, state.packed, "KLU")
        n = state.pattern.shape[0]
        values = state.values
        if state.conjugated:  # conj(A) x = b  <=>  A conj(x) = conj(b)
            vector = vector.conj()
        mode = {False: ffi.MODE_A, True: ffi.MODE_T}[state.transposed]
        vdt, bdt, split = shapes.compute_dtypes(values, vector)
        b3 = vector.astype(bdt).reshape(1, n, 1)
        if split:
            b3 = jnp.concatenate([b3.real, b3.imag], axis=-1)
        x, status = self._native(values.astype(vdt)[None], b3, mode, state.pattern)
        x = x[0]
        if split:
            x = jax.lax.complex(x[:, :1], x[:, 1:])
        x = x[:, 0]
        if self.numeric is not None and not self.frozen:
            x = _check_same_values(values, self.numeric, x)
        if state.conjugated:
            x = x.conj()
        out_dtype = packing.promote(values.dtype, vector.dtype)
        return packing.unravel(x.astype(out_dtype), state.packed), to_result(status), {}

    def _native(self, v2, b3, mode, pattern):
        if self.numeric is not None:
            return ffi.solve_numeric(self.numeric.id, b3.astype(_numeric_rhs_dtype(self.numeric, b3)), mode)
        if self.symbolic is not None:
            return ffi.solve_symbolic(self.symbolic.id, v2, b3, mode)
        return ffi.solve(pattern.rows, pattern.cols, v2, b3, mode)

    def transpose(self, state: _KLUState, options: dict[str, Any]):
        transposed = packing.transpose(state.packed)
        return _KLUState(state.values, state.pattern, not state.transposed, state.conjugated, transposed), options

    def conj(self, state: _KLUState, options: dict[str, Any]):
        return _KLUState(state.values, state.pattern, state.transposed, not state.conjugated, state.packed), options

    def assume_full_rank(self) -> bool:
        return True


def _numeric_rhs_dtype(numeric: NumericHandle, b3):
    if np.iscomplexobj(numeric.values) and not jnp.issubdtype(b3.dtype, jnp.complexfloating):
        return packing.promote(b3.dtype, jnp.complex64)
    return b3.dtype


def _check_same_values(values, numeric: NumericHandle, x=None):
    """Refuse to apply a held factorization to another matrix (eagerly, or under jit via `x`)."""
    held = numeric.values
    if x is None:
        if not np.array_equal(np.asarray(values).astype(held.dtype), held):
            raise ValueError(
                "KLU: this solver holds the factorization of a different matrix (values differ). Use "
                "KLU.factor(new_operator), or KLU.factor(operator, frozen=True) to apply it deliberately "
                "(chord / frozen-Jacobian mode)."
            )
        return values
    same = jnp.all(values == jnp.asarray(held).astype(values.dtype))
    return eqx.error_if(
        x,
        ~same,
        "KLU: this solver holds the factorization of a different matrix (values differ); use "
        "KLU.factor(operator, frozen=True) for chord / frozen-Jacobian mode.",
    )
