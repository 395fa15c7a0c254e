"""AC analysis of an RLC mesh network in complex128 with KLU, and gradients wrt every component value.

The network is an nx x ny mesh of nodes. Neighbouring nodes are joined by a series R-L branch, every node has a
capacitor C to ground, a source (voltage Vs behind Rs, as its Norton equivalent) drives one corner and a load
resistor RL sits on the opposite corner. Nodal analysis gives, at angular frequency w, the complex sparse system

    Y(w) V = I,   Y = sum_branches 1/(R + jwL) (e_a - e_b)(e_a - e_b)^T + diag(jwC) + 1/Rs e_s e_s^T + 1/RL e_o e_o^T.

The objective is the mean load power over a band of frequencies, P = mean_w |V_out(w)|^2 / RL. All frequencies
are solved by one vmapped `lx.linear_solve(..., solver=nativax.KLU())` (a batch of complex factorizations in one
native call), and `jax.grad` gives dP/dR, dP/dL, dP/dC for every branch and node, checked here against central
finite differences. The forward solution is checked against `scipy.sparse.linalg.spsolve`.

Run:  python examples/ac_circuit.py [--small]
"""

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import lineax as lx  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

import nativax  # noqa: E402

VS, RS, RL = 1.0, 50.0, 50.0  # source amplitude (V), source and load resistance (ohm)


class MeshCircuit:
    """Topology (static) of the RLC mesh; `admittance(params, w)` builds Y(w) as a complex SparseOperator."""

    def __init__(self, nx: int, ny: int):
        self.n = nx * ny
        node = np.arange(self.n).reshape(nx, ny)
        a = np.concatenate([node[:-1, :].ravel(), node[:, :-1].ravel()])
        b = np.concatenate([node[1:, :].ravel(), node[:, 1:].ravel()])
        self.branch_a, self.branch_b = a, b
        self.n_branches = a.size
        self.source, self.out = 0, self.n - 1
        nodes = np.arange(self.n)
        rows = np.concatenate([a, b, a, b, nodes, [self.source, self.out]])
        cols = np.concatenate([a, b, b, a, nodes, [self.source, self.out]])
        self.pattern, self.where = nativax.SparsityPattern.from_coo(rows, cols, (self.n, self.n))
        self.rhs = jnp.zeros(self.n, jnp.complex128).at[self.source].set(VS / RS)

    def admittance(self, params: dict, w) -> nativax.SparseOperator:
        y = 1.0 / (params["R"] + 1j * w * params["L"])  # series branch admittances
        triplets = jnp.concatenate([y, y, -y, -y, 1j * w * params["C"], jnp.array([1 / RS, 1 / RL], jnp.complex128)])
        values = jnp.zeros(self.pattern.nnz, jnp.complex128).at[self.where].add(triplets)
        return nativax.SparseOperator(values, self.pattern, lx.symmetric_tag)  # complex symmetric (not Hermitian)

    def v_out(self, params: dict, w):
        op = self.admittance(params, w)
        return lx.linear_solve(op, self.rhs, solver=nativax.KLU()).value[self.out]


