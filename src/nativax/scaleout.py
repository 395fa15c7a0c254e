"""Scale-out of batched sparse solves: shard the batch axis across devices (and hosts, under
`jax.distributed`) with `jax.shard_map`; every shard calls the native handler on its local slice.

XLA cannot partition a custom call by itself (it would gather the batch onto one device), so batched native
solves are wrapped explicitly."""

from collections.abc import Callable
from typing import Any

import jax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P


def shard_batch(fn: Callable[..., Any], mesh: Mesh, axis: str, *, batched: tuple[bool, ...] | None = None) -> Callable[..., Any]:
    """Return `fn` applied to shards of the leading (batch) axis of its arguments over `mesh[axis]`.

    `fn` must act independently on each batch element (e.g. `jax.vmap` of a `nativax.klu.solve`). `batched`
    says which positional arguments carry the batch axis (default: all); the others are replicated. Outputs
    are sharded along their leading axis. Works under `jit` and on multi-host meshes.
    """
    if not isinstance(mesh, Mesh):
        raise TypeError(f"shard_batch: `mesh` must be a jax.sharding.Mesh, got {type(mesh).__name__}")
    if axis not in mesh.axis_names:
        raise ValueError(f"shard_batch: `axis` {axis!r} is not an axis of the mesh {mesh.axis_names}")

    def wrapped(*args):
        flags = batched if batched is not None else (True,) * len(args)
        if len(flags) != len(args):
            raise ValueError(f"shard_batch: `batched` has {len(flags)} entries for {len(args)} arguments")
        size = mesh.shape[axis]
        for i, (a, f) in enumerate(zip(args, flags)):
            if f and (jax.numpy.ndim(a) == 0 or jax.numpy.shape(a)[0] % size):
                raise ValueError(
                    f"shard_batch: argument {i} has leading dimension {jax.numpy.shape(a)[:1]}, which must be a "
                    f"multiple of the {size} devices on mesh axis {axis!r}"
                )
        specs = tuple(P(axis) if f else P() for f in flags)
        args = tuple(jax.device_put(a, NamedSharding(mesh, s)) if not isinstance(a, jax.core.Tracer) else a
                     for a, s in zip(args, specs))
        return jax.shard_map(fn, mesh=mesh, in_specs=specs, out_specs=P(axis), check_vma=False)(*args)

    return wrapped
