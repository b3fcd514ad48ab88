"""Parameter sweeps: one scenario over a grid of settings, each point on a fresh Machine.

A spec (JSON, or TOML) names a scenario file or the case study and a grid::

    {"scenario": "casestudy",
     "grid": {"policy": ["upstream", "seed"], "limit.group_B": ["1G", "2G"]}}

Grid keys: ``policy``, ``kernel``, ``thp``, ``cpus``, ``swap`` (the machine),
``limit.<cgroup>`` (that group's memory.limit_in_bytes: every write of it in
the scenario, or one right after its mkdir) and ``bytes.<task>`` (the size of
that task's anon steps).  Every point is one row of ``DIR/rows.csv``:
parameters, outcome, the first move's old and new group usage
before/peak/after, pages moved and leaked, OOM victims, seconds.  A point
that fails is a row with its error.  Rows are appended as points finish, so
a rerun with the same ``DIR`` skips the points already there.

Points run on a local process pool, or on Dask distributed
(``dask="tcp://scheduler:8786"``, or ``"local"`` for a LocalCluster);
``pip install 'memcg-emu[sweep]'`` adds Dask, rows.parquet, a summary plot
and a progress bar.
"""
import csv
import hashlib
import inspect
import itertools
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from .machine import Machine
from .policies import POLICIES
from .profiles import PROFILES
from .progress import Progress
from .scenario import ScenarioError, load, run
from .sizes import parse_size

__all__ = ["SpecError", "Spec", "load_spec", "points", "run_point", "sweep", "COLUMNS"]

MiB = 1 << 20
MACHINE_KEYS = ("policy", "kernel", "thp", "cpus", "swap")
PREFIX_KEYS = ("limit.", "bytes.")
# what each point reports, after its parameters
COLUMNS = ("status", "error", "outcome", "moves", "old_group", "new_group",
           "old_before", "old_peak", "old_after", "new_before", "new_peak", "new_after",
           "pages_moved", "pages_leaked", "oom_victims", "seconds")
WORKER_DIED = "the worker process died running this point"


class SpecError(ValueError):
    """A sweep spec that cannot run (unknown key, bad value, a group or task the scenario lacks)."""


class Spec:
    """A validated spec: the base scenario (a dict), the grid (key -> values, in order)."""

    def __init__(self, scenario, grid, check=False):
        self.scenario = scenario
        self.grid = grid
        self.check = check

    @property
    def keys(self):
        return list(self.grid)

    def columns(self):
        return ["point"] + self.keys + list(COLUMNS)


def _read(path):
    if path.endswith(".toml"):
        try:
            import tomllib
        except ImportError:
            try:
                import tomli as tomllib
            except ImportError:
                raise SpecError("a TOML spec needs Python 3.11+ (or pip install tomli); "
                                "JSON works everywhere") from None
        with open(path, "rb") as f:
            try:
                return tomllib.load(f)
            except tomllib.TOMLDecodeError as e:
                raise SpecError(f"not valid TOML: {e}") from None
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise SpecError(f"not valid JSON: {e}") from None


def _machine_takes(name):
    return name in inspect.signature(Machine).parameters


def _check_value(key, v):
    """SpecError when grid value ``v`` cannot be a ``key``."""
    def bad(what):
        raise SpecError(f"grid {key}: {v!r} is not {what}")
    if key == "policy" and v not in POLICIES:
        bad(f"a policy ({', '.join(POLICIES)})")
    if key == "kernel" and v not in PROFILES:
        bad(f"a kernel profile ({', '.join(PROFILES)})")
    if key == "thp" and v not in ("never", "always", "madvise"):
        bad("never, always or madvise")
    if key == "cpus" and not (isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1024):
        bad("an int from 1 to 1024")
    if key == "swap" or key.startswith("bytes."):
        try:
            size = parse_size(v, key)
        except ValueError:
            bad("a size (bytes, or 512M, 2G ...)")
        if key == "swap" and size % MiB:
            bad("whole MiB")
        if key.startswith("bytes.") and size <= 0:
            bad("a positive size")
    if key.startswith("limit.") and v not in (-1, "-1"):
        try:
            parse_size(v, key)
        except ValueError:
            bad("a size (bytes, 512M, 2G ..., or -1 for unlimited)")


def _validate_grid(grid):
    if not isinstance(grid, dict) or not grid:
        raise SpecError("'grid' must be an object of key: [values]")
    for key, values in grid.items():
        if key not in MACHINE_KEYS and not any(key.startswith(p) and key[len(p):] for p in PREFIX_KEYS):
            raise SpecError(f"unknown grid key {key!r}; keys are {', '.join(MACHINE_KEYS)}, "
                            "limit.<cgroup>, bytes.<task>")
        if key in ("thp", "cpus") and not _machine_takes(key):
            raise SpecError(f"grid key {key!r}: this memcg-emu's Machine has no {key} setting yet")
        if not isinstance(values, list) or not values:
            raise SpecError(f"grid {key}: must be a non-empty list of values")
        for v in values:
            _check_value(key, v)


