"""Run JAX programs on several local processes (``jax.distributed`` on 127.0.0.1) from pytest.

One call, `run_workers`, starts ``n_procs`` worker processes on this machine, each a fresh Python that
configures JAX (CPU platform, ``devices_per_proc`` devices, gloo collectives), joins the others through
``jax.distributed.initialize`` on a free 127.0.0.1 port, runs the target, and writes **one JSON result**.
The harness bounds everything in time and kills every process it started when one fails or time runs out,
so a broken collective can never hang the test suite.

    from multiprocess import run_workers

    def check(rank, nprocs, n=64):            # a module-level function of a test or worker file
        import jax
        return {"devices": jax.device_count(), "n": n}

    results = run_workers(check, n_procs=2, devices_per_proc=2, timeout=60, kwargs={"n": 32})
    assert [r["result"]["devices"] for r in results] == [4, 4]

The target is one of

* a module-level function (or ``"path/to/file.py::function"``): called in every worker after
  ``jax.distributed.initialize`` as ``fn(rank, nprocs, **kwargs)``; its return value (a dict of
  JSON-serialisable values; numpy arrays and scalars are converted, complex numbers become
  ``{"re": ..., "im": ...}``) is the worker's result;
* a script path (``"path/to/script.py"``): run as ``__main__`` with ``sys.argv = [script, *args]``
  after ``jax.distributed.initialize``; it reports through `write_result` (else its result is ``None``).

Every worker's result dict has: ``rank``, ``ok`` (the target returned without raising and the process
exited with 0), ``result``, ``error`` (a traceback, or why the harness killed it), ``returncode``,
``timed_out``, ``killed``, ``seconds`` (the target's wall time) and ``cpu_seconds`` (the process's CPU time,
start-up included), ``stdout`` and ``stderr`` (their last 4000 characters).

**Launchers.** By default the harness starts the workers itself (one ``Popen`` each, each in its own
session so its whole process group can be killed). ``launcher=["mpiexec", ..., "-n", "{n}"]`` (or a
callable ``n -> argv``; `mpiexec_launcher` gives Open MPI's loopback-only command line, with `MPI_ENV`)
starts them with one command instead; each worker then takes its rank from the
launcher's environment (``OMPI_COMM_WORLD_RANK``, ``PMI_RANK``, ``PMIX_RANK``, ``SLURM_PROCID``) and the
coordinator port from ``MP_HARNESS_PORT``, which the harness sets. Worker set-up (``jax.distributed``)
can be turned off with ``init_jax=False`` for targets that set up their own communication.

The worker side (JAX set-up, running the target, writing the result) is `tests/multiprocess_worker.py`.

Only loopback is used: the coordinator binds and connects on 127.0.0.1, and `run_workers` skips the test
(`require_loopback`) when this machine's hostname does not resolve to a 127.x address, because gloo picks
its address from the hostname.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from multiprocess_worker import write_result  # re-exported: script targets report with it

__all__ = [
    "MPI_ENV",
    "MultiprocessError",
    "assert_all_ok",
    "free_port",
    "mpiexec_launcher",
    "require_loopback",
    "run_workers",
    "worker_env",
    "write_result",
]

HERE = Path(__file__).resolve()
TAIL = 4000
WORKER = HERE.parent / "multiprocess_worker.py"


class MultiprocessError(AssertionError):
    """Raised by `run_workers(check=True)` when a worker failed, crashed or timed out (message: every rank's
    error and output tails)."""


# --------------------------------------------------------------------------------------------------------------
# harness side
# --------------------------------------------------------------------------------------------------------------


def loopback_address() -> str:
    """The address this machine's hostname resolves to (what gloo will use)."""
    return socket.gethostbyname(socket.gethostname())


