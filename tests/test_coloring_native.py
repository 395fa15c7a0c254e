"""Native coloring (`native/coloring/`): same colors as the former Python coloring, row and star colorings
valid, star recovery exact, and bad index arrays rejected with clear errors."""

import numpy as np
import pytest
import scipy.sparse as sp

import nativax
from nativax import _nativax as lib
from nativax import coloring
from nativax._sparsity.coloring import _as_csr
from nativax._sparsity.coloring_reference import color_columns_python

ORDERS = ["dsatur", "natural", "largest_first"]


def stencil(m, nine=False):
    offsets = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]
    if nine:
        offsets += [(1, 1), (1, -1), (-1, 1), (-1, -1)]
    idx = np.arange(m * m).reshape(m, m)
    rows, cols = [], []
    for di, dj in offsets:
        rows.append(idx[max(0, -di): m - max(0, di), max(0, -dj): m - max(0, dj)].ravel())
        cols.append(idx[max(0, di): m - max(0, -di), max(0, dj): m - max(0, -dj)].ravel())
    return nativax.SparsityPattern.from_coo(np.concatenate(rows), np.concatenate(cols), (m * m, m * m))[0]


def random_pattern(m, n, density, seed):
    a = sp.random(m, n, density=density, random_state=seed, format="coo")
    return (a.row, a.col, a.shape)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("case", [("5pt", 30), ("5pt", 61), ("9pt", 30), ("rand", 0), ("rand", 1), ("dense", 2)])
def test_same_colors_as_python(order, case):
    kind, arg = case
    if kind == "rand":
        p = random_pattern(300, 200, 0.03, arg)
    elif kind == "dense":  # > 64 colors: the wide bitset path
        p = random_pattern(150, 120, 0.6, arg)
    else:
        p = stencil(arg, kind == "9pt")
    native = coloring.color_columns(p, order)
    python = color_columns_python(_as_csr(p), order)
    assert native.dtype == np.int32
    assert coloring.is_valid_coloring(p, native)
    np.testing.assert_array_equal(native, python)


@pytest.mark.parametrize("order", ORDERS)
def test_row_coloring(order):
    # A few dense columns: every row sharing one needs its own row color (reverse mode loses here).
    rng = np.random.default_rng(0)
    rows = np.concatenate([np.arange(400), np.repeat(np.arange(400), 2)])
    cols = np.concatenate([rng.integers(0, 3, 400), rng.integers(0, 50, 800)])
    p = (rows, cols, (400, 50))
    r = coloring.color_rows(p, order)
    assert r.shape == (400,) and coloring.is_valid_coloring(p, r, rows=True)
    assert not coloring.is_valid_coloring(p, np.zeros(400, np.int32), rows=True)
    # rows coloring == column coloring of the transpose
    t = (cols, rows, (50, 400))
    np.testing.assert_array_equal(r, coloring.color_columns(t, order))


@pytest.mark.parametrize("order", ["best", "natural", "largest_first", "distance2"])
@pytest.mark.parametrize("case", [("5pt", 40), ("9pt", 25), ("rand", 0), ("rand", 3), ("arrow", 0)])
def test_star_coloring_valid_and_recovers(order, case):
    kind, arg = case
    if kind == "rand":
        n = 120
        a = sp.random(n, n, density=0.04, random_state=arg, format="coo")
        p = nativax.SparsityPattern.from_coo(np.r_[a.row, a.col, np.arange(n)], np.r_[a.col, a.row, np.arange(n)],
                                             (n, n))[0]
    elif kind == "arrow":  # dense first row/column: star needs 2 colors, distance-2 needs n
        n = 60
        r = np.r_[np.zeros(n, int), np.arange(n), np.arange(n)]
        c = np.r_[np.arange(n), np.zeros(n, int), np.arange(n)]
        p = nativax.SparsityPattern.from_coo(r, c, (n, n))[0]
    else:
        p = stencil(arg, kind == "9pt")
    colors = coloring.color_star(p, order)
    assert coloring.is_valid_star_coloring(p, colors)
    if kind == "arrow" and order != "distance2":
        assert colors.max() + 1 == 2
    if kind == "5pt" and order in ("best", "distance2"):
        assert colors.max() + 1 == 5
    if kind == "9pt" and order == "best":
        assert colors.max() + 1 <= 9
    # direct recovery of a random symmetric matrix with that pattern, from B = H @ S
    rng = np.random.default_rng(1)
    h = sp.coo_array((rng.standard_normal(p.nnz), (p.rows, p.cols)), shape=p.shape).toarray()
    h = h + h.T
    seeds = (colors[None, :] == np.arange(colors.max() + 1)[:, None]).astype(float)
    b = seeds @ h  # (k, n): row c = H @ seed_c (H symmetric)
    values = b.reshape(-1)[coloring.star_recovery(p, colors)]
    np.testing.assert_allclose(values, h[p.rows, p.cols], rtol=1e-13, atol=1e-13)


