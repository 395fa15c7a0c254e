"""Handle lifetime: analyze/factor/refactor, context managers, close, GC, double free, use after free."""

import gc

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nativax
from nativax import klu


def live():
    return nativax.cache_info()["handles"]["live"]


def test_factor_solve_with_numeric(coo):
    r, c, v, a = coo
    b = np.arange(a.shape[0], dtype=float)
    with klu.analyze(r, c) as sym, klu.factor(sym, v) as num:
        np.testing.assert_allclose(klu.solve_with_numeric(num, b), np.linalg.solve(a, b), rtol=1e-10)
        np.testing.assert_allclose(
            klu.solve_with_numeric(num, b, transpose=True), np.linalg.solve(a.T, b), rtol=1e-10
        )
        f = jax.jit(lambda bb: klu.solve_with_numeric(num, bb))
        np.testing.assert_allclose(jax.vmap(f)(np.stack([b, 2 * b]))[1], np.linalg.solve(a, 2 * b), rtol=1e-10)
        g = jax.grad(lambda bb: jnp.sum(klu.solve_with_numeric(num, bb) ** 2))(b)
        x = np.linalg.solve(a, b)
        np.testing.assert_allclose(g, 2 * np.linalg.solve(a.T, x), rtol=1e-9)
        assert num.rcond > 0
    assert sym.closed and num.closed


def test_solve_with_symbolic_is_jit_and_grad_safe(coo):
    r, c, v, a = coo
    n = a.shape[0]
    sym = klu.analyze(r, c, n)
    b = np.ones(n)
    f = jax.jit(lambda vals: jnp.sum(klu.solve_with_symbolic(sym, vals, b) ** 2))
    ref = lambda vals: jnp.sum(jnp.linalg.solve(jnp.zeros((n, n)).at[r, c].add(vals), b) ** 2)  # noqa: E731
    np.testing.assert_allclose(f(v), ref(v), rtol=1e-10)
    np.testing.assert_allclose(jax.grad(f)(v), jax.grad(ref)(v), rtol=1e-8, atol=1e-12)
    sym.close()


def test_use_after_free_raises_and_double_free_is_noop(coo):
    r, c, v, a = coo
    sym = klu.analyze(r, c)
    num = klu.factor(sym, v)
    f = jax.jit(lambda bb: klu.solve_with_numeric(num, bb))
    b = np.ones(a.shape[0])
    f(b)  # compiled with the handle's id baked in
    num.close()
    num.close()  # double free: no-op
    klu.free_numeric(num)
    with pytest.raises(nativax.FreedHandleError, match="freed"):
        klu.solve_with_numeric(num, b)
    with pytest.raises(Exception, match="freed"):
        jax.block_until_ready(f(b))  # stale id inside compiled code: clear error, no UB
    sym.close()
    with pytest.raises(nativax.FreedHandleError):
        klu.factor(sym, v)


def test_gc_backstop_frees(coo):
    r, c, v, _ = coo
    before = live()
    sym = klu.analyze(r, c)
    num = klu.factor(sym, v)
    assert live() == before + 2
    del sym, num
    gc.collect()
    assert live() == before


def test_refactor_consumes_and_matches(coo):
    r, c, v, a = coo
    b = np.ones(a.shape[0])
    sym = klu.analyze(r, c)
    num = klu.factor(sym, v)
    num2 = klu.refactor(num, 2 * v)
    assert num.closed and not num2.closed
    with pytest.raises(nativax.FreedHandleError):
        klu.solve_with_numeric(num, b)
    np.testing.assert_allclose(klu.solve_with_numeric(num2, b), np.linalg.solve(2 * a, b), rtol=1e-10)
    # a value set whose old pivot order breaks: refactor must fall back to a fresh factorization
    rows = np.array([0, 0, 1, 1])
    cols = np.array([0, 1, 0, 1])
    s2 = klu.analyze(rows, cols)
    n1 = klu.factor(s2, np.array([1.0, 2.0, 3.0, 4.0]))
    n2 = klu.refactor(n1, np.array([0.0, 1.0, 1.0, 0.0]))  # permutation matrix
    np.testing.assert_allclose(klu.solve_with_numeric(n2, np.array([2.0, 3.0])), [3.0, 2.0])
    for h in (num2, n2, s2, sym):
        h.close()