def load_spec(source):
    """A Spec from a path (JSON, or TOML by its .toml suffix) or a dict; SpecError if it cannot run."""
    base = "."
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        base = os.path.dirname(path)
        source = _read(path)
    if not isinstance(source, dict):
        raise SpecError("a sweep spec is an object with 'scenario' and 'grid'")
    unknown = set(source) - {"scenario", "grid", "check", "name", "description", "comment"}
    if unknown:
        raise SpecError(f"unknown key {sorted(unknown)[0]!r}; a spec has scenario, grid, check")
    name = source.get("scenario")
    if name == "casestudy":
        from .casestudy import casestudy_scenario
        scenario = casestudy_scenario()
    elif isinstance(name, str) and name:
        try:
            with open(os.path.join(base, name), encoding="utf-8") as f:
                scenario = json.load(f)
        except OSError as e:
            raise SpecError(f"scenario {name}: {e.strerror}") from None
        except json.JSONDecodeError as e:
            raise SpecError(f"scenario {name}: not valid JSON: {e}") from None
    elif isinstance(name, dict):
        scenario = name
    else:
        raise SpecError("'scenario' must be 'casestudy', a scenario file or a scenario object")
    check = source.get("check", False)
    if not isinstance(check, bool):
        raise SpecError("'check' must be true or false")
    _validate_grid(source.get("grid"))
    spec = Spec(scenario, dict(source["grid"]), check)
    for params in _grid_params(spec):      # every point must make a scenario that loads
        try:
            load(apply(scenario, params))
        except ScenarioError as e:
            raise SpecError(f"the scenario with {params}: {e}") from None
    return spec


def apply(scenario, params):
    """The scenario dict with the point's parameters written into it (a new dict)."""
    sc = json.loads(json.dumps(scenario))
    vm, emu = sc.setdefault("vm", {}), sc.setdefault("emu", {})
    for key, value in params.items():
        if key in ("policy", "kernel"):
            emu[key] = value
        elif key == "thp":
            vm["thp"] = value
        elif key == "cpus":
            vm["smp"] = value
        elif key == "swap":
            vm["swap_mb"] = parse_size(value) // MiB
        elif key.startswith("limit."):
            _set_limit(sc["steps"], key[len("limit."):].strip("/"), value)
        else:
            _set_bytes(sc["steps"], key[len("bytes."):], parse_size(value))
    return sc


def _set_limit(steps, cg, value):
    value = str(value)
    hits = [s for s in steps if s.get("op") == "write" and s.get("cg", "").strip("/") == cg
            and s.get("file") == "memory.limit_in_bytes"]
    for s in hits:
        s["value"] = value
    if hits:
        return
    for i, s in enumerate(steps):
        if s.get("op") == "mkdir" and s.get("cg", "").strip("/") == cg:
            steps.insert(i + 1, {"op": "write", "cg": cg, "file": "memory.limit_in_bytes", "value": value})
            return
    raise SpecError(f"limit.{cg}: the scenario makes no cgroup {cg!r}")


def _set_bytes(steps, task, size):
    hits = [s for s in steps if s.get("op") == "anon" and s.get("task") == task]
    if not hits:
        raise SpecError(f"bytes.{task}: the scenario has no anon step of task {task!r}")
    for s in hits:
        s["bytes"] = size


def _grid_params(spec):
    for values in itertools.product(*spec.grid.values()):
        yield dict(zip(spec.grid, values))


def point_id(params):
    return hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]


def points(spec):
    """Every point of the grid: {"point": id, "params", "scenario" (with them applied), "check"}."""
    return [{"point": point_id(p), "params": p, "scenario": apply(spec.scenario, p), "check": spec.check}
            for p in _grid_params(spec)]


def _summary(result):
    moves = result["moves"]
    victims = [n for s in result["steps"] for n in s["result"].get("oom_killed", ())]
    row = {"outcome": " ".join(m.get("outcome") or m["status"] for m in moves),
           "moves": len(moves),
           "pages_moved": sum(m.get("pages_moved", 0) for m in moves),
           "pages_leaked": sum(m.get("pages_leaked", 0) for m in moves),
           "oom_victims": " ".join(dict.fromkeys(victims + [v for m in moves for v in m.get("oom_victims", ())]))}
    first = next((m for m in moves if m.get("trace")), None)
    if first:
        samples = first["trace"]
        row.update(old_group=first["groups"][0], new_group=first["groups"][1])
        for side, key in (("old", "from_usage"), ("new", "to_usage")):
            row[f"{side}_before"] = samples[0][key]
            row[f"{side}_peak"] = max(t[key] for t in samples)
            row[f"{side}_after"] = samples[-1][key]
    return row


