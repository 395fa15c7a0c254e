"""Sparsity rules for the primitives common JAX code emits, on every supported JAX line.

Each function is checked against `jax.jacfwd` at random points: the detected pattern must
contain every nonzero (always), equal them (where the rules are exact) and detection must
not need the fallback (no `SparsityFallbackWarning`).
"""

import warnings

import jax
import jax.flatten_util  # noqa: F401  (jax.flatten_util.ravel_pytree below)
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from nativax import sparsity

jax.config.update("jax_enable_x64", True)

N = 24
K = np.array([1.0, -2.0, 1.0])

EXACT = {
    "stack": lambda x: jnp.stack([x[:12] * 2, x[12:] ** 2]).ravel(),
    "stack_axis1": lambda x: jnp.stack([x[:12], jnp.sin(x[12:])], axis=1).ravel(),
    "unstack_iter": lambda x: sum(r * i for i, r in enumerate(x.reshape(4, 6))),
    "vstack_hstack": lambda x: jnp.hstack([jnp.vstack([x[:6], x[6:12]]), jnp.vstack([x[12:18], x[18:]])]).ravel(),
    "column_stack": lambda x: jnp.column_stack([x[:12], x[12:]]).ravel(),
    "pad_edge": lambda x: jnp.pad(x, (2, 1), mode="edge"),
    "pad_reflect": lambda x: jnp.pad(x, (2, 2), mode="reflect"),
    "pad_wrap": lambda x: jnp.pad(x, (2, 2), mode="wrap"),
    "roll": lambda x: jnp.roll(x, 3) * x,
    "diff": lambda x: jnp.diff(x, n=2),
    "gradient": lambda x: jnp.gradient(x),
    "convolve_same": lambda x: jnp.convolve(x, jnp.asarray(K), mode="same"),
    "convolve_full": lambda x: jnp.convolve(x, jnp.asarray(K), mode="full"),
    "correlate_valid": lambda x: jnp.correlate(x, jnp.asarray(K), mode="valid"),
    "conv2d": lambda x: lax.conv(x.reshape(1, 1, 4, 6), jnp.asarray(np.array([[[[0, 1, 0], [1, -4, 1], [0, 1, 0]]]], float)), (1, 1), "SAME").ravel(),
    "conv2d_strided": lambda x: lax.conv_general_dilated(x.reshape(1, 2, 3, 4), jnp.ones((3, 2, 2, 2)), (1, 2), "VALID").ravel(),
    "cumprod": lambda x: jnp.cumprod(x[:8]),
    "logcumsumexp": lambda x: lax.cumlogsumexp(x[:8]),
    "trace_diag": lambda x: jnp.trace(x[:16].reshape(4, 4)) * jnp.diagonal(x[:16].reshape(4, 4)),
    "diag_build": lambda x: jnp.diag(x[:5]).ravel() + 1.0,
    "outer_kron": lambda x: jnp.kron(x[:2], x[2:5]),
    "tile_repeat": lambda x: jnp.tile(x[:3], 2) * jnp.repeat(x[3:6], 2),
    "moveaxis_swap": lambda x: jnp.swapaxes(jnp.moveaxis(x.reshape(2, 3, 4), 0, -1), 0, 1).ravel(),
    "take_along_axis": lambda x: jnp.take_along_axis(x.reshape(4, 6), np.array([[0], [2], [5], [1]]), axis=1).ravel(),
    "take": lambda x: jnp.take(x, np.array([0, 5, 5, 23])),
    "at_get_fill": lambda x: x.at[np.array([0, 30])].get(mode="fill", fill_value=0.0),
    "select": lambda x: jnp.select([np.arange(N) < 5, np.arange(N) > 15], [x, x ** 2], default=x[::-1]),
    "piecewise_switch": lambda x: lax.switch(1, [lambda y: y, lambda y: y[::-1] * 2], x),
    "nn_funcs": lambda x: jax.nn.relu(x) + jax.nn.sigmoid(x) + jax.nn.gelu(x) + jax.nn.silu(x) + jax.nn.elu(x) + jax.nn.softplus(x),
    "softmax_rows": lambda x: jax.nn.softmax(x.reshape(4, 6), axis=1).ravel(),
    "log_softmax": lambda x: jax.nn.log_softmax(x.reshape(4, 6), axis=1).ravel(),
    "logsumexp_rows": lambda x: jax.scipy.special.logsumexp(x.reshape(4, 6), axis=1),
    "mean_var_std": lambda x: jnp.var(x.reshape(4, 6), axis=1) + jnp.std(x.reshape(4, 6), axis=1) + jnp.mean(x.reshape(4, 6), axis=1),
    "prod": lambda x: jnp.prod(x.reshape(4, 6), axis=1),
    "norm": lambda x: jnp.linalg.norm(x.reshape(4, 6), axis=1),
    "elementary": lambda x: jnp.hypot(x, 2.0) + jnp.arctan2(x, 1.5) + jnp.power(jnp.abs(x) + 1, 1.5) + jnp.sinc(x) + jnp.logaddexp(x, 0.3) + jnp.expm1(x) + jnp.log1p(x**2) + jnp.cbrt(x) + jnp.tan(x) + jnp.arcsinh(x) + jnp.exp2(x) + jnp.square(x) + jnp.reciprocal(x + 10) + jnp.sign(x) * x + jnp.copysign(x, 1.0) + jnp.fmod(x, 2.0) + jnp.mod(x, 3.0) + jnp.heaviside(x, 0.5) * x,
    "special": lambda x: jax.scipy.special.erf(x) + jax.scipy.special.erfc(x) + jax.scipy.special.gammaln(x**2 + 1) + jax.scipy.special.digamma(x**2 + 1) + jax.scipy.special.xlogy(x**2 + 1, x**2 + 2) + jax.scipy.special.i0e(x) + jax.scipy.special.erfinv(jnp.tanh(x) * 0.5),
    "nan_to_num_isfinite": lambda x: jnp.nan_to_num(x) + jnp.where(jnp.isfinite(x), x, 0.0),
    "complex_roundtrip": lambda x: jnp.real(jnp.exp(1j * x[:12]) * (x[12:] + 0j)) + jnp.imag((x[:12] + 1j * x[12:]) ** 2) + jnp.abs(x[:12] + 1j * x[12:]),
    "einsum_contract": lambda x: jnp.einsum("ij,jk->ik", x[:12].reshape(3, 4), jnp.asarray(np.eye(4)[:, :2])).ravel(),
    "polyval": lambda x: jnp.polyval(jnp.array([1.0, 2.0, 3.0]), x),
    "meshgrid_outer": lambda x: (jnp.meshgrid(x[:3], x[3:5])[0] * jnp.meshgrid(x[:3], x[3:5])[1]).ravel(),
    "where_traced": lambda x: jnp.where(x > 0, x, 0.1 * x),
    "fori_static": lambda x: lax.fori_loop(0, 3, lambda i, c: jnp.roll(c, 1) + c, x),
    "vmap_inner": lambda x: jax.vmap(lambda r: jnp.sum(r ** 2) * r)(x.reshape(4, 6)).ravel(),
    "lax_map": lambda x: lax.map(lambda r: r[::-1] * r, x.reshape(4, 6)).ravel(),
    "associative_scan": lambda x: lax.associative_scan(jnp.add, x[:8]),
    "reduce_window_sum": lambda x: lax.reduce_window(x.reshape(4, 6), 0.0, lax.add, (2, 2), (1, 1), "VALID").ravel(),
    "rfft": lambda x: jnp.abs(jnp.fft.rfft(x.reshape(4, 6), axis=1)).ravel(),
    "linalg_solve_const": lambda x: jnp.linalg.solve(jnp.asarray(np.eye(4) * 3 + 1), x[:4]),
    "linalg_solve_traced": lambda x: jnp.linalg.solve(jnp.diag(x[:4] + 5) + 1.0, x[4:8]),
    "linalg_inv_det": lambda x: jnp.linalg.inv(x[:4].reshape(2, 2) + 3 * jnp.eye(2)).ravel() * jnp.linalg.det(x[4:8].reshape(2, 2) + 3 * jnp.eye(2)),
    "qr_eigh": lambda x: jnp.linalg.qr(x[:9].reshape(3, 3))[1].ravel() + jnp.linalg.eigh(x[:9].reshape(3, 3) + x[:9].reshape(3, 3).T)[0].sum(),
    "cg_solve": lambda x: jax.scipy.sparse.linalg.cg(lambda v: 4 * v - jnp.roll(v, 1), x[:6], tol=1e-12)[0],
    "batched_solve": lambda x: jnp.linalg.solve(jnp.eye(3)[None] * 4 + x[:18].reshape(2, 3, 3), x[18:24].reshape(2, 3, 1))[..., 0].ravel(),
    "reduce_precision_bf16": lambda x: x.astype(jnp.bfloat16).astype(jnp.float64) * x,
    "float32_roundtrip": lambda x: (x.astype(jnp.float32) ** 2).astype(jnp.float64),
    "searchsorted_const": lambda x: x[jnp.searchsorted(jnp.arange(5.0), 2.5)] * x,
    "dynamic_index_fori": lambda x: lax.fori_loop(0, N - 1, lambda i, c: c.at[i + 1].add(c[i] * 0.5), x),
    "while_known": lambda x: lax.while_loop(lambda c: c[1] < 4, lambda c: (c[0] * jnp.roll(c[0], 1), c[1] + 1), (x, 0))[0],
    "scan_reverse": lambda x: lax.scan(lambda c, xi: (c + xi, c * xi), 0.0, x[:6], reverse=True)[1],
    "checkpoint_policy": lambda x: jax.checkpoint(lambda y: jnp.sin(y) * y, policy=jax.checkpoint_policies.nothing_saveable)(x),
    "custom_jvp_logsumexp": lambda x: jnp.stack([jax.nn.logsumexp(x[:12]), jax.nn.logsumexp(x[12:])]),
    "ravel_pytree": lambda x: jax.flatten_util.ravel_pytree({"a": x[:3] * 2, "b": x[3:5]})[0],
    "expand_dims_newaxis": lambda x: (x[None, :] * x[:, None])[0:3].ravel(),
    "broadcast_to": lambda x: jnp.broadcast_to(x[:4], (3, 4)).ravel() * 2,
    "squeeze_atleast": lambda x: jnp.squeeze(jnp.atleast_2d(x)) * 2,
    "dot_vec": lambda x: jnp.dot(x[:12], x[12:]) * x,
    "cross": lambda x: jnp.cross(x[:3], x[3:6]),
    "rot90_flip": lambda x: jnp.rot90(x.reshape(4, 6)).ravel() + jnp.fliplr(x.reshape(4, 6)).T.ravel(),
    "triu_indices": lambda x: x[:16].reshape(4, 4)[jnp.triu_indices(4)],
    "split_unequal": lambda x: jnp.split(x, [5, 11])[1] * 2,
    "array_split": lambda x: jnp.array_split(x, 5)[2] * 2,
    "stop_gradient": lambda x: x * lax.stop_gradient(x),
    "int_ops": lambda x: x * (jnp.argmax(x) + jnp.argmin(x)).astype(float),
    "random_noise": lambda x: x + jax.random.normal(jax.random.PRNGKey(0), x.shape),
    "lgamma_pow": lambda x: lax.integer_pow(x, 3) + lax.pow(jnp.abs(x) + 1.0, x),
    "erf_inv_logistic": lambda x: lax.logistic(x) + lax.erf_inv(jnp.tanh(x) * 0.3),
    "rem": lambda x: lax.rem(x, 2.0),
    "iota_mul": lambda x: x * jnp.arange(N),
    "rsqrt": lambda x: lax.rsqrt(x ** 2 + 1),
    "select_n_multi": lambda x: lax.select_n(np.arange(N) % 3, x, x ** 2, x[::-1]),
}

