"""Sparsity detection never returns a subset of the true pattern (issue 13, items 1 and 7).

Regressions for ../shared/repro/r1_sparsity_solve.py, r1b.py (a residual containing
`jnp.linalg.solve`) and stack_rhs_dense_pattern.py (a diffrax RHS written with
`jnp.stack`), and for the fallback used by primitives without a rule.
"""

import types
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest

import nativax
from nativax import sparsity
from nativax._sparsity import index_sets, params, rules

jax.config.update("jax_enable_x64", True)


def dense(p):
    out = np.zeros(p.shape, dtype=bool)
    out[p.rows, p.cols] = True
    return out


def jac_pattern(fn, n, points=3):
    xs = jax.random.normal(jax.random.PRNGKey(1), (points, n))
    return (np.asarray(jax.vmap(jax.jacfwd(fn))(xs)) != 0).any(axis=0)


# ------------------------------------------------- custom_linear_solve (r1, r1b)


def residual_with_solve(u):
    n = u.shape[0]
    return u + jnp.linalg.solve(4 * jnp.eye(n) + jnp.diag(u[1:], 1) + jnp.diag(u[:-1], -1), u)


U = jnp.array([0.5, -1.0, 2.0, 1.5, 0.3])
B = jnp.arange(1.0, 6.0)


def test_solve_pattern_is_complete_and_klu_is_right():
    sparsity.clear_cache()
    op = lx.JacobianLinearOperator(lambda x, _: residual_with_solve(x), U, None)
    jac = jax.jacfwd(residual_with_solve)(U)
    a = sparsity.to_sparse_operator(op)
    assert a.pattern.nnz == int((jac != 0).sum()) == 25  # was 13 of 25
    np.testing.assert_allclose(a.as_matrix(), jac, atol=1e-14)
    klu = lx.linear_solve(op, B, solver=nativax.KLU())
    np.testing.assert_allclose(klu.value, lx.linear_solve(op, B, solver=lx.LU()).value, rtol=1e-12)


def test_solve_pattern_under_jit():
    sparsity.clear_cache()
    op = lx.JacobianLinearOperator(lambda x, _: residual_with_solve(x), U, None)
    a = eqx.filter_jit(sparsity.to_sparse_operator)(op)
    assert a.pattern.nnz == 25
    np.testing.assert_allclose(a.as_matrix(), jax.jacfwd(residual_with_solve)(U), atol=1e-14)


def test_block_diagonal_solves_stay_block_diagonal():
    # vmapped 3x3 systems whose matrices depend on the input: one block per system.
    def fn(x):
        m = x.reshape(4, 3)
        mats = 5 * jnp.eye(3) + m[:, :, None] * m[:, None, :]
        return jax.vmap(jnp.linalg.solve)(mats, jnp.sin(m)).ravel()

    got = dense(sparsity.jacobian_sparsity(fn, jnp.zeros(12)))
    expected = np.kron(np.eye(4, dtype=bool), np.ones((3, 3), dtype=bool))
    assert np.array_equal(got, expected)
    assert not (jac_pattern(fn, 12) & ~got).any()


def test_matrix_free_solve_uses_matvec_structure():
    # Two decoupled chains: x[:4] and x[4:] never mix, whatever the solver does inside.
    def matvec(v):
        return 3 * v - jnp.concatenate([jnp.roll(v[:4], 1), jnp.roll(v[4:], 1)])

    def fn(x):
        return jax.scipy.sparse.linalg.cg(matvec, x**2, tol=1e-12)[0]

    got = dense(sparsity.jacobian_sparsity(fn, jnp.zeros(8)))
    expected = np.kron(np.eye(2, dtype=bool), np.ones((4, 4), dtype=bool))
    assert np.array_equal(got, expected)


# ------------------------------------------------ jnp.stack RHS (stack_rhs_dense)


def robertson_rhs(n_cells):
    d = jnp.array([2e-4, 1e-4, 1e-4])[:, None] * n_cells**2

    def rhs(y):
        y1, y2, y3 = y.reshape(3, n_cells)
        r1, r2, r3 = 0.04 * y1, 1e4 * y2 * y3, 3e7 * y2**2
        c = y.reshape(3, n_cells)
        p = jnp.pad(c, ((0, 0), (1, 1)), mode="edge")
        lap = d * (p[:, :-2] - 2 * c + p[:, 2:])
        return (jnp.stack([-r1 + r2, r1 - r2 - r3, r3]) + lap).ravel()

    return rhs


def test_stack_rhs_pattern_is_exact():
    rhs = robertson_rhs(20)
    got = dense(sparsity.jacobian_sparsity(rhs, jnp.zeros(60)))
    assert np.array_equal(got, jac_pattern(rhs, 60))


