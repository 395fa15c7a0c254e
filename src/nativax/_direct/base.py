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
from .._core.operator import SparseOperator
from .._core.pattern import SparsityPattern
from .._core.status import (
    INFO_CACHE_HIT,
    INFO_CONDEST,
    INFO_FACTOR_NNZ,
    INFO_FIELDS,
    INFO_RCOND,
    INFO_RGROWTH,
    MODE_A,
    MODE_T,
    OK,
    to_result,
)
from . import ffi, numerics, shapes
from . import functional as _f
from . import options as _opts
from .engine import Engine
from .handles import NumericHandle, SymbolicHandle


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
    refine: int = eqx.field(static=True, default=0)
    """Iterative refinement: at most this many corrections x += A^{-1}(b - A x) per solve (and per batch
    member, and in the adjoint solve), stopping at `refine_tol`; a correction that does not lower the backward
    error is rejected, so refinement never returns a worse answer. `stats` gains `refine_steps` and
    `backward_error`. 0 (default): off."""
    refine_tol: float = eqx.field(static=True, default=float(np.finfo(np.float64).eps))
    """Stop refining once the normwise backward error ||b - A x|| / (||A|| ||x|| + ||b||) (inf-norms) is at
    most this."""
    rcond_min: float = eqx.field(static=True, default=numerics.DEFAULT_RCOND_MIN)
    """Report NUMERICALLY_SINGULAR (`RESULTS.singular`) when the reciprocal condition estimate is below this
    (default: float64 machine epsilon; 0 turns the check off). See docs/numerics.md."""
    condest: bool = eqx.field(static=True, default=False)
    """Always compute the 1-norm condition estimate (`stats["condest"]`; a few extra solves once per
    factorization). Without it, it is computed only when the cheap pivot ratio is below 1e-10."""

    ordering: _opts.Ordering = eqx.field(static=True, default="default", converter=_opts.convert_ordering)
    """The fill-reducing ordering: "default" (the engine's nativax default), "natural" (the matrix's own order),
    "amd", "colamd" (KLU, UMFPACK), "metis" (UMFPACK, CHOLMOD), "nesdis" (CHOLMOD), or a permutation of
    range(n) (sequence or array). Part of the cache key. When to use which: docs/numerics.md."""
    pivot_tol: float | None = eqx.field(static=True, default=None)
    """Threshold partial pivoting (KLU, UMFPACK): a diagonal (KLU: any already-ordered) pivot is kept when its
    magnitude is at least this times the column's largest; 1.0 is strict partial pivoting (most stable, most
    fill), small values keep the ordering (least fill). None: the engine's default (KLU 1e-3, UMFPACK 0.1).
    Not available for CHOLMOD (no pivoting)."""
    scale: str | None = eqx.field(static=True, default=None)
    """Row scaling before pivoting (KLU, UMFPACK): "none", "sum" (divide each row by its absolute sum) or
    "max" (by its largest magnitude). None: the engine's default (KLU "max", UMFPACK "sum")."""

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
        if not isinstance(self.refine, (int, np.integer)) or isinstance(self.refine, bool) or self.refine < 0:
            raise ValueError(f"nativax.{name}: `refine` must be a non-negative int (correction steps), got "
                             f"{self.refine!r}")
        _opts.check(name, self.engine.name, self.ordering, self.pivot_tol, self.scale)
        for arg in ("refine_tol", "rcond_min"):
            v = getattr(self, arg)
            if not isinstance(v, (int, float, np.floating)) or isinstance(v, bool) or not (0 <= v < 1):
                raise ValueError(f"nativax.{name}: `{arg}` must be a float in [0, 1), got {v!r}")

    # ---- operator checks ------------------------------------------------------------------------------
    @classmethod
    def _operator(cls, operator: lx.AbstractLinearOperator, pattern: SparsityPattern | None = None) -> SparseOperator:
        cls.engine.require()
        op = as_sparse_operator(operator, pattern)
        cls._check_pattern(op.pattern)
        return op

    @classmethod
    def _check_pattern(cls, pattern: SparsityPattern) -> None:
        if pattern.shape == (0, 0):
            return  # an empty system: solved without the engine (lineax's convention)
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
        _opts.check_size(name, self.ordering, pattern.shape[0])
        sym = _f.analyze(self.engine, pattern.rows, pattern.cols, pattern.shape[0], fn=fn, options=self._options)
        return type(self)(symbolic=sym, **self._option_fields)

    @classmethod
    def factor(cls, operator: lx.AbstractLinearOperator, *, frozen: bool = False, ordering: _opts.Ordering = "default",
               pivot_tol: float | None = None, scale: str | None = None):
        """Return a solver holding the numeric factorization of `operator` (eager; values must be concrete),
        made with the given ordering and pivoting options (see the fields of the same names)."""
        op = cls._operator(operator)
        e = cls.engine
        ordering = _opts.convert_ordering(ordering)
        _opts.check(e.label, e.name, ordering, pivot_tol, scale)
        _opts.check_size(e.label, ordering, op.shape[0])
        values = shapes.concrete(op.values, "operator.values", f"{e.name}.factor")
        sym = _f.analyze(e, op.pattern.rows, op.pattern.cols, op.shape[0], fn=f"{e.name}.analyze",
                         options=_opts.native(ordering, pivot_tol, scale))
        return cls(symbolic=sym, numeric=_f.factor(e, sym, values, fn=f"{e.name}.factor"), frozen=frozen,
                   ordering=ordering, pivot_tol=pivot_tol, scale=scale)

    @property
    def _options(self) -> _opts.NativeOptions:
        return _opts.native(self.ordering, self.pivot_tol, self.scale)

    @property
    def _option_fields(self) -> dict[str, Any]:
        return {"ordering": self.ordering, "pivot_tol": self.pivot_tol, "scale": self.scale}

    # ---- lineax solver interface ----------------------------------------------------------------------
    def init(self, operator: lx.AbstractLinearOperator, options: dict[str, Any]) -> DirectState:
        del options
        op = self._operator(operator, self.pattern)
        _opts.check_size(self.engine.label, self.ordering, op.shape[0])
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
        out_dtype = packing.promote(values.dtype, vector.dtype)
        if n == 0:  # 0 x 0: the empty solution, successful, as lx.LU gives
            return packing.unravel(jnp.zeros((0,), out_dtype), state.packed), lx.RESULTS.successful, \
                self._stats(state, None, None)
        if state.conjugated:  # conj(A) x = b  <=>  A conj(x) = conj(b)
            vector = vector.conj()
        mode = MODE_T if state.transposed else MODE_A
        vdt, bdt, split = shapes.compute_dtypes(values, vector)
        v2 = values.astype(vdt)[None]

        def solve(rhs):
            b3 = rhs.astype(bdt).reshape(1, n, 1)
            if split:
                b3 = jnp.concatenate([b3.real, b3.imag], axis=-1)
            x, status, info = self._native(v2, b3, mode, state.pattern)
            x = x[0]
            if split:
                x = jax.lax.complex(x[:, :1], x[:, 1:])
            return x[:, 0], status[0], info[0]

        x, status, info = solve(vector)
        status = numerics.threshold(status, info, self.rcond_min)
        x = jnp.where(status == OK, x, jnp.nan)
        stats = self._stats(state, status, info)
        if self.refine > 0:
            rows, cols = state.pattern.rows, state.pattern.cols
            if state.transposed:
                rows, cols = cols, rows
            mv_dtype = packing.promote(vdt, bdt)
            vals = values.astype(mv_dtype)[None]
            matvec = lambda y: _f.dot_ref(rows, cols, vals, y.astype(mv_dtype)[None, :, None], n)[0, :, 0]  # noqa: E731
            norm_a = numerics.inf_norm(values.astype(mv_dtype), rows, n)
            x, steps, berr = numerics.refine(lambda r: solve(r)[0], matvec, norm_a, vector.astype(mv_dtype),
                                             x.astype(mv_dtype), self.refine, self.refine_tol)
            stats["refine_steps"] = steps
            stats["backward_error"] = berr
        if self.numeric is not None and not self.frozen:
            x = self._check_same_values(values, x)
        if numerics.lineax_throw():
            x = numerics.raise_failures(x, status, numerics.reciprocal_condition(info), self.engine.label,
                                        self.rcond_min)
        if state.conjugated:
            x = x.conj()
        return packing.unravel(x.astype(out_dtype), state.packed), to_result(status), stats

    def _stats(self, state: DirectState, status, info) -> dict[str, Any]:
        """Facts about this solve, as arrays (`jax.jit` may return the whole Solution), per batch member under
        `jax.vmap`: sizes; the native status (`docs/numerics.md`); the factorization's diagnostics: `rcond`
        (pivot ratio), `condest` (1-norm condition estimate, NaN when not computed), `rgrowth` (reciprocal
        pivot growth, KLU), `factor_nnz`, `cache_hit` (found in the cache or held, rather than factored)."""
        stats: dict[str, Any] = {"n": jnp.asarray(state.pattern.shape[0]), "nnz": jnp.asarray(state.pattern.nnz),
                                 "held": jnp.asarray(self.numeric is not None)}
        if info is None:  # the empty system
            info = jnp.full((INFO_FIELDS,), jnp.nan).at[INFO_CACHE_HIT].set(1.0)
            status = jnp.int32(OK)
        stats["status"] = status
        stats["rcond"] = info[INFO_RCOND]
        stats["condest"] = info[INFO_CONDEST]
        stats["rgrowth"] = info[INFO_RGROWTH]
        stats["factor_nnz"] = info[INFO_FACTOR_NNZ]
        stats["cache_hit"] = info[INFO_CACHE_HIT] > 0
        return stats

    def _native(self, v2, b3, mode, pattern):
        e = self.engine
        if self.numeric is not None:
            rhs = b3.astype(_numeric_rhs_dtype(self.numeric, b3))
            return ffi.solve_numeric(e, self.numeric.words, rhs, mode, self.condest)
        if self.symbolic is not None:
            return ffi.solve_symbolic(e, self.symbolic.words, v2, b3, mode, self.condest)
        return ffi.solve(e, pattern.rows, pattern.cols, v2, b3, mode, self.condest, self._options)

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
