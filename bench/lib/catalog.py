"""bench/run --scenario catalog: what the catalog costs as it grows.

A store is filled with N snapshot records by bsnap-catalog-fill (built with
the engine; see bench/catalog-fill.c and docs/benchmarks.md), then each
operation runs as the blocksnap CLI (a whole process: exec, store open,
work, exit), --reps times, median wall time and the largest peak RSS:

  describe-one       describe-snapshots --snapshot-ids ID
  page-1000          describe-snapshots --max-results 1000
  page-1000-next     the same from a NextToken in the middle of the store
  by-volume-1000     --filters Name=volume-id,... --max-results 1000
  by-tag             --filters Name=tag:batch,Values=K (100 snapshots)
  delete-snapshot    delete-snapshot of a snapshot with a child (re-parent)
  complete-ids       the ids shell completion offers after --snapshot-id
                     (blocksnap __complete: every completed snapshot's id)
  prune-plan         prune-snapshots --dry-run with keep-last, daily, weekly,
                     monthly and yearly rules over every volume (the plan of
                     all N snapshots, printed)

Wall time is taken without /usr/bin/time (whose own exec costs several
ms); the peak RSS comes from one more run under it.
  mount-ready        mount --foreground until the root directory lists
                     (peak RSS of the daemon then, from /proc/PID/status)
  list-snapshots     then the first listing of MOUNT/snapshots/ (every
                     SNAP.img and SNAP.pN name; the daemon's peak RSS after
                     it, which counts the pages of the store's map it read)
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import time

import tools as T

TARGETS = {"describe-one": 0.010, "page-1000": 0.100, "page-1000-next": 0.100,
           "by-volume-1000": 0.100, "by-tag": 0.100, "delete-snapshot": 0.020,
           "complete-ids": 0.100, "prune-plan": 1.0,
           "mount-ready": 1.0, "list-snapshots": None}  # None: no target, a figure
RSS_TARGET_KIB = 64 * 1024


def _median(runs):
    return {"secs": statistics.median(m.secs for m in runs),
            "rss_kib": max(m.rss_kib for m in runs)}


def _peak_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _mount_ready(blocksnap, store, mnt, n):
    """Seconds from exec to a root listing that shows snapshots/, and the
    daemon's peak RSS (KiB) then; then the seconds of the first listing of
    snapshots/ (which must name at least @n files) and the peak RSS after
    it.  Only the process started here is signalled; it is unmounted
    before this returns."""
    os.makedirs(mnt, exist_ok=True)
    t0 = time.monotonic()
    proc = subprocess.Popen([blocksnap, "--store", store, "mount", mnt, "--foreground"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while True:
            if proc.poll() is not None:
                raise T.Failed("mount exited %d" % proc.returncode)
            try:
                if os.path.ismount(mnt) and "snapshots" in os.listdir(mnt):
                    break
            except OSError:
                pass
            if time.monotonic() - t0 > 60:
                raise T.Failed("mount did not answer within 60 s")
            time.sleep(0.002)
        ready = T.Measure(time.monotonic() - t0, _peak_rss_kib(proc.pid))
        t1 = time.monotonic()
        names = os.listdir(os.path.join(mnt, "snapshots"))
        listed = T.Measure(time.monotonic() - t1, _peak_rss_kib(proc.pid))
        if len(names) < n:
            raise T.Failed("snapshots/ lists %d files for %d snapshots" % (len(names), n))
        return ready, listed
    finally:
        subprocess.run(["fusermount3", "-u", mnt], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            proc.wait()


def run_one(blocksnap, fill, work, n, reps, log, mount=True):
    """Fill a store of @n snapshots and time each operation; a dict of
    operation -> {secs, rss_kib}, plus the fill's figures."""
    d = os.path.join(work, "catalog-%d" % n)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    store = os.path.join(d, "store")
    log("catalog: filling a store with %d snapshots" % n)
    m, out = T.run([fill, store, str(n), "10"], rss=False)
    _, _, first, middle, last = out.split()
    res = {"fill": {"secs": m.secs, "rss_kib": 0}}

    def cli(*args):
        return [blocksnap, "--store", store, "--quiet"] + list(args)

    def timed(name, argv_fn):
        # Wall time without /usr/bin/time in between (its own exec costs
        # several ms); the peak RSS from one more run under it.
        runs = []
        for i in range(reps):
            mm, text = T.run(argv_fn(i), rss=False)
            runs.append(mm)
        runs[0].rss_kib = T.run(argv_fn(reps), rss=True)[0].rss_kib
        res[name] = _median(runs)
        return text

    one = json.loads(T.run(cli("describe-snapshots", "--snapshot-ids", middle), rss=False)[1])
    vol = one["Snapshots"][0]["VolumeId"]
    timed("describe-one", lambda i: cli("describe-snapshots", "--snapshot-ids", middle))
    page = json.loads(timed("page-1000", lambda i: cli("describe-snapshots", "--max-results",
                                                        "1000")))
    # A token from the middle: walk pages of 1000 to about half way.
    token = page.get("NextToken")
    for _ in range(max(0, n // 2000 - 1)):
        if not token:
            break
        token = json.loads(T.run(cli("describe-snapshots", "--max-results", "1000",
                                     "--next-token", token), rss=False)[1]).get("NextToken")
    if token:
        timed("page-1000-next", lambda i: cli("describe-snapshots", "--max-results", "1000",
                                              "--next-token", token))
    timed("complete-ids", lambda i: [blocksnap, "__complete", "--store", store,
                                     "delete-snapshot", "--snapshot-id", ""])
    timed("prune-plan", lambda i: cli("prune-snapshots", "--keep-last", "10", "--keep-daily",
                                      "7", "--keep-weekly", "4", "--keep-monthly", "12",
                                      "--keep-yearly", "5", "--dry-run"))
    timed("by-volume-1000", lambda i: cli("describe-snapshots", "--max-results", "1000",
                                          "--filters", "Name=volume-id,Values=" + vol))
    timed("by-tag", lambda i: cli("describe-snapshots", "--filters",
                                  "Name=tag:batch,Values=%d" % (n // 200)))
    # Delete snapshots of the first page that have a child (a parent that
    # is not a volume's newest): each run a different one.
    ids = [s["SnapshotId"] for s in page["Snapshots"]]
    victims = [i for i in ids if i != last and i != first][:reps + 1]
    timed("delete-snapshot", lambda i: cli("delete-snapshot", "--snapshot-id", victims[i]))
    if mount and not T.NO_FUSE:
        runs = [_mount_ready(blocksnap, store, os.path.join(d, "mnt"),
                             n - reps - 1)
                for _ in range(reps)]
        res["mount-ready"] = _median([r[0] for r in runs])
        res["list-snapshots"] = _median([r[1] for r in runs])
    res["store_bytes"] = sum(os.path.getsize(os.path.join(r, f))
                             for r, _, fs in os.walk(store) for f in fs)
    shutil.rmtree(d, ignore_errors=True)
    return res


def table(results):
    """Markdown: one row per operation, one column per store size."""
    sizes = sorted(results)
    ops = [o for o in TARGETS if any(o in results[s] for s in sizes)]
    head = "| operation | target | " + " | ".join("%d snapshots" % s for s in sizes)
    if len(sizes) > 1:
        head += " | ratio"
    lines = [head + " |", "|" + "---|" * (len(sizes) + 2 + (len(sizes) > 1))]
    for o in ops:
        cells = []
        for s in sizes:
            r = results[s].get(o)
            cells.append("%.1f ms, %.1f MiB" % (r["secs"] * 1000, r["rss_kib"] / 1024) if r else "-")
        target = "%g ms, 64 MiB" % (TARGETS[o] * 1000) if TARGETS[o] else "-"
        row = "| %s | %s | %s" % (o, target, " | ".join(cells))
        if len(sizes) > 1:
            a, b = results[sizes[0]].get(o), results[sizes[-1]].get(o)
            row += " | %.2fx" % (b["secs"] / a["secs"]) if a and b and a["secs"] else " | -"
        lines.append(row + " |")
    lines.append("| fill (setup) | - | " + " | ".join(
        "%.1f s" % results[s]["fill"]["secs"] for s in sizes) + (" | -" if len(sizes) > 1 else "") + " |")
    return "\n".join(lines)