def test_star_checker_rejects_two_colored_path():
    # path 0-1-2-3 colored 0,1,0,1 is proper but not a star coloring
    p = nativax.SparsityPattern.from_coo([0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2], (4, 4))[0]
    bad = np.array([0, 1, 0, 1])
    assert not coloring.is_valid_star_coloring(p, bad)
    assert not coloring.is_valid_star_coloring(p, np.array([0, 0, 1, 2]))  # not proper
    assert coloring.is_valid_star_coloring(p, np.array([0, 1, 0, 2]))
    with pytest.raises(ValueError, match="star coloring"):
        coloring.star_recovery(p, bad)
    with pytest.raises(ValueError, match="proper"):
        coloring.star_recovery(p, np.array([0, 0, 1, 2]))


def test_empty_and_isolated():
    p = nativax.SparsityPattern.from_coo([], [], (0, 0))[0]
    assert coloring.color_columns(p).shape == (0,)
    assert coloring.color_star(p).shape == (0,)
    q = nativax.SparsityPattern.from_coo([0], [0], (3, 4))[0]  # empty columns get color 0
    np.testing.assert_array_equal(coloring.color_columns(q), [0, 0, 0, 0])
    assert coloring.color_rows(q).shape == (3,)


def i64(*v):
    return np.asarray(v, dtype=np.int64)


def i32(*v):
    return np.asarray(v, dtype=np.int32)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: lib.color_distance2(i64(), i32(), 2, "dsatur"), "length n \\+ 1"),
        (lambda: lib.color_distance2(i64(1, 2), i32(0, 1), 2, "dsatur"), "indptr\\[0\\]"),
        (lambda: lib.color_distance2(i64(0, 2, 1), i32(0, 1), 2, "dsatur"), "nondecreasing"),
        (lambda: lib.color_distance2(i64(0, 1, 3), i32(0, 1), 2, "dsatur"), "must equal len"),
        (lambda: lib.color_distance2(i64(0, 1, 2), i32(0, 5), 2, "dsatur"), "indices\\[1\\]` = 5 is out of range"),
        (lambda: lib.color_distance2(i64(0, 1, 2), i32(0, -1), 2, "natural"), "out of range"),
        (lambda: lib.color_distance2(i64(0, 1, 2), i32(0, 1), -1, "natural"), ">= 0"),
        (lambda: lib.color_distance2(i64(0, 1, 2), i32(0, 1), 2, "random"), "`order`"),
        (lambda: lib.color_star(i64(0, 1, 2), i32(0, 2), "best"), "out of range"),
        (lambda: lib.color_star(i64(0, 1, 2), i32(0, 1), "dsatur"), "`order`"),
        (lambda: lib.star_recovery(i64(0, 1, 2), i32(0, 1), np.zeros(3, np.int32)), "`colors` has length"),
        (lambda: lib.star_recovery(i64(0, 1, 2), i32(0, 1), np.array([0, -1], np.int32)), "negative"),
        (lambda: lib.color_distance2(i64(0, 1, 2), i32(0, 5), 2, "dsatur", True), "color_rows.*out of range"),
        (lambda: lib.compressed_offsets(i32(0, 2, 1), 3), "nondecreasing"),
        (lambda: lib.compressed_offsets(i32(0, 3), 3), "cols\\[1\\]` = 3 is out of range"),
        (lambda: lib.compressed_offsets(i32(-1, 0), 3), "out of range"),
        (lambda: lib.compressed_offsets(i32(), -1), "number of columns"),
    ],
)
def test_native_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_native_wrong_dtype_is_type_error():
    with pytest.raises(TypeError):
        lib.color_distance2(np.array([0, 1], np.float64), i32(0), 1, "dsatur")
    with pytest.raises(TypeError):  # indices are int32 (a SparsityPattern's own dtype), never cast silently
        lib.color_distance2(i64(0, 1), i64(0), 1, "dsatur")


