"""Property-based fuzzing (hypothesis) of pattern/operator construction, KLU solves and handle lifetimes.

The oracles are independent of nativax: numpy dense accumulation for construction, `np.linalg` for solves
(forward error where the matrix is well conditioned, backward error always), scipy's structural rank for
structural singularity, and a plain Python model of which handles are alive. The contract checked everywhere:
bad input raises a clear Python exception or returns a documented `lx.RESULTS` code; never a crash, never a
silently wrong answer.
"""

import gc
import os
import re

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from scipy.sparse.csgraph import structural_rank

import nativax
from nativax import klu
from nativax._core.native import lib
from nativax._direct.klu.ffi import solve_numeric

# Modest example counts keep the whole file well under a minute. The test suite is derandomized (the same
# examples every run, so a red run reproduces); NATIVAX_FUZZ_RANDOM=1 and NATIVAX_FUZZ_EXAMPLES=N explore more.
RANDOM = bool(os.environ.get("NATIVAX_FUZZ_RANDOM"))
FUZZ = settings(
    max_examples=int(os.environ.get("NATIVAX_FUZZ_EXAMPLES", 40)),
    deadline=None,
    database=None,
    derandomize=not RANDOM,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SPECIAL = [np.nan, np.inf, -np.inf]


# ---- strategies ---------------------------------------------------------------------------------------------


@st.composite
def coo_indices(draw, m: int, n: int, max_entries: int = 14, in_range: bool = False):
    """COO index lists for an m x n matrix, with duplicates; unless `in_range`, sometimes out of range."""
    k = draw(st.integers(0, max_entries))
    lo_r, hi_r = (0, m - 1) if in_range else (-2, m + 1)
    lo_c, hi_c = (0, n - 1) if in_range else (-2, n + 1)
    if hi_r < lo_r or hi_c < lo_c:  # an empty dimension admits no in-range entries
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    rows = draw(st.lists(st.integers(lo_r, hi_r), min_size=k, max_size=k))
    cols = draw(st.lists(st.integers(lo_c, hi_c), min_size=k, max_size=k))
    dtype = draw(st.sampled_from([np.int32, np.int64, np.int16]))
    return np.array(rows, dtype=dtype), np.array(cols, dtype=dtype)


def finite_or_special(allow_special: bool):
    finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
    if not allow_special:
        return finite
    return st.one_of(finite, finite, finite, st.sampled_from(SPECIAL))


@st.composite
def square_system(draw, max_n: int = 6, allow_special: bool = False):
    """(rows, cols, values, b, dense A) of a random n x n system: duplicates, empty columns, exactly singular
    integer matrices, and (optionally) NaN/Inf entries all occur."""
    n = draw(st.integers(1, max_n))
    rows, cols = draw(coo_indices(n, n, max_entries=3 * n, in_range=True))
    if draw(st.booleans()):  # usually add a diagonal so that many draws are nonsingular
        rows = np.concatenate([rows, np.arange(n)])
        cols = np.concatenate([cols, np.arange(n)])
    nnz = rows.shape[0]
    if draw(st.booleans()):  # small integers: exact cancellation and exactly singular matrices are common
        vals = np.array(draw(st.lists(st.integers(-3, 3), min_size=nnz, max_size=nnz)), dtype=np.float64)
    else:
        vals = np.array(draw(st.lists(finite_or_special(False), min_size=nnz, max_size=nnz)), dtype=np.float64)
    if draw(st.booleans()):
        imag = draw(st.lists(st.integers(-2, 2), min_size=nnz, max_size=nnz))
        vals = vals + 1j * np.array(imag, dtype=np.float64)
    if allow_special and nnz and draw(st.booleans()):
        k = draw(st.integers(0, nnz - 1))
        vals = vals.copy()
        vals[k] = draw(st.sampled_from(SPECIAL))
    b = np.array(draw(st.lists(st.floats(-10, 10), min_size=n, max_size=n)), dtype=np.float64)
    a = np.zeros((n, n), dtype=vals.dtype)
    np.add.at(a, (rows, cols), vals)
    return rows, cols, vals, b, a


def dense_sum(rows, cols, values, shape):
    a = np.zeros(shape, dtype=np.result_type(values.dtype, np.float64))
    with np.errstate(invalid="ignore"):  # inf + -inf = nan is intended
        np.add.at(a, (rows, cols), values)
    return a


# ---- SparsityPattern / SparseOperator construction -----------------------------------------------------------


@FUZZ
@given(m=st.integers(0, 5), n=st.integers(0, 5), data=st.data())
def test_pattern_from_coo(m, n, data):
    rows, cols = data.draw(coo_indices(m, n))
    bad_rows = (rows < 0) | (rows >= m)
    bad_cols = (cols < 0) | (cols >= n)
    if bad_rows.any() or bad_cols.any():
        name = "rows" if bad_rows.any() else "cols"
        first = int(np.flatnonzero(bad_rows if name == "rows" else bad_cols)[0])
        with pytest.raises(ValueError, match=rf"`{name}\[{first}\]`.*out of range"):
            nativax.SparsityPattern.from_coo(rows, cols, (m, n))
        with pytest.raises(ValueError, match=name):
            nativax.SparseOperator.from_coo(rows, cols, np.ones(rows.shape[0]), (m, n))
        return
    pattern, where = nativax.SparsityPattern.from_coo(rows, cols, (m, n))
    assert pattern.shape == (m, n)
    # canonical: unique entries, column-major order, exactly the input's set of positions
    keys = pattern.cols.astype(np.int64) * max(m, 1) + pattern.rows
    assert np.all(np.diff(keys) > 0)
    assert set(zip(pattern.rows.tolist(), pattern.cols.tolist())) == set(zip(rows.tolist(), cols.tolist()))
    # `where` sends every input entry to its slot; duplicates share one
    np.testing.assert_array_equal(pattern.rows[where], rows)
    np.testing.assert_array_equal(pattern.cols[where], cols)
    assert not pattern.rows.flags.writeable and not pattern.cols.flags.writeable
    # order-independent identity: hash/eq agree with a shuffled construction
    perm = np.array(data.draw(st.permutations(range(rows.shape[0]))), dtype=np.int64)
    again, _ = nativax.SparsityPattern.from_coo(rows[perm], cols[perm], (m, n))
    assert again == pattern and hash(again) == hash(pattern)
    assert pattern.T.shape == (n, m) and pattern.T.T == pattern
    if pattern.nnz:
        r0, c0 = int(pattern.rows[0]), int(pattern.cols[0])
        other_rows = pattern.rows.copy()
        other_rows[0] = (r0 + 1) % max(m, 1)
        if (int(other_rows[0]), c0) not in set(zip(pattern.rows.tolist(), pattern.cols.tolist())):
            other, _ = nativax.SparsityPattern.from_coo(other_rows, pattern.cols, (m, n))
            assert other != pattern


@FUZZ
@given(m=st.integers(0, 5), n=st.integers(0, 5), data=st.data())
def test_sparse_operator_from_coo_sums_duplicates_and_keeps_nonfinite(m, n, data):
    rows, cols = data.draw(coo_indices(m, n, in_range=True))
    k = rows.shape[0]
    values = np.array(data.draw(st.lists(finite_or_special(True), min_size=k, max_size=k)), dtype=np.float64)
    op = nativax.SparseOperator.from_coo(rows, cols, values, (m, n))
    ref = dense_sum(rows, cols, values, (m, n))
    # NaN/Inf are stored, not dropped or zeroed: the solvers are the ones that report them. (Duplicates may be
    # summed in another order than numpy's, hence the tolerance; NaN/Inf positions must agree exactly.)
    for got in (np.asarray(op.as_matrix()), op.to_scipy().toarray()):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-9)
    if np.all(np.isfinite(values)) and n:
        x = np.array(data.draw(st.lists(st.floats(-5, 5), min_size=n, max_size=n)))
        np.testing.assert_allclose(np.asarray(op.mv(jnp.asarray(x))), ref @ x, rtol=1e-12, atol=1e-9)
    with pytest.raises(ValueError, match="values"):
        nativax.SparseOperator.from_coo(rows, cols, np.ones(k + 1), (m, n))
    with pytest.raises(ValueError, match="values"):
        nativax.SparseOperator(np.ones(op.pattern.nnz + 1), op.pattern)


