"""memcg-emu sweep: specs, rows, resuming, failures, and the same rows on a pool and on Dask."""
import csv
import functools
import json

import pytest

from memcg_emu.cli import main
from memcg_emu.sweep import COLUMNS, SpecError, apply, load_spec, points, sweep
from helpers import MiB, die_once_then_run

SCENARIO = {"name": "small", "vm": {"mem_mb": 256}, "emu": {"image": "empty"}, "steps": [
    {"op": "mkdir", "cg": "A"},
    {"op": "mkdir", "cg": "B"},
    {"op": "write", "cg": "B", "file": "memory.limit_in_bytes", "value": "64M"},
    {"op": "write", "cg": "B", "file": "memory.move_charge_at_immigrate", "value": "1"},
    {"op": "spawn", "task": "x", "cg": "A"},
    {"op": "anon", "task": "x", "bytes": 16 * MiB},
    {"op": "spawn", "task": "z", "cg": "B"},
    {"op": "anon", "task": "z", "bytes": 24 * MiB},
    {"op": "move", "task": "x", "cg": "B"},
]}
SPEC = {"scenario": SCENARIO,
        "grid": {"policy": ["upstream", "seed", "half"], "limit.B": ["32M", "64M"],
                 "bytes.x": ["16M", "48M"]}}


def rows(out):
    with open(out / "rows.csv", newline="") as f:
        return sorted((r for r in csv.DictReader(f)), key=lambda r: r["point"])


def without_seconds(rs):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rs]


def by_params(rs):
    return {(r["policy"], r["limit.B"], r["bytes.x"]): r for r in rs}


def test_points_apply_the_grid_to_the_scenario():
    spec = load_spec(SPEC)
    ps = points(spec)
    assert len(ps) == 12 and len({p["point"] for p in ps}) == 12
    p = next(p for p in ps if p["params"] == {"policy": "seed", "limit.B": "32M", "bytes.x": "48M"})
    steps = p["scenario"]["steps"]
    assert p["scenario"]["emu"]["policy"] == "seed"
    assert steps[2]["value"] == "32M" and steps[5]["bytes"] == 48 * MiB
    assert SCENARIO["steps"][2]["value"] == "64M"       # the spec's scenario is left alone


def test_a_limit_the_scenario_never_writes_goes_right_after_its_mkdir():
    sc = apply(SCENARIO, {"limit.A": "1G", "swap": "512M", "cpus": 2})
    assert sc["steps"][1] == {"op": "write", "cg": "A", "file": "memory.limit_in_bytes", "value": "1G"}
    assert sc["vm"]["swap_mb"] == 512 and sc["vm"]["smp"] == 2


