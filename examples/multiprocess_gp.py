"""Gaussian-process regression on several processes: one kernel matrix spread over every process's devices.

Run as is, the script launches itself on 2 local processes with 2 CPU devices each (``jax.distributed`` on
127.0.0.1), so one 4-device mesh spans both processes:

    python examples/multiprocess_gp.py           # N = 2048
    python examples/multiprocess_gp.py --small   # N = 64 (what the tests run)

Each process builds only its own rows of the ``N x N`` kernel matrix ``K = k(X, X) + noise^2 I`` (from the
inputs every process holds), then

* fits the kernel hyperparameters by a few gradient steps on the negative log marginal likelihood,
  ``y^T K^{-1} y / 2 + log det K / 2 + N log(2 pi) / 2``, with `nativax.distributed.potrs`
  (``return_logdet=True``: one distributed factorization) differentiated by `jax.value_and_grad`;
* predicts the posterior mean ``k(X*, X) K^{-1} y`` with `lineax.linear_solve` and `DistributedCholesky`.

The mesh is JAX's default `jax.make_mesh` (Explicit axes), so the operator is
`nativax.distributed.ShardedMatrixOperator`. Process 0 compares everything with a one-device ``jnp.linalg``
computation and prints the errors.

On a cluster, start one worker per process yourself (one per GPU) and let JAX find its peers:
``srun -n 8 python examples/multiprocess_gp.py --worker`` (Slurm) or
``mpirun -n 8 python examples/multiprocess_gp.py --worker`` (Open MPI); see docs/scaling-out.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULT_TAG = "MULTIPROCESS_GP_RESULT "


# ----------------------------------------------------------------------------------------------------------------
# launcher: this script, N times, on 127.0.0.1
# ----------------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(procs: int, devices: int, small: bool, timeout: float) -> dict:
    """Start `procs` workers (this file with ``--worker``), wait at most `timeout` seconds, kill them all if
    one fails, and return process 0's result."""
    port = free_port()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1",
               XLA_FLAGS=os.environ.get("XLA_FLAGS", "") + f" --xla_cpu_collective_timeout_seconds={int(timeout)}")
    with tempfile.TemporaryDirectory() as tmp:
        logs = [open(Path(tmp) / f"{i}.log", "w+") for i in range(procs)]
        workers = [
            subprocess.Popen(
                [sys.executable, __file__, "--worker", f"--coordinator=127.0.0.1:{port}", f"--num-processes={procs}",
                 f"--process-id={i}", f"--cpu-devices={devices}", *(["--small"] if small else [])],
                env=env, stdout=logs[i], stderr=subprocess.STDOUT, start_new_session=True)
            for i in range(procs)
        ]
        deadline = time.monotonic() + timeout
        try:
            while any(w.poll() is None for w in workers):
                if time.monotonic() > deadline or any(w.poll() not in (None, 0) for w in workers):
                    break
                time.sleep(0.1)
        finally:
            for w in workers:  # stop whatever still runs (a failed peer leaves the others waiting)
                if w.poll() is None:
                    os.killpg(w.pid, signal.SIGKILL)
                    w.wait()
        outputs = []
        for log in logs:
            log.seek(0)
            outputs.append(log.read())
            log.close()
    if any(w.returncode != 0 for w in workers):
        codes = [w.returncode for w in workers]
        raise RuntimeError(f"workers exited with {codes} (negative: killed)\n" +
                           "\n".join(f"--- process {i}:\n{o[-3000:]}" for i, o in enumerate(outputs)))
    lines = [line for line in outputs[0].splitlines() if line.startswith(RESULT_TAG)]
    if not lines:
        raise RuntimeError(f"process 0 reported no result:\n{outputs[0][-3000:]}")
    return json.loads(lines[-1][len(RESULT_TAG):])


# ----------------------------------------------------------------------------------------------------------------
# worker: one JAX process
# ----------------------------------------------------------------------------------------------------------------


def start_jax(args) -> None:
    import jax

    if args.cpu_devices:  # CPU-only runs (this machine, tests); on GPUs each process drives its own GPU(s)
        jax.config.update("jax_platforms", "cpu")
        jax.config.update("jax_num_cpu_devices", args.cpu_devices)
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.config.update("jax_enable_x64", True)
    if args.coordinator:  # started by `launch`
        jax.distributed.initialize(coordinator_address=args.coordinator, num_processes=args.num_processes,
                                   process_id=args.process_id, coordinator_bind_address=args.coordinator,
                                   cluster_detection_method="deactivate", initialization_timeout=120)
    else:  # started by srun / mpirun: JAX reads the rank, size and coordinator from the environment
        jax.distributed.initialize()


