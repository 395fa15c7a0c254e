"""Index sets for sparsity detection, stored as boolean CSR matrices.

A variable with `k` elements that depends on some of the `n` columns (the flattened
input of the traced function) is described by a `(k, n)` boolean `scipy.sparse`
CSR matrix: row `i` holds the set of columns that element `i` may depend on. `None`
stands for "depends on nothing", which is by far the most common case (constants,
integer arithmetic, primal residuals) and costs nothing.

Every structural operation reduces to two primitives on these matrices:

- `take(s, idx)`: row selection, where `idx[i] = -1` gives an empty row. This covers
  reshape/transpose/slice/pad/gather/broadcast and friends.
- `group_union(s, src, dst, k)`: row `dst[p]` of the result is the union of rows
  `src[p]`. This covers reductions, contractions and anything many-to-one.

Both run in vectorised numpy/scipy, so a 10^6-element stencil is a few calls of
O(nnz) each.
"""

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
import scipy.sparse as sp

Sets: TypeAlias = sp.csr_array | None

# A conservative rule that would make more entries than this dense-fills memory
# instead of helping anyone: it raises, asking for a known pattern.
MAX_DENSE_ENTRIES = 200_000_000
# A primitive without a rule that has to be assumed dense raises above this many
# entries (a 2000 x 2000 block): its pattern would be (nearly) dense anyway.
MAX_FALLBACK_ENTRIES = 4_000_000
# A detected pattern of at least this many possible entries (m * n) that is more
# than this fraction full raises: a sparse solver cannot help, and the caller may
# know a sparser pattern that a conservative rule lost.
MOSTLY_DENSE_MIN_ENTRIES = 4_000_000
MOSTLY_DENSE_FRACTION = 0.5


def _check_size(entries: int) -> None:
    if entries > MAX_DENSE_ENTRIES:
        raise ValueError(
            f"nativax.sparsity: an intermediate pattern would hold {entries} entries "
            f"(more than {MAX_DENSE_ENTRIES}): it is (nearly) dense, usually because of "
            "a conservative rule (traced indices, a while loop with a traced trip count, "
            "or a primitive without a rule). Pass `pattern=` to skip detection."
        )


def _itype(maxval: int) -> type:
    """The narrowest index dtype (int32 unless `maxval` needs int64): half the memory
    traffic of int64, and what scipy would otherwise downcast to with an extra pass."""
    return np.int32 if maxval < _INT32_LIMIT else np.int64


_INT32_LIMIT = 2**31 - 1


def _csr(data_len: int, indices, indptr, shape) -> sp.csr_array:
    itype = _itype(max(shape[0], shape[1], data_len))
    out = sp.csr_array(
        (
            np.ones(data_len, dtype=bool),
            indices.astype(itype, copy=False),
            indptr.astype(itype, copy=False),
        ),
        shape=shape,
        copy=False,
    )
    return out


def identity(rows: int, ncols: int, offset: int) -> sp.csr_array:
    """Element `i` depends on column `offset + i` only."""
    itype = _itype(max(rows, ncols) + 1)
    return _csr(
        rows,
        np.arange(offset, offset + rows, dtype=itype),
        np.arange(rows + 1, dtype=itype),
        (rows, ncols),
    )


def empty(rows: int, ncols: int) -> sp.csr_array:
    return _csr(0, np.zeros(0, np.int32), np.zeros(rows + 1, np.int32), (rows, ncols))


def dense_or_empty(s: Sets, rows: int, ncols: int) -> sp.csr_array:
    return empty(rows, ncols) if s is None else s


def nnz(s: Sets) -> int:
    return 0 if s is None else int(s.nnz)


def is_arange(idx: np.ndarray, size: int) -> bool:
    """Whether `idx` is `0, 1, ..., size - 1` (a take that changes nothing)."""
    if idx.size != size:
        return False
    if size == 0:
        return True
    if idx[0] != 0 or idx[-1] != size - 1:
        return False
    return bool(np.all(idx == np.arange(size, dtype=idx.dtype)))


def take(s: Sets, idx: np.ndarray) -> Sets:
    """Rows `s[idx]`, with `idx == -1` selecting an empty row. `None` if all empty."""
    if s is None:
        return None
    idx = np.asarray(idx).ravel()
    if not np.issubdtype(idx.dtype, np.integer):
        idx = idx.astype(np.int64)
    if is_arange(idx, s.shape[0]):
        return s
    indptr = s.indptr
    valid = idx >= 0
    all_valid = bool(valid.all())
    safe = idx if all_valid else np.where(valid, idx, 0)
    starts = indptr[safe]
    lens = indptr[safe + 1] - starts
    if not all_valid:
        lens[~valid] = 0
    longest = int(lens.max(initial=0))
    if longest == 0:
        return None
    total = int(lens.sum(dtype=np.int64))
    _check_size(total)
    itype = _itype(max(s.shape[1], total, int(s.nnz), idx.size) + 1)
    new_indptr: np.ndarray = np.zeros(idx.size + 1, dtype=itype)
    if longest == 1:
        # At most one entry per row (identity-like sets: slices, pads, reshapes of the
        # input): a plain gather, no repeat/arange over the entries.
        has = lens.astype(bool)
        np.cumsum(has, out=new_indptr[1:])
        indices = s.indices[starts] if total == idx.size else s.indices[starts[has]]
        return _csr(total, indices, new_indptr, (idx.size, s.shape[1]))
    np.cumsum(lens, out=new_indptr[1:])
    shift = (starts - new_indptr[:-1]).astype(itype, copy=False)
    pos = np.arange(total, dtype=itype) + np.repeat(shift, lens)
    return _csr(total, s.indices[pos], new_indptr, (idx.size, s.shape[1]))


