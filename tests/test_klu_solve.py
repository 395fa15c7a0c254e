"""nativax.klu.solve/dot against dense references: shapes, dtypes, jit, vmap, autodiff."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nativax
from nativax import klu


def dense(rows, cols, values, n):
    return jnp.zeros((n, n), jnp.result_type(values)).at[rows, cols].add(values)


def test_solve_real_vector(coo):
    r, c, v, a = coo
    b = np.arange(a.shape[0], dtype=float)
    x = klu.solve(r, c, v, b)
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-10, atol=1e-12)
    assert x.dtype == jnp.float64


def test_solve_complex(ccoo):
    r, c, v, a = ccoo
    b = np.linspace(-1, 1, a.shape[0]) + 0.5j
    x = klu.solve(r, c, v, b)
    assert x.dtype == jnp.complex128
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "vshape,bshape",
    [((), (5,)), ((), (5, 3)), ((4,), (5,)), ((4,), (4, 5)), ((4,), (4, 5, 3)), ((), (4, 5, 3)), ((4,), (1, 5, 2))],
)
def test_batched_shapes(coo, vshape, bshape):
    r, c, v, a = coo
    n = a.shape[0]
    bshape = tuple(n if s == 5 else s for s in bshape)
    rng = np.random.default_rng(0)
    vals = v * (1 + 0.1 * rng.standard_normal(vshape + v.shape)) if vshape else v
    b = rng.standard_normal(bshape)
    x = np.asarray(klu.solve(r, c, vals, b))
    mats = [dense(r, c, vv, n) for vv in (vals if vshape else [vals])]
    if vshape and len(bshape) == 1:
        ref = np.stack([np.linalg.solve(m, b) for m in mats])
    elif vshape and len(bshape) == 2:
        ref = np.stack([np.linalg.solve(m, bb) for m, bb in zip(mats, b)])
    elif vshape:
        ref = np.stack([np.linalg.solve(m, b[min(i, b.shape[0] - 1)]) for i, m in enumerate(mats)])
    elif len(bshape) == 3:
        ref = np.stack([np.linalg.solve(mats[0], bb) for bb in b])
    else:
        ref = np.linalg.solve(mats[0], b)
    assert x.shape == ref.shape
    np.testing.assert_allclose(x, ref, rtol=1e-9, atol=1e-11)


def test_float32_and_complex64_computed_in_double(coo, ccoo):
    r, c, v, a = coo
    b = np.ones(a.shape[0])
    x = klu.solve(r, c, v.astype(np.float32), b.astype(np.float32))
    assert x.dtype == jnp.float32
    np.testing.assert_allclose(x, np.linalg.solve(a.astype(np.float32).astype(float), b), rtol=1e-6)
    r, c, v, a = ccoo
    b = np.ones(a.shape[0])
    x = klu.solve(r, c, v.astype(np.complex64), b.astype(np.complex64))
    assert x.dtype == jnp.complex64
    np.testing.assert_allclose(x, np.linalg.solve(a.astype(np.complex64).astype(complex), b), rtol=1e-5)


def test_real_matrix_complex_rhs_is_not_cast_to_real(coo):
    r, c, v, a = coo
    b = np.ones(a.shape[0]) + 2j * np.arange(a.shape[0])
    x = klu.solve(r, c, v, b)
    assert x.dtype == jnp.complex128
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-10, atol=1e-12)


def test_complex_matrix_real_rhs(ccoo):
    r, c, v, a = ccoo
    b = np.ones(a.shape[0])
    x = klu.solve(r, c, v, b)
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-10, atol=1e-12)


def test_duplicates_are_summed():
    rows = np.array([0, 0, 1, 1, 1])
    cols = np.array([0, 0, 1, 0, 1])
    vals = np.array([1.0, 2.0, 1.5, 1.0, 2.5])
    b = np.array([3.0, 5.0])
    a = np.array([[3.0, 0.0], [1.0, 4.0]])
    np.testing.assert_allclose(klu.solve(rows, cols, vals, b), np.linalg.solve(a, b))


def test_transpose_solve(ccoo):
    r, c, v, a = ccoo
    b = np.arange(a.shape[0]) + 1j
    np.testing.assert_allclose(klu.solve(r, c, v, b, transpose=True), np.linalg.solve(a.T, b), rtol=1e-10)


def test_jit_and_vmap(coo):
    r, c, v, a = coo
    n = a.shape[0]
    f = jax.jit(lambda vals, b: klu.solve(r, c, vals, b))
    b = np.ones(n)
    np.testing.assert_allclose(f(v, b), np.linalg.solve(a, b), rtol=1e-10)
    vs = np.stack([v, 2 * v, 3 * v])
    bs = np.stack([b, 2 * b, 3 * b])
    xs = jax.vmap(f)(vs, bs)
    np.testing.assert_allclose(xs, np.stack([np.linalg.solve(a, b)] * 3), rtol=1e-10)
    xs = jax.vmap(f, in_axes=(None, 0))(v, bs)
    np.testing.assert_allclose(xs[2], np.linalg.solve(a, 3 * b), rtol=1e-10)
    # nested vmap: values over one axis, rhs over the other
    xs = jax.vmap(jax.vmap(f, in_axes=(None, 0)), in_axes=(0, None))(vs, bs)
    assert xs.shape == (3, 3, n)
    np.testing.assert_allclose(xs[1, 2], np.linalg.solve(2 * a, 3 * b), rtol=1e-10)


def _dense_loss(rows, cols, n):
    def loss(vals, b):
        x = jnp.linalg.solve(dense(rows, cols, vals, n), b)
        return jnp.sum(jnp.abs(x) ** 2 * jnp.arange(1.0, n + 1))

    return loss


def _klu_loss(rows, cols, n):
    def loss(vals, b):
        x = klu.solve(rows, cols, vals, b)
        return jnp.sum(jnp.abs(x) ** 2 * jnp.arange(1.0, n + 1))

    return loss


@pytest.mark.parametrize("which", ["real", "complex"])
def test_grad_matches_dense(coo, ccoo, which):
    r, c, v, a = coo if which == "real" else ccoo
    n = a.shape[0]
    b = np.linspace(1, 2, n) + (0.3j if which == "complex" else 0)
    g = jax.jit(jax.grad(_klu_loss(r, c, n), argnums=(0, 1)))(v, b)
    g_ref = jax.grad(_dense_loss(r, c, n), argnums=(0, 1))(v, b)
    for x, y in zip(g, g_ref):
        np.testing.assert_allclose(x, y, rtol=1e-8, atol=1e-10)


def test_jacfwd_jacrev_match_dense(coo):
    r, c, v, a = coo
    n = a.shape[0]
    b = np.linspace(1, 2, n)
    f = lambda vals: klu.solve(r, c, vals, b)  # noqa: E731
    g = lambda vals: jnp.linalg.solve(dense(r, c, vals, n), b)  # noqa: E731
    np.testing.assert_allclose(jax.jacfwd(f)(v), jax.jacfwd(g)(v), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(jax.jacrev(f)(v), jax.jacfwd(g)(v), rtol=1e-8, atol=1e-10)
    h = lambda bb: klu.solve(r, c, v, bb)  # noqa: E731
    np.testing.assert_allclose(jax.jacfwd(h)(b), np.linalg.inv(a), rtol=1e-8, atol=1e-10)


def test_grad_finite_differences(coo):
    r, c, v, a = coo
    n = a.shape[0]
    b = np.linspace(1, 2, n)
    loss = _klu_loss(r, c, n)
    g = jax.grad(loss)(v, b)
    rng = np.random.default_rng(3)
    d = rng.standard_normal(v.shape)
    eps = 1e-6
    fd = (loss(v + eps * d, b) - loss(v - eps * d, b)) / (2 * eps)
    np.testing.assert_allclose(np.dot(g, d), fd, rtol=1e-6)


def test_forward_and_backward_share_one_factorization(coo):
    r, c, v, a = coo
    n = a.shape[0]
    nativax.clear_caches()
    nativax.caches.reset_cache_counters()
    vals = v * 1.2345  # never seen before
    jax.grad(_klu_loss(r, c, n), argnums=(0, 1))(vals, np.ones(n))
    info = nativax.cache_info()["klu"]
    assert info["factorizations"] == 1
    assert info["numeric"]["hits"] >= 1


def test_dot_matches_dense_and_differentiates(coo):
    r, c, v, a = coo
    n = a.shape[0]
    x = np.linspace(-1, 1, n)
    np.testing.assert_allclose(klu.dot(r, c, v, x), a @ x, rtol=1e-12)
    xs = np.stack([x, 2 * x])
    np.testing.assert_allclose(klu.dot(r, c, v, xs.T), a @ xs.T, rtol=1e-12)
    vs = np.stack([v, 2 * v])
    np.testing.assert_allclose(klu.dot(r, c, vs, x), np.stack([a @ x, 2 * a @ x]), rtol=1e-12)
    f = lambda vals, xx: jnp.sum(klu.dot(r, c, vals, xx) ** 2)  # noqa: E731
    fd = lambda vals, xx: jnp.sum((dense(r, c, vals, n) @ xx) ** 2)  # noqa: E731
    for gx, gy in zip(jax.grad(f, argnums=(0, 1))(v, x), jax.grad(fd, argnums=(0, 1))(v, x)):
        np.testing.assert_allclose(gx, gy, rtol=1e-10)
    np.testing.assert_allclose(jax.jacfwd(f)(v, x), jax.jacfwd(fd)(v, x), rtol=1e-10)
    np.testing.assert_allclose(jax.jit(jax.vmap(lambda vv: klu.dot(r, c, vv, x)))(vs)[1], 2 * a @ x, rtol=1e-12)


def test_dot_rectangular():
    rows = np.array([0, 2, 1])
    cols = np.array([1, 0, 1])
    vals = np.array([1.0, 2.0, 3.0])
    x = np.array([5.0, 7.0])
    np.testing.assert_allclose(klu.dot(rows, cols, vals, x, n_rows=3), [7.0, 21.0, 10.0])
