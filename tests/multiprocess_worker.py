"""The worker side of tests/multiprocess.py: one process started by `run_workers` (or by a launcher).

``python tests/multiprocess_worker.py --worker SPEC [ARGS...]`` reads its rank, the number of processes and
the coordinator port from the environment `run_workers` (or ``mpiexec``/``srun``) set, configures JAX and
calls ``jax.distributed.initialize`` on 127.0.0.1, runs the target, and writes its JSON result.
``--spawn N CMD...`` is a minimal stand-in for ``mpiexec -n N CMD`` used by the harness's own tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_RANK_VARS = ("MP_HARNESS_PROCESS_ID", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID")
_SIZE_VARS = ("MP_HARNESS_NUM_PROCESSES", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS")


def _jsonable(x: Any) -> Any:
    import numpy as np

    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "__array__") and not isinstance(x, (str, bytes)):
        a = np.asarray(x)
        if np.iscomplexobj(a):
            return {"re": a.real.tolist(), "im": a.imag.tolist()}
        return a.tolist()
    if isinstance(x, complex):
        return {"re": x.real, "im": x.imag}
    return x


def _env_int(names: Sequence[str]) -> int | None:
    for name in names:
        v = os.environ.get(name)
        if v not in (None, ""):
            return int(v)  # type: ignore[arg-type]
    return None


def write_result(result: Any, *, ok: bool = True, error: str | None = None) -> None:
    """Write this worker's result (a script target calls this; a function target's return value is written
    for it). Values are converted to JSON as described in the module docs."""
    rank = _env_int(_RANK_VARS)
    directory = os.environ.get("MP_HARNESS_RESULT_DIR")
    if rank is None or not directory:
        raise RuntimeError("write_result: not running under tests/multiprocess.py run_workers")
    payload = {"rank": rank, "ok": ok, "result": _jsonable(result), "error": error}
    final = Path(directory) / f"rank{rank}.json"
    part = final.with_suffix(".part")
    part.write_text(json.dumps(payload))
    part.replace(final)  # atomic: the harness never reads half a file


def _init_jax(rank: int, nprocs: int) -> None:
    import jax

    platform = os.environ.get("MP_HARNESS_PLATFORM", "cpu")
    jax.config.update("jax_platforms", platform)
    if platform == "cpu":
        jax.config.update("jax_num_cpu_devices", int(os.environ.get("MP_HARNESS_DEVICES", "1")))
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if os.environ.get("MP_HARNESS_X64", "1") == "1":
        jax.config.update("jax_enable_x64", True)
    addr = f"127.0.0.1:{os.environ['MP_HARNESS_PORT']}"
    jax.distributed.initialize(
        coordinator_address=addr, num_processes=nprocs, process_id=rank, coordinator_bind_address=addr,
        cluster_detection_method="deactivate",
        initialization_timeout=int(float(os.environ.get("MP_HARNESS_TIMEOUT", "120"))),
    )


def _worker_main(spec: str, argv: list[str]) -> int:
    import faulthandler
    import runpy

    rank, nprocs = _env_int(_RANK_VARS), _env_int(_SIZE_VARS)
    if rank is None or nprocs is None:
        print("multiprocess worker: no rank/size in the environment", file=sys.stderr)
        return 2
    os.environ["MP_HARNESS_PROCESS_ID"] = str(rank)  # write_result finds it whatever the launcher
    # A hung worker dumps every thread's stack and exits by itself, even if nobody kills it.
    faulthandler.dump_traceback_later(float(os.environ.get("MP_HARNESS_TIMEOUT", "120")), exit=True)
    t0 = time.monotonic()
    try:
        if os.environ.get("MP_HARNESS_INIT", "1") == "1":
            _init_jax(rank, nprocs)
        path, _, func = spec.partition("::")
        if func:
            sys.path.insert(0, str(Path(path).parent))
            fn = runpy.run_path(path, run_name="nativax_mp_target")[func]
            result = fn(rank, nprocs, **json.loads(os.environ.get("MP_HARNESS_KWARGS", "{}")))
            write_result(result)
        else:
            sys.argv = [path, *argv]
            sys.path.insert(0, str(Path(path).parent))
            runpy.run_path(path, run_name="__main__")
            if not (Path(os.environ["MP_HARNESS_RESULT_DIR"]) / f"rank{rank}.json").exists():
                write_result(None)
    except BaseException:  # noqa: BLE001 (report everything, SystemExit included)
        tb = traceback.format_exc()
        print(tb, file=sys.stderr, flush=True)
        write_result(None, ok=False, error=tb)
        sys.stdout.flush()
        os._exit(1)  # skip jax.distributed's atexit shutdown barrier: the others may never reach it
    _patch_times(rank, time.monotonic() - t0, time.process_time())
    if os.environ.get("MP_HARNESS_INIT", "1") == "1":
        import jax

        # Leave together (a barrier): a process that exits while the others still talk to the coordinator
        # can make them abort. Still under the faulthandler timer, so this cannot hang.
        jax.distributed.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    faulthandler.cancel_dump_traceback_later()
    return 0


def _patch_times(rank: int, seconds: float, cpu_seconds: float) -> None:
    final = Path(os.environ["MP_HARNESS_RESULT_DIR"]) / f"rank{rank}.json"
    data = json.loads(final.read_text())
    data["seconds"] = seconds
    data["cpu_seconds"] = cpu_seconds
    part = final.with_suffix(".part")
    part.write_text(json.dumps(data))
    part.replace(final)


def _spawn_main(n: int, argv: list[str]) -> int:
    """A minimal stand-in for ``mpiexec -n N cmd``: N children with ``PMI_RANK``/``PMI_SIZE`` set; the exit
    status is the first nonzero child's. The harness's own tests use it to exercise the `launcher` path."""
    children = [subprocess.Popen(argv, env={**os.environ, "PMI_RANK": str(i), "PMI_SIZE": str(n)})
                for i in range(n)]
    rcs = [c.wait() for c in children]
    return next((rc for rc in rcs if rc), 0)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--worker":
        sys.exit(_worker_main(sys.argv[2], sys.argv[3:]))
    if len(sys.argv) >= 4 and sys.argv[1] == "--spawn":
        sys.exit(_spawn_main(int(sys.argv[2]), sys.argv[3:]))
    print("usage: run from tests through run_workers(); see the module docstring", file=sys.stderr)
    sys.exit(2)