def require_loopback() -> None:
    """Skip the calling test unless the hostname resolves to a loopback address (gloo would otherwise try to
    use a real network interface, which these tests must never do)."""
    try:
        addr = loopback_address()
    except OSError as e:  # unresolvable hostname
        addr = f"unresolvable ({e})"
    if not addr.startswith("127."):
        import pytest

        pytest.skip(
            f"multi-process tests need the hostname {socket.gethostname()!r} to resolve to 127.x (gloo binds to "
            f"the hostname's address), but it resolves to {addr}"
        )


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_env(
    env: Mapping[str, str] | None = None, *, collective_timeout: float = 300.0
) -> dict[str, str]:
    """The environment for worker processes: the caller's, plus one BLAS thread per process (the workers share
    the cores), XLA's CPU collective timeouts raised to `collective_timeout` seconds (processes that compile at
    different speeds must not give up at the default rendezvous timeout), ``tests`` importable (the workers run
    this interpreter, so they import the same installed nativax), any ``--xla_force_host_platform_device_count``
    removed (the device count is set per worker), and `env` on top (its ``XLA_FLAGS`` are appended to these)."""
    out = dict(os.environ)
    extra = dict(env or {})
    flags = out.get("XLA_FLAGS", "") + " " + extra.pop("XLA_FLAGS", "")
    flags = re.sub(r"--xla_force_host_platform_device_count=\S*", "", flags)
    secs = int(math.ceil(collective_timeout))
    flags += (
        f" --xla_cpu_collective_call_terminate_timeout_seconds={secs}"
        f" --xla_cpu_collective_timeout_seconds={secs}"
    )
    out["XLA_FLAGS"] = " ".join(flags.split())
    out["OPENBLAS_NUM_THREADS"] = "1"
    out["OMP_NUM_THREADS"] = "1"
    out.pop("JAX_PLATFORMS", None)
    out["PYTHONPATH"] = os.pathsep.join([str(HERE.parent)] + [p for p in [out.get("PYTHONPATH", "")] if p])
    out.update(extra)
    return out


def mpiexec_launcher(*extra: str, mpiexec: str = "mpiexec") -> list[str]:
    """An Open MPI ``mpiexec`` argv prefix for `run_workers(launcher=...)` that stays on loopback and works as
    root on this machine kind (shared-memory + self transports only, out-of-band traffic on ``lo``, no
    binding, oversubscription allowed); `extra` options go before ``-n``. Pass `MPI_ENV` in ``env=`` too."""
    return [
        mpiexec, "--oversubscribe", "--bind-to", "none",
        "--mca", "btl", "self,vader", "--mca", "btl_vader_single_copy_mechanism", "none",
        "--mca", "oob_tcp_if_include", "lo", "--mca", "pml", "ob1", "--mca", "mtl", "^psm,ofi",
        *extra, "-n", "{n}",
    ]


MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
"""Environment `mpiexec_launcher` needs when the tests run as root (CI containers)."""


def _target_spec(target: str | os.PathLike | Callable[..., Any]) -> str:
    if callable(target):
        code = getattr(target, "__code__", None)
        qualname = getattr(target, "__qualname__", "")
        if code is None or "<" in qualname or "." in qualname:
            raise TypeError(
                f"run_workers: `target` must be a module-level function (or a script path), got {target!r}"
            )
        return f"{Path(code.co_filename).resolve()}::{qualname}"
    spec = os.fspath(target)
    path = spec.split("::", 1)[0]
    if not Path(path).is_file():
        raise FileNotFoundError(f"run_workers: `target` file {path!r} does not exist")
    return spec


def _tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-TAIL:]


