"""bench/run --scenario prune: issue 22's prune figures, in one run.

  plan       A store of one volume with --prune-snapshots snapshot records
             (default 10,000; bsnap-catalog-fill STORE N 1), and the plan of
             a prune of that volume: prune-snapshots --volume-id V
             --keep-last 10 --keep-daily 7 --keep-weekly 4 --keep-monthly 12
             --keep-yearly 5 --dry-run, the whole CLI process, --reps runs,
             median wall time and largest peak RSS (target: 1 s).
  freed      A real volume (16 MiB of random bytes) and 100 real snapshots
             of it, each taken after 256 KiB of it was rewritten with new
             random bytes at one place (so each snapshot holds 256 KiB of
             its own, and shares the rest).  Then prunes that keep the 75,
             50 and 10 newest: before each, the snapshots its dry run says
             go are measured with describe-snapshot-usage (the sum of their
             ExclusiveStoredBytes: what deleting each alone would free);
             after it and a gc, the store's StoredBytes and pack bytes are
             read again.  The figure: bytes freed / the sum, per prune
             (issue 22: freed space proportional to what is deleted: 1.0).
"""
import json
import os
import shutil
import statistics

import tools as T

PLAN_TARGET_SECS = 1.0
VOLUME_BYTES = 16 << 20
REWRITE_BYTES = 256 << 10
SNAPSHOTS = 100
KEEPS = (75, 50, 10)


def _plan(blocksnap, fill, work, n, reps, log):
    d = os.path.join(work, "prune-plan")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    store = os.path.join(d, "store")
    log("prune: filling a store with %d snapshots of one volume" % n)
    m, out = T.run([fill, store, str(n), "1"], rss=False)
    first = out.split()[2]
    vol = json.loads(T.run([blocksnap, "--store", store, "describe-snapshots", "--snapshot-ids",
                            first], rss=False)[1])["Snapshots"][0]["VolumeId"]
    argv = [blocksnap, "--store", store, "--quiet", "prune-snapshots", "--volume-id", vol,
            "--keep-last", "10", "--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly",
            "12", "--keep-yearly", "5", "--dry-run"]
    runs = [T.run(argv, rss=False) for _ in range(reps)]
    rss = T.run(argv, rss=True)[0].rss_kib
    plan = json.loads(runs[0][1])["PruneSnapshotResults"]
    if len(plan) != n:
        raise T.Failed("the plan lists %d snapshots of %d" % (len(plan), n))
    res = {"snapshots": n, "fill_secs": m.secs,
           "secs": statistics.median(r[0].secs for r in runs),
           "all_secs": [r[0].secs for r in runs], "rss_kib": rss,
           "deletes": sum(1 for s in plan if s["Action"] == "delete")}
    shutil.rmtree(d, ignore_errors=True)
    return res


def _freed(blocksnap, work, seed, log):
    d = os.path.join(work, "prune-freed")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    store = os.path.join(d, "store")
    img = os.path.join(d, "vol.img")
    rnd = __import__("random").Random(seed)

    def bs(*args):
        return T.run([blocksnap, "--store", store, "--quiet"] + list(args), rss=False)[1]

    def info():
        doc = json.loads(bs("describe-store"))
        return doc["StoredBytes"], doc["PackBytes"]

    with open(img, "wb") as f:
        f.write(rnd.randbytes(VOLUME_BYTES))
    log("prune: %d real snapshots of a %d MiB volume, %d KiB rewritten before each"
        % (SNAPSHOTS, VOLUME_BYTES >> 20, REWRITE_BYTES >> 10))
    at = VOLUME_BYTES // 2
    for i in range(SNAPSHOTS):
        with open(img, "r+b") as f:
            f.seek(at)
            f.write(rnd.randbytes(REWRITE_BYTES))
        bs("create-snapshot", "--volume", img)
    vol = json.loads(bs("describe-volumes"))["Volumes"][0]["VolumeId"]
    bs("gc")
    rows = []
    for keep in KEEPS:
        plan = json.loads(bs("prune-snapshots", "--volume-id", vol, "--keep-last", str(keep),
                             "--dry-run"))["PruneSnapshotResults"]
        going = [s["SnapshotId"] for s in plan if s["Action"] == "delete"]
        usage = json.loads(bs("describe-snapshot-usage", "--snapshot-ids", *going))
        excl = sum(u["ExclusiveStoredBytes"] for u in usage["SnapshotUsages"])
        stored0, packs0 = info()
        m, out = T.run([blocksnap, "--store", store, "--quiet", "prune-snapshots", "--volume-id",
                        vol, "--keep-last", str(keep)], rss=False)
        deleted = sum(1 for s in json.loads(out)["PruneSnapshotResults"]
                      if s["Action"] == "deleted")
        g, _ = T.run([blocksnap, "--store", store, "--quiet", "gc"], rss=False)
        stored1, packs1 = info()
        rows.append({"keep": keep, "deleted": deleted, "exclusive_bytes": excl,
                     "stored_freed": stored0 - stored1, "pack_freed": packs0 - packs1,
                     "prune_secs": m.secs, "gc_secs": g.secs,
                     "ratio": (stored0 - stored1) / excl if excl else 0.0})
        log("prune: keep %d: %d deleted, %d exclusive bytes, %d stored bytes freed"
            % (keep, deleted, excl, stored0 - stored1))
    shutil.rmtree(d, ignore_errors=True)
    return rows


def run(blocksnap, fill, work, n, reps, seed, log):
    return {"plan": _plan(blocksnap, fill, work, n, reps, log),
            "freed": _freed(blocksnap, work, seed, log)}


def table(res):
    p = res["plan"]
    lines = ["| prune plan | target | snapshots | plans to delete | median wall | runs | peak RSS |",
             "|---|---|---|---|---|---|---|",
             "| one volume, dry run | %g s | %d | %d | %.1f ms | %s | %.1f MiB |"
             % (PLAN_TARGET_SECS, p["snapshots"], p["deletes"], p["secs"] * 1000,
                ", ".join("%.0f" % (s * 1000) for s in p["all_secs"]), p["rss_kib"] / 1024),
             "",
             "| prune --keep-last | deleted | their exclusive bytes | stored bytes freed "
             "| freed / exclusive | pack bytes freed (gc) | prune | gc |",
             "|---|---|---|---|---|---|---|---|"]
    for r in res["freed"]:
        lines.append("| %d | %d | %.2f MiB | %.2f MiB | %.3f | %.2f MiB | %.2f s | %.2f s |"
                     % (r["keep"], r["deleted"], r["exclusive_bytes"] / 2**20,
                        r["stored_freed"] / 2**20, r["ratio"], r["pack_freed"] / 2**20,
                        r["prune_secs"], r["gc_secs"]))
    return "\n".join(lines)
