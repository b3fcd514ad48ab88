"""Trace events of a machine as a timeline that Perfetto and chrome://tracing open.

``Machine(trace=True)`` records, in C, every phase of every move (walk,
isolate, room, precharge, move, putback, rollback, clear), each
cond_resched() point, each fault call, each reclaim pass (scanned,
reclaimed), each failed charge and why, each wait on mc.waitq and each OOM
kill (victim, badness), with the emulated CPU and a timestamp.
``machine.trace.write(path)`` writes them in the Trace Event Format: one
track per emulated CPU (and host thread, when several threads act on one
CPU), a counter track for each group's usage and limit, instant events for
OOM kills and failed charges.  ``plot(trace, png)`` draws the same timeline
with matplotlib, for a picture where no browser is at hand.
"""
import json

from ._core import ffi, lib
from .errors import check_ret

__all__ = ["Recorder", "plot", "EVENTS"]

_STEP = ("isolated", "moved", "precharge")
# type -> (name, begin or instant args, end args); "" drops an argument
EVENTS = {
    lib.EMU_TRACE_MOVE: ("move", ("pid", "to", ""), ("moved", "leaked", "oom_victims")),
    lib.EMU_TRACE_WALK: ("walk", _STEP, _STEP),     # seed: the walk isolates; upstream: it counts
    lib.EMU_TRACE_ROOM: ("room", _STEP, _STEP),
    lib.EMU_TRACE_PRECHARGE: ("precharge", _STEP, _STEP),
    lib.EMU_TRACE_MOVE_PAGES: ("move pages", _STEP, _STEP),
    lib.EMU_TRACE_PUTBACK: ("putback", _STEP, _STEP),
    lib.EMU_TRACE_ROLLBACK: ("rollback", _STEP, _STEP),
    lib.EMU_TRACE_CLEAR: ("clear", _STEP, _STEP),
    lib.EMU_TRACE_BATCH: ("cond_resched", ("phase", "pages", ""), ()),
    lib.EMU_TRACE_FAULT: ("fault", ("pid", "bytes", ""), ("pages",)),
    lib.EMU_TRACE_RECLAIM: ("reclaim", ("target_pages", "", ""), ("reclaimed",)),
    lib.EMU_TRACE_SHRINK: ("shrink", ("scanned", "reclaimed", ""), ()),
    lib.EMU_TRACE_CHARGE_FAIL: ("charge failed", ("pages", "why", ""), ()),
    lib.EMU_TRACE_MC_WAIT: ("wait on mc.waitq", ("from", "to", ""), ()),
    lib.EMU_TRACE_OOM_KILL: ("OOM kill", ("victim", "badness", ""), ()),
    lib.EMU_TRACE_USAGE: ("usage", ("bytes", "", ""), ()),
    lib.EMU_TRACE_LIMIT: ("limit", ("bytes", "", ""), ()),
    lib.EMU_TRACE_MC_RETRY: ("mmap_lock busy: precharge given back", ("precharge", "", ""), ()),
}
WHY = {lib.EMU_CHARGE_FAIL_NORECLAIM: "over the limit, no reclaim allowed",
       lib.EMU_CHARGE_FAIL_RETRIES: "reclaim gave up",
       lib.EMU_CHARGE_FAIL_OOM: "reclaim gave up, OOM killer armed"}
_GROUP_ARGS = {"to", "from"}     # memcg ids shown as group names
_READ_BATCH = 4096
PID = 1                          # the one process of the timeline: the machine