# Value-dependent selections and derivatives (zero on part of the domain), traced indices,
# dense linear algebra: a superset is expected.
SUPERSET = {
    "round_floor": lambda x: x * jnp.round(x) + jnp.floor(x) + jnp.ceil(x) + jnp.trunc(x),
    "clip": lambda x: jnp.clip(x, -1.0, 1.0),
    "clamp": lambda x: lax.clamp(-1.0, x, 1.0),
    "cummax": lambda x: lax.cummax(x[:8]),
    "tril_matmul": lambda x: (jnp.tril(x[:16].reshape(4, 4)) @ x[16:20]),
    "at_min_max": lambda x: x.at[np.array([1, 3])].min(x[5:7]).at[np.array([0])].max(x[8:9]),
    "maximum_minimum": lambda x: jnp.maximum(x, 0.0) + jnp.minimum(x[::-1], x),
    "interp_static_grid": lambda x: jnp.interp(jnp.linspace(0, 1, 5), jnp.linspace(0, 1, N), x),
    "argsort_take": lambda x: x[jnp.argsort(x[:5])] ,
    "reduce_window_max": lambda x: lax.reduce_window(x.reshape(4, 6), -jnp.inf, lax.max, (2, 2), (2, 2), "VALID").ravel(),
    "fft_roundtrip": lambda x: jnp.real(jnp.fft.ifft(jnp.fft.fft(x.reshape(4, 6), axis=1) * 2, axis=1)).ravel(),
    "cholesky": lambda x: jnp.linalg.cholesky(x[:9].reshape(3, 3) @ x[:9].reshape(3, 3).T + 3 * jnp.eye(3)).ravel(),
    "triangular_solve": lambda x: jax.scipy.linalg.solve_triangular(jnp.tril(x[:9].reshape(3, 3)) + 4 * jnp.eye(3), x[9:12], lower=True),
    "top_k": lambda x: lax.top_k(x, 3)[0],
    "cond_traced": lambda x: lax.cond(x[0] > 0, lambda y: y * 2, lambda y: y[::-1], x),
    "sort_multi": lambda x: lax.sort((x[:6], x[6:12]), num_keys=1)[1],
    "dynamic_slice_traced": lambda x: lax.dynamic_slice(x, (jnp.argmax(x[:3]),), (4,)),
    "gather_traced": lambda x: x[jnp.argmax(x)] * x,
    "scan_long_fixed_point": lambda x: lax.scan(lambda c, xi: (c * 0.5 + xi, c), 0.0, jnp.tile(x, 200))[1][:N],
}