def union(a: Sets, b: Sets) -> Sets:
    """Elementwise union of two same-shaped set arrays."""
    if a is None:
        return b
    if b is None:
        return a
    out = a + b  # scipy's linear merge of the rows (both are CSR arrays)
    return out if isinstance(out, sp.csr_array) else sp.csr_array(out)


def union_all(items: Sequence[Sets]) -> Sets:
    out = None
    for item in items:
        out = union(out, item)
    return out


def group_union(s: Sets, src: np.ndarray, dst: np.ndarray, rows: int) -> Sets:
    """Result row `dst[p]` is the union over all `p` of rows `s[src[p]]`."""
    if s is None:
        return None
    src = np.asarray(src, dtype=np.int64).ravel()
    dst = np.asarray(dst, dtype=np.int64).ravel()
    keep = (src >= 0) & (dst >= 0)
    if not keep.all():
        src, dst = src[keep], dst[keep]
    picked = take(s, src)
    if picked is None:
        return None
    if rows == 1:  # a full reduction: one row, deduplicated by a bitmap instead of a sort
        return broadcast_columns(all_columns([picked]), 1, s.shape[1])
    counts = np.diff(picked.indptr)
    out_rows = np.repeat(dst, counts)
    return from_entries(out_rows, picked.indices, rows, s.shape[1])


def from_entries(rows: np.ndarray, cols: np.ndarray, nrows: int, ncols: int) -> Sets:
    """Sets from (row, column) pairs; duplicates are merged."""
    if rows.size == 0:
        return None
    out = sp.coo_array(
        (np.ones(rows.size, dtype=bool), (rows, cols)), shape=(nrows, ncols)
    ).tocsr()
    out.sum_duplicates()
    return out


def vstack(items: Sequence[Sets], sizes: Sequence[int], ncols: int) -> Sets:
    """Stack the rows of several set arrays (`None` entries count as empty rows)."""
    if all(item is None for item in items):
        return None
    if len(items) == 1:
        return items[0]
    return sp.csr_array(
        sp.vstack(
            [dense_or_empty(item, size, ncols) for item, size in zip(items, sizes)],
            format="csr",
        )
    )


def resize(s: Sets, ncols: int) -> Sets:
    """Same sets, in a column space of a different width (columns beyond are dropped)."""
    if s is None or s.shape[1] == ncols:
        return s
    if ncols < s.shape[1]:
        out = sp.csr_array(s[:, :ncols])
        return out if out.nnz else None
    return _csr(s.nnz, s.indices, s.indptr, (s.shape[0], ncols))


def split_columns(s: Sets, ncols: int) -> tuple[Sets, Sets]:
    """Split into columns `[:ncols]` and `[ncols:]` (the latter re-based to 0)."""
    if s is None:
        return None, None
    head = sp.csr_array(s[:, :ncols])
    tail = sp.csr_array(s[:, ncols:])
    return (head if head.nnz else None), (tail if tail.nnz else None)


def compose(local: Sets, basis: Sets) -> Sets:
    """`local` (rows x k) indexes rows of `basis` (k x n): the union of those rows."""
    if local is None or basis is None:
        return None
    out = sp.csr_array(local @ basis)  # boolean matmul: OR of ANDs
    out.eliminate_zeros()
    return out if out.nnz else None


def all_columns(items: Sequence[Sets]) -> np.ndarray:
    """Every column that appears in any of the set arrays (sorted; a linear bitmap pass)."""
    live = [item for item in items if item is not None and item.nnz]
    if not live:
        return np.zeros(0, np.int64)
    seen = np.zeros(max(int(item.shape[1]) for item in live), dtype=bool)
    for item in live:
        seen[item.indices] = True
    return np.flatnonzero(seen)


def broadcast_columns(cols: np.ndarray, rows: int, ncols: int) -> Sets:
    """Every row depends on every column in `cols`."""
    if cols.size == 0 or rows == 0:
        return None
    _check_size(rows * cols.size)
    indices = np.tile(cols.astype(np.int64), rows)
    indptr = np.arange(rows + 1, dtype=np.int64) * cols.size
    return _csr(indices.size, indices, indptr, (rows, ncols))
