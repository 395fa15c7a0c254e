"""Turn lineax operators into `SparseOperator`s without dense work where the structure is known:
sums, scalings, negations and tags of sparse/identity/diagonal/tridiagonal operators keep their sparsity.
Dense `MatrixLinearOperator`s are sparsified (a convenience); matrix-free operators (Function/Jacobian) go
through sparsity detection + coloring (`nativax.sparsity`).

`as_sparse_operator` is a `functools.singledispatch` function (as lineax's own operator functions are), so
users can register conversions for their own operator types:

    @nativax.as_sparse_operator.register(MyOperator)
    def _(operator, pattern=None):
        return nativax.SparseOperator.from_scipy(operator.to_scipy())
"""

from functools import lru_cache, singledispatch

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np

from . import packing
from .operator import SparseOperator
from .pattern import SparsityPattern


@lru_cache(maxsize=256)
def _union(p1: SparsityPattern, p2: SparsityPattern) -> tuple[SparsityPattern, np.ndarray, np.ndarray]:
    rows = np.concatenate([p1.rows, p2.rows])
    cols = np.concatenate([p1.cols, p2.cols])
    pattern, where = SparsityPattern._from_coo(rows, cols, p1.shape)
    return pattern, where[: p1.nnz], where[p1.nnz :]


@lru_cache(maxsize=256)
def _diag_pattern(n: int, offsets: tuple[int, ...]) -> SparsityPattern:
    rows, cols = [], []
    for k in offsets:  # k = row - col
        i = np.arange(max(k, 0), n + min(k, 0))
        rows.append(i)
        cols.append(i - k)
    return SparsityPattern._from_coo(np.concatenate(rows), np.concatenate(cols), (n, n))[0]


@singledispatch
def as_sparse_operator(operator: lx.AbstractLinearOperator, pattern: SparsityPattern | None = None) -> SparseOperator:
    """Return `operator` as a `SparseOperator` (exact: same matrix), keeping sparsity where known.

    Matrix-free operators (anything without a registered conversion) go through Jacobian sparsity detection
    and coloring; `pattern` (a known `SparsityPattern`) skips detection. Register your own operator types with
    `nativax.as_sparse_operator.register(MyOperator)`."""
    if not isinstance(operator, lx.AbstractLinearOperator):
        if _is_scipy_sparse(operator):
            op = SparseOperator.from_scipy(operator)
            if pattern is not None and pattern != op.pattern:
                raise ValueError("nativax.as_sparse_operator: `pattern` does not match the scipy matrix's pattern")
            return op
        raise TypeError(
            "nativax.as_sparse_operator: `operator` must be a lineax operator or a scipy.sparse matrix, got "
            f"{type(operator).__name__}"
        )
    from .._sparsity.detect import to_sparse_operator

    return to_sparse_operator(operator, pattern)


def _is_scipy_sparse(x) -> bool:
    if not type(x).__module__.startswith("scipy.sparse"):
        return False
    import scipy.sparse as sp

    return bool(sp.issparse(x))


@as_sparse_operator.register
def _(operator: SparseOperator, pattern: SparsityPattern | None = None) -> SparseOperator:
    if pattern is not None and pattern != operator.pattern:
        raise ValueError("nativax: `pattern` does not match the SparseOperator's pattern")
    return operator


@as_sparse_operator.register
def _(operator: lx.TaggedLinearOperator, pattern: SparsityPattern | None = None) -> SparseOperator:
    inner = as_sparse_operator(operator.operator, pattern)
    return SparseOperator(inner.values, inner.pattern, inner.tags | operator.tags)


@as_sparse_operator.register
def _(operator: lx.NegLinearOperator, pattern: SparsityPattern | None = None) -> SparseOperator:
    inner = as_sparse_operator(operator.operator, pattern)
    return SparseOperator(-inner.values, inner.pattern, _negated_tags(inner.tags))


_NEGATED = {lx.positive_semidefinite_tag: lx.negative_semidefinite_tag,
            lx.negative_semidefinite_tag: lx.positive_semidefinite_tag}


