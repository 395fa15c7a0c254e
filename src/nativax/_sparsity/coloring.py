"""Graph colorings for compressed Jacobians and Hessians (native, `native/coloring/`).

- **Columns** (`color_columns`, forward mode): two columns may share a color (be probed
    by the same JVP) only if they have no row in common: a distance-2 coloring of the
    column-intersection graph. A row with `k` nonzeros needs `k` distinct colors, so
    `max nonzeros per row` is a lower bound on the number of colors.
- **Rows** (`color_rows`, reverse mode): the same on the transpose, one VJP per color;
    fewer colors when the matrix is wide or has a few dense rows.
- **Star** (`color_star`, symmetric Hessians): a proper coloring of the adjacency graph
    in which every path on four vertices uses at least three colors. Symmetry lets
    every nonzero be read directly off one Hessian-vector product, usually with fewer
    colors than a distance-2 coloring (e.g. arrowhead patterns: 2 instead of n).

The colorings run in C++ on the CSC index arrays viewed in place (a `SparsityPattern`'s
int32 `rows` with int64 column offsets built in O(nnz), no sort or copy; rows are
colored on a transpose built in C++); the checkers (`is_valid_*`) are plain NumPy,
independent of them.
"""

from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from jaxtyping import Int

from .._core import native  # noqa: F401  (loads the extension)
from .._core.pattern import SparsityPattern
from .._nativax import color_distance2 as _color_distance2  # type: ignore[attr-defined]
from .._nativax import color_star as _color_star  # type: ignore[attr-defined]
from .._nativax import compressed_offsets as _compressed_offsets  # type: ignore[attr-defined]
from .._nativax import star_recovery as _star_recovery  # type: ignore[attr-defined]

Order = Literal["dsatur", "natural", "largest_first"]
StarOrder = Literal["best", "natural", "largest_first", "distance2"]

__all__ = [
    "color_columns",
    "color_rows",
    "color_star",
    "is_valid_coloring",
    "is_valid_star_coloring",
    "lower_bound",
    "star_recovery",
]


def _as_csr(pattern: Any) -> sp.csr_array:
    """Accepts a `SparsityPattern`, a scipy sparse matrix or `(rows, cols, shape)`."""
    if sp.issparse(pattern):
        out = sp.csr_array(pattern, dtype=bool)
        out.sum_duplicates()
        return out
    p = _as_pattern(pattern)
    return sp.csr_array(
        sp.coo_array((np.ones(p.nnz, dtype=bool), (p.rows, p.cols)), shape=p.shape).tocsr()
    )


def _csc(pattern: Any) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """`(indptr, indices, shape)` of the pattern's CSC form: int64 offsets, int32 rows
    sorted within columns (a `SparsityPattern`'s own `rows`, not copied)."""
    if isinstance(pattern, SparsityPattern):
        m, n = pattern.shape
        return _compressed_offsets(pattern.cols, n), pattern.rows, (m, n)
    if isinstance(pattern, tuple) or not sp.issparse(pattern):
        return _csc(_as_pattern(pattern))
    c = sp.csc_array(pattern, dtype=bool)
    c.sum_duplicates()
    m, n = int(c.shape[0]), int(c.shape[1])
    if max(m, n) >= 2**31:
        raise ValueError(f"nativax.coloring: `pattern` dimensions must be < 2^31, got {(m, n)}")
    return (np.ascontiguousarray(c.indptr, dtype=np.int64), np.ascontiguousarray(c.indices, dtype=np.int32),
            (m, n))


def _coo(pattern: Any) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """`(rows, cols, shape)` of the pattern without duplicate entries."""
    if isinstance(pattern, SparsityPattern):
        return pattern.rows, pattern.cols, pattern.shape
    if sp.issparse(pattern):
        coo = _as_csr(pattern).tocoo()
        return coo.row, coo.col, (int(coo.shape[0]), int(coo.shape[1]))
    p = _as_pattern(pattern)
    return p.rows, p.cols, p.shape


