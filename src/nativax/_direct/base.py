"""`AbstractDirectSolver`: the lineax solver every sparse direct engine is (KLU, CHOLMOD, UMFPACK).

The engine contract. An engine is
  * native (C++, `native/<engine>/`): a struct satisfying `native/common/engine.h` (its Symbolic and Numeric
    types, `analyze`, `factor`, `refactor`); the shared FFI bodies instantiated for it
    (`nativax_<engine>_solve`, `_solve_symbolic`, `_solve_numeric`); one `bind_engine<E>(m, "<engine>")`
    call in `native/module.cc` for its handle and cache functions. Everything else (COO -> CSC pattern, value
    scatter, content-addressed LRU caches, handle registry, batched thread-pool driver, dtype dispatch,
    broadcasting) is shared, in `native/common/`.
  * Python (`_direct/<engine>/`): an `Engine` record (`_direct/engine.py`: names, whether it is a Cholesky
    engine) and a final subclass of `AbstractDirectSolver` setting `engine`. Solves, handles, caches, split
    complex (real matrix, complex right-hand side), transpose/conjugate state, `custom_linear_solve` wiring
    (the adjoint is the transposed native solve on the same cached factorization) and the status ->
    `lx.RESULTS` mapping come from here and `_direct/functional.py`.

Semantics every engine keeps: values are the only traced input (the pattern is static), so a solver works
under `jit`/`vmap`/`grad`; a held factorization is only applied to the matrix it was built from (checked, also
under `jit`) unless `frozen=True`; failures are reported as `lx.RESULTS` (and raised by `lx.linear_solve`'s
default `throw=True`), never as silent wrong answers.
"""

from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, Inexact

from .._core import packing
from .._core.convert import as_sparse_operator
from .._core.handles import NumericHandle, SymbolicHandle
from .._core.operator import SparseOperator
from .._core.pattern import SparsityPattern
from .._core.status import MODE_A, MODE_T, to_result
from . import ffi, shapes
from . import functional as _f
from .engine import Engine


class DirectState(eqx.Module):
    values: Inexact[Array, " nnz"]
    pattern: SparsityPattern = eqx.field(static=True)
    transposed: bool = eqx.field(static=True)
    conjugated: bool = eqx.field(static=True)
    packed: packing.PackedStructures
    """The operator's (pytree) output and input structures, as lineax packs them."""


