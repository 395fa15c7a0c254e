"""The pure-Python distance-2 column coloring nativax used before the native one (`native/coloring/`).

Kept as a reference: tests check that the native coloring gives the same colors, and
`benchmarks/sparsity_bench.py` times both. Not used on any hot path.
"""

import numpy as np
import scipy.sparse as sp
from jaxtyping import Int


def color_columns_python(a: sp.csr_array, order: str = "dsatur") -> Int[np.ndarray, " n"]:
    """Distance-2 column coloring of the boolean CSR matrix `a` (duplicates summed, indices sorted)."""
    c = sp.csc_array(a)
    n = a.shape[1]
    if n == 0:
        return np.zeros(0, np.int32)
    if order == "dsatur":
        colors = _dsatur(c.indptr.tolist(), c.indices.tolist(), a.indptr.tolist(), a.indices.tolist(), n)
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
