"""Sparsity detection, coloring and sparse Jacobian materialisation (`nativax.sparsity`)."""

import warnings

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
import scipy.sparse as sp

import nativax
from nativax import sparsity
from nativax._sparsity import detect as _detect
from nativax.coloring import color_columns, is_valid_coloring, lower_bound

jax.config.update("jax_enable_x64", True)


def true_pattern(fn, n, points=3):
    """Union of nonzeros of `jax.jacfwd` at a few random points."""
    out = None
    for seed in range(points):
        x = jax.random.normal(jax.random.PRNGKey(seed), (n,))
        try:
            jac = jax.jacfwd(fn)(x)
        except TypeError:  # custom_vjp functions only have reverse mode
            jac = jax.jacrev(fn)(x)
        jac = np.asarray(jac).reshape(-1, n) != 0
        out = jac if out is None else out | jac
    return out


def detected(fn, n):
    p = sparsity.jacobian_sparsity(fn, jax.ShapeDtypeStruct((n,), jnp.float64))
    dense = np.zeros(p.shape, dtype=bool)
    dense[p.rows, p.cols] = True
    return dense


def laplacian_2d(x, m):
    u = x.reshape(m, m)
    p = jnp.pad(u, 1)
    return (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * u).ravel()


M = 6
N = M * M
BAND = np.diag(np.arange(1.0, N + 1)) + np.diag(np.ones(N - 1), 1) + np.diag(np.ones(N - 3), -3)


def _fori_chain(x):
    return jax.lax.fori_loop(1, N, lambda i, c: c.at[i].set(c[i - 1] * c[i]), x)


def _while_counter(x):
    body = lambda c: (jnp.roll(c[0], 1) * c[0], c[1] + 1)  # noqa: E731
    return jax.lax.while_loop(lambda c: c[1] < 3, body, (x, 0))[0]


def _scan_running(x):
    return jax.lax.scan(lambda c, xi: (c * xi, c + xi), x[0], x[1:8])[1]


def _long_map(x):  # long enough for the fixed-point path, per-iteration exact
    ys = jax.lax.map(lambda r: jnp.sin(r) * r[::-1], jnp.tile(x, 40).reshape(-1, 6))
    return ys.ravel()[:N]


@jax.custom_jvp
def _custom(x):
    return jnp.tanh(x) * x[::-1]


_custom.defjvp(lambda p, t: (_custom(p[0]), jax.jvp(lambda y: jnp.tanh(y) * y[::-1], p, t)[1]))


def _cvjp_primal(x):
    return jnp.cumsum(x[:5]) ** 2


_cvjp = jax.custom_vjp(_cvjp_primal)
_cvjp.defvjp(lambda x: (_cvjp(x), x), lambda x, g: (jax.vjp(_cvjp_primal, x)[1](g)[0],))

EXACT = {
    "stencil_pad_slice": lambda x: laplacian_2d(x, M),
    "stencil_roll": lambda x: (
        jnp.roll(x.reshape(M, M), 1, 0) + jnp.roll(x.reshape(M, M), -1, 1) - x.reshape(M, M) ** 2
    ).ravel(),
    "stencil_1d_concat": lambda x: jnp.concatenate([x[:1], x[2:] - 2 * x[1:-1] + x[:-2], x[-1:]]),
    "gather_static": lambda x: x[np.array([3, 1, 4, 1, 5, 9, 2, 6])] ** 2,
    "gather_2d_static": lambda x: x.reshape(M, M)[np.array([0, 3]), :][:, np.array([5, 1])].ravel(),
    "scatter_add": lambda x: jnp.zeros(N).at[np.array([0, 2, 2, 7])].add(x[:4] ** 2),
    "scatter_set": lambda x: x.at[np.array([0, 5])].set(x[10:12] * 3),
    "scatter_mul": lambda x: x.at[np.array([1, 2])].multiply(x[20:22], unique_indices=True),
    "softplus_custom_jvp": jax.nn.softplus,
    "custom_jvp_user": _custom,
    "custom_vjp_user": _cvjp,
    "cumsum": lambda x: jnp.cumsum(x[:6]) * x[6:12],
    "scan_unrolled": _scan_running,
    "scan_map_fixed_point": _long_map,
    "fori_loop_dynamic_update": _fori_chain,
    "while_known_trip_count": _while_counter,
    "matmul_banded_constant": lambda x: jnp.asarray(BAND) @ jnp.tanh(x),
    "batched_matmul": lambda x: jnp.einsum("bij,bj->bi", jnp.asarray(np.tril(np.ones((4, 3, 3)))), x[:12].reshape(4, 3)).ravel(),
    "reduce_rows": lambda x: jnp.sum(x.reshape(M, M) ** 2, axis=1),
    "where_constant_mask": lambda x: jnp.where(np.arange(N) % 3 == 0, x, x[::-1] ** 2),
    "mask_multiply": lambda x: x * (np.arange(N) % 2) + x[::-1] ** 2 * (np.arange(N) % 3 == 0),
    "dynamic_slice_static": lambda x: jax.lax.dynamic_slice(x, (3,), (4,)) * 2,
    "dynamic_update_static": lambda x: jax.lax.dynamic_update_slice(x, x[:3] ** 2, (10,)),
    "transpose_rev_reshape": lambda x: jnp.flip(x.reshape(M, M).T, 0).ravel() * x,
    "broadcast_outer": lambda x: (x[:4, None] * x[None, 4:8]).ravel(),
    "strided_slice_pad_interior": lambda x: jax.lax.pad(x[::3], 0.0, [(1, -1, 1)]),
    "remat": lambda x: jax.checkpoint(lambda y: jnp.sin(y) * y[::-1])(x),
    "jit_inside": lambda x: jax.jit(lambda y: jnp.exp(y[1:]) - y[:-1])(x),  # pjit
    "matmul_traced_times_constant": lambda x: (x[:12].reshape(3, 4) @ np.tril(np.ones((4, 4)))).ravel(),
    "integer_ops_no_derivative": lambda x: x * (jnp.floor(x) + 0.5) + jnp.argmax(x),
    "cond_known_branch": lambda x: jax.lax.cond(True, lambda y: y[::-1], lambda y: y * 2, x),
    "expand_squeeze": lambda x: jnp.squeeze(jnp.expand_dims(x, 0) * 2, 0),
    "split": lambda x: jnp.split(x, 3)[1] * jnp.split(x, 3)[2],
}

