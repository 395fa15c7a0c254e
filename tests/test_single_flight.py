"""Concurrent misses on one cache key are joined: threads (or independent XLA ops, such as the forward and the
adjoint solve of `jax.grad`) asking for the same factorization at once get one factorization, not one each."""

import threading

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
import scipy.sparse as sp

import nativax

ENGINES = [
    pytest.param(nativax.KLU, "klu", id="klu"),
    pytest.param(nativax.UMFPACK, "umfpack", id="umfpack",
                 marks=pytest.mark.skipif(not nativax.has_umfpack, reason="no UMFPACK")),
    pytest.param(nativax.CHOLMOD, "cholmod", id="cholmod",
                 marks=pytest.mark.skipif(not nativax.has_cholmod, reason="no CHOLMOD")),
]


def _poisson(m: int) -> sp.csr_matrix:
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    return (sp.kron(sp.eye(m), t) + sp.kron(t, sp.eye(m))).tocsr()


@pytest.mark.parametrize("solver_cls, engine", ENGINES)
def test_concurrent_solves_of_one_matrix_factor_once(solver_cls, engine):
    a = _poisson(120)  # n = 14,400: a factorization takes long enough for the threads to overlap
    op = nativax.SparseOperator.from_scipy(a, tags=lx.positive_semidefinite_tag)
    pat, tags = op.pattern, op.tags
    f = jax.jit(lambda v, b: lx.linear_solve(nativax.SparseOperator(v, pat, tags), b, solver=solver_cls()).value)
    v = jnp.asarray(op.values)
    bs = [jnp.full(a.shape[0], float(k + 1)) for k in range(4)]
    f(v, bs[0]).block_until_ready()  # compile first
    ref = np.linalg.norm(a @ np.asarray(f(v, bs[0])) - 1.0)
    assert ref < 1e-8
    nativax.clear_caches()
    nativax.reset_cache_counters()
    start = threading.Barrier(len(bs))
    out, errors = {}, []

    def work(k):
        try:
            start.wait()
            out[k] = np.asarray(f(v, bs[k]))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(bs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for k, x in out.items():
        np.testing.assert_allclose(a @ x, np.asarray(bs[k]), rtol=1e-8, atol=1e-8)
    info = nativax.cache_info()[engine]
    assert info["factorizations"] == 1, info
    assert info["numeric"]["misses"] == 1 and info["numeric"]["hits"] == len(bs) - 1, info
    assert info["symbolic"]["misses"] == 1, info


def test_a_failed_factorization_is_reported_to_every_waiter():
    a = _poisson(80)
    a.data[a.indptr[5]:a.indptr[6]] = 0.0  # row 5 stored but zero: the matrix is singular
    op = nativax.SparseOperator.from_scipy(a)
    f = jax.jit(lambda v, b: lx.linear_solve(nativax.SparseOperator(v, op.pattern), b, solver=nativax.KLU(),
                                             throw=False).result)
    v = jnp.asarray(op.values)
    b = jnp.ones(a.shape[0])
    f(v, b)
    nativax.clear_caches()
    start = threading.Barrier(3)
    results = []

    def work():
        start.wait()
        results.append(f(v, b))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and all(r == lx.RESULTS.singular for r in results), results