# ---- KLU solves vs numpy -------------------------------------------------------------------------------------


def _outcome_of_exception(e: Exception) -> str:
    msg = str(e)
    if re.search(r"singular", msg):
        return "singular"
    if re.search(r"NaN or Inf", msg):
        return "nonfinite"
    raise AssertionError(f"unexpected error (neither singular nor non-finite): {type(e).__name__}: {msg[:500]}")


def _solve(api: str, rows, cols, vals, b, n):
    """Run one API; return (outcome, x) with outcome in {ok, singular, nonfinite}."""
    if api == "lineax":
        op = nativax.SparseOperator.from_coo(rows, cols, vals, (n, n))
        sol = lx.linear_solve(op, jnp.asarray(b, op.values.dtype), solver=nativax.KLU(), throw=False)
        x = np.asarray(sol.value)
        if sol.result == lx.RESULTS.successful:
            return "ok", x
        if sol.result == lx.RESULTS.singular:
            return "singular", x
        if sol.result == lx.RESULTS.nonfinite_input:
            return "nonfinite", x
        raise AssertionError(f"unexpected lineax result {sol.result}")
    try:
        x = klu.solve(rows, cols, vals, b, transpose=(api == "klu_T"))
        return "ok", np.asarray(jax.block_until_ready(x))
    except Exception as e:  # the error type differs eagerly/under jit; the message is the contract
        return _outcome_of_exception(e), None


