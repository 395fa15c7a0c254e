"""Jacobian sparsity detection, caching and compressed materialisation (public face: `nativax.sparsity`)."""

import collections
import hashlib
import threading
import warnings
from typing import Any, Literal

import equinox as eqx
import jax
import jax.extend.core as jex
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Int, PyTree

from .._core import packing
from .._core.operator import SparseOperator
from .._core.pattern import SparsityPattern
from . import index_sets as ix
from .coloring import color_columns, color_rows, color_star, star_recovery
from .interpreter import ConservativePatternWarning, Context, eval_jaxpr
from .params import sub_jaxprs
from .pattern_check import check_pattern
from .residuals import known_values
from .seeds import gather_index, seed_matrix

# ------------------------------------------------------------------ detection


def _structs(tree: PyTree) -> tuple[list[jax.ShapeDtypeStruct], Any]:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return [jax.ShapeDtypeStruct(np.shape(x), jnp.result_type(x)) for x in leaves], treedef


def _size(struct) -> int:
    return int(np.prod(struct.shape, dtype=np.int64))


def _trace(fn, x: PyTree, extra: PyTree = ()) -> tuple[jex.ClosedJaxpr, list, list, int]:
    """The jaxpr of `fn(x, extra)` on flat inputs, with the in/out leaf structures and
    the number of leaves of `x` (the columns; `extra` leaves are unknown values)."""
    x_structs, x_def = _structs(x)
    e_structs, e_def = _structs(extra)
    nx = len(x_structs)

    def flat_fn(*leaves):
        xs = jax.tree_util.tree_unflatten(x_def, leaves[:nx])
        es = jax.tree_util.tree_unflatten(e_def, leaves[nx:])
        return jax.tree_util.tree_leaves(fn(xs, es))

    closed, out_shapes = jax.make_jaxpr(flat_fn, return_shape=True)(*x_structs, *e_structs)
    return closed, x_structs + e_structs, list(out_shapes), nx


def _detect(closed: jex.ClosedJaxpr, in_structs, out_structs, ctx: Context, nx: int | None = None,
            const_vals: list | None = None):
    nx = len(in_structs) if nx is None else nx
    n = sum(_size(s) for s in in_structs[:nx])
    m = sum(_size(s) for s in out_structs)
    in_sets: list[ix.Sets] = []
    offset = 0
    for s in in_structs[:nx]:
        k = _size(s)
        inexact = jnp.issubdtype(s.dtype, jnp.inexact)
        in_sets.append(ix.identity(k, n, offset) if inexact and k else None)
        offset += k
    in_sets += [None] * (len(in_structs) - nx)
    if const_vals is None:
        const_vals = known_values(closed.consts)
    try:
        out_sets, _ = eval_jaxpr(
            closed.jaxpr, [None] * len(const_vals), const_vals,
            in_sets, [None] * len(in_sets), n, ctx,
        )
    except ValueError as err:
        if ctx.events and str(err).startswith("nativax.sparsity: an intermediate"):
            raise ValueError(f"{err}{_events(ctx)}") from err
        raise
    stacked = ix.vstack(out_sets, [_size(s) for s in out_structs], n)
    if stacked is None:
        rows = cols = np.zeros(0, np.int64)
    else:
        _check_not_mostly_dense(int(stacked.nnz), m, n, ctx)
        _warn_conservative(int(stacked.nnz), m, n, ctx)
        # CSR -> CSC is a linear counting pass that leaves the entries canonical (unique,
        # sorted by column then row), so `from_coo` skips its sort.
        csc = stacked.tocsc()
        rows = csc.indices
        cols = np.repeat(np.arange(n, dtype=rows.dtype), np.diff(csc.indptr))
    pattern, _ = SparsityPattern._from_coo(rows, cols, (m, n))
    return pattern


_REMEDY = (
    " Remedy: pass the exact pattern and skip detection. Inside optimistix/diffrax (they hand the "
    "solver an operator linearised under jit, where indices computed in your function are traced): "
    "`nativax.KLU(pattern=nativax.sparsity.jacobian_sparsity(lambda y: f(y, args), y0))` (any nativax "
    "solver takes `pattern=`); for an operator you hold: "
    "`nativax.sparsity.to_sparse_operator(op, pattern=...)`."
)


