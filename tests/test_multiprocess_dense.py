"""`nativax.distributed` across processes: 2 processes x 2 CPU devices joined by ``jax.distributed`` on 127.0.0.1.

One launch (tests/multiprocess.py) runs every check of tests/multiprocess_dense_worker.py on both processes, so
JAX starts and compiles once; each check is reported as its own test here and must hold on every process.
"""

import re
from pathlib import Path

import pytest

from multiprocess import run_workers

WORKER = Path(__file__).resolve().parent / "multiprocess_dense_worker.py"
N_PROCS, DEVICES_PER_PROC = 2, 2
TOL = 1e-12


@pytest.fixture(scope="module")
def ranks():
    results = run_workers(f"{WORKER}::dense_checks", N_PROCS, DEVICES_PER_PROC, timeout=240)
    return [r["result"] for r in results]


def per_rank(ranks, name):
    out = []
    for rank, res in enumerate(ranks):
        r = res[name]
        assert r["ok"], f"process {rank}: {r.get('error')}"
        out.append(r)
    return out


def test_one_mesh_spans_both_processes(ranks):
    for res in ranks:
        assert res["devices"] == N_PROCS * DEVICES_PER_PROC
        assert res["local_devices"] == DEVICES_PER_PROC


@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_potri_potrs(ranks, dtype):
    for r in per_rank(ranks, f"potri_potrs_{dtype}"):
        assert r["status"] == [0, 0]
        assert r["local_shards"] == DEVICES_PER_PROC  # each process holds only its own rows
        assert r["inv_err"] < TOL and r["inv_local_rows_err"] < TOL
        assert r["solve_err"] < TOL and r["logdet_err"] < 1e-10


def test_lineax_solve_under_jit_auto_mesh(ranks):
    for r in per_rank(ranks, "lineax_jit_auto_mesh"):
        for dt in ("f64", "c128"):
            assert r[f"ok_result_{dt}"] and r[f"solve_err_{dt}"] < TOL, r


def test_lineax_solve_under_jit_explicit_mesh(ranks):
    for r in per_rank(ranks, "lineax_jit_explicit_mesh"):
        assert r["ok_result"] and r["solve_err"] < TOL, r
        assert r["x_spec"] == "P('x',)", r  # the solution is sharded like the right-hand side


def test_grad_wrt_matrix_and_rhs(ranks):
    for r in per_rank(ranks, "grad_matrix_and_rhs"):
        for case in ("f64", "c128", "explicit"):
            assert r[f"grad_a_err_{case}"] < 1e-10 and r[f"grad_b_err_{case}"] < 1e-10, r


def test_not_positive_definite_fails_alike_on_every_process(ranks):
    rs = per_rank(ranks, "not_positive_definite")
    for r in rs:
        assert r["status"][0] != 0 and r["status"][1] != 0
        assert r["inv_all_nan"] and r["x_all_nan"]
        assert r["raised"] == "NotPositiveDefiniteError"
        assert r["singular"] and r["value_all_nan"]
        assert r["status_after"] == 0  # the processes are still in step afterwards
    drop = {"seconds", "cpu_seconds"}
    assert all({k: v for k, v in r.items() if k not in drop} == {k: v for k, v in rs[0].items() if k not in drop}
               for r in rs)


def test_shard_batch_of_sparse_solves(ranks):
    for r in per_rank(ranks, "shard_batch_klu"):
        assert r["local_shards"] == DEVICES_PER_PROC
        assert r["err"] < TOL and r["local_rows_err"] < TOL, r


def test_docs_page_runs_on_every_process(ranks):
    for r in per_rank(ranks, "docs_page_examples"):
        assert r["blocks"] >= 5


def test_every_check_is_reported():
    defined = re.findall(r"^@check\ndef (\w+)\(", WORKER.read_text(), flags=re.M)
    tested = set(re.findall(r'"(\w+)"', Path(__file__).read_text()))
    expanded = {f"potri_potrs_{d}" for d in ("float64", "complex128")}
    assert set(defined) <= tested | expanded, set(defined) - tested - expanded
