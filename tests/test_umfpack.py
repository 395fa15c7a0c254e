"""nativax.UMFPACK: dense references (real/complex), transpose solves, jit/vmap/grad/jacfwd, handles, caches,
threads, bad input."""

import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest

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