def _events(ctx: Context) -> str:
    if not ctx.events:
        return ""
    return " Conservative steps taken: " + " | ".join(ctx.events)


def _warn_conservative(nnz: int, m: int, n: int, ctx: Context) -> None:
    """Never silently (nearly) dense: one warning per detection (results are cached, so
    once per operator structure) listing the conservative steps and the remedy."""
    if not ctx.events:
        return
    warnings.warn(
        f"nativax.sparsity: the detected Jacobian pattern ({nnz} of {m} x {n} entries) may be larger "
        f"than the true one.{_events(ctx)}.{_REMEDY}",
        ConservativePatternWarning,
        stacklevel=3,
    )


def _check_not_mostly_dense(nnz: int, m: int, n: int, ctx: Context) -> None:
    """A (nearly) dense pattern at large size helps no sparse solver and usually means a
    conservative rule lost the structure: say so instead of materialising it."""
    total = m * n
    if total >= ix.MOSTLY_DENSE_MIN_ENTRIES and nnz > ix.MOSTLY_DENSE_FRACTION * total:
        raise ValueError(
            f"nativax.sparsity: the detected Jacobian pattern is {100 * nnz / total:.0f}% dense "
            f"({nnz} of {m} x {n} entries). A sparse solver cannot help with a dense Jacobian; if "
            "the true Jacobian is sparse, a conservative step lost its structure, else use a dense "
            f"solver.{_events(ctx)}.{_REMEDY}"
        )


def jacobian_sparsity(fn, x: PyTree, *, unroll_budget: int = 2000) -> SparsityPattern:
    """Sparsity pattern of the Jacobian of `fn` at inputs shaped like `x`.

    **Arguments:**

    - `fn`: a function of one argument (an array or a pytree of arrays), returning an
        array or a pytree of arrays.
    - `x`: an example input; arrays or `jax.ShapeDtypeStruct`s (only shapes and
        dtypes are used).
    - `unroll_budget`: `lax.scan`s with `length * number_of_equations` up to this are
        analysed iteration by iteration (exact); longer ones by a fixed point over
        the carry (a superset).

    **Returns:**

    A [`nativax.SparsityPattern`][] of shape `(m, n)`, where inputs and outputs are
    flattened and concatenated in pytree-leaf order (like `jax.flatten_util`).
    Entry `(i, j)` is present when output `i` may depend on input `j`.
    """
    if not callable(fn):
        raise TypeError(f"jacobian_sparsity: `fn` must be callable, got {type(fn).__name__}")
    if isinstance(unroll_budget, bool) or not isinstance(unroll_budget, int) or unroll_budget < 0:
        raise ValueError(f"jacobian_sparsity: `unroll_budget` must be an int >= 0, got {unroll_budget!r}")
    leaves = jax.tree_util.tree_leaves(x)
    if not leaves or not any(jnp.issubdtype(jnp.result_type(leaf), jnp.inexact) for leaf in leaves):
        raise TypeError(
            "jacobian_sparsity: `x` must hold at least one floating or complex array (a Jacobian with "
            f"respect to integer inputs is not defined), got dtypes {[str(jnp.result_type(v)) for v in leaves]}"
        )
    closed, in_structs, out_structs, nx = _trace(lambda x, _: fn(x), x)
    return _detect(closed, in_structs, out_structs, Context(unroll_budget=unroll_budget), nx)


# -------------------------------------------------------------------- caching


_CACHE_SIZE = 128
_cache: collections.OrderedDict = collections.OrderedDict()
_lock = threading.Lock()


def _fingerprint(closed: jex.ClosedJaxpr, top_vals: list | None = None) -> str:
    """Identifies everything detection depends on: the jaxpr text (primitives,
    params, shapes, literals) and the values of known constants (`top_vals` for the
    outer jaxpr: concrete ones and traced ones recovered by `residuals.known_values`),
    including those of nested jaxprs. Unknown traced constants count by shape only:
    detection treats them as unknown, so the pattern cannot depend on their values."""
    h = hashlib.blake2b(str(closed.jaxpr).encode(), digest_size=16)

    def consts(cj, vals=None):
        for k, c in enumerate(cj.consts):
            a = vals[k] if vals is not None else (None if isinstance(c, jax.core.Tracer) else np.asarray(c))
            if a is None:
                h.update(repr(("tracer", c.shape, str(c.dtype))).encode())
            else:
                h.update(repr((a.shape, str(a.dtype))).encode())
                h.update(np.ascontiguousarray(a).tobytes())
        walk(cj.jaxpr)

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            for value in eqn.params.values():
                for item in sub_jaxprs(value):
                    if isinstance(item, jex.ClosedJaxpr):
                        consts(item)
                    elif isinstance(item, jex.Jaxpr):
                        walk(item)

    consts(closed, top_vals)
    return h.hexdigest()


