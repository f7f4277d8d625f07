"""Checks of a leash timeline (--timeline) against the run's own result document, for
tests/test_timeline.sh. Each check prints what it measured and exits non-zero with the
reason when the timeline is wrong.

  timeline_check.py valid TIMELINE RESULT EVERY STRATEGY
  timeline_check.py ranks TIMELINE MODE [SKEW] (MODE: blocking or overlapped; SKEW:
                                                 seconds rank 1's clock runs ahead)
  timeline_check.py cut TIMELINE MAX_EVENTS
  timeline_check.py split RESULT [SLOW_WORKER]
"""
import collections
import json
import math
import sys

# Worker spans every strategy records, and each strategy's own (and no others).
COMMON = {"batch", "read", "gradient", "publish", "paused"}
OWN = {
    "SEQ": {"update"},
    "SYNC": {"barrier", "mean"},
    "ASYNC": {"lock wait", "lock held"},
    "HOG": {"update"},
    "LSH": {"cas"},
}
MAIN = {"round", "snapshot", "exchange", "correction", "checkpoint", "evaluation"}
WORKER_PHASES = {"batch", "read", "gradient", "publish"}


def fail(why):
    sys.exit(why)


def load(path):
    with open(path) as f:
        doc = json.load(f)
    if not isinstance(doc.get("traceEvents"), list):
        fail(f"{path}: no traceEvents list")
    return doc


def check_fields(events):
    for e in events:
        for key in ("name", "ph", "ts", "pid", "tid", "args"):
            if key not in e:
                fail(f"event without {key}: {e}")
        if e["ph"] == "X" and not (isinstance(e.get("dur"), (int, float)) and e["dur"] >= 0):
            fail(f"span without a duration: {e}")
        if e["ph"] not in "XiCM":
            fail(f"unexpected phase: {e}")


def main_tids(events):
    """Each rank's main-thread tid, from the thread names."""
    return {e["pid"]: e["tid"] for e in events
            if e["ph"] == "M" and e["name"] == "thread_name" and e["args"]["name"] == "main"}


def tracks(events):
    spans = collections.defaultdict(list)
    for e in events:
        if e["ph"] == "X":
            spans[(e["pid"], e["tid"])].append(e)
    return spans


def check_nesting(spans):
    """Spans of a track never partly overlap: each lies inside or after the previous."""
    for key, track in spans.items():
        # In whole nanoseconds, as leash writes them (three decimals of microseconds).
        ns = sorted((round(e["ts"] * 1000), round(e["dur"] * 1000), e["name"]) for e in track)
        ns.sort(key=lambda s: (s[0], -s[1]))
        open_ends = []
        for ts, dur, name in ns:
            while open_ends and open_ends[-1] <= ts:
                open_ends.pop()
            if open_ends and ts + dur > open_ends[-1]:
                fail(f"track {key}: {name} at {ts} ns ends at {ts + dur} ns, after its "
                     f"parent's end {open_ends[-1]} ns")
            open_ends.append(ts + dur)


def valid(path, result_path, every, strategy):
    doc = load(path)
    events = doc["traceEvents"]
    with open(result_path) as f:
        result = json.load(f)
    check_fields(events)
    spans = tracks(events)
    check_nesting(spans)
    mains = main_tids(events)
    worker_names = {e["name"] for (pid, tid), t in spans.items() if tid != mains[pid] for e in t}
    expected = COMMON | OWN[strategy]
    if worker_names != expected:
        fail(f"{strategy}: worker spans {sorted(worker_names)}, expected {sorted(expected)}")
    main_names = {e["name"] for (pid, tid), t in spans.items() if tid == mains[pid] for e in t}
    if not main_names <= MAIN:
        fail(f"main thread spans {sorted(main_names - MAIN)} unexpected")
    # One gradient span per sampled gradient: a worker records its 1st, (every+1)-th, ...
    per_worker = collections.Counter(e["tid"] for e in events if e["name"] == "gradient")
    sync = result["sync"]
    if sync["dropped_gradients"] == 0 and strategy != "SYNC":
        want = [math.ceil(u / every) for u in sync["updates_per_thread"]]
        got = [per_worker[w] for w in range(len(want))]
        if got != want:
            fail(f"gradient spans per worker {got}, expected {want} (updates "
                 f"{sync['updates_per_thread']}, every {every})")
    if every == 1 and sum(per_worker.values()) != sync["gradients"]:
        fail(f"{sum(per_worker.values())} gradient spans for {sync['gradients']} gradients")
    cas = [e for e in events if e["name"] == "cas"]
    failed = sum(1 for e in cas if e["args"]["failed"])
    if every == 1 and strategy == "LSH" and failed != sync["failed_cas"]:
        fail(f"{failed} failed cas spans, failed_cas {sync['failed_cas']}")
    if doc["otherData"]["cut"]:
        fail("cut although the run was small")
    counted = sum(1 for e in events if e["ph"] != "M" and e["name"] != "start")
    if not result["timeline"]["events"] == doc["otherData"]["events"] == counted:
        fail(f"events: {counted} in the file, {doc['otherData']['events']} in its otherData, "
             f"{result['timeline']['events']} in the result")
    print(f"{len(events)} events, {sum(per_worker.values())} gradients, {len(cas)} cas "
          f"({failed} failed, failed_cas {sync['failed_cas']})")