def _kill_group(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """SIGTERM the process's whole group (it leads its own session), then SIGKILL what is left."""
    if proc.poll() is not None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # children it may have left behind
        except (ProcessLookupError, PermissionError):
            pass
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _worker_failed(rc: int | None, result_file: Path) -> bool:
    if rc is None:
        return False
    if rc != 0:
        return True
    try:
        return not json.loads(result_file.read_text()).get("ok", False)
    except (OSError, ValueError):
        return True


def run_workers(
    target: str | os.PathLike | Callable[..., Any],
    n_procs: int = 2,
    devices_per_proc: int = 1,
    timeout: float = 120.0,
    *,
    env: Mapping[str, str] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    args: Sequence[str] = (),
    launcher: Sequence[str] | Callable[[int], Sequence[str]] | None = None,
    worker_timeout: float | None = None,
    failure_grace: float = 15.0,
    platform: str = "cpu",
    x64: bool = True,
    init_jax: bool = True,
    check: bool = True,
    cwd: str | os.PathLike | None = None,
) -> list[dict[str, Any]]:
    """Run `target` on `n_procs` local processes joined by ``jax.distributed``; one result dict per rank.

    **Arguments:**

    - `target`: a module-level function ``fn(rank, nprocs, **kwargs) -> dict``, ``"file.py::fn"``, or a
      script path (see the module docs).
    - `n_procs`, `devices_per_proc`: processes, and JAX CPU devices in each (``jax_num_cpu_devices``).
    - `timeout`: seconds for the whole run; then every process is killed and the results say ``timed_out``.
    - `env`: extra environment variables for the workers (on top of `worker_env`).
    - `kwargs`: JSON-serialisable keyword arguments of a function target; `args`: ``sys.argv[1:]`` of a script.
    - `launcher`: ``None`` (one ``Popen`` per worker), or an argv prefix such as ``["mpiexec", "-n", "{n}"]``
      (``"{n}"`` is replaced by `n_procs`) or a callable ``n_procs -> argv prefix``: one command then starts
      every rank.
    - `worker_timeout`: seconds after which a worker dumps its Python stack to stderr and exits by itself
      (default: `timeout`); catches a hang even if the harness itself is killed.
    - `failure_grace`: once one worker failed, how long the others may still run (to report the same failure)
      before they are killed (they may be waiting for it in a collective).
    - `platform`: ``jax_platforms`` of the workers (``"cpu"``; ``"cuda"`` for one process per GPU).
    - `x64`: enable ``jax_enable_x64`` in the workers before the target runs.
    - `init_jax`: configure JAX and call ``jax.distributed.initialize`` before the target (default True).
    - `check`: raise `MultiprocessError` (with every rank's output) unless every worker is ``ok``.
    - `cwd`: working directory of the workers (default: the repository root).
    """
    if isinstance(n_procs, bool) or not isinstance(n_procs, int) or n_procs < 1:
        raise ValueError(f"run_workers: `n_procs` must be a positive int, got {n_procs!r}")
    if isinstance(devices_per_proc, bool) or not isinstance(devices_per_proc, int) or devices_per_proc < 1:
        raise ValueError(f"run_workers: `devices_per_proc` must be a positive int, got {devices_per_proc!r}")
    if not timeout > 0:
        raise ValueError(f"run_workers: `timeout` must be positive, got {timeout!r}")
    require_loopback()
    spec = _target_spec(target)
    kwargs_json = json.dumps(dict(kwargs or {}))
    port = free_port()
    worker_timeout = float(timeout if worker_timeout is None else worker_timeout)
    cwd = os.fspath(cwd) if cwd is not None else str(HERE.parent.parent)

    with tempfile.TemporaryDirectory(prefix="nativax-mp-") as tmp_:
        tmp = Path(tmp_)
        base_env = worker_env(env, collective_timeout=max(timeout, 60.0))
        base_env.update(
            MP_HARNESS_PORT=str(port),
            MP_HARNESS_NUM_PROCESSES=str(n_procs),
            MP_HARNESS_DEVICES=str(devices_per_proc),
            MP_HARNESS_PLATFORM=platform,
            MP_HARNESS_X64="1" if x64 else "0",
            MP_HARNESS_INIT="1" if init_jax else "0",
            MP_HARNESS_TIMEOUT=str(worker_timeout),
            MP_HARNESS_RESULT_DIR=str(tmp),
            MP_HARNESS_KWARGS=kwargs_json,
        )
        worker_argv = [sys.executable, "-u", str(WORKER), "--worker", spec, *args]
        procs: list[subprocess.Popen] = []
        logs: list[tuple[Path, Path]] = []
        start = time.monotonic()
        try:
            if launcher is None:
                for rank in range(n_procs):
                    out, err = tmp / f"rank{rank}.stdout", tmp / f"rank{rank}.stderr"
                    with open(out, "wb") as fo, open(err, "wb") as fe:
                        procs.append(subprocess.Popen(
                            worker_argv, cwd=cwd, env={**base_env, "MP_HARNESS_PROCESS_ID": str(rank)},
                            stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, start_new_session=True,
                        ))
                    logs.append((out, err))
            else:
                prefix = launcher(n_procs) if callable(launcher) else [a.replace("{n}", str(n_procs)) for a in launcher]
                out, err = tmp / "launcher.stdout", tmp / "launcher.stderr"
                with open(out, "wb") as fo, open(err, "wb") as fe:
                    procs.append(subprocess.Popen(
                        [*prefix, *worker_argv], cwd=cwd, env=base_env, stdout=fo, stderr=fe,
                        stdin=subprocess.DEVNULL, start_new_session=True,
                    ))
                logs.append((out, err))
            timed_out, first_failure = _supervise(procs, tmp, n_procs, launcher is not None, start, timeout,
                                                  failure_grace)
        finally:
            for p in procs:
                _kill_group(p)
        seconds = time.monotonic() - start
        results = _collect(procs, logs, tmp, n_procs, launcher is not None, timed_out, first_failure, seconds)

    if check:
        assert_all_ok(results)
    return results


def _supervise(procs, tmp: Path, n_procs: int, one_launcher: bool, start: float, timeout: float,
               failure_grace: float) -> tuple[bool, float | None]:
    """Wait for the workers; returns (timed out, time of the first failure)."""
    first_failure: float | None = None
    while True:
        now = time.monotonic()
        rcs = [p.poll() for p in procs]
        if all(rc is not None for rc in rcs):
            return False, first_failure
        if first_failure is None:
            if one_launcher:
                failed = any(_worker_failed(0, f) for f in tmp.glob("rank*.json")) or (rcs[0] not in (None, 0))
            else:
                failed = any(_worker_failed(rc, tmp / f"rank{i}.json") for i, rc in enumerate(rcs))
            if failed:
                first_failure = now
        if first_failure is not None and now - first_failure > failure_grace:
            return False, first_failure
        if now - start > timeout:
            return True, first_failure
        time.sleep(0.05)


def _collect(procs, logs, tmp: Path, n_procs: int, one_launcher: bool, timed_out: bool,
             first_failure: float | None, seconds: float) -> list[dict[str, Any]]:
    results = []
    for rank in range(n_procs):
        proc = procs[0] if one_launcher else procs[rank]
        out, err = logs[0] if one_launcher else logs[rank]
        rc = proc.returncode
        res: dict[str, Any] = {"rank": rank, "ok": False, "result": None, "error": None, "returncode": rc,
                               "timed_out": timed_out, "killed": False, "seconds": None, "cpu_seconds": None,
                               "stdout": _tail(out), "stderr": _tail(err)}
        try:
            res.update(json.loads((tmp / f"rank{rank}.json").read_text()))
        except (OSError, ValueError):
            res["error"] = "the worker wrote no result"
        killed = rc is not None and rc < 0
        res["killed"] = killed
        if rc != 0:
            res["ok"] = False
            why = (f"timed out after {seconds:.0f} s and was killed" if timed_out else
                   "killed after another worker failed" if killed and first_failure is not None else
                   "its own worker_timeout fired (its Python stack is in stderr)" if "Timeout (" in res["stderr"]
                   else f"exited with {rc}")
            res["error"] = f"{why}; " + (res["error"] or "")
        results.append(res)
    return results


def assert_all_ok(results: Sequence[Mapping[str, Any]]) -> None:
    """Raise `MultiprocessError` unless every worker is ok, with each failed rank's error and output tails."""
    bad = [r for r in results if not r.get("ok")]
    if not bad:
        return
    parts = []
    for r in bad:
        parts.append(
            f"--- rank {r['rank']}: {r.get('error')}\n"
            f"--- rank {r['rank']} stderr (tail):\n{r.get('stderr', '')[-2500:]}\n"
            f"--- rank {r['rank']} stdout (tail):\n{r.get('stdout', '')[-1000:]}"
        )
    raise MultiprocessError(f"{len(bad)} of {len(results)} workers failed\n" + "\n".join(parts))