def test_ignore_manual_free(coo, monkeypatch):
    r, c, v, _ = coo
    monkeypatch.setenv("NATIVAX_IGNORE_MANUAL_FREE", "1")
    sym = klu.analyze(r, c)
    sym.close()
    assert not sym.closed
    monkeypatch.delenv("NATIVAX_IGNORE_MANUAL_FREE")
    sym.close()
    assert sym.closed


def test_factor_on_tracer_names_the_jit_safe_way(coo):
    r, c, v, _ = coo
    sym = klu.analyze(r, c)
    with pytest.raises(TypeError, match="nativax.klu.solve"):
        jax.jit(lambda vals: klu.factor(sym, vals).id)(v)
    with pytest.raises(TypeError, match="traced"):
        jax.grad(lambda vals: klu.factor(sym, vals).rcond)(v)
    with pytest.raises(TypeError, match="traced"):
        jax.jit(lambda rr: klu.analyze(rr, c).n)(r)
    sym.close()


def test_singular_factor_raises():
    sym = klu.analyze(np.array([0, 1]), np.array([0, 1]))
    with pytest.raises(nativax.SingularMatrixError):
        klu.factor(sym, np.array([1.0, 0.0]))
    sym.close()


def test_handles_are_hashable(coo):
    r, c, v, _ = coo
    sym = klu.analyze(r, c)
    assert hash(sym) == hash(sym) and sym == sym
    assert {sym: 1}[sym] == 1
    sym.close()


def test_finalize_frees_everything(coo):
    r, c, v, a = coo
    sym = klu.analyze(r, c)
    num = klu.factor(sym, v)
    nativax.finalize()
    assert sym.closed and num.closed
    assert nativax.cache_info()["klu"]["numeric"]["entries"] == 0
    with pytest.raises(nativax.FreedHandleError):
        klu.solve_with_numeric(num, np.ones(a.shape[0]))


def test_new_handles_reuse_compiled_solves():
    """The handle id is a runtime operand of the FFI call, not a compile-time attribute: refactor/solve loops
    with a new handle each step compile nothing after the first step, so JAX's executable caches (and the
    process RSS) do not grow with the number of handles ever used."""
    from conftest import random_sparse

    compiles = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        jax.jit(lambda x: x * 3.0 + 1.0)(np.arange(7.0))  # sanity: the event fires on a compile
        assert compiles, "no backend-compile event seen; the JAX event name changed"
        a = random_sparse(15, seed=41)
        b = np.linspace(0.0, 1.0, 15)
        sym = klu.analyze(a.row, a.col, 15)
        num = klu.factor(sym, a.data)
        for transpose in (False, True):  # warm up both solve directions
            klu.solve_with_numeric(num, b, transpose=transpose)
            klu.solve_with_symbolic(sym, a.data, b, transpose=transpose)
        compiles.clear()
        for k in range(4):
            num = klu.refactor(num, a.data * (1.5 + k))
            for transpose in (False, True):
                x = klu.solve_with_numeric(num, b, transpose=transpose)
                dense = a.toarray() * (1.5 + k)
                np.testing.assert_allclose(x, np.linalg.solve(dense.T if transpose else dense, b), rtol=1e-10)
            other = klu.analyze(a.row, a.col, 15)
            np.testing.assert_allclose(klu.solve_with_symbolic(other, a.data, b),
                                       np.linalg.solve(a.toarray(), b), rtol=1e-10)
            other.close()
        assert compiles == [], f"{len(compiles)} XLA compilations for new handles"
        num.close()
        sym.close()
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
