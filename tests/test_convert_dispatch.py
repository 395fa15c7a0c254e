"""`nativax.as_sparse_operator` is a singledispatch function users can extend with their own operator types."""

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
import scipy.sparse as sp

import nativax

jax.config.update("jax_enable_x64", True)


class BandedOperator(lx.AbstractLinearOperator):
    """A user's own operator type: a tridiagonal matrix held as three dense bands (not a lineax type)."""

    lower: jax.Array
    main: jax.Array
    upper: jax.Array

    def mv(self, vector):
        return self.as_matrix() @ vector

    def as_matrix(self):
        return jnp.diag(self.main) + jnp.diag(self.lower, -1) + jnp.diag(self.upper, 1)

    def transpose(self):
        return BandedOperator(self.upper, self.main, self.lower)

    def in_structure(self):
        return jax.ShapeDtypeStruct(self.main.shape, self.main.dtype)

    def out_structure(self):
        return self.in_structure()

    def to_scipy(self):
        return sp.diags([np.asarray(self.lower), np.asarray(self.main), np.asarray(self.upper)], [-1, 0, 1]).tocsc()


for _fn in (lx.linearise, lx.materialise):
    _fn.register(BandedOperator)(lambda op: op)
for _fn in (lx.is_symmetric, lx.is_diagonal, lx.is_lower_triangular, lx.is_upper_triangular,
            lx.is_positive_semidefinite, lx.is_negative_semidefinite, lx.has_unit_diagonal):
    _fn.register(BandedOperator)(lambda op: False)
lx.is_tridiagonal.register(BandedOperator)(lambda op: True)
lx.diagonal.register(BandedOperator)(lambda op: op.main)
lx.tridiagonal.register(BandedOperator)(lambda op: (op.main, op.lower, op.upper))

CALLS = []


@nativax.as_sparse_operator.register(BandedOperator)
def _banded_to_sparse(operator, pattern=None):
    CALLS.append(1)
    n = operator.main.shape[0]
    rows = np.concatenate([np.arange(1, n), np.arange(n), np.arange(n - 1)])
    cols = np.concatenate([np.arange(n - 1), np.arange(n), np.arange(1, n)])
    values = jnp.concatenate([operator.lower, operator.main, operator.upper])
    return nativax.SparseOperator.from_coo(rows, cols, values, (n, n))


def _banded(n=12):
    rng = np.random.default_rng(0)
    return BandedOperator(jnp.asarray(rng.normal(size=n - 1)), jnp.asarray(4.0 + rng.random(n)),
                          jnp.asarray(rng.normal(size=n - 1)))


def test_registered_type_is_converted_and_solved():
    op = _banded()
    b = jnp.arange(1.0, 13.0)
    CALLS.clear()
    x = lx.linear_solve(op, b, nativax.KLU()).value
    assert CALLS, "the registered conversion was not used"
    np.testing.assert_allclose(x, np.linalg.solve(np.asarray(op.as_matrix()), b), rtol=1e-12)
    # Under jit and grad too (the registered function is traced like the built-in ones).
    g = jax.grad(lambda main: jnp.sum(lx.linear_solve(eqx.tree_at(lambda o: o.main, op, main), b,
                                                      nativax.KLU()).value))(op.main)
    gd = jax.grad(lambda main: jnp.sum(jnp.linalg.solve(eqx.tree_at(lambda o: o.main, op, main).as_matrix(),
                                                        b)))(op.main)
    np.testing.assert_allclose(g, gd, rtol=1e-10)


def test_registered_type_inside_lineax_combinators():
    op = _banded()
    b = jnp.ones(12)
    x = lx.linear_solve(2.0 * op + lx.IdentityLinearOperator(op.in_structure()), b, nativax.KLU()).value
    dense = 2.0 * np.asarray(op.as_matrix()) + np.eye(12)
    np.testing.assert_allclose(x, np.linalg.solve(dense, b), rtol=1e-12)


def test_non_operator_is_rejected_clearly():
    with pytest.raises(TypeError, match="operator"):
        nativax.as_sparse_operator(np.eye(3))