SUPERSET = {  # detection must not miss anything, but is allowed (expected) to add
    "cond_traced_branch": lambda x: jax.lax.cond(x[0] > 0, lambda y: y[::-1], lambda y: y * 2, x),
    "gather_traced_index": lambda x: x[jnp.argmax(x)] * x,
    "dynamic_slice_traced": lambda x: jax.lax.dynamic_slice(x, (jnp.argmin(x),), (3,)),
    "sort": lambda x: jnp.sort(x.reshape(M, M), axis=1).ravel(),
    "scatter_traced_index": lambda x: jnp.zeros(N).at[jnp.argmax(x[:4])].add(x[5] ** 2) + x,
    "matmul_both_traced": lambda x: (x[:12].reshape(3, 4) @ jnp.tril(x[12:28].reshape(4, 4))).ravel(),
    # max's derivative picks the (value-dependent) argmax: all candidates are kept
    "reduce_max_cols": lambda x: jnp.max(x.reshape(M, M), axis=0),
    # zeros are tracked through constants only, not through traced products
    "mask_then_multiply": lambda x: x * (np.arange(N) % 2) * x[::-1],
    "while_unknown_trip_count": lambda x: jax.lax.while_loop(
        lambda c: (c[1] < 20) & (jnp.abs(c[0]).sum() < 100.0),
        lambda c: (c[0] * 1.5 + jnp.roll(c[0], 1), c[1] + 1),
        (x, 0),
    )[0],
}


@pytest.mark.parametrize("name", sorted(EXACT))
def test_pattern_exact(name):
    fn = EXACT[name]
    truth = true_pattern(fn, N)
    assert truth.any(), "test function has an all-zero Jacobian"
    got = detected(fn, N)
    missing, extra = truth & ~got, got & ~truth
    assert not missing.any(), f"missed {np.argwhere(missing)[:5]}"
    assert not extra.any(), f"spurious {np.argwhere(extra)[:5]}"


@pytest.mark.parametrize("name", sorted(SUPERSET))
def test_pattern_conservative(name):
    fn = SUPERSET[name]
    got = detected(fn, N)
    truth = true_pattern(fn, N)
    assert not (truth & ~got).any()


def test_conservative_is_strict_where_expected():
    # The traced cond really is the union of both branches, not just one of them.
    got = detected(SUPERSET["cond_traced_branch"], N)
    assert got.sum() == 2 * N - (1 if N % 2 else 0)


def test_pytree_input_and_output():
    x = {"a": jnp.zeros(3), "b": jnp.zeros((2, 2))}

    def fn(tree):
        return tree["a"][:2] * tree["b"][0], jnp.sum(tree["b"])

    p = sparsity.jacobian_sparsity(fn, x)
    assert p.shape == (3, 7)
    got = {(int(r), int(c)) for r, c in zip(p.rows, p.cols)}
    # Leaf order: a (cols 0-2), b (cols 3-6); outputs: 2 products, 1 sum.
    assert got == {(0, 0), (0, 3), (1, 1), (1, 4), (2, 3), (2, 4), (2, 5), (2, 6)}


