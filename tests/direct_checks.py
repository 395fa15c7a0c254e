"""Checks every sparse direct engine must pass (KLU's semantics), shared by test_cholmod.py / test_umfpack.py."""

import threading

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
import scipy.sparse as sp

import nativax


def spd(n: int, seed: int = 0, complex_: bool = False, density: float = 0.15) -> sp.coo_matrix:
    """A sparse Hermitian positive definite matrix with both triangles stored."""
    rng = np.random.default_rng(seed)
    a = sp.random(n, n, density=density, random_state=rng)
    if complex_:
        a = a + 1j * sp.random(n, n, density=density, random_state=rng)
    h = a + a.conj().T
    return (h + sp.diags(np.abs(h).sum(axis=1).A1 + 1.0)).tocoo()


def operator(a: sp.coo_matrix, tags=()) -> nativax.SparseOperator:
    return nativax.SparseOperator.from_scipy(a.tocsr(), tags=tags)


def solve(solver, op, b):
    return lx.linear_solve(op, jnp.asarray(b), solver=solver).value


def check_dense_reference(solver_cls, a, rng):
    op = operator(a)
    b = rng.standard_normal(a.shape[0]) + (1j * rng.standard_normal(a.shape[0]) if np.iscomplexobj(a.data) else 0)
    x = solve(solver_cls(), op, b)
    np.testing.assert_allclose(x, np.linalg.solve(a.toarray(), b), rtol=1e-9, atol=1e-12)


def check_transpose(solver_cls, a, rng):
    """Transpose and conjugate solves on the same factorization (the solver's own modes) and via op.T."""
    op = operator(a)
    cplx = np.iscomplexobj(a.data)
    b = rng.standard_normal(a.shape[0]) + (1j * rng.standard_normal(a.shape[0]) if cplx else 0)
    d = a.toarray()
    solver = solver_cls()
    state = solver.init(op, {})
    t_state, _ = solver.transpose(state, {})
    np.testing.assert_allclose(solver.compute(t_state, jnp.asarray(b), {})[0], np.linalg.solve(d.T, b), rtol=1e-9)
    c_state, _ = solver.conj(state, {})
    np.testing.assert_allclose(solver.compute(c_state, jnp.asarray(b), {})[0], np.linalg.solve(d.conj(), b), rtol=1e-9)
    x = lx.linear_solve(op.T, jnp.asarray(b), solver=solver_cls()).value
    np.testing.assert_allclose(x, np.linalg.solve(d.T, b), rtol=1e-9, atol=1e-12)