def gp(small: bool, steps: int = 4) -> dict | None:
    import jax
    import jax.numpy as jnp
    import lineax as lx
    import numpy as np
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from nativax import DistributedCholesky, distributed

    n, tile = (64, 8) if small else (2048, 128)
    mesh = jax.make_mesh((jax.device_count(),), ("rows",))  # spans every process's devices

    # the same data on every process (same seed); only the N x N matrix is distributed
    rng = np.random.default_rng(0)
    f = lambda x: np.sin(3 * x[:, 0]) + 0.5 * np.cos(5 * x[:, 1])  # noqa: E731
    x = rng.uniform(-1, 1, (n, 2))
    y = f(x) + 0.05 * rng.standard_normal(n)
    xs = rng.uniform(-1, 1, (100, 2))

    def spanning(host, spec):  # each process supplies only the blocks its own devices hold
        return jax.make_array_from_callback(host.shape, NamedSharding(mesh, spec), lambda idx: host[idx])

    # process-spanning arrays must be passed to jitted functions as arguments (closing over them fails)
    data = {
        "x_rows": spanning(x, P("rows", None)), "ids": spanning(np.arange(n), P("rows")),  # this process's rows
        "y_rows": spanning(y, P("rows")),
        "x": spanning(x, P()), "y": spanning(y, P()), "xs": spanning(xs, P()),  # replicated
    }

    def kernel(x1, x2, log_ell, log_sf):
        d2 = jnp.sum((x1[:, None, :] - x2[None, :, :]) ** 2, axis=-1)
        return jnp.exp(2 * log_sf) * jnp.exp(-0.5 * d2 / jnp.exp(2 * log_ell))

    def gram(theta, d):
        # sharded by rows like d["x_rows"] (Explicit axes propagate it): every device computes only its rows
        noise = jnp.exp(2 * theta[2]) * (d["ids"][:, None] == jnp.arange(n)[None, :])
        return kernel(d["x_rows"], d["x"], theta[0], theta[1]) + noise

    def neg_lml(theta, d):
        alpha, logdet = distributed.potrs(gram(theta, d), d["y"], tile, return_logdet=True)
        return 0.5 * jnp.dot(d["y"], alpha) + 0.5 * logdet + 0.5 * n * jnp.log(2 * jnp.pi)

    @jax.jit
    def posterior_mean(theta, d):
        op = distributed.ShardedMatrixOperator(gram(theta, d), lx.positive_semidefinite_tag)
        alpha = lx.linear_solve(op, d["y_rows"], DistributedCholesky(tile=tile)).value  # sharded like y_rows
        return kernel(d["xs"], d["x"], theta[0], theta[1]) @ jax.sharding.reshard(alpha, NamedSharding(mesh, P()))

    value_and_grad = jax.jit(jax.value_and_grad(neg_lml))
    theta = spanning(np.log([0.3, 1.0, 0.1]), P())
    history = []
    t0 = time.perf_counter()
    for _ in range(steps):
        val, g = value_and_grad(theta, data)
        history.append(float(val))
        theta = theta - 0.3 * g / jnp.maximum(1.0, jnp.linalg.norm(g))
    val, g = value_and_grad(theta, data)
    mean = posterior_mean(theta, data)
    fit_s = time.perf_counter() - t0
    if jax.process_index() != 0:
        return None

    # reference: the same on one local device with jnp.linalg (process 0 only)
    th = np.asarray(theta)  # replicated: every process can read all of it
    with jax.default_device(jax.local_devices()[0]):
        def neg_lml_ref(t):
            k = kernel(jnp.asarray(x), jnp.asarray(x), t[0], t[1]) + jnp.exp(2 * t[2]) * jnp.eye(n)
            sign, logdet = jnp.linalg.slogdet(k)
            return 0.5 * jnp.dot(y, jnp.linalg.solve(k, y)) + 0.5 * logdet + 0.5 * n * jnp.log(2 * jnp.pi)

        val_ref, g_ref = jax.value_and_grad(neg_lml_ref)(jnp.asarray(th))
        k = kernel(jnp.asarray(x), jnp.asarray(x), th[0], th[1]) + np.exp(2 * th[2]) * jnp.eye(n)
        mean_ref = kernel(jnp.asarray(xs), jnp.asarray(x), th[0], th[1]) @ jnp.linalg.solve(k, y)
    mean, g = np.asarray(mean), np.asarray(g)
    out = {
        "n": n, "processes": jax.process_count(), "devices": jax.device_count(),
        "theta": np.exp(th).tolist(), "neg_lml_history": history,
        "lml_err": abs(float(val) - float(val_ref)) / abs(float(val_ref)),
        "grad_err": float(np.linalg.norm(g - g_ref) / np.linalg.norm(g_ref)),
        "mean_err": float(np.linalg.norm(mean - mean_ref) / np.linalg.norm(mean_ref)),
        "test_rmse": float(np.sqrt(np.mean((mean - f(xs)) ** 2))),
        "fit_s": fit_s,
    }
    return out


def report(out: dict) -> None:
    print(f"N={out['n']} on {out['processes']} processes, {out['devices']} devices in all")
    print("negative log marginal likelihood per step:", [round(v, 3) for v in out["neg_lml_history"]])
    print("fitted (lengthscale, signal sd, noise sd):", [round(v, 4) for v in out["theta"]])
    print(f"relative error vs one-device jnp.linalg: -LML {out['lml_err']:.1e}, gradient {out['grad_err']:.1e}, "
          f"posterior mean {out['mean_err']:.1e}")
    print(f"test RMSE vs the noiseless function: {out['test_rmse']:.4f}; fit + predict took {out['fit_s']:.2f} s")


def worker(args) -> None:
    start_jax(args)
    out = gp(args.small)
    if out is not None:
        print(RESULT_TAG + json.dumps(out), flush=True)
    import jax

    jax.distributed.shutdown()  # leave together


def main(small: bool = False, procs: int = 2, devices: int = 2, timeout: float = 600.0) -> dict:
    """Launch the workers on this machine and return process 0's numbers."""
    return launch(procs, devices, small, timeout)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="N = 64 (quick check)")
    parser.add_argument("--procs", type=int, default=2, help="local processes to launch (default 2)")
    parser.add_argument("--worker", action="store_true", help="run one worker (under srun/mpirun, or the launcher)")
    parser.add_argument("--coordinator", help="host:port of process 0 (set by the launcher)")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)
    parser.add_argument("--cpu-devices", type=int, default=None,
                        help="CPU devices per process (launcher default 2; unset: the platform's own devices)")
    args = parser.parse_args()
    if args.worker:
        worker(args)
    else:
        report(main(small=args.small, procs=args.procs, devices=args.cpu_devices or 2))