@FUZZ
@given(system=square_system(allow_special=True), api=st.sampled_from(["lineax", "klu", "klu_T"]))
def test_klu_solve_matches_numpy_or_reports(system, api):
    rows, cols, vals, b, a = system
    n = a.shape[0]
    if api == "klu_T":
        a = a.T
    outcome, x = _solve(api, rows, cols, vals, b, n)
    if not np.all(np.isfinite(vals)):
        assert outcome == "nonfinite"
        if x is not None:
            assert np.all(np.isnan(x))
        return
    pattern = sp.csr_matrix((np.ones(rows.shape[0]), (rows, cols)), shape=(n, n))
    if structural_rank(pattern) < n:
        assert outcome == "singular", "a structurally singular matrix must be reported singular"
        if x is not None:
            assert np.all(np.isnan(x))
        return
    cond = np.linalg.cond(a)
    if outcome == "singular":
        # KLU reports singular on an exactly zero pivot: then A is within rounding of a singular matrix
        assert not np.isfinite(cond) or cond > 1e8, f"well-conditioned matrix (cond {cond:.3g}) reported singular"
        if x is not None:
            assert np.all(np.isnan(x))
        return
    assert outcome == "ok"
    assert x.shape == (n,) and np.all(np.isfinite(x))
    # backward stability always (even for nearly singular A): small residual relative to |A||x| + |b|
    resid = np.abs(a @ x - b).max()
    scale = np.abs(a).sum(axis=1).max() * np.abs(x).max() + np.abs(b).max()
    assert resid <= 1e-10 * scale + 1e-300, f"residual {resid:.3g} vs scale {scale:.3g}"
    if cond < 1e8:
        ref = np.linalg.solve(a, b)
        np.testing.assert_allclose(x, ref, rtol=0, atol=1e-13 * cond * max(np.abs(ref).max(), 1.0))


@FUZZ
@given(system=square_system(max_n=5), data=st.data())
def test_klu_batched_values_fail_per_batch_member(system, data):
    """Under vmap every batch member gets its own verdict: the good ones are solved exactly as alone, a bad
    one is NaN + singular/nonfinite, and nothing leaks across members."""
    rows, cols, vals, b, a = system
    n = a.shape[0]
    pattern = sp.csr_matrix((np.ones(rows.shape[0]), (rows, cols)), shape=(n, n))
    if structural_rank(pattern) < n or rows.shape[0] == 0:
        return  # every member would be singular; covered above
    L = data.draw(st.integers(2, 4))
    scales = np.array(data.draw(st.lists(st.sampled_from([1.0, 2.0, -0.5]), min_size=L, max_size=L)))
    batch = scales[:, None] * vals[None]
    bad = data.draw(st.integers(0, L - 1))
    kind = data.draw(st.sampled_from(["nan", "zero"]))
    batch[bad] = np.nan if kind == "nan" else 0.0
    op = nativax.SparseOperator.from_coo(rows, cols, vals, (n, n))
    b = jnp.asarray(b, op.values.dtype)  # lineax wants the vector in the operator's dtype

    def one(v):
        sol = lx.linear_solve(nativax.SparseOperator(v, op.pattern), b, solver=nativax.KLU(), throw=False)
        return sol.value, sol.result._value

    v_canon = jnp.stack([nativax.SparseOperator.from_coo(rows, cols, bv, (n, n)).values for bv in batch])
    xs, codes = jax.vmap(one)(v_canon)
    xs = np.asarray(xs)
    codes = np.asarray(codes)
    expected_bad = lx.RESULTS.nonfinite_input if kind == "nan" else lx.RESULTS.singular
    assert codes[bad] == expected_bad._value
    assert np.all(np.isnan(xs[bad]))
    for i in range(L):
        if i == bad:
            continue
        alone = lx.linear_solve(nativax.SparseOperator(v_canon[i], op.pattern), b,
                                solver=nativax.KLU(), throw=False)
        assert codes[i] == alone.result._value
        np.testing.assert_array_equal(xs[i], np.asarray(alone.value))