def main(small: bool = False, seed: int = 0) -> dict:
    nx, ny, n_freq = (8, 8, 4) if small else (100, 100, 16)
    circuit = MeshCircuit(nx, ny)
    rng = np.random.default_rng(seed)
    jitter = lambda size: 1.0 + 0.2 * (rng.random(size) - 0.5)  # noqa: E731  (+-10 % component tolerance)
    params = {
        "R": jnp.asarray(0.5 * jitter(circuit.n_branches)),  # ohm
        "L": jnp.asarray(1e-6 * jitter(circuit.n_branches)),  # henry
        "C": jnp.asarray(1e-9 * jitter(circuit.n)),  # farad
    }
    w0 = 1.0 / np.sqrt(1e-6 * 1e-9)  # single-cell resonance (rad/s)
    freqs = jnp.asarray(np.linspace(0.02, 0.3, n_freq) * w0)
    print(f"RLC mesh {nx} x {ny}: {circuit.n} nodes, {circuit.n_branches} R-L branches, {circuit.n} capacitors, "
          f"nnz(Y) = {circuit.pattern.nnz}, complex128, {n_freq} frequencies")

    @jax.jit
    def response(p):
        return jax.vmap(lambda w: circuit.v_out(p, w))(freqs)

    @jax.jit
    def power(p):  # mean load power over the band (W)
        return jnp.mean(jnp.abs(response(p)) ** 2) / RL

    # Forward check against scipy at the middle frequency.
    k = n_freq // 2
    Y = circuit.admittance(params, freqs[k])
    x_klu = lx.linear_solve(Y, circuit.rhs, solver=nativax.KLU()).value
    x_ref = spla.spsolve(Y.to_scipy().tocsc(), np.asarray(circuit.rhs))
    forward_err = float(np.max(np.abs(np.asarray(x_klu) - x_ref)) / np.max(np.abs(x_ref)))
    print(f"solution vs scipy spsolve at w = {float(freqs[k]):.3e} rad/s: relative error {forward_err:.1e}")

    v = response(params)
    for w, vo in zip(np.asarray(freqs), np.asarray(v)):
        print(f"  w = {w:.3e} rad/s   |V_out| = {abs(vo):.4e} V   phase {np.degrees(np.angle(vo)):8.2f} deg")

    grad_fn = jax.jit(jax.value_and_grad(power))
    jax.block_until_ready(grad_fn({name: 1.01 * val for name, val in params.items()}))  # compile
    t0 = time.perf_counter()  # timed on new values: factorizations are not in the cache yet
    p_val, grads = jax.block_until_ready(grad_fn(params))
    t_grad = time.perf_counter() - t0
    print(f"P = {float(p_val):.6e} W; value_and_grad over {n_freq} complex solves + adjoints: {1e3 * t_grad:.1f} ms")

    # Finite-difference check: the 3 most sensitive components of each kind, and a random direction.
    checks = []
    for name in ("R", "L", "C"):
        for i in np.argsort(-np.abs(np.asarray(grads[name])))[:3]:
            h = 1e-4 * float(params[name][i])
            plus = {**params, name: params[name].at[i].add(h)}
            minus = {**params, name: params[name].at[i].add(-h)}
            fd = float(power(plus) - power(minus)) / (2 * h)
            ad = float(grads[name][i])
            checks.append(abs(ad - fd) / abs(fd))
            print(f"  dP/d{name}[{i:5d}] = {ad: .8e}   finite difference {fd: .8e}   rel. error {checks[-1]:.1e}")
    direction = {name: jnp.asarray(rng.standard_normal(val.shape)) * val for name, val in params.items()}
    eps = 1e-4
    step = lambda s: {name: params[name] + s * eps * direction[name] for name in params}  # noqa: E731
    fd_dir = float(power(step(1.0)) - power(step(-1.0))) / (2 * eps)
    ad_dir = float(sum(jnp.vdot(grads[name], direction[name]) for name in params))
    checks.append(abs(ad_dir - fd_dir) / abs(fd_dir))
    print(f"  random direction (all {2 * circuit.n_branches + circuit.n} components): autodiff {ad_dir: .8e}   "
          f"finite difference {fd_dir: .8e}   rel. error {checks[-1]:.1e}")
    grad_err = max(checks)
    print(f"max relative gradient error {grad_err:.1e}")
    print("KLU cache:", nativax.cache_info()["klu"]["numeric"])
    return {"power": float(p_val), "forward_err": forward_err, "grad_err": grad_err, "v_out": np.asarray(v),
            "grad_ms": 1e3 * t_grad}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="8 x 8 mesh, 4 frequencies (used by the tests)")
    main(small=parser.parse_args().small)
