"""Gaussian-process regression with the kernel matrix sharded over several devices.

The ``N x N`` kernel matrix ``K = k(X, X) + noise^2 I`` is built row-sharded (each device builds
only its rows) and factored with the multi-device Cholesky of `nativax.distributed`:

* posterior mean at test points: ``k(X*, X) K^{-1} y`` via ``lineax.linear_solve`` with
  `DistributedCholesky`;
* log marginal likelihood ``-y^T K^{-1} y / 2 - log det K / 2 - N log(2 pi) / 2`` via `potrs`
  (``return_logdet=True``, one factorization), and its gradient wrt the kernel hyperparameters,
  used for a few steps of gradient ascent.

Everything is compared with single-device ``jnp.linalg``. Run on 4 emulated CPU devices:

    python examples/gp_distributed.py           # N = 2048
    python examples/gp_distributed.py --small   # N = 128 (what the tests run)

(The script sets ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` itself when JAX has not
started yet; on a machine with several GPUs it uses them instead.)
"""

from __future__ import annotations

import os
import sys
import time

if "jax" not in sys.modules and "xla_force_host_platform_device_count" not in os.environ.get(
    "XLA_FLAGS", ""
):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    ).strip()

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp
import lineax as lx
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from nativax import DistributedCholesky, distributed


def kernel(x1, x2, log_ell, log_sf):
    """Squared-exponential kernel ``sf^2 exp(-|x1 - x2|^2 / (2 ell^2))``."""
    d2 = jnp.sum((x1[:, None, :] - x2[None, :, :]) ** 2, axis=-1)
    return jnp.exp(2 * log_sf) * jnp.exp(-0.5 * d2 / jnp.exp(2 * log_ell))


def gram(x, theta, mesh):
    """``K + noise^2 I``, built row-sharded: each device computes only its rows."""
    log_ell, log_sf, log_sn = theta
    k = kernel(x, x, log_ell, log_sf) + jnp.exp(2 * log_sn) * jnp.eye(x.shape[0])
    return jax.lax.with_sharding_constraint(k, NamedSharding(mesh, P("rows", None)))


def neg_lml(theta, x, y, mesh, tile):
    """Negative log marginal likelihood (distributed potrs + log-determinant)."""
    alpha, logdet = distributed.potrs(gram(x, theta, mesh), y, tile, mesh, P("rows", None),
                                      return_logdet=True)
    n = y.shape[0]
    return 0.5 * jnp.dot(y, alpha) + 0.5 * logdet + 0.5 * n * jnp.log(2 * jnp.pi)


def neg_lml_ref(theta, x, y):
    log_ell, log_sf, log_sn = theta
    k = kernel(x, x, log_ell, log_sf) + jnp.exp(2 * log_sn) * jnp.eye(x.shape[0])
    c = jax.scipy.linalg.cho_factor(k, lower=True)
    alpha = jax.scipy.linalg.cho_solve(c, y)
    logdet = 2 * jnp.sum(jnp.log(jnp.diag(c[0])))
    return 0.5 * jnp.dot(y, alpha) + 0.5 * logdet + 0.5 * y.shape[0] * jnp.log(2 * jnp.pi)


def posterior_mean(theta, x, y, xs, mesh, tile):
    solver = DistributedCholesky(mesh=mesh, in_specs=P("rows", None), tile=tile)
    op = lx.MatrixLinearOperator(gram(x, theta, mesh), lx.positive_semidefinite_tag)
    alpha = lx.linear_solve(op, y, solver).value
    return kernel(xs, x, theta[0], theta[1]) @ alpha


def main(small: bool = False, steps: int = 5, verbose: bool = False):
    n, tile = (128, 32) if small else (2048, 128)
    mesh = Mesh(np.array(jax.devices()), ("rows",))
    rng = np.random.default_rng(0)
    f = lambda x: np.sin(3 * x[:, 0]) + 0.5 * np.cos(5 * x[:, 1])  # noqa: E731
    x = rng.uniform(-1, 1, (n, 2))
    y = f(x) + 0.05 * rng.standard_normal(n)
    xs = rng.uniform(-1, 1, (200, 2))
    x, y, xs = jnp.asarray(x), jnp.asarray(y), jnp.asarray(xs)

    # fit the hyperparameters by a few steps of gradient descent on the negative LML
    theta = jnp.log(jnp.asarray([0.3, 1.0, 0.1]))
    value_and_grad = jax.jit(jax.value_and_grad(lambda t: neg_lml(t, x, y, mesh, tile)))
    t0 = time.perf_counter()
    history = []
    for _ in range(steps):
        val, g = value_and_grad(theta)
        history.append(float(val))
        theta = theta - 0.5 * g / max(1.0, float(jnp.linalg.norm(g)))
    fit_s = time.perf_counter() - t0

    val, g = value_and_grad(theta)
    val_ref, g_ref = jax.value_and_grad(lambda t: neg_lml_ref(t, x, y))(theta)
    mean = jax.jit(lambda t: posterior_mean(t, x, y, xs, mesh, tile))(theta)
    k_ref = kernel(x, x, theta[0], theta[1]) + jnp.exp(2 * theta[2]) * jnp.eye(n)
    mean_ref = kernel(xs, x, theta[0], theta[1]) @ jnp.linalg.solve(k_ref, y)

    out = {
        "n": n,
        "ndev": len(mesh.devices.flat),
        "theta": np.exp(np.asarray(theta)),
        "neg_lml_history": history,
        "lml_err": abs(float(val) - float(val_ref)) / abs(float(val_ref)),
        "grad_err": float(jnp.linalg.norm(g - g_ref) / jnp.linalg.norm(g_ref)),
        "mean_err": float(jnp.linalg.norm(mean - mean_ref) / jnp.linalg.norm(mean_ref)),
        "test_rmse": float(jnp.sqrt(jnp.mean((mean - f(np.asarray(xs))) ** 2))),
        "fit_s": fit_s,
    }
    if verbose:
        print(f"N={n} on {out['ndev']} devices ({jax.devices()[0].platform}), tile={tile}")
        print("negative log marginal likelihood per step:", np.round(history, 3))
        print("fitted (lengthscale, signal sd, noise sd):", np.round(out["theta"], 4))
        print(f"relative error vs jnp.linalg: -LML {out['lml_err']:.1e}, gradient "
              f"{out['grad_err']:.1e}, posterior mean {out['mean_err']:.1e}")
        print(f"test RMSE vs the noiseless function: {out['test_rmse']:.4f}; "
              f"{steps} fit steps took {fit_s:.2f} s")
    return out


if __name__ == "__main__":
    main(small="--small" in sys.argv, verbose=True)
