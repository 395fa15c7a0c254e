"""Multi-device dense SPD inverse/solve (`nativax.distributed`) vs one-device `jnp.linalg`.

For each N: time, relative error and peak memory per device of

* ``potri``  (distributed inverse) vs ``jnp.linalg.inv`` on one device,
* ``potrs``  (distributed Cholesky solve, 1 right-hand side) vs ``cho_factor``/``cho_solve``.

Peak memory per device is XLA's own buffer assignment of the compiled (SPMD-partitioned,
per-device) program: ``arguments + outputs + temporaries - aliased``, from
``jit(...).lower(...).compile().memory_analysis()`` — i.e. the shapes of the buffers each device
actually allocates. It is reported in MiB and decomposed as ``k * S + e * N*tile`` where
``S = N^2/ndev`` elements is one row shard: ``potri`` with ``donate=True`` holds k = 1 shard
(the input's buffer, updated in place through every phase and returned as the result), without
donation k = 2 (input, and the result buffer the phases work in); ``potrs`` k = 2 (input and
factor).
The measured ``e`` is the panel memory; if it stays constant across N (and across tile counts)
nothing else of size O(N^2/ndev) is allocated, and a gathered whole matrix would add
``(ndev - 1) * N / tile`` units.

Default: 4 emulated CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count=4``, set
here unless XLA_FLAGS already names a device count); on a multi-GPU machine pass ``--gpu``.

    python benchmarks/dense_bench.py --quick            # N = 512, 1024
    python benchmarks/dense_bench.py                    # N = 4096, 8192
    python benchmarks/dense_bench.py --sizes 4096 8192 16384 --tile 256
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

if "--gpu" not in sys.argv and "xla_force_host_platform_device_count" not in os.environ.get(
    "XLA_FLAGS", ""
):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    ).strip()

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from nativax._distributed import factor as F
from nativax._distributed.checks import _resolve

MiB = 2.0**20


def spd_matrix(n: int, dtype, seed: int = 0) -> np.ndarray:
    """Dense, well-conditioned SPD matrix in O(N^2): ``2 I + (R + R^T) / (4 sqrt(N))``.

    The symmetric random part has spectral norm about 1/sqrt(2), so cond(A) is about 2.
    """
    rng = np.random.default_rng(seed)
    r = rng.standard_normal((n, n))
    a = (r + r.T) * (0.25 / np.sqrt(n))
    a[np.diag_indices(n)] += 2.0
    return a.astype(dtype)


def peak_bytes(compiled) -> int:
    ma = compiled.memory_analysis()
    return int(
        ma.argument_size_in_bytes
        + ma.output_size_in_bytes
        + ma.temp_size_in_bytes
        - ma.alias_size_in_bytes
    )


def timed(f, *args, reps: int):
    out = jax.block_until_ready(f(*args))  # warm (compiled already)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        out = jax.block_until_ready(f(*args))
        best = min(best, time.perf_counter() - t0)
    return best, out


def rel(x, ref) -> float:
    x, ref = np.asarray(x), np.asarray(ref)
    return float(np.linalg.norm(x - ref) / np.linalg.norm(ref))


def bench_one(n: int, tile: int, dtype, mesh, reps: int, with_ref: bool) -> dict:
    ndev = mesh.devices.size
    spec = P(mesh.axis_names[0], None)
    a_np = spd_matrix(n, dtype)
    b_np = np.random.default_rng(1).standard_normal((n, 1)).astype(dtype)
    a = jax.device_put(a_np, NamedSharding(mesh, spec))
    b = jnp.asarray(b_np)
    cfg = _resolve(a, tile, mesh, spec, True, "shard_map", "dense_bench")
    itemsize = np.dtype(dtype).itemsize
    shard = n * n // ndev * itemsize
    ntile = n * cfg.layout().tile * itemsize
    row = {"N": n, "ndev": ndev, "tile": cfg.layout().tile, "dtype": np.dtype(dtype).name,
           "shard_MiB": shard / MiB}

    # --- distributed inverse
    t0 = time.perf_counter()
    c_inv = F._potri_jit.lower(a, cfg).compile()
    c_inv_don = F._potri_jit_donated.lower(a, cfg).compile()
    row["potri_compile_s"] = time.perf_counter() - t0
    row["potri_s"], (inv, info) = timed(c_inv, a, reps=reps)
    assert int(info) == 0
    pk, pk_don = peak_bytes(c_inv), peak_bytes(c_inv_don)
    row["potri_peak_MiB"] = pk / MiB
    row["potri_donated_peak_MiB"] = pk_don / MiB
    row["potri_peak_shards"] = pk / shard
    # donated: one shard (input = work = result buffer); else input + work/result buffer
    row["potri_donated_excess_Ntile"] = (pk_don - 1 * shard) / ntile
    row["potri_excess_Ntile"] = (pk - 2 * shard) / ntile

    # --- distributed solve
    c_solve = F._potrs_jit.lower(a, b, cfg, False).compile()
    row["potrs_s"], (x, _, info) = timed(c_solve, a, b, reps=reps)
    assert int(info) == 0
    pk = peak_bytes(c_solve)
    row["potrs_peak_MiB"] = pk / MiB
    row["potrs_excess_Ntile"] = (pk - 2 * shard) / ntile  # input shard + the factor

    # residuals in float64/complex128 on the host
    a64 = a_np.astype(np.complex128 if np.iscomplexobj(a_np) else np.float64)
    inv_h = np.asarray(inv)
    row["potri_residual"] = float(np.linalg.norm(a64 @ inv_h - np.eye(n)) / np.sqrt(n))
    x_h = np.asarray(x)
    row["potrs_residual"] = float(np.linalg.norm(a64 @ x_h - b_np) / np.linalg.norm(b_np))

    if with_ref:
        dev0 = jax.devices()[0]
        a1 = jax.device_put(a_np, dev0)
        b1 = jax.device_put(b_np, dev0)
        ref_inv = jax.jit(jnp.linalg.inv).lower(a1).compile()
        row["ref_inv_s"], inv_ref = timed(ref_inv, a1, reps=reps)
        row["ref_inv_peak_MiB"] = peak_bytes(ref_inv) / MiB

        def cho(m, v):
            return jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(m, lower=True), v)

        ref_solve = jax.jit(cho).lower(a1, b1).compile()
        row["ref_solve_s"], x_ref = timed(ref_solve, a1, b1, reps=reps)
        row["ref_solve_peak_MiB"] = peak_bytes(ref_solve) / MiB
        row["potri_rel_err"] = rel(inv_h, inv_ref)
        row["potrs_rel_err"] = rel(x_h, x_ref)
        row["ref_inv_residual"] = float(
            np.linalg.norm(a64 @ np.asarray(inv_ref) - np.eye(n)) / np.sqrt(n)
        )
    return row


def print_table(rows):
    print()
    print("excess = (peak - k shards) / (N*tile): k = 2 for potri and potrs, 1 for donated potri")
    print("| N | tile | potri s (1-dev inv s) | potri rel err vs inv | ||AX-I||_F/sqrt(N) "
          "(1-dev) | peak/dev MiB: potri, donated (1-dev inv) | shard MiB | excess /(N*tile): "
          "potri, donated | potrs s (1-dev cho_solve s) | potrs rel err | potrs peak/dev MiB "
          "(excess N*tile) |")
    print("|---" * 11 + "|")
    for r in rows:
        print(
            f"| {r['N']} | {r['tile']} | {r['potri_s']:.2f} ({r.get('ref_inv_s', float('nan')):.2f})"
            f" | {r.get('potri_rel_err', float('nan')):.1e}"
            f" | {r['potri_residual']:.1e} ({r.get('ref_inv_residual', float('nan')):.1e})"
            f" | {r['potri_peak_MiB']:.1f}, {r['potri_donated_peak_MiB']:.1f}"
            f" ({r.get('ref_inv_peak_MiB', float('nan')):.1f})"
            f" | {r['shard_MiB']:.1f}"
            f" | {r['potri_excess_Ntile']:.2f}, {r['potri_donated_excess_Ntile']:.2f}"
            f" | {r['potrs_s']:.2f} ({r.get('ref_solve_s', float('nan')):.2f})"
            f" | {r.get('potrs_rel_err', float('nan')):.1e}"
            f" | {r['potrs_peak_MiB']:.1f} ({r['potrs_excess_Ntile']:.2f}) |"
        )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="N = 512, 1024")
    p.add_argument("--sizes", type=int, nargs="*", default=None)
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--dtype", default="float64",
                   choices=["float32", "float64", "complex64", "complex128"])
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--no-ref", action="store_true", help="skip the one-device jnp.linalg runs")
    p.add_argument("--gpu", action="store_true", help="use the real devices (no emulation)")
    p.add_argument("--json", default=None, help="also write the rows to this file")
    args = p.parse_args(argv)
    sizes = args.sizes or ([512, 1024] if args.quick else [4096, 8192])
    tile = min(args.tile, 64) if args.quick and args.tile == 256 else args.tile
    mesh = Mesh(np.array(jax.devices()), ("rows",))
    print(f"{mesh.devices.size} x {jax.devices()[0].device_kind} ({jax.devices()[0].platform}), "
          f"dtype {args.dtype}, tile {tile}; host cores: {os.cpu_count()}")
    rows = []
    for n in sizes:
        t0 = time.perf_counter()
        row = bench_one(n, tile, np.dtype(args.dtype).type, mesh, args.reps, not args.no_ref)
        rows.append(row)
        print(f"N={n}: done in {time.perf_counter() - t0:.0f} s: "
              + json.dumps({k: (round(v, 4) if isinstance(v, float) and abs(v) > 1e-3 else v)
                            for k, v in row.items()}), flush=True)
    print_table(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