def _cached(key, compute):
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    value = compute()
    with _lock:
        _cache[key] = value
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return value


def clear_cache() -> None:
    """Forget all cached patterns and colorings."""
    with _lock:
        _cache.clear()


def _colors(pattern: SparsityPattern) -> np.ndarray:
    return _cached(("colors", pattern), lambda: color_columns(pattern))


def _row_colors(pattern: SparsityPattern) -> np.ndarray:
    return _cached(("row colors", pattern), lambda: color_rows(pattern))


def _ncolors(colors: np.ndarray) -> int:
    return int(colors.max(initial=-1)) + 1


def _reverse_pays(pattern: SparsityPattern) -> bool:
    """Whether a row coloring (one VJP per color) needs strictly fewer colors than the
    column coloring (one JVP per color). A row with `k` nonzeros needs `k` column
    colors and a column with `k` nonzeros `k` row colors: these bounds decide unseen
    when they can, so a wide Jacobian with a dense row never has its columns colored
    (a complete distance-2 graph) and a stencil never has its rows colored."""

    def compute():
        if pattern.nnz == 0:
            return False
        m, n = pattern.shape
        fwd_bound = int(np.bincount(pattern.rows, minlength=m).max())  # max nonzeros in a row
        rev_bound = int(np.bincount(pattern.cols, minlength=n).max())  # max nonzeros in a column
        if fwd_bound <= rev_bound:
            forward = _ncolors(_colors(pattern))
            return rev_bound < forward and _ncolors(_row_colors(pattern)) < forward
        reverse = _ncolors(_row_colors(pattern))
        if fwd_bound > reverse:
            return True
        return reverse < _ncolors(_colors(pattern))

    return _cached(("reverse pays", pattern), compute)


def _symmetrize(pattern: SparsityPattern) -> SparsityPattern:
    """The union of a square pattern and its transpose."""
    if pattern.is_structurally_symmetric:
        return pattern
    rows = np.concatenate([pattern.rows, pattern.cols])
    cols = np.concatenate([pattern.cols, pattern.rows])
    return SparsityPattern._from_coo(rows, cols, pattern.shape)[0]


def _star(pattern: SparsityPattern) -> tuple[np.ndarray, np.ndarray]:
    """The (cached) star coloring of a symmetric pattern and the recovery positions of its entries."""

    def compute():
        colors = color_star(pattern)
        return colors, star_recovery(pattern, colors)

    return _cached(("star", pattern), compute)


def _is_float_leaf(leaf) -> bool:
    return eqx.is_array(leaf) and jnp.issubdtype(leaf.dtype, jnp.inexact)


def _jacobian_operator_trace(operator: lx.JacobianLinearOperator):
    """Traces `fn(x, args)` with the floating-point array leaves of `args` as unknown
    inputs, so the pattern (and its cache entry) holds for all their values; integer
    and boolean arrays (indices, masks) and Python scalars stay concrete and sharpen
    the pattern. Falls back to fully concrete `args` if the function needs them."""
    floats, rest = eqx.partition(operator.args, _is_float_leaf)

    def fn(x, floats):
        return operator.fn(x, eqx.combine(floats, rest))

    try:
        return _trace(fn, operator.x, floats)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerBoolConversionError,
            ValueError, TypeError):
        return _trace(lambda x, _: operator.fn(x, operator.args), operator.x)


