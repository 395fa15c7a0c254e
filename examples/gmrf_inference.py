"""Fit the hyperparameters of a Gaussian Markov random field (Matérn SPDE prior) to noisy point observations by
maximising the marginal likelihood with `jax.grad`, then report posterior marginal variances and draw posterior
samples - all through one sparse Cholesky per evaluation (CHOLMOD), never a dense covariance.

Model on an m x m grid (n = m^2 nodes, spacing 1): the latent field x has precision
Q(theta) = tau^2 (kappa^2 I + L)^2 (L the 5-point Laplacian; the finite-difference Matérn SPDE with alpha = 2,
range ~ sqrt(8) / kappa, marginal variance ~ 1 / (4 pi kappa^2 tau^2)), and y = x[obs] + noise, noise ~ N(0,
s^2 I). With b = A^T y / s^2 and the posterior precision Q_post = Q + A^T A / s^2 (same pattern: A^T A is
diagonal),

    log p(y | theta) = 1/2 log|Q| - 1/2 log|Q_post| - n_obs/2 log(2 pi s^2) - 1/2 (y^T y / s^2 - b^T Q_post^{-1} b).

`nativax.logdet` differentiates through supernodal selected inversion, the solve through CHOLMOD's cached
factorization; Adam on (log kappa, log tau) is written out inline. Afterwards:
`nativax.gaussian.marginal_variances(Q_post)` gives posterior variances and `nativax.gaussian.sample` posterior
draws (mean Q_post^{-1} b, precision Q_post).

Run:  python examples/gmrf_inference.py [--small]
"""

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import lineax as lx  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

import nativax  # noqa: E402
from nativax import gaussian as G  # noqa: E402


class GMRF:
    """The pattern of Q is built once (numpy); `values(theta)` only forms its entries, in JAX (traceable)."""

    def __init__(self, m: int, n_obs: int, noise: float, seed: int):
        t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
        e = sp.eye(m)
        lap = (sp.kron(t, e) + sp.kron(e, t)).tocsr()
        eye = sp.eye(m * m, format="csr")
        pattern_mat = (lap @ lap + lap + eye).tocsr()  # the union pattern
        self.op0 = nativax.SparseOperator.from_scipy(pattern_mat)
        pat = self.op0.pattern
        self.pattern, self.n = pat, m * m

        def on_pattern(a):
            a = sp.csr_matrix(a)
            return np.asarray(a[pat.rows, pat.cols]).ravel()

        self.v_eye, self.v_lap, self.v_lap2 = on_pattern(eye), on_pattern(lap), on_pattern(lap @ lap)
        rng = np.random.default_rng(seed)
        self.obs = np.sort(rng.choice(self.n, n_obs, replace=False))
        diag_slot = np.full(self.n, -1)
        on_diag = pat.rows == pat.cols
        diag_slot[pat.rows[on_diag]] = np.flatnonzero(on_diag)
        self.v_obs = np.zeros(pat.nnz)
        self.v_obs[diag_slot[self.obs]] = 1.0
        self.noise = noise

    def values(self, theta):
        """Q(theta)'s entries on the pattern; theta = (log kappa, log tau)."""
        k2, t2 = jnp.exp(2 * theta[0]), jnp.exp(2 * theta[1])
        return t2 * (k2 * k2 * self.v_eye + 2 * k2 * self.v_lap + self.v_lap2)

    def posterior(self, theta, y):
        """(Q_post values, b) for observations y."""
        b = jnp.zeros(self.n).at[self.obs].set(y / self.noise**2)
        return self.values(theta) + self.v_obs / self.noise**2, b

    def log_marginal(self, theta, y):
        q = nativax.SparseOperator(self.values(theta), self.pattern)
        vpost, b = self.posterior(theta, y)
        qpost = nativax.SparseOperator(vpost, self.pattern)
        mu = lx.linear_solve(qpost, b, solver=nativax.CHOLMOD()).value
        s2 = self.noise**2
        return 0.5 * (nativax.logdet(q) - nativax.logdet(qpost) - len(self.obs) * jnp.log(2 * jnp.pi * s2)
                      - (y @ y / s2 - b @ mu))

    def dense_log_marginal(self, theta, y) -> float:
        """The same by the dense covariance A Q^{-1} A^T + s^2 I (numpy; small sizes only)."""
        q = np.zeros((self.n, self.n))
        q[self.pattern.rows, self.pattern.cols] = np.asarray(self.values(jnp.asarray(theta)))
        cov = np.linalg.inv(q)[np.ix_(self.obs, self.obs)] + self.noise**2 * np.eye(len(self.obs))
        _, ld = np.linalg.slogdet(cov)
        return float(-0.5 * (ld + y @ np.linalg.solve(cov, y) + len(self.obs) * np.log(2 * np.pi)))


