"""Reverse-mode materialisation (`to_sparse_operator(..., mode=)`): VJPs over a row coloring, chosen
automatically when it needs fewer colors than the column coloring, checked against dense jacrev/jacfwd."""

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest

import nativax
from nativax import sparsity
from nativax._sparsity import detect

jax.config.update("jax_enable_x64", True)


def wide(x):
    """(4,) outputs of (300,) inputs: two dense rows (300 column colors) and two sparse ones."""
    return jnp.stack([jnp.sum(x**2), jnp.sum(jnp.sin(x) * jnp.arange(x.size)), x[0] * x[7], x[-1] ** 3])


def arrow(x, theta):
    """Square arrowhead: a dense first row, the rest diagonal (n column colors, 2 row colors)."""
    return jnp.concatenate([jnp.sum(x**2)[None], theta * x[1:] ** 3 + x[1:]])


def stencil(u, theta):
    p = jnp.pad(u, 1)
    return p[:-2] + p[2:] - 2 * u + theta * u**3


def ncolors(c):
    return int(c.max(initial=-1)) + 1


def test_wide_jacobian_auto_picks_reverse_under_jit():
    x = jax.random.normal(jax.random.PRNGKey(0), (300,))
    pattern = sparsity.jacobian_sparsity(wide, x)
    assert ncolors(sparsity.colors_for(pattern)) == 300
    assert ncolors(sparsity.colors_for(pattern, mode="rev")) <= 4
    assert detect._reverse_pays(pattern)

    def dense(x, mode):
        return sparsity.to_sparse_operator(lx.JacobianLinearOperator(lambda v, _: wide(v), x), mode=mode).as_matrix()

    expected = jax.jacrev(wide)(x)
    for mode in ("auto", "rev", "fwd"):
        np.testing.assert_allclose(jax.jit(dense, static_argnums=1)(x, mode), expected, rtol=1e-12, atol=1e-12)


def test_linearised_function_operator_reverse():
    # FunctionLinearOperator (a JVP's linearisation) transposes through jax.linear_transpose.
    x = jax.random.normal(jax.random.PRNGKey(1), (120,))

    @jax.jit
    def dense(x):
        _, lin = jax.linearize(wide, x)
        op = lx.FunctionLinearOperator(lin, jax.eval_shape(lambda: x))
        return sparsity.to_sparse_operator(op, mode="rev").as_matrix()

    np.testing.assert_allclose(dense(x), jax.jacfwd(wide)(x), rtol=1e-12, atol=1e-12)


def test_square_arrowhead_auto_reverse_and_differentiable():
    x = jax.random.normal(jax.random.PRNGKey(2), (80,))
    op = lx.JacobianLinearOperator(arrow, x, 0.3)
    sparse = sparsity.to_sparse_operator(op)
    assert detect._reverse_pays(sparse.pattern)
    assert ncolors(sparsity.colors_for(sparse.pattern, mode="rev")) == 2
    np.testing.assert_allclose(sparse.as_matrix(), jax.jacfwd(arrow)(x, 0.3), rtol=1e-12, atol=1e-12)

    def total(theta, mode):
        a = sparsity.to_sparse_operator(lx.JacobianLinearOperator(arrow, x, theta), mode=mode)
        return jnp.sum(a.values**2)

    def dense_total(theta):
        return jnp.sum(jax.jacfwd(arrow)(x, theta) ** 2)

    for mode in ("rev", "fwd"):
        np.testing.assert_allclose(jax.grad(total)(0.3, mode), jax.grad(dense_total)(0.3), rtol=1e-10)


def test_square_stencil_stays_forward_when_colors_tie():
    u = jax.random.normal(jax.random.PRNGKey(3), (50,))
    op = lx.JacobianLinearOperator(stencil, u, 0.5)
    pattern = sparsity.to_sparse_operator(op).pattern
    assert ncolors(sparsity.colors_for(pattern)) == ncolors(sparsity.colors_for(pattern, mode="rev")) == 3
    assert not detect._reverse_pays(pattern)
    rev = sparsity.to_sparse_operator(op, mode="rev")
    np.testing.assert_allclose(rev.as_matrix(), jax.jacfwd(stencil)(u, 0.5), rtol=1e-12, atol=1e-12)


def test_pytree_in_and_out_reverse():
    x = (jnp.arange(1.0, 4.0), jnp.arange(1.0, 5.0).reshape(2, 2))

    def fn(t):
        a, b = t
        return {"s": jnp.sum(a) * jnp.sum(b**2)[None], "t": jnp.sin(b[0]) + a[2]}

    flat_in = jnp.concatenate([x[0], x[1].ravel()])

    def flat(v):
        out = fn((v[:3], v[3:].reshape(2, 2)))
        return jnp.concatenate([jnp.ravel(leaf) for leaf in jax.tree_util.tree_leaves(out)])

    expected = jax.jacrev(flat)(flat_in)
    for mode in ("rev", "auto"):
        @jax.jit
        def dense(x, m=mode):
            op = lx.JacobianLinearOperator(lambda t, _: fn(t), x)
            return sparsity.to_sparse_operator(op, mode=m).as_matrix()

        np.testing.assert_allclose(dense(x), expected, rtol=1e-12, atol=1e-12)


def test_auto_falls_back_to_forward_when_not_transposable():
    # Reverse mode cannot differentiate a while_loop; "auto" then uses forward mode, "rev" says why.
    def fn(x):
        def body(c):
            i, s = c
            return i + 1, 0.5 * s + x

        _, s = jax.lax.while_loop(lambda c: c[0] < 3, body, (0, x))
        return jnp.stack([jnp.sum(s**2), s[0] * s[1]])

    x = jax.random.normal(jax.random.PRNGKey(4), (40,))
    op = lx.JacobianLinearOperator(lambda v, _: fn(v), x)
    sparse = sparsity.to_sparse_operator(op)
    assert detect._reverse_pays(sparse.pattern)
    np.testing.assert_allclose(sparse.as_matrix(), jax.jacfwd(fn)(x), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="[Rr]everse-mode"):
        sparsity.to_sparse_operator(op, mode="rev")


def test_bad_mode():
    op = lx.JacobianLinearOperator(stencil, jnp.ones(5), 0.1)
    with pytest.raises(ValueError, match="`mode`"):
        sparsity.to_sparse_operator(op, mode="reverse")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`mode`"):
        sparsity.colors_for(sparsity.to_sparse_operator(op).pattern, mode="auto")  # type: ignore[arg-type]


def test_sparse_operator_passthrough_ignores_mode():
    a = nativax.SparseOperator.from_dense(jnp.eye(3))
    assert sparsity.to_sparse_operator(a, mode="rev") is a


def test_auto_never_colors_the_columns_of_a_dense_row():
    # A dense row makes the columns' distance-2 graph complete (n colors, quadratic work): the row/column
    # nonzero bounds settle "reverse" from the row coloring alone.
    sparsity.clear_cache()
    x = jax.random.normal(jax.random.PRNGKey(5), (3000,))
    sparse = sparsity.to_sparse_operator(lx.JacobianLinearOperator(lambda v, _: wide(v), x))
    assert not any(key[0] == "colors" for key in detect._cache)
    assert any(key[0] == "row colors" for key in detect._cache)
    np.testing.assert_allclose(sparse.as_matrix(), jax.jacrev(wide)(x), rtol=1e-12, atol=1e-12)