def _as_pattern(pattern: Any) -> SparsityPattern:
    if isinstance(pattern, SparsityPattern):
        return pattern
    if sp.issparse(pattern):
        coo = sp.coo_array(pattern)
        return SparsityPattern._from_coo(coo.row, coo.col, coo.shape)[0]
    if isinstance(pattern, tuple):
        if len(pattern) != 3:
            raise TypeError("nativax.coloring: a tuple `pattern` must be (rows, cols, shape)")
        rows, cols, shape = pattern
        return SparsityPattern._from_coo(rows, cols, tuple(shape))[0]
    raise TypeError(
        "nativax.coloring: `pattern` must be a nativax.SparsityPattern, a scipy sparse matrix or a "
        f"(rows, cols, shape) tuple, got {type(pattern).__name__}"
    )


def _check_order(order: str, allowed: tuple[str, ...], who: str) -> None:
    if order not in allowed:
        raise ValueError(f"nativax.coloring.{who}: `order` must be one of {allowed}, got {order!r}")


def lower_bound(pattern: Any) -> int:
    """The maximum number of nonzeros in a row: no valid column coloring uses fewer colors."""
    rows, _, (m, _) = _coo(pattern)
    return int(np.max(np.bincount(rows, minlength=m), initial=0))


def color_columns(pattern: Any, order: Order = "dsatur") -> Int[np.ndarray, " n"]:
    """Distance-2 column coloring: columns sharing a row get different colors.

    **Arguments:**

    - `pattern`: a `nativax.SparsityPattern`, a scipy sparse matrix, or a
        `(rows, cols, shape)` tuple.
    - `order`: `"dsatur"` (default; picks next the column whose conflicting columns
        already use the most colors; reaches the lower bound on 5- and 9-point
        stencils), `"largest_first"` (static order by conflict degree) or
        `"natural"` (column order). The latter two are a little faster but may use
        more colors.

    **Returns:**

    An `int32` array with one color in `0..k-1` per column.
    """
    _check_order(order, ("dsatur", "natural", "largest_first"), "color_columns")
    indptr, indices, (m, _) = _csc(pattern)
    return _color_distance2(indptr, indices, m, order)


def color_rows(pattern: Any, order: Order = "dsatur") -> Int[np.ndarray, " m"]:
    """Distance-2 row coloring: rows sharing a column get different colors (one VJP per color).

    Reverse mode pays off when it needs fewer colors than `color_columns`, e.g. for a
    wide matrix or a few dense rows (a dense row needs as many column colors as it
    has entries). Arguments as for [`nativax.sparsity.color_columns`][]; returns
    one `int32` color per row.
    """
    _check_order(order, ("dsatur", "natural", "largest_first"), "color_rows")
    indptr, indices, (m, _) = _csc(pattern)
    return _color_distance2(indptr, indices, m, order, True)


def color_star(pattern: Any, order: StarOrder = "best") -> Int[np.ndarray, " n"]:
    """Star coloring of a square (symmetric) pattern, for compressed Hessians.

    Colors the graph with an edge `{i, j}` for each off-diagonal entry `(i, j)` or
    `(j, i)` (so an unsymmetric pattern is symmetrized; the diagonal is ignored):
    adjacent vertices get different colors, and every path on four vertices uses at
    least three. Then each entry `H[i, j]` of a symmetric matrix is one entry of
    `H @ seed[color(j)]` or of `H @ seed[color(i)]` (see
    [`nativax.sparsity.star_recovery`][]).

    **Arguments:**

    - `pattern`: a square pattern, as for [`nativax.sparsity.color_columns`][].
    - `order`: `"natural"` (greedy star coloring in vertex order), `"largest_first"`
        (greedy, by degree, descending), `"distance2"` (a distance-2 coloring, DSATUR
        order: also a star coloring, and the better one on 9-point stencils), or
        `"best"` (default): the fewest colors of the three.

    **Returns:**

    An `int32` array with one color in `0..k-1` per vertex.
    """
    _check_order(order, ("best", "natural", "largest_first", "distance2"), "color_star")
    indptr, indices, (m, n) = _csc(pattern)
    if m != n:
        raise ValueError(f"nativax.coloring.color_star: `pattern` must be square, got shape {(m, n)}")
    return _color_star(indptr, indices, order)