def run_point(point):
    """Run one point; its row.  Never raises: a failure is the row's status and error."""
    t0 = time.perf_counter()
    row = {"point": point["point"], **point["params"]}
    try:
        result = run(load(point["scenario"]), check=point.get("check", False), trace=True)
        row.update(_summary(result), status="ok", error="")
    except Exception as e:  # noqa: BLE001 -- a point's failure is data, not the sweep's end
        row.update(status="error", error=f"{type(e).__name__}: {e}")
    row["seconds"] = round(time.perf_counter() - t0, 4)
    return row


def error_row(point, message):
    return {"point": point["point"], **point["params"], "status": "error", "error": message}


# ---- executors: each calls emit(row) once per point, in the order points finish ----

def _row(future, point):
    """A finished future's row; what it raised, as the point's error row."""
    try:
        return future.result()
    except Exception as e:  # noqa: BLE001 -- a point's failure is data, not the sweep's end
        return error_row(point, f"{type(e).__name__}: {e}")


def _run_sequential(todo, point_fn, emit):
    for p in todo:
        emit(point_fn(p))


def _run_pool(todo, workers, point_fn, emit):
    """A process pool; when a worker dies, a new pool takes the points not done.

    A round in which no point finished before the pool broke runs each point
    left alone in a pool of one, so a point that kills its worker every time
    becomes an error row and the others still run.
    """
    pending = {p["point"]: p for p in todo}
    while pending:
        finished = 0
        try:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(point_fn, p): key for key, p in pending.items()}
                for f in as_completed(futures):
                    key = futures[f]
                    if isinstance(f.exception(), BrokenProcessPool):
                        raise f.exception()
                    emit(_row(f, pending[key]))
                    del pending[key]
                    finished += 1
        except BrokenProcessPool:
            if finished:
                continue
            for key, p in list(pending.items()):
                try:
                    with ProcessPoolExecutor(max_workers=1) as pool:
                        row = pool.submit(point_fn, p).result()
                except BrokenProcessPool:
                    row = error_row(p, WORKER_DIED)
                emit(row)
                del pending[key]