@pytest.mark.parametrize("grid,message", [
    ({"colour": ["red"]}, "unknown grid key 'colour'"),
    ({"policy": ["sideways"]}, "is not a policy"),
    ({"kernel": ["9.9"]}, "is not a kernel profile"),
    ({"limit.C": ["1G"]}, "makes no cgroup 'C'"),
    ({"limit.B": ["lots"]}, "is not a size"),
    ({"bytes.y": ["1M"]}, "no anon step of task 'y'"),
    ({"swap": ["1K"]}, "whole MiB"),
    ({"policy": []}, "non-empty list"),
])
def test_a_bad_spec_is_a_clear_error_before_anything_runs(grid, message, tmp_path):
    with pytest.raises(SpecError, match=message):
        sweep({"scenario": SCENARIO, "grid": grid}, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_grid_keys_the_machine_does_not_take_are_refused_not_ignored():
    import inspect

    from memcg_emu import Machine
    if "thp" in inspect.signature(Machine).parameters:
        pytest.skip("this Machine takes thp")
    with pytest.raises(SpecError, match="Machine has no thp setting"):
        load_spec({"scenario": SCENARIO, "grid": {"thp": ["always"]}})


def test_rows_say_what_each_move_did(tmp_path):
    sweep(SPEC, tmp_path, workers=1)
    got = by_params(rows(tmp_path))
    assert len(got) == 12 and all(r["status"] == "ok" for r in got.values())
    room = got[("upstream", "64M", "16M")]
    assert (room["outcome"], int(room["pages_moved"])) == ("moved", 16 * MiB // 4096)
    # on 6.1 each group also holds its tasks' page tables (kmem, a few pages; never moved) and
    # up to a charge stock of 64 pages (MEMCG_CHARGE_BATCH; usage is read raw, as a kernel shows it)
    tables = 32 * 4096 + 64 * 4096
    assert 24 * MiB < int(room["new_before"]) < 24 * MiB + tables
    assert 40 * MiB < int(room["new_after"]) < 40 * MiB + tables
    assert 16 * MiB < int(room["old_before"]) < 16 * MiB + tables and 0 < int(room["old_after"]) < tables
    full = got[("upstream", "32M", "16M")]        # 24M + 16M > 32M: the precharge fails
    # the peak is sampled every 512 precharged pages: the page tables shift it off the limit
    assert full["outcome"] == "refused" and 32 * MiB - 512 * 4096 < int(full["new_peak"]) <= 32 * MiB
    half = got[("half", "32M", "16M")]
    assert half["outcome"] == "half-moved"
    assert (8 * MiB - tables) // 4096 < int(half["pages_moved"]) < 8 * MiB // 4096
    assert list(rows(tmp_path)[0]) == ["point", "policy", "limit.B", "bytes.x", *COLUMNS]
    assert (tmp_path / "rows.parquet").exists() and (tmp_path / "summary.png").exists()


def test_a_rerun_skips_the_points_done_and_runs_the_missing_ones(tmp_path):
    first = sweep(SPEC, tmp_path, workers=1)
    assert (first["ran"], first["skipped"]) == (12, 0)
    before = rows(tmp_path)
    again = sweep(SPEC, tmp_path, workers=1)
    assert (again["ran"], again["skipped"]) == (0, 12) and rows(tmp_path) == before
    with open(tmp_path / "rows.csv") as f:
        lines = f.readlines()
    with open(tmp_path / "rows.csv", "w") as f:     # a sweep cut short after 9 points
        f.writelines(lines[:10])
    third = sweep(SPEC, tmp_path, workers=1)
    assert (third["ran"], third["skipped"]) == (3, 9)
    assert without_seconds(rows(tmp_path)) == without_seconds(before)


def test_another_sweeps_rows_are_not_mixed_in(tmp_path):
    sweep(SPEC, tmp_path, workers=1)
    with pytest.raises(SpecError, match="another sweep"):
        sweep({"scenario": SCENARIO, "grid": {"policy": ["seed"]}}, tmp_path, workers=1)


def test_a_failing_point_is_a_row_with_its_error(tmp_path):
    spec = {"scenario": SCENARIO, "grid": {"swap": ["0", "100000G"]}}   # 2^35 pages: no such swap
    summary = sweep(spec, tmp_path, workers=2)
    got = {r["swap"]: r for r in rows(tmp_path)}
    assert summary["errors"] == 1 and got["0"]["status"] == "ok"
    assert got["100000G"]["status"] == "error" and "cannot build the machine" in got["100000G"]["error"]


def test_the_pool_and_a_local_dask_cluster_give_the_same_rows(tmp_path):
    distributed = pytest.importorskip("distributed")
    sweep(SPEC, tmp_path / "pool", workers=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        sweep(SPEC, tmp_path / "dask", dask=cluster.scheduler_address)
    pool, dask = rows(tmp_path / "pool"), rows(tmp_path / "dask")
    assert len(pool) == 12 and without_seconds(pool) == without_seconds(dask)


def test_a_worker_killed_mid_sweep_on_dask_and_the_sweep_completes(tmp_path):
    distributed = pytest.importorskip("distributed")
    sweep(SPEC, tmp_path / "ref", workers=1)
    killer = functools.partial(die_once_then_run, str(tmp_path / "killed-one"))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        summary = sweep(SPEC, tmp_path / "dask", dask=cluster.scheduler_address, point_fn=killer)
    assert (tmp_path / "killed-one").exists()              # a worker did die
    assert summary["errors"] == 0
    assert without_seconds(rows(tmp_path / "dask")) == without_seconds(rows(tmp_path / "ref"))


def test_a_worker_killed_mid_sweep_on_the_pool_and_the_sweep_completes(tmp_path):
    sweep(SPEC, tmp_path / "ref", workers=1)
    killer = functools.partial(die_once_then_run, str(tmp_path / "killed-one"))
    summary = sweep(SPEC, tmp_path / "pool", workers=2, point_fn=killer)
    assert (tmp_path / "killed-one").exists() and summary["errors"] == 0
    assert without_seconds(rows(tmp_path / "pool")) == without_seconds(rows(tmp_path / "ref"))


def test_a_point_that_always_kills_its_worker_is_an_error_row(tmp_path):
    summary = sweep({"scenario": SCENARIO, "grid": {"policy": ["seed", "none"]}}, tmp_path,
                    workers=2, point_fn=_die_on_seed)
    got = {r["policy"]: r for r in rows(tmp_path)}
    assert summary["errors"] == 1 and got["none"]["status"] == "ok"
    assert got["seed"]["error"] == "the worker process died running this point"


def _die_on_seed(point):
    import os

    from memcg_emu.sweep import run_point
    if point["params"]["policy"] == "seed":
        os._exit(3)
    return run_point(point)


def test_the_command_with_a_toml_spec(tmp_path, capsys):
    pytest.importorskip("tomllib")
    (tmp_path / "small.json").write_text(json.dumps(SCENARIO))
    (tmp_path / "spec.toml").write_text('scenario = "small.json"\n[grid]\npolicy = ["seed", "none"]\n')
    assert main(["sweep", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "o"), "--workers", "1"]) == 0
    out, err = capsys.readouterr()
    assert "2 points: 2 run, 0 already done, 0 failed" in out
    assert err == ""                                   # no progress bar when stderr is no terminal
    assert main(["sweep", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "o"), "--workers", "0"]) == 2
    (tmp_path / "bad.json").write_text('{"scenario": "small.json", "grid": {"thp": ["always"], "x": 1}}')
    assert main(["sweep", str(tmp_path / "bad.json"), "--out", str(tmp_path / "b")]) == 2
    assert "error:" in capsys.readouterr().err


def test_without_the_sweep_extra_rows_csv_is_all(tmp_path, monkeypatch, capsys):
    import sys
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas raises ImportError
    summary = sweep({"scenario": SCENARIO, "grid": {"policy": ["seed"]}}, tmp_path, workers=1)
    assert summary["files"] == [str(tmp_path / "rows.csv")] and len(rows(tmp_path)) == 1
    assert "pip install 'memcg-emu[sweep]'" in capsys.readouterr().err


def test_a_point_function_that_raises_gives_error_rows_on_every_executor(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = {"scenario": SCENARIO, "grid": {"policy": ["seed", "none"]}}
    sweep(spec, tmp_path / "pool", workers=2, point_fn=_raise_on_seed)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        sweep(spec, tmp_path / "dask", dask=cluster.scheduler_address, point_fn=_raise_on_seed)
    for out in ("pool", "dask"):
        got = {r["policy"]: r for r in rows(tmp_path / out)}
        assert got["none"]["status"] == "ok"
        assert (got["seed"]["status"], got["seed"]["error"]) == ("error", "RuntimeError: no seed here")


def _raise_on_seed(point):
    from memcg_emu.sweep import run_point
    if point["params"]["policy"] == "seed":
        raise RuntimeError("no seed here")
    return run_point(point)