def _operator_pattern(operator: lx.AbstractLinearOperator) -> SparsityPattern:
    if isinstance(operator, lx.JacobianLinearOperator):
        # Analyse the function itself: its constants (e.g. gather indices) are still
        # visible here, whereas in a JVP's linearisation they may be residuals.
        closed, in_structs, out_structs, nx = _jacobian_operator_trace(operator)
    else:
        closed, in_structs, out_structs, nx = _trace(
            lambda x, _: operator.mv(x), operator.in_structure()
        )
    const_vals = known_values(closed.consts)
    key = (
        "pattern",
        type(operator).__name__,
        _fingerprint(closed, const_vals),
        nx,
        tuple((s.shape, str(s.dtype)) for s in in_structs),
        tuple((s.shape, str(s.dtype)) for s in out_structs),
    )
    return _cached(key, lambda: _detect(closed, in_structs, out_structs, Context(), nx, const_vals))


# ------------------------------------------------------------- materialising


def _compressed_values(operator, pattern: SparsityPattern, colors: np.ndarray) -> jax.Array:
    packed = packing.pack(operator)
    in_dtype = packing.promote(*[s.dtype for s in jax.tree_util.tree_leaves(operator.in_structure())])
    m = pattern.shape[0]
    ncolors = int(colors.max(initial=-1)) + 1
    seeds = seed_matrix(colors, in_dtype)

    def mv(v):
        return packing.ravel(operator.mv(packing.unravel(v, packed)), packed, "to_sparse_operator")

    compressed = jax.vmap(mv)(seeds)  # (ncolors, m): one JVP per color
    itype = np.int32 if ncolors * m < 2**31 else np.int64
    flat = colors[pattern.cols].astype(itype) * itype(m) + pattern.rows
    return compressed.reshape(-1)[gather_index(flat, ncolors * m)]


def _compressed_symmetric(operator, pattern: SparsityPattern, colors: np.ndarray, positions: np.ndarray):
    packed = packing.pack(operator)
    in_dtype = packing.promote(*[s.dtype for s in jax.tree_util.tree_leaves(operator.in_structure())])
    seeds = seed_matrix(colors, in_dtype)

    def mv(v):
        return packing.ravel(operator.mv(packing.unravel(v, packed)), packed, "to_sparse_operator")

    compressed = jax.vmap(mv)(seeds)  # (ncolors, n): one JVP per star color
    return compressed.reshape(-1)[gather_index(positions, compressed.size)]


def _compressed_rows(operator, pattern: SparsityPattern, colors: np.ndarray) -> jax.Array:
    """Reverse mode: one VJP (`operator.transpose().mv`) per row color; entry `(i, j)` is
    element `j` of the product seeded with row `i`'s color."""
    transposed = operator.transpose()
    packed = packing.pack(transposed)
    in_dtype = packing.promote(*[s.dtype for s in jax.tree_util.tree_leaves(transposed.in_structure())])
    n = pattern.shape[1]
    ncolors = _ncolors(colors)
    seeds = seed_matrix(colors, in_dtype)

    def vmv(w):
        return packing.ravel(transposed.mv(packing.unravel(w, packed)), packed, "to_sparse_operator")

    compressed = jax.vmap(vmv)(seeds)  # (ncolors, n): one VJP per row color
    flat = colors[pattern.rows].astype(np.int64) * n + pattern.cols
    return compressed.reshape(-1)[gather_index(flat, ncolors * n)]


Mode = Literal["auto", "fwd", "rev"]


