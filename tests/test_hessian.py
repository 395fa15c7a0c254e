"""Sparse Hessians (`nativax.sparsity.hessian`): values vs `jax.hessian`, under jit and grad, the star-colored
symmetric path of `to_sparse_operator`, optimistix Newton with KLU, caching and bad input."""

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest

import nativax
from nativax import sparsity


def grid_energy(m):
    def e(u, f):
        w = u.reshape(m, m)
        p = jnp.pad(w, 1)
        lu = 4 * w - p[:-2, 1:-1] - p[2:, 1:-1] - p[1:-1, :-2] - p[1:-1, 2:]
        return 0.5 * jnp.vdot(w, lu) + jnp.sum(w**4) - jnp.vdot(f, u)

    return e


def chain(u, a):  # tridiagonal Hessian with a parameter
    return jnp.sum(a * (u[1:] - u[:-1] ** 2) ** 2) + jnp.sum(jnp.cos(u))


def test_hessian_values_grid():
    m = 7
    e = grid_energy(m)
    u = jax.random.normal(jax.random.PRNGKey(0), (m * m,))
    f = jnp.linspace(0.0, 1.0, m * m)
    H = sparsity.hessian(e, u, f)
    assert isinstance(H, nativax.SparseOperator) and lx.is_symmetric(H)
    assert H.pattern == sparsity.hessian_sparsity(e, u, f)
    assert H.pattern.nnz == 5 * m * m - 4 * m
    assert int(sparsity.color_star(H.pattern).max()) + 1 <= 6
    dense = jax.hessian(e)(u, f)
    np.testing.assert_allclose(H.as_matrix(), dense, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(H.as_matrix(), H.as_matrix().T)  # exactly symmetric


def test_hessian_pytree_and_jit():
    def fn(x, scale):
        return scale * jnp.sum(x["a"] ** 2 * x["b"][:3]) + jnp.sum(jnp.exp(x["b"]))

    x = {"a": jnp.arange(1.0, 4.0), "b": jnp.linspace(0.1, 0.5, 5)}
    H = jax.jit(lambda x, s: sparsity.hessian(fn, x, s).as_matrix())(x, 2.0)
    flat = lambda v: fn(jax.flatten_util.ravel_pytree(x)[1](v), 2.0)  # noqa: E731
    dense = jax.hessian(flat)(jax.flatten_util.ravel_pytree(x)[0])
    np.testing.assert_allclose(H, dense, rtol=1e-12, atol=1e-12)


def test_hessian_gradient_wrt_parameter():
    u = jnp.linspace(-1.0, 1.0, 9)

    def loss(a):
        return jnp.sum(sparsity.hessian(chain, u, a).values ** 2)

    def dense_loss(a):
        h = jax.hessian(chain)(u, a)
        p = sparsity.hessian_sparsity(chain, u, a)
        return jnp.sum(h[p.rows, p.cols] ** 2)

    np.testing.assert_allclose(loss(1.5), dense_loss(1.5), rtol=1e-12)
    np.testing.assert_allclose(jax.grad(loss)(1.5), jax.grad(dense_loss)(1.5), rtol=1e-10)
    eps = 1e-6
    fd = (loss(1.5 + eps) - loss(1.5 - eps)) / (2 * eps)
    np.testing.assert_allclose(jax.grad(loss)(1.5), fd, rtol=1e-6)


def test_hessian_solve_with_klu():
    u = jnp.linspace(-0.5, 0.5, 30)
    H = sparsity.hessian(chain, u, 2.0)
    b = jnp.ones(30)
    x = lx.linear_solve(H, b, nativax.KLU()).value
    np.testing.assert_allclose(jnp.linalg.solve(jax.hessian(chain)(u, 2.0), b), x, rtol=1e-9)


def test_hessian_cached_and_known_pattern():
    sparsity.clear_cache()
    u = jnp.linspace(-0.5, 0.5, 12)
    p1 = sparsity.hessian_sparsity(chain, u, 1.0)
    p2 = sparsity.hessian_sparsity(chain, 2 * u, jnp.asarray(3.0))
    p3 = sparsity.hessian_sparsity(chain, u, jnp.asarray(4.0))
    assert p2 is p3 and p1 == p2  # float arrays in args: one detection for all values
    H = sparsity.hessian(chain, u, 1.0, pattern=p1)
    np.testing.assert_allclose(H.as_matrix(), jax.hessian(chain)(u, 1.0), rtol=1e-12, atol=1e-12)
    from nativax._sparsity import detect

    assert sum(1 for key in detect._cache if key[0] == "star") == 1


def test_symmetric_tag_uses_star_coloring():
    # Arrowhead Hessian: a column coloring needs n colors, star coloring 2.
    n = 40

    def fn(u):
        return u[0] * jnp.sum(u**2) + jnp.sum(u**4)

    u = jnp.linspace(0.1, 1.0, n)
    op = lx.JacobianLinearOperator(lambda y, _: jax.grad(fn)(y), u, tags=lx.symmetric_tag)
    A = sparsity.to_sparse_operator(op)
    np.testing.assert_allclose(A.as_matrix(), jax.hessian(fn)(u), rtol=1e-12, atol=1e-12)
    assert int(sparsity.color_star(A.pattern).max()) + 1 == 2
    assert int(sparsity.colors_for(A.pattern).max()) + 1 == n
    H = sparsity.hessian(fn, u)
    np.testing.assert_allclose(H.as_matrix(), jax.hessian(fn)(u), rtol=1e-12, atol=1e-12)


def test_optimistix_newton_on_gradient():
    optx = pytest.importorskip("optimistix")
    m = 6
    e = grid_energy(m)
    f = jnp.ones(m * m)
    solver = optx.Newton(rtol=1e-11, atol=1e-11, linear_solver=nativax.KLU())
    sol = jax.jit(lambda f: optx.root_find(jax.grad(e), solver, jnp.zeros(m * m), f,
                                           tags=frozenset({lx.symmetric_tag})).value)(f)
    assert float(jnp.max(jnp.abs(jax.grad(e)(sol, f)))) < 1e-9
    dense = optx.root_find(jax.grad(e), optx.Newton(rtol=1e-11, atol=1e-11), jnp.zeros(m * m), f).value
    np.testing.assert_allclose(sol, dense, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: sparsity.hessian("f", jnp.zeros(3)), TypeError, "callable"),
        (lambda: sparsity.hessian(lambda u: u, jnp.zeros(3)), TypeError, "real scalar"),
        (lambda: sparsity.hessian(jnp.sum, jnp.zeros(3, jnp.int32)), TypeError, "real floating"),
        (lambda: sparsity.hessian(jnp.sum, jnp.zeros(3, jnp.complex128)), TypeError, "real floating"),
        (lambda: sparsity.hessian(jnp.sum, jnp.zeros(3), pattern=np.eye(3)), TypeError, "SparsityPattern"),
        (lambda: sparsity.hessian(jnp.sum, jnp.zeros(3),
                                  pattern=nativax.SparsityPattern.from_coo([0], [0], (2, 2))[0]), ValueError, "shape"),
        (lambda: sparsity.hessian_sparsity(jnp.sum, jnp.zeros(3), unroll_budget=-1), ValueError, "unroll_budget"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