class Recorder:
    """The trace of one machine: drains the C buffer and writes the timeline."""

    def __init__(self, machine):
        check_ret(lib.emu_trace_start(machine._m))
        self._machine = machine
        self._raw = []          # (ts_ns, thread, type, ph, cpu, memcg, a0, a1, a2)
        self._names = {0: "/"}  # memcg id -> group path, as last seen
        self._buf = ffi.new("struct emu_trace_event[]", _READ_BATCH)

    def drain(self):
        """Take what the C side recorded since the last drain; returns the raw records so far."""
        self._names.update({i: cg.path or "/" for i, cg in self._machine._by_memcg.items()})
        while True:
            n = check_ret(lib.emu_trace_read(self._machine._m, self._buf, _READ_BATCH))
            self._raw += [(e.ts_ns, e.thread, e.type, chr(e.ph), e.cpu, e.memcg, *e.args)
                          for e in self._buf[0:n]]
            if n < _READ_BATCH:
                return self._raw

    @property
    def dropped(self):
        """Events lost because the buffer was full (about two million events)."""
        return lib.emu_trace_dropped(self._machine._m)

    def group(self, memcg):
        return self._names.get(memcg, f"memcg {memcg}")

    def _args(self, names, values):
        out = {}
        for name, v in zip(names, values):
            if name == "why":
                out[name] = WHY.get(v, v)
            elif name in _GROUP_ARGS:
                out[name] = self.group(v)
            elif name:
                out[name] = v
        return out

    def timeline(self, title=None):
        """The trace as a Trace Event Format dict: {"traceEvents": [...], ...}."""
        raw = self.drain()
        tracks, stacks, out = {}, {}, []
        for ts_ns, thread, type_, ph, cpu, memcg, *vals in raw:
            name, first, last = EVENTS[type_]
            ts = ts_ns / 1000.0
            if ph == "C":
                out.append({"ph": "C", "pid": PID, "ts": ts, "name": f"{self.group(memcg)} {name}",
                            "args": {"bytes": vals[0] % 2**64}})   # unlimited: RESOURCE_MAX
                continue
            key = (cpu, thread)
            if key not in tracks:
                tracks[key] = cpu * 1000 + sum(1 for c, _ in tracks if c == cpu)
            tid = tracks[key]
            ev = {"ph": ph, "pid": PID, "tid": tid, "ts": ts, "cat": "memcg"}
            if ph == "B":
                label = name
                if type_ == lib.EMU_TRACE_MOVE:
                    label = f"move pid {vals[0]}: {self.group(memcg)} -> {self.group(vals[1])}"
                elif memcg >= 0:
                    label = f"{name} {self.group(memcg)}"
                stacks.setdefault(tid, []).append(label)
                ev.update(name=label, args=self._args(first, vals))
            elif ph == "E":
                stack = stacks.get(tid)
                ev.update(name=stack.pop() if stack else name, args=self._args(last, vals))
            else:
                if type_ == lib.EMU_TRACE_BATCH:
                    from .attach import PHASES
                    vals[0] = PHASES.get(vals[0], vals[0])
                label = name if memcg < 0 else f"{name} {self.group(memcg)}"
                ev.update(name=label, s="t", args=self._args(first, vals))
            out.append(ev)
        meta = [{"ph": "M", "pid": PID, "name": "process_name",
                 "args": {"name": title or self._title()}}]
        for (cpu, _thread), tid in sorted(tracks.items(), key=lambda kv: kv[1]):
            label = f"CPU {cpu}" + (f" (host thread {tid % 1000 + 1})" if tid % 1000 else "")
            meta.append({"ph": "M", "pid": PID, "tid": tid, "name": "thread_name",
                         "args": {"name": label}})
            meta.append({"ph": "M", "pid": PID, "tid": tid, "name": "thread_sort_index",
                         "args": {"sort_index": tid}})
        return {"traceEvents": meta + out, "displayTimeUnit": "ms",
                "otherData": {"title": title or self._title(), "dropped_events": self.dropped}}

    def _title(self):
        m = self._machine
        return f"memcg-emu machine: policy {m.policy}, kernel {m.profile.name}"

    def write(self, path, title=None):
        """Write the timeline as JSON to ``path`` (open it at ui.perfetto.dev or chrome://tracing)."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.timeline(title), f, separators=(",", ":"))
            f.write("\n")


def plot(trace, path, width=12, window=None):
    """Draw a timeline (a Trace Event Format dict or a path to one) as a PNG at ``path``.

    ``window``: (start, end) in milliseconds to show only that stretch.

    Top: each CPU track's slices, nested by depth, with OOM kills and failed
    charges marked; bottom: each group's usage counter.  ImportError without
    matplotlib (pip install memcg-emu[plot]).
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not isinstance(trace, dict):
        with open(trace, encoding="utf-8") as f:
            trace = json.load(f)
    events = trace["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    slices, marks, usage = [], [], {}
    open_ = {}
    for e in events:
        ms = e.get("ts", 0) / 1000.0
        if e["ph"] == "B":
            open_.setdefault(e["tid"], []).append((ms, e["name"]))
        elif e["ph"] == "E":
            start, name = open_[e["tid"]].pop()
            slices.append((e["tid"], len(open_[e["tid"]]), start, ms - start, name))
        elif e["ph"] == "i" and e["name"].split(" ")[0] in ("OOM", "charge"):
            marks.append((ms, e["name"]))
        elif e["ph"] == "C" and e["name"].endswith(" usage"):
            usage.setdefault(e["name"][:-len(" usage")], []).append((ms, e["args"]["bytes"] / 2**20))
    tids = sorted(names)
    end = max((e.get("ts", 0) for e in events), default=0) / 1000.0 or 1.0
    lo, hi = window or (0.0, end)
    span = hi - lo
    depth = max([d for _, d, *_ in slices] + [0]) + 1
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(width, 2 + 0.6 * depth * len(tids) + 3),
                                      sharex=True, gridspec_kw={"height_ratios": [depth * len(tids), 4]})
    palette = plt.get_cmap("tab10").colors
    kinds = ["fault", "move", "walk", "precharge", "room", "putback", "rollback", "clear", "reclaim",
             "wait"]     # a kind keeps its colour from picture to picture
    for tid, d, start, dur, name in slices:
        kind = name.split(" ")[0]
        colour = palette[kinds.index(kind) % len(palette)] if kind in kinds else "grey"
        y = tids.index(tid) * depth + d
        top.broken_barh([(start, max(dur, 1e-4))], (y, 0.9), facecolors=colour, edgecolor="black",
                        linewidth=0.3)
        shown = min(start + dur, hi) - max(start, lo)
        if shown > span * len(name) / 150:     # a label only where it fits
            top.text(max(start, lo), y + 0.45, " " + name, va="center", fontsize=7, clip_on=True)
    for ms, name in marks:
        oom = name.startswith("OOM")
        top.axvline(ms, color="red" if oom else "orange", linewidth=0.8,
                    label="OOM kill" if oom else "failed charge")
    handles = dict(zip(*reversed(top.get_legend_handles_labels())))
    if handles:
        top.legend(handles.values(), handles.keys(), fontsize=7, loc="lower right")
    top.set_yticks([tids.index(t) * depth + 0.45 for t in tids])
    top.set_yticklabels([names[t] for t in tids])
    top.invert_yaxis()
    top.set_title(trace.get("otherData", {}).get("title", "trace"), fontsize=10)
    for group, points in sorted(usage.items()):
        xs, ys = zip(*(points + [(end, points[-1][1])]))
        bottom.step(xs, ys, where="post", label=group)
    bottom.set_xlim(lo, hi)
    bottom.set_ylabel("usage MiB")
    bottom.set_xlabel("time (ms)")
    bottom.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