# ---- handles: mismatched patterns, foreign handles, bogus ids -------------------------------------------------


@FUZZ
@given(data=st.data())
def test_held_analysis_rejects_other_patterns(data):
    n = data.draw(st.integers(1, 5))
    ra, ca = data.draw(coo_indices(n, n, in_range=True))
    rb, cb = data.draw(coo_indices(n, n, in_range=True))
    diag = np.arange(n)
    pa, _ = nativax.SparsityPattern.from_coo(np.concatenate([ra, diag]), np.concatenate([ca, diag]), (n, n))
    pb, _ = nativax.SparsityPattern.from_coo(np.concatenate([rb, diag]), np.concatenate([cb, diag]), (n, n))
    # diagonally dominant values, so the solve itself is well posed
    vb = np.where(pb.rows == pb.cols, 2.0 * pb.nnz, 0.5) + np.arange(pb.nnz) / (pb.nnz + 1)
    op_b = nativax.SparseOperator(vb, pb)
    solver = nativax.KLU().analyze(pa)
    b = jnp.ones(n)
    try:
        if pa == pb:
            x = lx.linear_solve(op_b, b, solver=solver).value
            np.testing.assert_allclose(np.asarray(x), np.linalg.solve(np.asarray(op_b.as_matrix()), np.ones(n)),
                                       rtol=1e-10)
        else:
            with pytest.raises(ValueError, match="pattern differs"):
                lx.linear_solve(op_b, b, solver=solver)
            with pytest.raises(ValueError, match="pattern differs"):
                jax.jit(lambda o: lx.linear_solve(o, b, solver=solver).value)(op_b)
        if pa.nnz != pb.nnz:
            with pytest.raises(ValueError, match="values"):
                klu.solve_with_symbolic(solver.symbolic, op_b.values, b)
    finally:
        solver.symbolic.close()


@FUZZ
@given(hid=st.integers(-(2**63), 2**63 - 1))
def test_bogus_handle_ids_never_reach_native_memory(hid):
    # a live id is (generation << 32 | slot) with small slots; skip the rare draw that could be one
    if lib.handle_alive(hid):
        return
    assert lib.free_handle(hid) is False
    with pytest.raises(ValueError, match="nativax"):
        lib.handle_info(hid)
    with pytest.raises(Exception, match="unknown handle|has been freed"):
        jax.block_until_ready(solve_numeric(hid, jnp.ones((1, 2, 1)), 0))