def test_stack_rhs_at_9000_is_sparse_under_jit():
    # 3 tridiagonal diffusion blocks + 5 reaction couplings per cell: 14 N - 6 entries
    # (it was 81,000,000: dense). No fallback is needed (no warning).
    n_cells = 3000
    rhs = robertson_rhs(n_cells)
    y = jnp.ones(3 * n_cells)
    sparsity.clear_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("error", sparsity.SparsityFallbackWarning)
        a = eqx.filter_jit(
            lambda y: sparsity.to_sparse_operator(lx.JacobianLinearOperator(lambda v, _: rhs(v), y))
        )(y)
    assert a.pattern.nnz == 14 * n_cells - 6
    assert int(np.max(sparsity.colors_for(a.pattern))) + 1 <= 9


# ------------------------------------------------------------ fallback


def test_fallback_through_jvp_is_a_superset(monkeypatch):
    # Pretend reduce_window_max had no rule: its JVP (select_and_gather_add) is analysed.
    # Probing at random points used to miss entries here (the max moves with the values).
    monkeypatch.delitem(rules.RULES, "reduce_window_max")

    def pool(x):
        return jax.lax.reduce_window(x.reshape(4, 6), -jnp.inf, jax.lax.max, (2, 2), (1, 1), "VALID").ravel()

    with pytest.warns(sparsity.SparsityFallbackWarning, match=r"derived from its JVP") as record:
        got = dense(sparsity.jacobian_sparsity(pool, jnp.zeros(24)))
    assert "test_sparsity_soundness.py" in str(record[0].message)
    assert not (jac_pattern(pool, 24, points=8) & ~got).any()
    assert got.sum(axis=1).tolist() == [4] * 15  # each output: its 2x2 window


def test_fallback_assumes_dense_and_points_at_the_line(monkeypatch):
    # cumsum is linear: its JVP is cumsum again, so without a rule it is assumed dense.
    monkeypatch.delitem(rules.RULES, "cumsum")
    fn = lambda x: jnp.cumsum(x[:6]) * 2 + x[6:]  # noqa: E731
    with pytest.warns(sparsity.SparsityFallbackWarning, match="ASSUMED DENSE") as record:
        got = dense(sparsity.jacobian_sparsity(fn, jnp.zeros(12)))
    message = str(record[0].message)
    assert "'cumsum'" in message and "test_sparsity_soundness.py:" in message and "pattern=" in message
    assert got[:, :6].all() and not (jac_pattern(fn, 12) & ~got).any()


def test_large_dense_fallback_raises(monkeypatch):
    monkeypatch.delitem(rules.RULES, "cumsum")
    monkeypatch.setattr(index_sets, "MAX_FALLBACK_ENTRIES", 100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sparsity.SparsityFallbackWarning)
        with pytest.raises(ValueError, match=r"(?s)'cumsum'.*test_sparsity_soundness.py.*pattern="):
            sparsity.jacobian_sparsity(lambda x: jnp.cumsum(x) * 2, jnp.zeros(50))


def test_mostly_dense_pattern_raises(monkeypatch):
    fn = lambda x: x[jnp.argmax(x)] * x + x[::-1]  # noqa: E731  (traced index: conservative)
    assert dense(sparsity.jacobian_sparsity(fn, jnp.zeros(40))).all()  # small: fine
    monkeypatch.setattr(index_sets, "MOSTLY_DENSE_MIN_ENTRIES", 1000)
    with pytest.raises(ValueError, match=r"100% dense.*pattern="):
        sparsity.jacobian_sparsity(fn, jnp.zeros(40))
    op = lx.JacobianLinearOperator(lambda v, _: fn(v), jnp.ones(40))
    sparsity.clear_cache()
    with pytest.raises(ValueError, match="pattern="):
        sparsity.to_sparse_operator(op)
    # A known pattern skips detection.
    r, c = np.nonzero(np.ones((40, 40)))
    full, _ = nativax.SparsityPattern.from_coo(r, c, (40, 40))
    assert sparsity.to_sparse_operator(op, pattern=full).pattern.nnz == 1600


def test_scan_layout_on_this_jax_line():
    def fn(x):
        c = x[:3]

        def body(carry, xs):
            a, b = carry
            return (a * xs + c[0], b + a), a * b

        return jax.lax.scan(body, (x[0], x[1]), x[3:])

    closed = jax.make_jaxpr(fn)(jnp.ones(8))
    (eqn,) = [e for e in closed.jaxpr.eqns if e.primitive.name == "scan"]
    assert params.scan_layout(eqn) == (1, 2)
    unknown = types.SimpleNamespace(params={"jaxpr": eqn.params["jaxpr"], "length": 5}, invars=[], outvars=[])
    with pytest.raises(params.UnsupportedParams):
        params.scan_layout(unknown)
