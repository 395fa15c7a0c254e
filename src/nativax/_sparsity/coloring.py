"""Column coloring for compressed Jacobian evaluation.

Two columns of a Jacobian may share a color (be probed by the same JVP) only if
they have no row in common: a distance-2 coloring of the column-intersection
graph. Each row with `k` nonzeros needs `k` distinct colors, so
`max nonzeros per row` is a lower bound on the number of colors (and JVPs).
"""

from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from jaxtyping import Int

Order = Literal["dsatur", "natural", "largest_first"]


def _as_csr(pattern: Any) -> sp.csr_array:
    """Accepts a `SparsityPattern`, a scipy sparse matrix or `(rows, cols, shape)`."""
    if sp.issparse(pattern):
        out = sp.csr_array(pattern, dtype=bool)
    else:
        if isinstance(pattern, tuple):
            rows, cols, shape = pattern
        else:
            rows, cols, shape = pattern.rows, pattern.cols, pattern.shape
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        out = sp.coo_array(
            (np.ones(rows.size, dtype=bool), (rows, cols)), shape=tuple(shape)
        ).tocsr()
    out.sum_duplicates()
    return out


def lower_bound(pattern: Any) -> int:
    """The maximum number of nonzeros in a row: no valid coloring uses fewer colors."""
    a = _as_csr(pattern)
    return int(np.diff(a.indptr).max(initial=0))


def color_columns(pattern: Any, order: Order = "dsatur") -> Int[np.ndarray, " n"]:
    """Distance-2 column coloring: columns sharing a row get different colors.

    **Arguments:**

    - `pattern`: a `nativax.SparsityPattern`, a scipy sparse matrix, or a
        `(rows, cols, shape)` tuple.
    - `order`: `"dsatur"` (default; picks next the column whose conflicting columns
        already use the most colors, ties by list order; optimal on 5- and 9-point
        stencils), `"largest_first"` (static order by conflict degree) or
        `"natural"` (column order). The latter two are faster but use more colors.

    **Returns:**

    An `int32` array with one color in `0..k-1` per column.
    """
    a = _as_csr(pattern)
    c = sp.csc_array(a)
    n = a.shape[1]
    if n == 0:
        return np.zeros(0, np.int32)
    if order == "dsatur":
        colors = _dsatur(c.indptr.tolist(), c.indices.tolist(),
                         a.indptr.tolist(), a.indices.tolist(), n)
    elif order in ("natural", "largest_first"):
        if order == "natural":
            seq = np.arange(n)
        else:
            deg = np.diff(sp.csr_array(c.T @ c).indptr)
            seq = np.argsort(-deg, kind="stable")
        colors = _greedy(c.indptr.tolist(), c.indices.tolist(), a.shape[0], seq.tolist())
    else:
        raise ValueError(f"Unknown coloring order {order!r}.")
    return np.asarray(colors, dtype=np.int32)


def _greedy(cptr, cind, nrows, seq) -> list[int]:
    # rowmask[r]: bitmask of colors already used by columns in row r.
    rowmask = [0] * nrows
    colors = [0] * len(cptr[:-1])
    for v in seq:
        rows = cind[cptr[v]: cptr[v + 1]]
        used = 0
        for r in rows:
            used |= rowmask[r]
        bit = ~used & (used + 1)  # lowest free color
        colors[v] = bit.bit_length() - 1
        for r in rows:
            rowmask[r] |= bit
    return colors


def _dsatur(cptr, cind, rptr, rind, n) -> list[int]:
    # satmask[v]: colors used by columns conflicting with v; sat[v] its popcount.
    # stacks[s] holds candidates of saturation s (stale entries are skipped).
    satmask = [0] * n
    sat = [0] * n
    colors = [-1] * n
    stacks = [list(range(n - 1, -1, -1))]
    top, left = 0, n
    while left:
        while True:
            stack = stacks[top]
            if not stack:
                top -= 1
                continue
            v = stack.pop()
            if colors[v] < 0 and sat[v] == top:
                break
        used = satmask[v]
        bit = ~used & (used + 1)
        colors[v] = bit.bit_length() - 1
        left -= 1
        for r in cind[cptr[v]: cptr[v + 1]]:
            for u in rind[rptr[r]: rptr[r + 1]]:
                if colors[u] < 0 and not satmask[u] & bit:
                    satmask[u] |= bit
                    s = sat[u] + 1
                    sat[u] = s
                    if s == len(stacks):
                        stacks.append([])
                    stacks[s].append(u)
                    if s > top:
                        top = s
    return colors


def is_valid_coloring(pattern: Any, colors: np.ndarray) -> bool:
    """Whether no two columns of the same color share a row."""
    a = _as_csr(pattern)
    coo = a.tocoo()
    key = coo.row.astype(np.int64) * (int(colors.max(initial=0)) + 1) + colors[coo.col]
    return np.unique(key).size == key.size