def true_pattern(fn, points=3):
    """Union of the nonzeros of `jax.jacfwd` at a few random points (one compiled call)."""
    xs = jax.random.normal(jax.random.PRNGKey(0), (points, N))
    jacs = np.asarray(jax.jit(jax.vmap(jax.jacfwd(fn)))(xs)).reshape(points, -1, N)
    return (jacs != 0).any(axis=0)


def detect(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error", sparsity.SparsityFallbackWarning)
        p = sparsity.jacobian_sparsity(fn, jax.ShapeDtypeStruct((N,), jnp.float64))
    got = np.zeros(p.shape, dtype=bool)
    got[p.rows, p.cols] = True
    return got


@pytest.mark.parametrize("name", sorted(EXACT))
def test_exact(name):
    truth, got = true_pattern(EXACT[name]), detect(EXACT[name])
    assert truth.any()
    assert not (truth & ~got).any(), f"missed {np.argwhere(truth & ~got)[:5].tolist()}"
    assert not (got & ~truth).any(), f"spurious {np.argwhere(got & ~truth)[:5].tolist()}"


@pytest.mark.parametrize("name", sorted(SUPERSET))
def test_superset(name):
    truth, got = true_pattern(SUPERSET[name]), detect(SUPERSET[name])
    assert not (truth & ~got).any(), f"missed {np.argwhere(truth & ~got)[:5].tolist()}"


# Collectives inside `shard_map` bodies (a one-device mesh: the body sees whole arrays).
_MESH = jax.make_mesh((1,), ("i",))


def _sharded(body, **kwargs):
    from jax.sharding import PartitionSpec

    return jax.shard_map(body, mesh=_MESH, in_specs=PartitionSpec(), out_specs=PartitionSpec(), **kwargs)


COLLECTIVES_EXACT = {
    "psum": lambda: _sharded(lambda x: lax.psum(jnp.sin(x), "i") * x[::-1]),
    "pmean": lambda: _sharded(lambda x: lax.pmean(x**2, "i") * x[::-1]),
    "ppermute": lambda: _sharded(lambda x: lax.ppermute(x, "i", [(0, 0)]) * x[::-1], check_vma=False),
    "all_gather_tiled": lambda: _sharded(lambda x: lax.all_gather(x, "i", tiled=True) * 2, check_vma=False),
    "all_gather_stacked": lambda: _sharded(lambda x: lax.all_gather(x[:12], "i")[0] * x[12:], check_vma=False),
}
COLLECTIVES_SUPERSET = {
    "psum_scatter": lambda: _sharded(lambda x: lax.psum_scatter(x, "i", tiled=True) * 2, check_vma=False),
}


@pytest.mark.parametrize("name", sorted(COLLECTIVES_EXACT))
def test_collectives_exact(name):
    fn = COLLECTIVES_EXACT[name]()
    truth, got = true_pattern(fn), detect(fn)
    assert truth.any()
    assert (truth == got).all(), f"missed {np.argwhere(truth & ~got)[:5].tolist()}, spurious {np.argwhere(got & ~truth)[:5].tolist()}"


@pytest.mark.parametrize("name", sorted(COLLECTIVES_SUPERSET))
def test_collectives_superset(name):
    fn = COLLECTIVES_SUPERSET[name]()
    truth, got = true_pattern(fn), detect(fn)
    assert truth.any() and not (truth & ~got).any()


def test_bitcast_keeps_elementwise_dependence():
    # JAX differentiates a bitcast as zero; detection keeps the dependence element by
    # element (same width), per source element (narrower type), per group (wider type).
    same = detect(lambda x: lax.bitcast_convert_type(x, jnp.float64) * 2)
    np.testing.assert_array_equal(same, np.eye(N, dtype=bool))
    narrow = detect(lambda x: lax.bitcast_convert_type(x, jnp.float32).astype(jnp.float64).ravel())
    np.testing.assert_array_equal(narrow, np.repeat(np.eye(N, dtype=bool), 2, axis=0))
    pairs = lambda x: lax.bitcast_convert_type(x.astype(jnp.float32).reshape(N // 2, 2), jnp.float64)  # noqa: E731
    wide = detect(pairs)
    np.testing.assert_array_equal(wide, np.repeat(np.eye(N // 2, dtype=bool), 2, axis=1))


def _ref_whole(x):
    r = jax.new_ref(x)
    r[...] += x[::-1]
    y = r[...]
    r[...] = x**2
    return y + r[...]


def _ref_indexed(x):
    r = jax.new_ref(jnp.zeros_like(x))
    r[...] = jnp.sin(x)
    r[1:] += x[:-1]
    return jax.freeze(r) * 2


def _ref_in_loop(x):
    r = jax.new_ref(x)

    def body(i, c):
        r[...] = r[...] * 2
        return c

    lax.fori_loop(0, 3, body, 0)
    return r[...] + x[::-1]


def _jvp_pattern(fn):
    # `jax.jacfwd` cannot batch functions that create references: one JVP per column.
    x = jax.random.normal(jax.random.PRNGKey(3), (N,))
    cols = [np.asarray(jax.jvp(fn, (x,), (jnp.eye(N)[k],))[1]) != 0 for k in range(N)]
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("fn, exact", [(_ref_whole, True), (_ref_indexed, False), (_ref_in_loop, False)])
def test_mutable_references(fn, exact):
    truth = _jvp_pattern(fn)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", sparsity.SparsityFallbackWarning)
        p = sparsity.jacobian_sparsity(fn, jax.ShapeDtypeStruct((N,), jnp.float64))
    got = np.zeros(p.shape, dtype=bool)
    got[p.rows, p.cols] = True
    assert truth.any() and not (truth & ~got).any(), f"missed {np.argwhere(truth & ~got)[:5].tolist()}"
    if exact:
        assert (got == truth).all()
    # A loop body that writes a reference is assumed dense, with a warning; plain accesses are not.
    assert bool(caught) == (fn is _ref_in_loop)