def test_probing_fallback_warns_and_is_exact():
    fn = lambda x: jnp.convolve(x, jnp.array([1.0, 2.0, 1.0]), mode="same")  # noqa: E731
    with pytest.warns(sparsity.SparsityFallbackWarning, match="conv_general_dilated"):
        got = detected(fn, N)
    assert np.array_equal(got, true_pattern(fn, N))


def test_large_stencil_is_fast():
    import time

    m = 500
    start = time.perf_counter()
    p = sparsity.jacobian_sparsity(lambda x: laplacian_2d(x, m), jnp.zeros(m * m))
    elapsed = time.perf_counter() - start
    assert p.nnz == 5 * m * m - 4 * m
    assert elapsed < 5.0


# ------------------------------------------------------------------- coloring


def stencil_pattern(m, nine=False):
    offsets = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]
    if nine:
        offsets += [(1, 1), (1, -1), (-1, 1), (-1, -1)]
    idx = np.arange(m * m).reshape(m, m)
    rows, cols = [], []
    for di, dj in offsets:
        a = idx[max(0, -di): m - max(0, di), max(0, -dj): m - max(0, dj)]
        b = idx[max(0, di): m - max(0, -di), max(0, dj): m - max(0, -dj)]
        rows.append(a.ravel())
        cols.append(b.ravel())
    return nativax.SparsityPattern.from_coo(np.concatenate(rows), np.concatenate(cols), (m * m, m * m))[0]


@pytest.mark.parametrize("nine,m", [(False, 30), (False, 101), (True, 30), (True, 101)])
def test_coloring_stencil_bounds(nine, m):
    p = stencil_pattern(m, nine)
    colors = color_columns(p)
    assert colors.dtype == np.int32
    assert is_valid_coloring(p, colors)
    assert lower_bound(p) == (9 if nine else 5)
    assert colors.max() + 1 <= lower_bound(p) + 1


@pytest.mark.parametrize("order", ["dsatur", "natural", "largest_first"])
@pytest.mark.parametrize("seed", [0, 1])
def test_coloring_valid_random(order, seed):
    a = sp.random(300, 200, density=0.03, random_state=seed, format="coo")
    colors = color_columns((a.row, a.col, a.shape), order=order)
    assert is_valid_coloring((a.row, a.col, a.shape), colors)
    assert colors.max() + 1 >= lower_bound((a.row, a.col, a.shape))


def test_is_valid_coloring_detects_conflicts():
    p = stencil_pattern(5)
    assert not is_valid_coloring(p, np.zeros(25, np.int32))


# -------------------------------------------------------------- materialising


def nonlinear_pde(u, theta):
    return -laplacian_2d(u, M) + u**3 - theta * jnp.sin(u[::-1])


def test_jacobian_operator_values_match_jacfwd():
    u = jax.random.normal(jax.random.PRNGKey(3), (N,))
    op = lx.JacobianLinearOperator(nonlinear_pde, u, 0.7)
    sparse = sparsity.to_sparse_operator(op)
    assert isinstance(sparse, nativax.SparseOperator)
    np.testing.assert_allclose(sparse.as_matrix(), jax.jacfwd(nonlinear_pde)(u, 0.7), atol=1e-12)
    assert sparse.pattern.nnz < N * N // 4


def test_linearised_operator_under_jit_matches_jacfwd():
    u = jax.random.normal(jax.random.PRNGKey(4), (N,))

    @jax.jit
    def values(u, theta):
        _, lin = jax.linearize(lambda v: nonlinear_pde(v, theta), u)
        op = lx.FunctionLinearOperator(lin, jax.eval_shape(lambda: u))
        return sparsity.to_sparse_operator(op).as_matrix()

    np.testing.assert_allclose(values(u, 0.3), jax.jacfwd(nonlinear_pde)(u, 0.3), atol=1e-12)