def check_jit_vmap_grad(solver_cls, a):
    d = a.toarray()
    n = d.shape[0]
    pat = operator(a).pattern
    v0 = jnp.asarray(operator(a).values)
    b = jnp.linspace(1.0, 2.0, n).astype(v0.dtype)

    def f(v, b):
        return lx.linear_solve(nativax.SparseOperator(v, pat), b, solver=solver_cls()).value

    np.testing.assert_allclose(jax.jit(f)(v0, b), np.linalg.solve(d, b), rtol=1e-9)
    # vmap over values and rhs: one batched native call
    scales = jnp.array([1.0, 2.0, 3.0])
    xs = jax.vmap(lambda s: f(v0 * s, b))(scales)
    for k, s in enumerate(np.asarray(scales)):
        np.testing.assert_allclose(xs[k], np.linalg.solve(d * s, b), rtol=1e-9)
    bs = jnp.stack([b, 2 * b])
    np.testing.assert_allclose(jax.vmap(lambda bb: f(v0, bb))(bs)[1], np.linalg.solve(d, 2 * b), rtol=1e-9)

    # grad wrt values and rhs against the dense formula
    def loss(v, b):
        x = f(v, b)
        return jnp.sum(jnp.abs(x) ** 2)

    gv, gb = jax.grad(loss, argnums=(0, 1))(v0, b)

    def dense_loss(dm, b):
        return jnp.sum(jnp.abs(jnp.linalg.solve(dm, b)) ** 2)

    gd, gbd = jax.grad(dense_loss, argnums=(0, 1))(jnp.asarray(d), b)
    np.testing.assert_allclose(gb, gbd, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(gv, gd[pat.rows, pat.cols], rtol=1e-8, atol=1e-12)
    # jacfwd wrt b equals the inverse
    if not jnp.iscomplexobj(v0):
        jac = jax.jacfwd(lambda bb: f(v0, bb))(b)
        np.testing.assert_allclose(jac, np.linalg.inv(d), rtol=1e-8, atol=1e-12)


def check_one_factorization_for_grad(solver_cls, a, engine):
    pat = operator(a).pattern
    v0 = jnp.asarray(operator(a).values) * 1.2345  # a matrix no earlier test used
    b = jnp.ones(a.shape[0], v0.dtype)
    nativax.reset_cache_counters()
    jax.grad(lambda v: jnp.sum(jnp.abs(lx.linear_solve(nativax.SparseOperator(v, pat), b, solver=solver_cls()).value) ** 2))(v0)
    info = nativax.cache_info()[engine]
    assert info["factorizations"] == 1 and info["numeric"]["hits"] >= 1


def check_handles(solver_cls, a, engine):
    op = operator(a)
    d = a.toarray()
    b = np.ones(a.shape[0])
    held = solver_cls.factor(op)
    assert held.numeric.engine == engine and held.numeric.rcond > 0
    np.testing.assert_allclose(solve(held, op, b), np.linalg.solve(d, b), rtol=1e-9)
    with pytest.raises(Exception, match="different matrix"):
        solve(held, operator(a * 2.0), b)
    frozen = solver_cls.factor(op, frozen=True)
    np.testing.assert_allclose(solve(frozen, operator(a * 2.0), b), np.linalg.solve(d, b), rtol=1e-9)
    # symbolic handle: values may change
    sym = solver_cls().analyze(op)
    np.testing.assert_allclose(solve(sym, operator(a * 3.0), b), np.linalg.solve(3 * d, b), rtol=1e-9)
    # lifetime: freed handles raise clearly, double free is a no-op
    held.numeric.close()
    held.numeric.close()
    with pytest.raises(nativax.FreedHandleError):
        _ = held.numeric.id
    sym.symbolic.close()
    assert sym.symbolic.closed
    # refactor consumes the old handle and matches the new values
    from nativax._direct import functional as f
    from nativax._direct.engine import ENGINES

    e = ENGINES[engine]
    s = f.analyze(e, op.pattern.rows, op.pattern.cols, op.shape[0])
    num = f.factor(e, s, np.asarray(op.values))
    num2 = f.refactor(e, num, np.asarray(op.values) * 4.0)
    assert num.closed and not num2.closed
    np.testing.assert_allclose(f.solve_with_numeric(e, num2, b), np.linalg.solve(4 * d, b), rtol=1e-9)
    with pytest.raises(TypeError, match="expected a"):
        other = "klu" if engine != "klu" else "umfpack"
        f.factor(ENGINES[other], s, np.asarray(op.values))
    num2.close()
    s.close()


def check_cache_hit_evict(solver_cls, a, engine):
    op = operator(a)
    b = jnp.ones(a.shape[0])
    cap = nativax.cache_info()[engine]["capacity"]
    try:
        nativax.clear_caches()
        nativax.reset_cache_counters()
        solve(solver_cls(), op, b)
        solve(solver_cls(), op, 2 * b)
        info = nativax.cache_info()[engine]
        assert info["factorizations"] == 1 and info["numeric"]["hits"] == 1 and info["symbolic"]["hits"] >= 1
        nativax.set_cache_size(1)
        d = a.toarray()
        for k in range(3):
            x = solve(solver_cls(), operator(a * (1 + k)), b)
            np.testing.assert_allclose(x, np.linalg.solve(d * (1 + k), b), rtol=1e-9)
        info = nativax.cache_info()[engine]
        assert info["numeric"]["entries"] == 1 and info["numeric"]["evictions"] >= 2
        assert info["refactorizations"] >= 1  # the idle same-pattern entry was recycled
    finally:
        nativax.set_cache_size(cap)


def check_threads(solver_cls, mats):
    errors = []

    def work(a, k):
        try:
            b = np.full(a.shape[0], float(k + 1))
            for _ in range(3):
                x = solve(solver_cls(), operator(a), b)
                np.testing.assert_allclose(x, np.linalg.solve(a.toarray(), b), rtol=1e-9)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(m, k)) for k, m in enumerate(mats)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def check_bad_input(solver_cls, a):
    op = operator(a)
    with pytest.raises(ValueError, match="shape"):
        solve(solver_cls(), op, jnp.ones(a.shape[0] + 1))
    rect = nativax.SparseOperator.from_coo([0, 1], [0, 2], [1.0, 1.0], (2, 3))
    with pytest.raises(ValueError, match="square"):
        solve(solver_cls(), rect, jnp.ones(2))
    nan = np.asarray(op.values).copy()
    nan[0] = np.nan
    with pytest.raises(Exception, match="non-finite"):
        solve(solver_cls(), nativax.SparseOperator(nan, op.pattern), jnp.ones(a.shape[0]))
    res = lx.linear_solve(nativax.SparseOperator(nan, op.pattern), jnp.ones(a.shape[0]), solver=solver_cls(), throw=False)
    assert res.result == lx.RESULTS.nonfinite_input
    with pytest.raises(TypeError, match="SparsityPattern"):
        solver_cls().analyze("not a pattern")