def to_sparse_operator(
    operator: lx.AbstractLinearOperator,
    pattern: SparsityPattern | None = None,
    *,
    mode: Mode = "auto",
) -> SparseOperator:
    """Materialise any lineax operator as a [`nativax.SparseOperator`][].

    Costs one JVP (`operator.mv`) per column color, or one VJP
    (`operator.transpose().mv`) per row color, batched with `jax.vmap`; works inside
    `jit` and is differentiable with respect to the operator's arrays.

    **Arguments:**

    - `operator`: any `lx.AbstractLinearOperator`, typically the
        `lx.FunctionLinearOperator`/`lx.JacobianLinearOperator` that optimistix and
        diffrax build. Pytree inputs/outputs are flattened in leaf order.
    - `pattern`: the Jacobian's [`nativax.SparsityPattern`][], if known. Skips
        detection; it must contain every structural nonzero (extra entries just cost
        memory). It is checked with one extra product with a random vector: a missing
        entry raises an error naming `pattern=` (via `equinox.error_if` under `jit`).
    - `mode`: `"fwd"` (JVPs over a column coloring,
        [`nativax.sparsity.color_columns`][]), `"rev"` (VJPs over a row coloring,
        [`nativax.sparsity.color_rows`][]; pays off for wide Jacobians or a few
        dense rows), or `"auto"` (default): reverse mode only when it needs
        strictly fewer colors and the operator can be transposed, else forward.
        For an operator tagged `lx.symmetric_tag`, `"auto"` means star coloring
        (below); `"fwd"`/`"rev"` force a column/row coloring.

    **Returns:**

    A `SparseOperator` with the same matrix as `operator` and the same tags.

    An operator tagged `lx.symmetric_tag` (e.g. the Jacobian of a gradient, from
    `optx.root_find(jax.grad(f), ..., tags=frozenset({lx.symmetric_tag}))`) is
    compressed with a star coloring ([`nativax.sparsity.color_star`][]) of its
    symmetrized pattern: fewer JVPs, and exactly symmetric values.

    Detection and coloring run once per operator structure: they are cached on the
    jaxpr of the operator's function (its text and any concrete constants) plus
    input/output shapes, so re-tracing the same solver step reuses them. See the
    module docstring for the assumption that the pattern does not depend on traced
    values.
    """
    if not isinstance(operator, lx.AbstractLinearOperator):
        raise TypeError(
            "to_sparse_operator: `operator` must be a lineax operator (e.g. lx.FunctionLinearOperator, "
            f"lx.JacobianLinearOperator), got {type(operator).__name__}; for a dense array use "
            "nativax.SparseOperator.from_dense"
        )
    if mode not in ("auto", "fwd", "rev"):
        raise ValueError(f"to_sparse_operator: `mode` must be 'auto', 'fwd' or 'rev', got {mode!r}")
    if isinstance(operator, SparseOperator):
        if pattern is not None and pattern != operator.pattern:
            raise ValueError("to_sparse_operator: `pattern` differs from the SparseOperator's own")
        return operator
    n = sum(_size(s) for s in jax.tree_util.tree_leaves(operator.in_structure()))
    m = sum(_size(s) for s in jax.tree_util.tree_leaves(operator.out_structure()))
    given = pattern is not None
    if pattern is None:
        pattern = _operator_pattern(operator)
    elif not isinstance(pattern, SparsityPattern):
        raise TypeError(f"to_sparse_operator: `pattern` must be a SparsityPattern, got {type(pattern).__name__}")
    if pattern.shape != (m, n):
        raise ValueError(
            f"to_sparse_operator: `pattern` has shape {pattern.shape}, the operator is {(m, n)}"
        )
    tags: frozenset[object] = getattr(operator, "tags", frozenset())
    if lx.symmetric_tag in tags and m == n and mode == "auto":
        # A symmetric matrix: star coloring, usually fewer JVPs than a column coloring.
        pattern = _symmetrize(pattern)
        values = _compressed_symmetric(operator, pattern, *_star(pattern))
    elif mode == "rev":
        values = _compressed_rows(operator, pattern, _row_colors(pattern))
    elif mode == "auto" and _reverse_pays(pattern):
        try:
            values = _compressed_rows(operator, pattern, _row_colors(pattern))
        except (ValueError, TypeError, NotImplementedError):  # not transposable (e.g. a while_loop)
            values = _compressed_values(operator, pattern, _colors(pattern))
    else:
        values = _compressed_values(operator, pattern, _colors(pattern))
    if given:
        values = check_pattern(operator, values, pattern)
    return SparseOperator(values, pattern, tags)


materialise = to_sparse_operator
"""Alias of [`nativax.sparsity.to_sparse_operator`][]: `materialise(operator, pattern=p)`
builds the sparse matrix from a pattern you already know, skipping detection."""


def colors_for(pattern: SparsityPattern, mode: Literal["fwd", "rev"] = "fwd") -> Int[np.ndarray, " n"]:
    """The (cached) coloring `to_sparse_operator` uses for `pattern`: one color per
    column (`mode="fwd"`) or per row (`mode="rev"`)."""
    if not isinstance(pattern, SparsityPattern):
        raise TypeError(f"colors_for: `pattern` must be a nativax.SparsityPattern, got {type(pattern).__name__}")
    if mode not in ("fwd", "rev"):
        raise ValueError(f"colors_for: `mode` must be 'fwd' or 'rev', got {mode!r}")
    return _colors(pattern) if mode == "fwd" else _row_colors(pattern)