def main(small: bool = False) -> dict:
    m, n_obs, steps = (12, 60, 60) if small else (100, 3000, 80)
    kappa, tau_var1 = 0.5, 1.0
    theta_true = np.array([np.log(kappa), np.log(tau_var1 / (np.sqrt(4 * np.pi) * kappa))])
    model = GMRF(m, n_obs, noise=0.1, seed=0)
    # Truth: x ~ N(0, Q(theta_true)^{-1}) by nativax.gaussian.sample, observed with noise.
    q_true = nativax.SparseOperator(model.values(jnp.asarray(theta_true)), model.pattern)
    key_x, key_e, key_post = jax.random.split(jax.random.PRNGKey(1), 3)
    x_true = G.sample(q_true, key_x)
    y = x_true[model.obs] + model.noise * jax.random.normal(key_e, (n_obs,))

    nll = jax.jit(jax.value_and_grad(lambda th: -model.log_marginal(th, y)))
    theta = jnp.array([np.log(0.2), np.log(1.0)])
    mom, vel = jnp.zeros(2), jnp.zeros(2)
    lr, b1, b2 = 0.1, 0.9, 0.999
    history = []
    t0 = time.perf_counter()
    for k in range(1, steps + 1):
        val, g = nll(theta)
        history.append(float(val))
        mom = b1 * mom + (1 - b1) * g
        vel = b2 * vel + (1 - b2) * g * g
        theta = theta - lr * (mom / (1 - b1**k)) / (jnp.sqrt(vel / (1 - b2**k)) + 1e-8)
    fit_time = time.perf_counter() - t0
    final = float(nll(theta)[0])

    vpost, b = model.posterior(theta, y)
    qpost = nativax.SparseOperator(vpost, model.pattern)
    mean = lx.linear_solve(qpost, b, solver=nativax.CHOLMOD()).value
    variances = G.marginal_variances(qpost)
    draws = G.sample(qpost, key_post, (200,), mean=mean)
    out = {
        "theta_true": theta_true, "theta_fit": np.asarray(theta), "nll_initial": history[0], "nll_final": final,
        "fit_seconds": fit_time, "posterior_sd_mean": float(jnp.mean(jnp.sqrt(variances))),
        "rmse_posterior_mean": float(jnp.sqrt(jnp.mean((mean - x_true) ** 2))),
        "coverage_2sd": float(jnp.mean(jnp.abs(mean - x_true) < 2 * jnp.sqrt(variances))),
        "sample_mean_err": float(jnp.max(jnp.abs(draws.mean(0) - mean) / jnp.sqrt(variances))),
    }
    print(f"n = {model.n:,} nodes, {n_obs} observations; fitted in {steps} Adam steps ({fit_time:.2f} s)")
    print(f"-log p(y): {history[0]:.3f} -> {final:.3f}")
    print(f"(kappa, tau): true {np.exp(theta_true).round(3)}, fitted {np.exp(np.asarray(theta)).round(3)}")
    print(f"posterior mean RMSE {out['rmse_posterior_mean']:.3f}; mean posterior sd {out['posterior_sd_mean']:.3f}; "
          f"truth within 2 sd: {100 * out['coverage_2sd']:.1f}%")
    if small:  # dense numpy references
        th = np.asarray(theta)
        ref = model.dense_log_marginal(th, np.asarray(y))
        out["loglik_err"] = abs(-final - ref) / abs(ref)
        eps = 1e-6
        fd = np.array([(model.dense_log_marginal(th + eps * e, np.asarray(y))
                        - model.dense_log_marginal(th - eps * e, np.asarray(y))) / (2 * eps) for e in np.eye(2)])
        g = -np.asarray(nll(theta)[1])
        out["grad_err"] = float(np.max(np.abs(g - fd)) / max(np.max(np.abs(fd)), 1e-3))
        qd = np.zeros((model.n, model.n))
        qd[model.pattern.rows, model.pattern.cols] = np.asarray(vpost)
        cov = np.linalg.inv(qd)
        out["variance_err"] = float(np.max(np.abs(np.asarray(variances) - np.diag(cov)) / np.diag(cov)))
        out["mean_err"] = float(np.max(np.abs(np.asarray(mean) - cov @ np.asarray(b))))
        print(f"vs dense numpy: log-likelihood rel. err {out['loglik_err']:.1e}, gradient rel. err "
              f"{out['grad_err']:.1e}, marginal variances rel. err {out['variance_err']:.1e}")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="a 12 x 12 grid, checked against dense numpy")
    main(small=ap.parse_args().small)