def _run_dask(todo, address, workers, point_fn, emit):
    """Dask distributed: the scheduler reruns a point whose worker died (up to its allowed-failures)."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed as dask_completed
    except ImportError:
        raise SpecError("--dask needs the sweep extra: pip install 'memcg-emu[sweep]'") from None
    cluster = None
    if address == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        address = cluster
    try:
        with Client(address) as client:
            futures = client.map(point_fn, todo, key=[f"memcg-emu-point-{p['point']}" for p in todo],
                                 pure=False)
            by_key = {f.key: p for f, p in zip(futures, todo)}
            for f in dask_completed(futures):
                emit(_row(f, by_key[f.key]))     # KilledWorker and the like: the point's row
    finally:
        if cluster is not None:
            cluster.close()


# ---- the sweep ----

def _done_points(path, columns):
    if not os.path.exists(path):
        return set()
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != columns:
            raise SpecError(f"{path} holds another sweep's rows (its columns differ); "
                            "choose another --out")
        return {r["point"] for r in reader}


def sweep(spec, out, workers=None, dask=None, point_fn=run_point, progress=True):
    """Run every point of ``spec`` (a Spec, path or dict) not yet in ``out``/rows.csv.

    ``workers``: process-pool size (default: the CPUs; 1 runs in this process);
    ``dask``: a scheduler address or "local" to run on Dask distributed instead;
    ``point_fn``: what runs one point (default run_point).  Returns
    {"points", "ran", "skipped", "errors", "files"}.
    """
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    columns = spec.columns()
    os.makedirs(out, exist_ok=True)
    rows_csv = os.path.join(out, "rows.csv")
    every = points(spec)
    done = _done_points(rows_csv, columns)
    todo = [p for p in every if p["point"] not in done]
    workers = workers or os.cpu_count() or 1
    bar = Progress(len(todo), "sweep") if progress else None
    new = not os.path.exists(rows_csv)
    with open(rows_csv, "a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        if new:
            writer.writeheader()
        errors = []

        def emit(row):
            writer.writerow(row)
            f.flush()      # a sweep cut short keeps every finished point
            if row.get("status") != "ok":
                errors.append(row)
            if bar:
                bar.update()
        try:
            if dask:
                _run_dask(todo, dask, workers, point_fn, emit)
            elif workers == 1:
                _run_sequential(todo, point_fn, emit)
            else:
                _run_pool(todo, workers, point_fn, emit)
        finally:
            if bar:
                bar.close()
    files = [rows_csv] + _extras(rows_csv, out, spec)
    return {"points": len(every), "ran": len(todo), "skipped": len(every) - len(todo),
            "errors": len(errors), "files": files}


def _extras(rows_csv, out, spec):
    """rows.parquet and summary.png when pandas, pyarrow and matplotlib are installed."""
    try:
        import pandas as pd
    except ImportError:
        print("no rows.parquet or summary.png: pip install 'memcg-emu[sweep]'", file=sys.stderr)
        return []
    frame = pd.read_csv(rows_csv, dtype={"point": str})
    files = []
    try:
        frame.to_parquet(os.path.join(out, "rows.parquet"), index=False)
        files.append(os.path.join(out, "rows.parquet"))
    except ImportError:
        print("no rows.parquet: pip install pyarrow", file=sys.stderr)
    try:
        plot(frame, spec, os.path.join(out, "summary.png"))
        files.append(os.path.join(out, "summary.png"))
    except ImportError:
        print("no summary.png: pip install matplotlib", file=sys.stderr)
    return files


def plot(frame, spec, path):
    """Peak usage of the new group, the old group's usage after and pages moved against the first
    varying key, a line per policy; a row of panels per value of a second varying key (up to 4)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    varying = [k for k in spec.keys if k != "policy" and len(spec.grid[k]) > 1]
    x_key = varying[0] if varying else None
    row_key = varying[1] if len(varying) > 1 and len(spec.grid[varying[1]]) <= 4 else None
    xs = [str(v) for v in spec.grid[x_key]] if x_key else ["all"]
    lines = [str(p) for p in spec.grid["policy"]] if "policy" in spec.grid else ["scenario"]
    facets = [str(v) for v in spec.grid[row_key]] if row_key else [None]
    ok = frame[frame["status"] == "ok"]
    panels = (("new_peak", "new group peak usage (MiB)", MiB), ("old_after", "old group after (MiB)", MiB),
              ("pages_moved", "pages moved", 1))
    fig, axes = plt.subplots(len(facets), 3, figsize=(15, 3.6 * len(facets)), squeeze=False)
    for facet, row_axes in zip(facets, axes):
        rows = ok if facet is None else ok[ok[row_key].astype(str) == facet]
        for ax, (col, title, unit) in zip(row_axes, panels):
            for i, line in enumerate(lines):
                sel = rows if line == "scenario" else rows[rows["policy"].astype(str) == line]
                ys = []
                for x in xs:
                    at = sel if x_key is None else sel[sel[x_key].astype(str) == x]
                    ys.append(at[col].mean() / unit if len(at) else float("nan"))
                # lines that coincide stay visible: each its marker, size and dash
                ax.plot(xs, ys, marker="osD^vx+"[i % 7], markersize=9 - i, linestyle=("-", "--", ":")[i % 3],
                        alpha=0.8, label=line)
            ax.set_title(title + (f", {row_key}={facet}" if facet else ""), fontsize=10)
            ax.set_xlabel(x_key or "")
    axes[0][0].legend(fontsize=8)
    rest = [k for k in varying[1:] if k != row_key]
    note = f"{len(frame)} points, {int((frame['status'] != 'ok').sum())} failed"
    if rest:
        note += "; mean over " + ", ".join(rest)
    fig.suptitle(note, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---- the command: memcg-emu sweep (registered in cli.SUBCOMMANDS) ----

def add_sweep(subparsers):
    p = subparsers.add_parser("sweep", help="run a scenario over a grid of settings: rows.csv, plot",
                              description="Run every point of SPEC's grid on a fresh machine and "
                              "write one row per point to OUT/rows.csv (and rows.parquet and "
                              "summary.png with pip install 'memcg-emu[sweep]').  Rerunning with "
                              "the same OUT skips the points already done.")
    p.add_argument("spec", metavar="SPEC", help="the sweep spec (.json or .toml): "
                   '{"scenario": "casestudy" or FILE.json, "grid": {"policy": [...], '
                   '"limit.group_B": ["1G", "2G"], ...}}')
    p.add_argument("--out", required=True, metavar="DIR", help="directory for the rows and the plot")
    p.add_argument("--workers", type=int, metavar="N",
                   help="processes (default: one per CPU; 1 runs the points in this process)")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="run on Dask distributed: a scheduler address (tcp://host:8786) or 'local'")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args):
    from .cli import UsageError
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, not {args.workers}")
    try:
        summary = sweep(args.spec, args.out, workers=args.workers, dask=args.dask)
    except SpecError as e:
        raise UsageError(f"{args.spec}: {e}") from None
    except OSError as e:
        raise UsageError(f"{e.filename or args.spec}: {e.strerror or e}") from None
    print(f"{summary['points']} points: {summary['ran']} run, {summary['skipped']} already done, "
          f"{summary['errors']} failed; wrote {', '.join(summary['files'])}")
    return 1 if summary["errors"] else 0