class HandleLifetimes(RuleBasedStateMachine):
    """Random sequences of analyze/factor/refactor/solve/close against a model of which handles are alive."""

    def __init__(self):
        super().__init__()
        gc.collect()
        self.base = lib.live_handles()
        self.syms: list[tuple[nativax.SymbolicHandle, np.ndarray, np.ndarray, int, bool]] = []
        self.nums: list[tuple[nativax.NumericHandle, np.ndarray, bool]] = []

    def _alive(self) -> int:
        return sum(alive for *_, alive in self.syms) + sum(alive for *_, alive in self.nums)

    @rule(n=st.integers(1, 5), data=st.data())
    def analyze(self, n, data):
        rows, cols = data.draw(coo_indices(n, n, max_entries=8, in_range=True))
        rows = np.concatenate([rows, np.arange(n)]).astype(np.int32)
        cols = np.concatenate([cols, np.arange(n)]).astype(np.int32)
        self.syms.append((klu.analyze(rows, cols, n), rows, cols, n, True))

    def _values(self, data, nnz, n, singular):
        if singular:
            return np.zeros(nnz)
        return np.array(data.draw(st.lists(st.floats(-1, 1), min_size=nnz, max_size=nnz)))

    @precondition(lambda self: self.syms)
    @rule(data=st.data(), singular=st.booleans())
    def factor(self, data, singular):
        i = data.draw(st.integers(0, len(self.syms) - 1))
        sym, rows, cols, n, alive = self.syms[i]
        v = self._values(data, rows.shape[0], n, singular)
        v = v + np.where(rows == cols, 2.0 * (rows.shape[0] + 1), 0.0) * (not singular)  # diagonally dominant
        if not alive:
            with pytest.raises(nativax.FreedHandleError):
                klu.factor(sym, v)
            return
        if singular:
            with pytest.raises(nativax.SingularMatrixError):
                klu.factor(sym, v)
            return
        self.nums.append((klu.factor(sym, v), dense_sum(rows, cols, v, (n, n)), True))

    @precondition(lambda self: self.nums)
    @rule(data=st.data(), singular=st.booleans())
    def refactor(self, data, singular):
        i = data.draw(st.integers(0, len(self.nums) - 1))
        num, a, alive = self.nums[i]
        sym = num.symbolic
        n = sym.n
        v = self._values(data, sym.nnz, n, singular)
        v = v + np.where(sym.rows == sym.cols, 2.0 * (sym.nnz + 1), 0.0) * (not singular)
        if not alive:
            with pytest.raises(nativax.FreedHandleError):
                klu.refactor(num, v)
            return
        self.nums[i] = (num, a, False)  # consumed whatever happens
        if singular:
            with pytest.raises(nativax.SingularMatrixError):
                klu.refactor(num, v)
        else:
            self.nums.append((klu.refactor(num, v), dense_sum(sym.rows, sym.cols, v, (n, n)), True))
        assert num.closed

    @precondition(lambda self: self.nums)
    @rule(data=st.data(), transpose=st.booleans())
    def solve_numeric(self, data, transpose):
        num, a, alive = self.nums[data.draw(st.integers(0, len(self.nums) - 1))]
        n = a.shape[0]
        b = np.array(data.draw(st.lists(st.floats(-3, 3), min_size=n, max_size=n)))
        if not alive:
            with pytest.raises(nativax.FreedHandleError):
                klu.solve_with_numeric(num, b, transpose=transpose)
            return
        x = np.asarray(klu.solve_with_numeric(num, b, transpose=transpose))
        np.testing.assert_allclose(x, np.linalg.solve(a.T if transpose else a, b), rtol=1e-9, atol=1e-12)

    @precondition(lambda self: self.syms)
    @rule(data=st.data())
    def solve_symbolic(self, data):
        sym, rows, cols, n, alive = self.syms[data.draw(st.integers(0, len(self.syms) - 1))]
        v = np.array(data.draw(st.lists(st.floats(-1, 1), min_size=rows.shape[0], max_size=rows.shape[0])))
        v = v + np.where(rows == cols, 2.0 * (rows.shape[0] + 1), 0.0)
        b = np.ones(n)
        if not alive:
            with pytest.raises(nativax.FreedHandleError):
                klu.solve_with_symbolic(sym, v, b)
            return
        x = np.asarray(klu.solve_with_symbolic(sym, v, b))
        np.testing.assert_allclose(x, np.linalg.solve(dense_sum(rows, cols, v, (n, n)), b), rtol=1e-9)
        with pytest.raises(ValueError, match="values"):
            klu.solve_with_symbolic(sym, np.ones(rows.shape[0] + 1), b)

    @precondition(lambda self: self.syms or self.nums)
    @rule(data=st.data(), twice=st.booleans())
    def close(self, data, twice):
        pool = [("s", i) for i in range(len(self.syms))] + [("n", i) for i in range(len(self.nums))]
        kind, i = data.draw(st.sampled_from(pool))
        if kind == "s":
            h, *rest, _ = self.syms[i]
            self.syms[i] = (h, *rest, False)
        else:
            h, a, _ = self.nums[i]
            self.nums[i] = (h, a, False)
        h.close()
        if twice:
            h.close()  # double free is a no-op
        assert h.closed
        with pytest.raises(nativax.FreedHandleError):
            _ = h.id

    @invariant()
    def registry_matches_model(self):
        for h, *_, alive in self.syms + self.nums:
            assert h.closed == (not alive)
        assert lib.live_handles() == self.base + self._alive()

    def teardown(self):
        for h, *_ in self.syms + self.nums:
            h.close()
        assert lib.live_handles() == self.base


TestHandleLifetimes = HandleLifetimes.TestCase
TestHandleLifetimes.settings = settings(
    max_examples=15,
    stateful_step_count=12,
    deadline=None,
    database=None,
    derandomize=not RANDOM,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
