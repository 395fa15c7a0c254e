"""The multi-process harness itself (tests/multiprocess.py): results, failures, timeouts, launchers.

These workers skip JAX (``init_jax=False``), so each run costs a Python start-up, not a JAX one; the real
``jax.distributed`` path is exercised by tests/test_multiprocess_dense.py.
"""

import os
import shutil
import sys
import time

import numpy as np
import pytest

from multiprocess import MPI_ENV, MultiprocessError, assert_all_ok, mpiexec_launcher, run_workers


def report_env(rank, nprocs, scale=1.0):
    return {
        "rank": rank,
        "nprocs": nprocs,
        "array": np.arange(3) * scale,
        "complex": np.array([1 + 2j]),
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "pid": os.getpid(),
    }


def rank1_fails_rank0_hangs(rank, nprocs):
    if rank == 1:
        raise ValueError("rank 1 broke on purpose")
    time.sleep(600)  # like a process left waiting in a collective


def sleeps(rank, nprocs):
    time.sleep(600)


def test_one_json_result_per_worker():
    results = run_workers(report_env, n_procs=3, timeout=60, init_jax=False, kwargs={"scale": 2.0},
                          env={"XLA_FLAGS": "--xla_force_host_platform_device_count=8 --xla_my_flag=1"})
    assert [r["rank"] for r in results] == [0, 1, 2]
    for r in results:
        assert r["ok"] and r["returncode"] == 0 and not r["timed_out"], r
        assert r["result"]["rank"] == r["rank"] and r["result"]["nprocs"] == 3
        assert r["result"]["array"] == [0.0, 2.0, 4.0]
        assert r["result"]["complex"] == {"re": [1.0], "im": [2.0]}
        assert r["result"]["blas_threads"] == "1"
        flags = r["result"]["xla_flags"]
        assert "--xla_cpu_collective_timeout_seconds=" in flags and "--xla_my_flag=1" in flags
        assert "device_count" not in flags  # set per worker through jax_num_cpu_devices
    assert len({r["result"]["pid"] for r in results}) == 3


def test_failure_kills_the_others_and_reports_the_traceback():
    t0 = time.monotonic()
    results = run_workers(rank1_fails_rank0_hangs, n_procs=2, timeout=120, failure_grace=1.0, init_jax=False,
                          check=False)
    assert time.monotonic() - t0 < 60, "the hanging worker was not killed after the grace period"
    with pytest.raises(MultiprocessError, match="rank 1 broke on purpose"):
        assert_all_ok(results)
    r0, r1 = results
    assert not r1["ok"] and "ValueError: rank 1 broke on purpose" in r1["error"]
    assert not r0["ok"] and r0["killed"] and "killed after another worker failed" in r0["error"]


def test_overall_timeout_kills_every_worker():
    t0 = time.monotonic()
    results = run_workers(sleeps, n_procs=2, timeout=3, init_jax=False, check=False)
    assert time.monotonic() - t0 < 30
    assert all(r["timed_out"] and r["killed"] and not r["ok"] for r in results), results


def test_worker_timeout_dumps_the_stack():
    results = run_workers(sleeps, n_procs=2, timeout=60, worker_timeout=2, init_jax=False, check=False)
    for r in results:
        assert not r["ok"] and not r["timed_out"]
        assert "worker_timeout" in r["error"] and "in sleeps" in r["stderr"], r


def test_launcher_hook_takes_ranks_from_the_launcher():
    launcher = [sys.executable, os.path.join(os.path.dirname(__file__), "multiprocess_worker.py"), "--spawn", "{n}"]
    results = run_workers(report_env, n_procs=2, timeout=60, init_jax=False, launcher=launcher)
    assert [r["result"]["rank"] for r in results] == [0, 1]


@pytest.mark.skipif(shutil.which("mpiexec") is None, reason="no mpiexec (Open MPI) on this machine")
def test_mpiexec_launcher():
    results = run_workers(report_env, n_procs=2, timeout=60, init_jax=False, launcher=mpiexec_launcher(),
                          env=MPI_ENV)
    assert [r["result"]["rank"] for r in results] == [0, 1]


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_procs"):
        run_workers(report_env, n_procs=0)
    with pytest.raises(ValueError, match="devices_per_proc"):
        run_workers(report_env, devices_per_proc=0)
    with pytest.raises(TypeError, match="module-level function"):
        run_workers(lambda rank, nprocs: {}, init_jax=False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run_workers("no/such/script.py", init_jax=False)


def test_script_target_reports_with_write_result(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(
        "import sys\nfrom multiprocess import write_result\n"
        "if __name__ == '__main__':\n    write_result({'argv': sys.argv[1:]})\n"
    )
    results = run_workers(script, n_procs=2, timeout=60, init_jax=False, args=["--small"])
    assert [r["result"] for r in results] == [{"argv": ["--small"]}] * 2