def star_recovery(pattern: Any, colors: Any) -> Int[np.ndarray, " nnz"]:
    """Where each stored entry of a symmetric matrix sits in its star-compressed form.

    With `B` of shape `(k, n)`, `B[c] = H @ (colors == c)`, entry `t` of the pattern
    (CSC order, as in `SparsityPattern`) is `B.reshape(-1)[positions[t]]`. Entries
    `(i, j)` and `(j, i)` read the same position, so the result is exactly symmetric.
    Raises `ValueError` if `colors` is not a star coloring of `pattern`.
    """
    indptr, indices, (m, n) = _csc(pattern)
    if m != n:
        raise ValueError(f"nativax.coloring.star_recovery: `pattern` must be square, got shape {(m, n)}")
    return _star_recovery(indptr, indices, _colors_array(colors, n, "star_recovery"))


def _colors_array(colors: Any, n: int, who: str) -> np.ndarray:
    c = np.asarray(colors)
    if c.shape != (n,):
        raise ValueError(f"nativax.coloring.{who}: `colors` must have shape ({n},), got {c.shape}")
    if c.size and not np.issubdtype(c.dtype, np.integer):
        raise TypeError(f"nativax.coloring.{who}: `colors` must hold integers, got dtype {c.dtype}")
    if c.size and c.min() < 0:
        raise ValueError(f"nativax.coloring.{who}: `colors` must be >= 0, got {c.min()}")
    return np.ascontiguousarray(c, dtype=np.int32)


def is_valid_coloring(pattern: Any, colors: Any, *, rows: bool = False) -> bool:
    """Whether no two columns (`rows=True`: rows) of the same color share a row (column)."""
    r, c_, (m, n) = _coo(pattern)
    own, other = (c_, r) if rows else (r, c_)
    c = _colors_array(colors, m if rows else n, "is_valid_coloring").astype(np.int64)
    k = int(np.max(c, initial=0)) + 1
    key = own.astype(np.int64) * k + c[other]  # (row, color of a column in it): must be distinct
    bins = (n if rows else m) * k
    if bins <= max(4 * key.size, 1 << 20):  # O(nnz) counting when the (row, color) table is small
        return int(np.max(np.bincount(key, minlength=bins), initial=0)) <= 1
    return np.unique(key).size == key.size


def is_valid_star_coloring(pattern: Any, colors: Any) -> bool:
    """Whether `colors` is a star coloring of the (symmetrized) pattern: adjacent vertices differ, and no
    path on four vertices is two-colored, i.e. for no edge `{i, j}` do both `i` have two neighbors of
    `j`'s color and `j` two of `i`'s."""
    a = _as_csr(pattern)
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"nativax.coloring.is_valid_star_coloring: `pattern` must be square, got {a.shape}")
    c = _colors_array(colors, a.shape[0], "is_valid_star_coloring").astype(np.int64)
    coo = a.tocoo()
    off = coo.row != coo.col
    i = np.concatenate([coo.row[off], coo.col[off]]).astype(np.int64)
    j = np.concatenate([coo.col[off], coo.row[off]]).astype(np.int64)
    edges = np.unique(i * a.shape[0] + j)
    i, j = edges // a.shape[0], edges % a.shape[0]
    if np.any(c[i] == c[j]):
        return False
    k = int(np.max(c, initial=0)) + 1
    key = i * k + c[j]  # (vertex, color of a neighbor)
    uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    many = counts[inverse] >= 2  # i has >= 2 neighbors of j's color
    # the reverse edge (j, i) has key j * k + c[i]
    rev = np.searchsorted(uniq, j * k + c[i])
    many_rev = counts[rev] >= 2
    return not np.any(many & many_rev)
