"""Content-addressed caches: hits, eviction under pressure, isolated mode, concurrency."""

import threading

import jax
import numpy as np
import pytest

import nativax
from nativax import klu

from conftest import random_sparse


@pytest.fixture(autouse=True)
def restore_capacity():
    cap = nativax.cache_info()["klu"]["capacity"]
    yield
    nativax.set_cache_size(cap)


def test_hits_on_repeat_and_exact_keys(coo):
    r, c, v, a = coo
    nativax.clear_caches()
    nativax.caches.reset_cache_counters()
    b = np.ones(a.shape[0])
    klu.solve(r, c, v, b)
    klu.solve(r, c, v, 2 * b)
    info = nativax.cache_info()["klu"]
    assert info["factorizations"] == 1 and info["numeric"]["hits"] == 1
    v2 = v.copy()
    v2[0] = np.nextafter(v2[0], np.inf)  # one ulp: a different matrix, must not hit
    klu.solve(r, c, v2, b)
    assert nativax.cache_info()["klu"]["factorizations"] == 2


def test_capacity_one_alternating_patterns_stays_correct():
    nativax.set_cache_size(1)
    mats = [random_sparse(20, seed=s) for s in (10, 11)]
    b = np.ones(20)
    for i in range(6):
        a = mats[i % 2]
        vals = a.data * (1 + 0.1 * i)
        x = klu.solve(a.row, a.col, vals, b)
        np.testing.assert_allclose(x, np.linalg.solve(a.toarray() * (1 + 0.1 * i), b), rtol=1e-10)
    info = nativax.cache_info()["klu"]
    assert info["numeric"]["entries"] <= 1 and info["symbolic"]["entries"] <= 1
    assert info["numeric"]["evictions"] >= 4


def test_full_cache_recycles_with_refactor(coo):
    r, c, v, a = coo
    nativax.clear_caches()
    nativax.set_cache_size(1)
    nativax.caches.reset_cache_counters()
    b = np.ones(a.shape[0])
    for k in range(4):
        x = klu.solve(r, c, v * (1 + 0.01 * k), b)
        np.testing.assert_allclose(x, np.linalg.solve(a * (1 + 0.01 * k), b), rtol=1e-10)
    info = nativax.cache_info()["klu"]
    assert info["factorizations"] == 1 and info["refactorizations"] == 3


def test_isolated_mode(coo):
    r, c, v, a = coo
    nativax.set_cache_size(0)
    b = np.ones(a.shape[0])
    g = jax.grad(lambda vals: klu.solve(r, c, vals, b).sum())(v)
    assert np.all(np.isfinite(g))
    info = nativax.cache_info()["klu"]
    assert info["numeric"]["entries"] == 0 and info["symbolic"]["entries"] == 0


def test_threads_solve_concurrently():
    mats = [random_sparse(40, seed=20 + s) for s in range(4)]
    b = np.arange(40.0)
    errors = []
    f = jax.jit(lambda r, c, v, bb: klu.solve(r, c, v, bb))

    def work(t):
        try:
            for i in range(10):
                a = mats[(t + i) % 4]
                scale = 1 + 0.05 * ((t * 10 + i) % 7)
                x = np.asarray(klu.solve(a.row, a.col, a.data * scale, b))
                ref = np.linalg.solve(a.toarray() * scale, b)
                if not np.allclose(x, ref, rtol=1e-9):
                    errors.append((t, i))
                f(a.row.astype(np.int32), a.col.astype(np.int32), a.data, b)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_set_cache_size_validates():
    with pytest.raises(ValueError, match="entries"):
        nativax.set_cache_size(-1)


def test_capacity_one_same_size_patterns_under_jit_grad_held_and_threads():
    """Eviction under pressure with patterns a size-based key would confuse: A and A^T share n and nnz. With a
    single cache slot every solve evicts the other pattern; values, gradients (forward + adjoint solve), held
    factorizations and concurrent solves must all stay right."""
    import jax.numpy as jnp
    import lineax as lx

    a = random_sparse(24, seed=31)
    mats = [a, a.T.tocoo()]
    assert mats[0].nnz == mats[1].nnz and not np.array_equal(mats[0].toarray() != 0, mats[1].toarray() != 0)
    ops = [nativax.SparseOperator.from_scipy(m) for m in mats]
    b = jnp.asarray(np.linspace(-1.0, 1.0, 24))
    held = nativax.KLU.factor(ops[1])  # a handle is not a cache entry: eviction must not touch it
    nativax.clear_caches()
    nativax.set_cache_size(1)
    nativax.caches.reset_cache_counters()

    def loss(values, pattern):
        x = lx.linear_solve(nativax.SparseOperator(values, pattern), b, solver=nativax.KLU()).value
        return jnp.sum(x**2)

    steps = [jax.jit(jax.value_and_grad(lambda v, p=op.pattern: loss(v, p))) for op in ops]
    for i in range(8):
        k = i % 2
        scale = 1.0 + 0.1 * i
        val, grad = steps[k](ops[k].values * scale)
        dense = mats[k].toarray() * scale
        x = np.linalg.solve(dense, np.asarray(b))
        lam = np.linalg.solve(dense.T, 2 * x)
        rows, cols = np.asarray(ops[k].pattern.rows), np.asarray(ops[k].pattern.cols)
        np.testing.assert_allclose(float(val), np.sum(x**2), rtol=1e-10)
        np.testing.assert_allclose(np.asarray(grad), -lam[rows] * x[cols], rtol=1e-8, atol=1e-14)
        xh = lx.linear_solve(ops[1], b, solver=held).value
        np.testing.assert_allclose(np.asarray(xh), np.linalg.solve(mats[1].toarray(), np.asarray(b)), rtol=1e-10)
    info = nativax.cache_info()["klu"]
    assert info["numeric"]["entries"] <= 1 and info["symbolic"]["entries"] <= 1
    assert info["symbolic"]["evictions"] >= 6  # every switch of pattern evicted the other analysis

    errors = []

    def work(t):
        try:
            for i in range(12):
                k = (t + i) % 2
                scale = 1.0 + 0.05 * ((t + i) % 3)
                x = np.asarray(klu.solve(mats[k].row, mats[k].col, mats[k].data * scale, np.asarray(b)))
                ref = np.linalg.solve(mats[k].toarray() * scale, np.asarray(b))
                if not np.allclose(x, ref, rtol=1e-9, atol=1e-14):
                    errors.append((t, i, float(np.abs(x - ref).max())))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert nativax.cache_info()["klu"]["numeric"]["entries"] <= 1
    held.numeric.close()
    held.symbolic.close()