def overlaps(a, b):
    return a["ts"] < b["ts"] + b["dur"] and b["ts"] < a["ts"] + a["dur"]


def ranks(path, mode, skew=0.0):
    doc = load(path)
    events = doc["traceEvents"]
    check_fields(events)
    spans = tracks(events)
    check_nesting(spans)
    mains = main_tids(events)
    names = {e["pid"]: e["args"]["name"] for e in events if e["name"] == "process_name"}
    if sorted(names) != [0, 1] or not all(n.startswith(f"rank {p} (") for p, n in names.items()):
        fail(f"process names {names}")
    rounds = {p: [e for e in spans[(p, mains[p])] if e["name"] == "round"] for p in (0, 1)}
    if not rounds[0] or len(rounds[0]) != len(rounds[1]):
        fail(f"rounds per rank: {len(rounds[0])}, {len(rounds[1])}")
    work = {p: [e for (q, tid), t in spans.items() if q == p and tid != mains[p] for e in t
                if e["name"] in WORKER_PHASES] for p in (0, 1)}
    inside = sum(1 for p in (0, 1) for r in rounds[p] if any(overlaps(r, w) for w in work[p]))
    if mode == "overlapped" and inside == 0:
        fail("no round overlaps a worker's span in overlapped mode")
    if mode == "blocking" and inside:
        fail(f"{inside} rounds overlap a worker's span in blocking mode")
    # The same round ends (its reduction completes) at one moment on both ranks.
    ends = [{p: r["ts"] + r["dur"] for p, r in ((0, rounds[0][k]), (1, rounds[1][k]))}
            for k in range(len(rounds[0]))]
    gaps = sorted(abs(e[0] - e[1]) / 1000 for e in ends)
    median = gaps[len(gaps) // 2]
    if median > 5:
        fail(f"rounds end {median:.3f} ms apart on the two ranks (median of {len(gaps)})")
    offset = doc["otherData"]["clock_offset_us"][1]
    if abs(offset - skew * 1e6) > 5000:
        fail(f"rank 1's clock offset {offset} us, expected {skew * 1e6} us")
    offsets = doc["otherData"]["clock_uncertainty_us"]
    print(f"rank 1's clock {offset / 1e6:.6f} s ahead; "f"{len(rounds[0])} rounds, {inside} overlapping workers' spans; ends apart by median "
          f"{median:.3f} ms, max {gaps[-1]:.3f} ms; clock uncertainty {offsets} us")


def cut(path, max_events):
    doc = load(path)
    events = doc["traceEvents"]
    check_fields(events)
    other = doc["otherData"]
    recorded = sum(1 for e in events if e["ph"] != "M" and e["name"] not in ("start", "timeline cut"))
    marks = [e for e in events if e["name"] == "timeline cut"]
    if not other["cut"] or "note" not in other or not marks:
        fail(f"not marked as cut: {other}")
    if recorded > max_events or other["events"] != recorded:
        fail(f"{recorded} events recorded, {other['events']} counted, cap {max_events}")
    print(f"{recorded} events under a cap of {max_events}, {len(marks)} cut marks")


def split(result_path, slow=None):
    with open(result_path) as f:
        result = json.load(f)
    worst = 0.0
    for epoch in result["epochs"]:
        s = epoch["time_split"]
        for part in [s] + s["workers"]:
            parts = [part[k] for k in ("compute", "read", "publish", "wait", "idle")]
            if min(parts) < 0:
                fail(f"epoch {epoch['epoch']}: a negative share {part}")
            worst = max(worst, abs(sum(parts) - 1))
    if worst > 0.01:
        fail(f"shares sum to 1 +- {worst}")
    if slow is not None:
        last = result["epochs"][-1]["time_split"]["workers"]
        others = [w for w in last if w["worker"] != slow]
        slowed = last[slow]
        if not all(w["wait"] > 0.5 and w["wait"] > slowed["wait"] + 0.3 for w in others):
            fail(f"the others did not wait for worker {slow}: {last}")
        waits = ", ".join("%.3f" % w["wait"] for w in others)
        print(f"worker {slow} waits {slowed['wait']:.3f}, the others {waits}")
        return
    print(f"shares sum to 1 within {worst:.2e}")


if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    if what == "valid":
        valid(args[0], args[1], int(args[2]), args[3])
    elif what == "ranks":
        ranks(args[0], args[1], float(args[2]) if len(args) > 2 else 0.0)
    elif what == "cut":
        cut(args[0], int(args[1]))
    elif what == "split":
        split(args[0], int(args[1]) if len(args) > 1 else None)
    else:
        fail(f"unknown check {what}")