def test_user_pattern_and_alias():
    u = jax.random.normal(jax.random.PRNGKey(5), (N,))
    op = lx.JacobianLinearOperator(nonlinear_pde, u, 0.1)
    pattern = sparsity.jacobian_sparsity(lambda v: nonlinear_pde(v, 0.1), u)
    a = sparsity.materialise(op, pattern=pattern)
    assert a.pattern == pattern
    np.testing.assert_allclose(a.as_matrix(), jax.jacfwd(nonlinear_pde)(u, 0.1), atol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        sparsity.to_sparse_operator(op, pattern=stencil_pattern(3))


def test_pytree_operator_is_flattened():
    x = (jnp.arange(3.0), jnp.arange(4.0).reshape(2, 2))

    def fn(t):
        a, b = t
        return (a[:2] * b[0] ** 2, jnp.sin(b).ravel() + a[2])

    op = lx.JacobianLinearOperator(lambda t, _: fn(t), x)
    sparse = sparsity.to_sparse_operator(op)
    flat = lambda v: jnp.concatenate([jnp.ravel(leaf) for leaf in jax.tree_util.tree_leaves(  # noqa: E731
        fn((v[:3], v[3:].reshape(2, 2)))
    )])
    expected = jax.jacfwd(flat)(jnp.concatenate([x[0], x[1].ravel()]))
    np.testing.assert_allclose(sparse.as_matrix(), expected, atol=1e-12)


def test_values_are_differentiable():
    u = jax.random.normal(jax.random.PRNGKey(6), (N,))

    def total(theta):
        op = lx.JacobianLinearOperator(nonlinear_pde, u, theta)
        return jnp.sum(sparsity.to_sparse_operator(op).values ** 2)

    def dense_total(theta):
        return jnp.sum(jax.jacfwd(nonlinear_pde)(u, theta) ** 2)

    np.testing.assert_allclose(jax.grad(total)(0.4), jax.grad(dense_total)(0.4), rtol=1e-10)


def test_cache_keys_on_constant_values():
    sparsity.clear_cache()
    u = jnp.ones(N)
    ops = [
        lx.JacobianLinearOperator(lambda v, _, m=mask: jnp.where(m, v, v[::-1]), u)
        for mask in (np.arange(N) % 2 == 0, np.arange(N) % 3 == 0)
    ]
    p0 = sparsity.to_sparse_operator(ops[0]).pattern
    p1 = sparsity.to_sparse_operator(ops[1]).pattern
    assert p0 != p1
    # Same structure again: served from the cache (same object).
    even = np.arange(N) % 2 == 0
    again = lx.JacobianLinearOperator(lambda v, _: jnp.where(even, v, v[::-1]), u)
    assert sparsity.to_sparse_operator(again).pattern is p0


def test_klu_solves_matrix_free_operator():
    u = jax.random.normal(jax.random.PRNGKey(7), (N,))
    b = jnp.arange(N, dtype=jnp.float64)

    @jax.jit
    def solve(u):
        op = lx.JacobianLinearOperator(lambda v, _: nonlinear_pde(v, 0.5) + 10 * v, u)
        return lx.linear_solve(op, b, nativax.KLU()).value

    jac = jax.jacfwd(lambda v: nonlinear_pde(v, 0.5) + 10 * v)(u)
    np.testing.assert_allclose(jac @ solve(u), b, atol=1e-9)


def test_no_warning_for_known_primitives():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fn in EXACT.values():
            detected(fn, N)


def test_cache_ignores_float_argument_values():
    # Floating-point array arguments of a JacobianLinearOperator are treated as unknown:
    # one detection serves every parameter value (e.g. every Newton step / time step).
    sparsity.clear_cache()
    u = jax.random.normal(jax.random.PRNGKey(8), (N,))
    first = sparsity.to_sparse_operator(lx.JacobianLinearOperator(nonlinear_pde, u, jnp.asarray(0.2)))
    second = sparsity.to_sparse_operator(lx.JacobianLinearOperator(nonlinear_pde, 2 * u, jnp.asarray(5.0)))
    assert second.pattern is first.pattern
    assert sum(1 for key in _detect._cache if key[0] == "pattern") == 1
    assert sum(1 for key in _detect._cache if key[0] == "colors") == 1
    np.testing.assert_allclose(second.as_matrix(), jax.jacfwd(nonlinear_pde)(2 * u, 5.0), atol=1e-12)
    # Integer arguments (indices) stay concrete and sharpen the pattern.
    idx = np.array([3, 1, 4])
    op = lx.JacobianLinearOperator(lambda x, a: x[a[0]] * a[1], u, (idx, jnp.asarray(2.0)))
    p = sparsity.to_sparse_operator(op).pattern
    assert p.nnz == 3 and sorted(zip(p.rows.tolist(), p.cols.tolist())) == [(0, 3), (1, 1), (2, 4)]


def test_docs_page_runs():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "sparsity.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)
    assert len(blocks) >= 5
    exec(compile("\n\n".join(blocks), "docs/sparsity.md", "exec"), {})


def test_dense_fill_raises_instead_of_exhausting_memory(monkeypatch):
    from nativax._sparsity import index_sets as _index_sets

    fn = SUPERSET["gather_traced_index"]
    assert detected(fn, N).sum() > N  # fine at the default limit
    monkeypatch.setattr(_index_sets, "MAX_DENSE_ENTRIES", N - 1)
    with pytest.raises(ValueError, match="pattern="):
        detected(fn, N)
