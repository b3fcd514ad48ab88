"""Trace events and the timeline file: its structure, and what it says against the reads."""
import json
import os
import threading

import pytest

from memcg_emu._core import lib
from memcg_emu.cli import main
from memcg_emu.policies import POLICIES
from memcg_emu.trace import plot
from helpers import MiB, oom_killed, usage


def world(machine, policy, b_limit="60M", trace=True):
    """A (limit 100M) holds task X (40M); B (b_limit) holds task Z (30M); B moves charges in."""
    m = machine(ram="512M", policy=policy, trace=trace)
    m.mkdir("A")
    m.mkdir("B")
    m.write("A", "memory.limit_in_bytes", "100M")
    m.write("B", "memory.limit_in_bytes", b_limit)
    m.write("B", "memory.move_charge_at_immigrate", 1)
    x = m.spawn("A")
    m.touch(x, m.mmap(x, "40M"), "40M")
    z = m.spawn("B")
    m.touch(z, m.mmap(z, "30M"), "30M")
    return m, x, z


def move(m, pid, cg):
    try:
        m.move(pid, cg)
    except OSError:
        pass


def check_structure(tl):
    """Valid JSON; per track non-decreasing timestamps; every begin ends, in order, by name."""
    tl = json.loads(json.dumps(tl))
    events = tl["traceEvents"]
    assert all(e["ph"] in "BEiCM" for e in events)
    last, stacks = {}, {}
    for e in events:
        if e["ph"] == "M":
            continue
        track = e["name"] if e["ph"] == "C" else e["tid"]
        assert e["ts"] >= last.get(track, 0), f"time goes back on {track}: {e}"
        last[track] = e["ts"]
        if e["ph"] == "B":
            stacks.setdefault(e["tid"], []).append(e["name"])
        elif e["ph"] == "E":
            assert stacks.get(e["tid"]), f"an end without a begin: {e}"
            assert stacks[e["tid"]].pop() == e["name"]
    assert not any(stacks.values()), f"begins without an end: {stacks}"
    return events


def final_counters(events):
    out = {}
    for e in events:
        if e["ph"] == "C":
            out[e["name"]] = e["args"]["bytes"]
    return out


def names(events, ph):
    return [e["name"] for e in events if e["ph"] == ph]


def test_tracing_is_off_by_default(machine):
    m, x, _ = world(machine, "upstream", trace=False)
    assert m.trace is None


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("b_limit", ["60M", "200M"])
def test_timeline_structure_and_counters_match_reads(machine, policy, b_limit):
    m, x, _ = world(machine, policy, b_limit)
    move(m, x, "B")
    events = check_structure(m.trace.timeline())
    counters = final_counters(events)
    for cg in ("A", "B"):
        assert counters[f"{cg} usage"] == usage(m, cg)
        assert counters[f"{cg} limit"] == int(m.read(cg, "memory.limit_in_bytes"))
    assert {"fault A", "fault B"} <= set(names(events, "B"))
    if policy != "none":
        assert sum(n.startswith("move pid") for n in names(events, "B")) >= 1


def test_counters_at_each_resched_point_match_the_reads_there(machine):
    """The counters current at a cond_resched instant are what a hook reads at that point."""
    m, x, _ = world(machine, "seed", "200M")
    seen = []
    m.on_resched(lambda info: seen.append((usage(m, "A"), usage(m, "B"))))
    m.move(x, "B")
    events = check_structure(m.trace.timeline())
    now, at_resched = {}, []
    for e in events:
        if e["ph"] == "C":
            now[e["name"]] = e["args"]["bytes"]
        elif e["name"] == "cond_resched":
            at_resched.append((now["A usage"], now["B usage"]))
    assert len(seen) > 10 and at_resched == seen


def test_upstream_phases_and_a_failed_precharge(machine):
    m, x, _ = world(machine, "upstream", "60M")
    with pytest.raises(OSError):
        m.move(x, "B")
    events = check_structure(m.trace.timeline())
    begins = names(events, "B")
    assert begins.index("move pid 1: A -> B") < begins.index("precharge B") < begins.index("walk B")
    walk_end = [e for e in events if e["ph"] == "E" and e["name"] == "walk B"][0]
    assert walk_end["args"]["isolated"] == 40 * MiB // 4096      # the targets counted
    fails = [e for e in events if e["name"] == "charge failed B"]
    assert fails and fails[0]["args"] == {"pages": 40 * MiB // 4096,
                                          "why": "over the limit, no reclaim allowed"}
    assert any(e["args"].get("why") == "reclaim gave up" for e in fails)
    ends = [e for e in events if e["ph"] == "E" and e["name"].startswith("move pid")]
    assert ends[0]["args"] == {"moved": 0, "leaked": 0, "oom_victims": 0}