def test_compressed_offsets():
    cols = np.array([0, 0, 2, 2, 2, 4], np.int32)
    np.testing.assert_array_equal(lib.compressed_offsets(cols, 6), [0, 2, 2, 5, 5, 6, 6])
    np.testing.assert_array_equal(lib.compressed_offsets(i32(), 3), [0, 0, 0, 0])


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("seed", [0, 1])
def test_row_coloring_matches_transpose_and_python(order, seed):
    # Rows colored on the C++ transpose: the same as coloring the columns of the transpose, also past 64
    # colors (dense case: the general bitset path after the 64-color fast path gives up).
    a = sp.random(90, 140, density=0.5 if seed else 0.05, random_state=seed, format="csr")
    r = coloring.color_rows(a, order)
    assert coloring.is_valid_coloring(a, r, rows=True)
    np.testing.assert_array_equal(r, color_columns_python(sp.csr_array(a.T, dtype=bool), order))
    if seed:
        assert r.max() + 1 > 64


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: coloring.color_columns(stencil(3), order="fast"), ValueError, "`order`"),
        (lambda: coloring.color_star(stencil(3), order="dsatur"), ValueError, "`order`"),
        (lambda: coloring.color_star(([0], [1], (2, 3))), ValueError, "square"),
        (lambda: coloring.color_columns("pattern"), TypeError, "pattern"),
        (lambda: coloring.color_columns(([0], [5], (2, 2))), ValueError, "out of range"),
        (lambda: coloring.is_valid_coloring(stencil(3), np.zeros(4, np.int32)), ValueError, "shape"),
        (lambda: coloring.is_valid_star_coloring(stencil(3), np.zeros(9)), TypeError, "integers"),
        (lambda: coloring.star_recovery(stencil(3), -np.ones(9, np.int32)), ValueError, ">= 0"),
    ],
)
def test_python_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("order", ORDERS)
def test_symmetric_shortcut_matches_unsymmetric_path(order):
    # A structurally symmetric pattern is colored on itself (no transpose); adding one entry breaks the
    # symmetry and takes the transpose path: both agree with the Python coloring.
    p = stencil(20, nine=True)
    q = nativax.SparsityPattern.from_coo(np.r_[p.rows, 0], np.r_[p.cols, 399], p.shape)[0]
    for pat in (p, q):
        np.testing.assert_array_equal(coloring.color_columns(pat, order), color_columns_python(_as_csr(pat), order))
        np.testing.assert_array_equal(coloring.color_rows(pat, order),
                                      color_columns_python(sp.csr_array(_as_csr(pat).T), order))
    # same counts, different order within a column: not its own transpose, still colored correctly
    a = sp.csc_array(_as_csr(p))
    a.indices = a.indices.copy()
    a.indices[a.indptr[5]: a.indptr[6]] = a.indices[a.indptr[5]: a.indptr[6]][::-1]
    a.has_sorted_indices = False
    c = lib.color_distance2(a.indptr.astype(np.int64), a.indices.astype(np.int32), p.shape[0], order)
    assert coloring.is_valid_coloring(p, c)