def _negated_tags(tags: frozenset) -> tuple:
    """Tags of -A, as lineax reasons: definiteness flips (PSD <-> NSD), a unit diagonal is lost, structure stays."""
    return tuple(_NEGATED.get(t, t) for t in tags if t is not lx.unit_diagonal_tag)


@as_sparse_operator.register(lx.MulLinearOperator)
@as_sparse_operator.register(lx.DivLinearOperator)
def _(operator, pattern: SparsityPattern | None = None) -> SparseOperator:
    inner = as_sparse_operator(operator.operator, pattern)
    scalar = jnp.asarray(operator.scalar)
    values = inner.values * scalar if isinstance(operator, lx.MulLinearOperator) else inner.values / scalar
    return SparseOperator(values, inner.pattern, ())


@as_sparse_operator.register
def _(operator: lx.AddLinearOperator, pattern: SparsityPattern | None = None) -> SparseOperator:
    a = as_sparse_operator(operator.operator1)
    b = as_sparse_operator(operator.operator2)
    if a.shape != b.shape:
        raise ValueError(f"nativax: cannot add operators of shapes {a.shape} and {b.shape}")
    union, wa, wb = _union(a.pattern, b.pattern)
    dtype = packing.promote(a.values.dtype, b.values.dtype)
    values = jnp.zeros(union.nnz, dtype).at[wa].add(a.values.astype(dtype)).at[wb].add(b.values.astype(dtype))
    return SparseOperator(values, union, ())


@as_sparse_operator.register
def _(operator: lx.IdentityLinearOperator, pattern: SparsityPattern | None = None) -> SparseOperator:
    n = packing.flat_size(operator.in_structure())
    if packing.flat_size(operator.out_structure()) != n:
        raise TypeError("nativax: non-square IdentityLinearOperator")
    dtype = packing.promote(*[s.dtype for s in jax.tree_util.tree_leaves(operator.in_structure())])
    return SparseOperator(jnp.ones(n, dtype), _diag_pattern(n, (0,)), (lx.symmetric_tag, lx.diagonal_tag))


@as_sparse_operator.register
def _(operator: lx.DiagonalLinearOperator, pattern: SparsityPattern | None = None) -> SparseOperator:
    diag = packing.ravel(operator.diagonal, packing.pack(operator), "nativax: DiagonalLinearOperator")
    return SparseOperator(diag, _diag_pattern(diag.shape[0], (0,)), (lx.diagonal_tag,))


@as_sparse_operator.register
def _(operator: lx.TridiagonalLinearOperator, pattern: SparsityPattern | None = None) -> SparseOperator:
    n = operator.diagonal.shape[0]
    p = _diag_pattern(n, (0, 1, -1))
    rows = np.concatenate([np.arange(n), np.arange(1, n), np.arange(n - 1)])
    cols = np.concatenate([np.arange(n), np.arange(n - 1), np.arange(1, n)])
    _, where = SparsityPattern._from_coo(rows, cols, (n, n))
    vals = jnp.concatenate([operator.diagonal, operator.lower_diagonal, operator.upper_diagonal])
    return SparseOperator(jnp.zeros(p.nnz, vals.dtype).at[where].add(vals), p, (lx.tridiagonal_tag,))


@as_sparse_operator.register(lx.PyTreeLinearOperator)
@as_sparse_operator.register(lx.MatrixLinearOperator)
def _(operator, pattern: SparsityPattern | None = None) -> SparseOperator:
    # A stored (dense) matrix, also as pytree blocks: read it with `as_matrix()` as lx.LU does (a
    # PyTreeLinearOperator with float32 and float64 blocks cannot run `mv` under strict promotion).
    matrix = operator.as_matrix() if isinstance(operator, lx.PyTreeLinearOperator) else operator.matrix
    op = SparseOperator.from_dense(matrix, operator.tags, pattern=pattern)
    if pattern is None:
        return op
    from .._sparsity.pattern_check import (
        check_pattern,  # entries outside `pattern` would be dropped
    )

    return SparseOperator(check_pattern(operator, op.values, op.pattern), op.pattern, op.tags)
