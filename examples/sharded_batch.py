"""Scale-out: 16 sparse systems with different values, sharded over 4 (emulated) devices with shard_map;
each device runs the native KLU handler on its local slice of the batch."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np
import scipy.sparse as sp

import nativax
from nativax import klu


def main(small: bool = False) -> float:
    n = 200 if small else 5000
    devices = np.array(jax.devices())
    mesh = jax.sharding.Mesh(devices, ("batch",))
    rng = np.random.default_rng(0)
    a = (sp.random(n, n, density=4 / n, random_state=rng) + sp.diags(np.full(n, 8.0))).tocoo()
    rows, cols = a.row.astype(np.int32), a.col.astype(np.int32)
    batch = 4 * len(devices)
    values = np.stack([a.data * (1 + 0.1 * k) for k in range(batch)])
    b = rng.standard_normal((batch, n))

    solve = jax.jit(nativax.scaleout.shard_batch(jax.vmap(lambda v, bb: klu.solve(rows, cols, v, bb)), mesh, "batch"))
    x = solve(values, b)
    err = max(
        float(np.abs(sp.csr_matrix((values[k], (rows, cols)), shape=(n, n)) @ np.asarray(x[k]) - b[k]).max())
        for k in range(batch)
    )
    print(f"{batch} systems of size {n} on {len(devices)} devices; sharding {x.sharding}; max residual {err:.2e}")
    return err


if __name__ == "__main__":
    main()