class AbstractDirectSolver(lx.AbstractLinearSolver[DirectState]):
    """A sparse direct engine as an immutable lineax solver (see the module docstring for the contract).

    By default factorizations are found or built in the engine's content-addressed native cache at solve
    time. Handles (eager, outside `jit`): `Solver().analyze(pattern)` holds a symbolic analysis;
    `Solver.factor(operator)` holds a numeric factorization for factor-once/solve-many.
    """

    symbolic: SymbolicHandle | None = None
    """A held symbolic analysis (from `analyze`), or None. A pytree (id and values are runtime leaves), so jit
    caches never hold the handle and every held solver of one pattern shares one compiled program."""
    numeric: NumericHandle | None = None
    """A held numeric factorization (from `factor`), or None."""
    frozen: bool = eqx.field(static=True, default=False)
    """Chord mode: apply the held factorization to any matrix with the same pattern."""
    pattern: SparsityPattern | None = eqx.field(static=True, default=None)
    """A known sparsity pattern for matrix-free operators (scipy's `jac_sparsity=`): the operator diffrax or
    optimistix builds is materialised on this pattern by coloring, with no sparsity detection. Must be a
    superset of the true pattern: one extra product with a random vector checks it, and a missing entry raises
    an error naming `pattern=`."""

    engine: ClassVar[Engine]

    def __check_init__(self):
        name = self.engine.label
        if self.frozen and self.numeric is None:
            raise ValueError(f"{name}(frozen=True) needs a held factorization; use {name}.factor(operator, frozen=True)")
        if self.pattern is not None and not isinstance(self.pattern, SparsityPattern):
            raise TypeError(f"nativax.{name}: `pattern` must be a SparsityPattern, got {type(self.pattern).__name__}")
        for h in (self.symbolic, self.numeric):
            if h is not None and h.engine != self.engine.name:
                raise TypeError(f"{name}: the held handle was made by {h.engine.upper()}, not {name}")

    # ---- operator checks ------------------------------------------------------------------------------
    @classmethod
    def _operator(cls, operator: lx.AbstractLinearOperator, pattern: SparsityPattern | None = None) -> SparseOperator:
        cls.engine.require()
        op = as_sparse_operator(operator, pattern)
        cls._check_pattern(op.pattern)
        return op

    @classmethod
    def _check_pattern(cls, pattern: SparsityPattern) -> None:
        pattern.require_square(cls.engine.label)
        if cls.engine.cholesky and not pattern.is_structurally_symmetric:
            raise ValueError(
                f"{cls.engine.label} needs a symmetric (Hermitian) positive definite operator stored with both "
                "triangles, but the sparsity pattern is not symmetric; use nativax.UMFPACK or nativax.KLU"
            )

    # ---- handle constructors --------------------------------------------------------------------------
    def analyze(self, pattern: SparsityPattern | SparseOperator):
        """Return a solver holding the symbolic analysis of `pattern` (eager)."""
        name = self.engine.label
        if isinstance(pattern, SparseOperator):
            pattern = pattern.pattern
        if not isinstance(pattern, SparsityPattern):
            raise TypeError(f"{name}.analyze: `pattern` must be a SparsityPattern or SparseOperator, got {type(pattern).__name__}")
        self.engine.require()
        self._check_pattern(pattern)
        fn = f"{self.engine.name}.analyze"
        return type(self)(symbolic=_f.analyze(self.engine, pattern.rows, pattern.cols, pattern.shape[0], fn=fn))

    @classmethod
    def factor(cls, operator: lx.AbstractLinearOperator, *, frozen: bool = False):
        """Return a solver holding the numeric factorization of `operator` (eager; values must be concrete)."""
        op = cls._operator(operator)
        e = cls.engine
        values = shapes.concrete(op.values, "operator.values", f"{e.name}.factor")
        sym = _f.analyze(e, op.pattern.rows, op.pattern.cols, op.shape[0], fn=f"{e.name}.analyze")
        return cls(symbolic=sym, numeric=_f.factor(e, sym, values, fn=f"{e.name}.factor"), frozen=frozen)

    # ---- lineax solver interface ----------------------------------------------------------------------
    def init(self, operator: lx.AbstractLinearOperator, options: dict[str, Any]) -> DirectState:
        del options
        op = self._operator(operator, self.pattern)
        held = self.numeric.symbolic if self.numeric is not None else self.symbolic
        values = op.values
        if held is not None:
            if not (np.array_equal(held.rows, op.pattern.rows) and np.array_equal(held.cols, op.pattern.cols)
                    and held.n == op.shape[0]):
                raise ValueError(
                    f"{self.engine.label}: the operator's sparsity pattern differs from the held analysis/factorization"
                )
            if (self.numeric is not None and not self.frozen and shapes.is_concrete(values)
                    and shapes.is_concrete(self.numeric.values)):
                self._check_same_values(values)
        return DirectState(values, op.pattern, False, False, packing.pack(operator))

    def compute(self, state: DirectState, vector, options: dict[str, Any]):
        del options
        vector = packing.ravel(vector, state.packed, self.engine.label)
        n = state.pattern.shape[0]
        values = state.values
        if state.conjugated:  # conj(A) x = b  <=>  A conj(x) = conj(b)
            vector = vector.conj()
        mode = MODE_T if state.transposed else MODE_A
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
            x = self._check_same_values(values, x)
        if state.conjugated:
            x = x.conj()
        out_dtype = packing.promote(values.dtype, vector.dtype)
        stats = self._stats(state)
        stats["status"] = jnp.max(status)  # native status: 0 ok, 1 singular, 2/3 NaN/Inf in A/b, 4 failed, ...
        return packing.unravel(x.astype(out_dtype), state.packed), to_result(status), stats

    def _stats(self, state: DirectState) -> dict[str, Any]:
        """Cheap facts about this solve (no extra factorization), as arrays (`jax.jit` may return the whole
        Solution): sizes, and the held factorization's rcond and factor nonzeros (known since `factor`)."""
        stats: dict[str, Any] = {"n": jnp.asarray(state.pattern.shape[0]), "nnz": jnp.asarray(state.pattern.nnz),
                                 "held": jnp.asarray(self.numeric is not None)}
        if self.numeric is not None:
            stats["rcond"] = jnp.asarray(self.numeric.info[0])
            stats["factor_nnz"] = jnp.asarray(self.numeric.info[1])
        return stats

    def _native(self, v2, b3, mode, pattern):
        e = self.engine
        if self.numeric is not None:
            rhs = b3.astype(_numeric_rhs_dtype(self.numeric, b3))
            return ffi.solve_numeric(e, self.numeric.words, rhs, mode)
        if self.symbolic is not None:
            return ffi.solve_symbolic(e, self.symbolic.words, v2, b3, mode)
        return ffi.solve(e, pattern.rows, pattern.cols, v2, b3, mode)

    def transpose(self, state: DirectState, options: dict[str, Any]):
        transposed = packing.transpose(state.packed)
        return DirectState(state.values, state.pattern, not state.transposed, state.conjugated, transposed), options

    def conj(self, state: DirectState, options: dict[str, Any]):
        return DirectState(state.values, state.pattern, state.transposed, not state.conjugated, state.packed), options

    def assume_full_rank(self) -> bool:
        return True

    def _check_same_values(self, values, x=None):
        """Refuse to apply a held factorization to another matrix (eagerly, or under jit via `x`)."""
        assert self.numeric is not None
        name = self.engine.label
        held = self.numeric.values
        if x is None:
            if not np.array_equal(np.asarray(values).astype(held.dtype), held):
                raise ValueError(
                    f"{name}: this solver holds the factorization of a different matrix (values differ). Use "
                    f"{name}.factor(new_operator), or {name}.factor(operator, frozen=True) to apply it deliberately "
                    "(chord / frozen-Jacobian mode)."
                )
            return values
        same = jnp.all(values == jnp.asarray(held).astype(values.dtype))
        return eqx.error_if(
            x,
            ~same,
            f"{name}: this solver holds the factorization of a different matrix (values differ); use "
            f"{name}.factor(operator, frozen=True) for chord / frozen-Jacobian mode.",
        )


def _numeric_rhs_dtype(numeric: NumericHandle, b3):
    if jnp.iscomplexobj(numeric.values) and not jnp.issubdtype(b3.dtype, jnp.complexfloating):
        return packing.promote(b3.dtype, jnp.complex64)
    return b3.dtype
