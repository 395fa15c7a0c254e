"""nativax.UMFPACK: dense references (real/complex), transpose solves, jit/vmap/grad/jacfwd, handles, caches,
threads, bad input."""

import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
import scipy.sparse as sp

import direct_checks as dc
import nativax

from conftest import random_sparse

pytestmark = pytest.mark.skipif(not nativax.has_umfpack, reason="this build has no UMFPACK (NATIVAX_GPL=OFF)")


@pytest.mark.parametrize("complex_", [False, True])
def test_dense_reference_transpose_and_autodiff(complex_):
    a = random_sparse(30, seed=3, complex_=complex_)  # nonsymmetric
    rng = np.random.default_rng(0)
    dc.check_dense_reference(nativax.UMFPACK, a, rng)
    dc.check_transpose(nativax.UMFPACK, a, rng)
    dc.check_jit_vmap_grad(nativax.UMFPACK, a)


def test_grad_uses_one_factorization():
    dc.check_one_factorization_for_grad(nativax.UMFPACK, random_sparse(25, seed=4), "umfpack")


def test_handles_and_lifetime():
    dc.check_handles(nativax.UMFPACK, random_sparse(20, seed=5), "umfpack")


def test_cache_hit_and_evict():
    dc.check_cache_hit_evict(nativax.UMFPACK, random_sparse(20, seed=6), "umfpack")


def test_threads():
    dc.check_threads(nativax.UMFPACK, [random_sparse(40, seed=s) for s in range(4)])


def test_bad_input():
    dc.check_bad_input(nativax.UMFPACK, random_sparse(10, seed=7))


def test_singular_matrix_is_reported():
    op = nativax.SparseOperator.from_dense(jnp.array([[1.0, 2.0], [2.0, 4.0]]))
    res = lx.linear_solve(op, jnp.ones(2), solver=nativax.UMFPACK(), throw=False)
    assert res.result == lx.RESULTS.singular
    with pytest.raises(Exception, match="singular"):
        lx.linear_solve(op, jnp.ones(2), solver=nativax.UMFPACK())
    with pytest.raises(nativax.SingularMatrixError, match="singular"):
        nativax.UMFPACK.factor(op)


@pytest.mark.parametrize("complex_", [False, True])
def test_symmetric_pattern_uses_a_sound_strategy(complex_):
    """A symmetric pattern with a full diagonal takes UMFPACK's symmetric strategy (diagonal pivots preferred);
    nonsymmetric values and diagonal entries that are stored but zero must still solve exactly (off-diagonal
    pivots), in all three modes."""
    rng = np.random.default_rng(11)
    n = 40
    upper = sp.random(n, n, density=0.12, random_state=rng, format="coo")
    pattern = (upper + upper.T + sp.eye(n)).tocoo()
    vals = rng.standard_normal(pattern.nnz) + (1j * rng.standard_normal(pattern.nnz) if complex_ else 0)
    a = sp.coo_matrix((vals, (pattern.row, pattern.col)), shape=(n, n))
    diag = pattern.row == pattern.col
    a.data[np.flatnonzero(diag)[::3]] = 0.0  # structurally present, numerically zero
    assert (a.toarray() != a.toarray().T).any()
    check = sp.csc_matrix((np.ones(a.nnz), (a.row, a.col)), shape=(n, n))
    assert (check != check.T).nnz == 0  # the pattern itself is symmetric
    dc.check_dense_reference(nativax.UMFPACK, a, rng)
    dc.check_transpose(nativax.UMFPACK, a, rng)


def test_symmetric_positive_definite_matrix_solves():
    a = dc.spd(60, seed=12)
    rng = np.random.default_rng(12)
    dc.check_dense_reference(nativax.UMFPACK, a, rng)