def test_seed_phases_in_order_with_pages(machine):
    m, x, _ = world(machine, "seed", "200M")
    m.move(x, "B")
    events = check_structure(m.trace.timeline())
    begins = [n for n in names(events, "B") if not n.startswith("fault")]
    assert begins == ["move pid 1: A -> B", "walk B", "move pages B", "putback B"]
    end = [e for e in events if e["ph"] == "E" and e["name"] == "move pages B"][0]
    assert end["args"]["moved"] == 40 * MiB // 4096
    assert final_counters(events)["B usage"] == 70 * MiB


def test_oom_kill_and_reclaim_passes(machine):
    m = machine(ram="512M", policy="none", trace=True)
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", "10M")
    victim = m.spawn("A")
    m.touch(victim, m.mmap(victim, "8M"), "8M")
    writer = m.spawn("A")
    m.file_write(writer, "/f", "1M")       # page cache: what reclaim can take
    m.touch(writer, m.mmap(writer, "4M"), "4M")   # 6.1: the kill frees room, the fault goes on
    assert oom_killed(m) == [victim]
    events = check_structure(m.trace.timeline())
    kills = [e for e in events if e["name"] == "OOM kill A"]
    assert [k["args"]["victim"] for k in kills] == [victim]
    assert kills[0]["args"]["badness"] > 0
    shrinks = [e["args"] for e in events if e["name"] == "shrink A"]
    assert shrinks and all(s["scanned"] >= s["reclaimed"] for s in shrinks)
    assert sum(s["reclaimed"] for s in shrinks) >= 256     # the 1M of page cache went
    reclaim_ends = [e["args"]["reclaimed"] for e in events if e["ph"] == "E" and e["name"] == "reclaim A"]
    assert sum(reclaim_ends) == sum(s["reclaimed"] for s in shrinks)


def test_a_charger_waiting_on_mc_waitq_is_a_slice_on_its_own_track(machine):
    """Upstream: a charger over A's limit waits for the move to end, on another host thread."""
    m, x, _ = world(machine, "upstream", "200M")
    y = m.spawn("A")
    addr = m.mmap(y, "90M")
    threads = []

    def at_resched(info):
        if info.phase == "move" and not threads:
            threads.append(threading.Thread(target=m.touch, args=(y, addr, "90M")))
            threads[0].start()
            while lib.emu_mc_waiters(m._m) == 0 and threads[0].is_alive():
                os.sched_yield()        # a condition, polled: no fixed sleep
    m.on_resched(at_resched)
    m.move(x, "B")
    m.on_resched(None)
    threads[0].join()
    events = check_structure(m.trace.timeline())
    waits = [e for e in events if e["name"] == "wait on mc.waitq A"]
    assert [w["ph"] for w in waits] == ["B", "E"] and waits[0]["tid"] == 1
    assert waits[0]["args"] == {"from": "A", "to": "B"}
    tracks = {e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert tracks == {"CPU 0", "CPU 0 (host thread 2)"}


def test_run_and_compare_write_timelines(tmp_path, capsys):
    scenario = {"vm": {"mem_mb": 512}, "emu": {"image": "empty"}, "steps": [
        {"op": "mkdir", "cg": "A"}, {"op": "mkdir", "cg": "B"},
        {"op": "write", "cg": "B", "file": "memory.move_charge_at_immigrate", "value": "1"},
        {"op": "spawn", "task": "x", "cg": "A"}, {"op": "anon", "task": "x", "bytes": 8 * MiB},
        {"op": "move", "task": "x", "cg": "B"}]}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scenario))
    assert main(["run", str(path), "--trace", str(tmp_path / "t.json"), "-o", str(tmp_path / "r.json")]) == 0
    events = check_structure(json.loads((tmp_path / "t.json").read_text()))
    assert final_counters(events)["B usage"] == 8 * MiB
    assert main(["compare", str(path), "--policy", "seed", "--policy", "none",
                 "--out", str(tmp_path / "c"), "--trace", str(tmp_path / "tr")]) == 0
    assert sorted(os.listdir(tmp_path / "tr")) == ["none.trace.json", "seed.trace.json"]
    seed = check_structure(json.loads((tmp_path / "tr" / "seed.trace.json").read_text()))
    assert "walk B" in names(seed, "B")
    plot(str(tmp_path / "tr" / "seed.trace.json"), str(tmp_path / "seed.png"))
    assert (tmp_path / "seed.png").read_bytes()[:4] == b"\x89PNG"
