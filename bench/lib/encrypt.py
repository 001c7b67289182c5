"""--scenario encrypt: blocksnap plain vs encrypted at rest, in one run.

On the same ext4 workload image (as the main sequence's base.img: system
files in a --size image), each repetition takes, for a plain store and for
a store whose snapshot is encrypted (create-snapshot --encrypted, the
store's default key), in alternation so that both see the same machine:

  * a full snapshot of the image;
  * a restore of it (create-volume --path), compared with the image (cmp);
  * a sequential read of the snapshot's file in the FUSE view, 1 MiB at a
    time, just after the mount (the view's caches cold, the packs as the
    restore left them in the page cache: the same for both).

The figures are MiB/s of the image's size, medians of --reps runs, and the
ratios encrypted / plain (the issue's target: >= 0.8 each).
"""
import json
import os
import shutil
import statistics
import subprocess
import time

import tools as T
import workload as W

READ_BYTES = 1 << 20


def make_image(work, size, seed, log):
    """The workload image (base.img of the main sequence) alone."""
    tree = os.path.join(work, "tree")
    base = os.path.join(work, "base.img")
    raw = os.path.join(work, "mkfs.img")
    log("encrypt: workload: about %d MiB of system files" % (int(size * 0.55) // W.MIB))
    W.make_tree(tree, int(size * 0.55), seed)
    log("encrypt: workload: mkfs.ext4 -d (%d MiB image)" % (size // W.MIB))
    W.mkfs(raw, tree, size, "benchroot", "5b1e0d6c-0000-4000-8000-00000000b001")
    shutil.rmtree(tree)
    W.copy_sparse(raw, base)
    os.unlink(raw)
    return base


def seq_read(path):
    """Seconds to read @path from start to end, READ_BYTES at a time."""
    n = 0
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(READ_BYTES)
        while True:
            got = f.readinto(buf)
            if not got:
                break
            n += got
    return time.perf_counter() - t0, n


def one(binary, work, image, encrypted, rep, log):
    """One repetition of one mode: {"snapshot", "restore", "fuse"} seconds."""
    mode = "encrypted" if encrypted else "plain"
    store = os.path.join(work, "store-%s" % mode)
    out = os.path.join(work, "restored.img")
    mnt = os.path.join(work, "mnt")
    env = {"BLOCKSNAP_KEY_DIR": os.path.join(work, "keys")}
    cli = [binary, "--store", store]
    shutil.rmtree(store, ignore_errors=True)
    T.run(cli + ["create-store"], env=env, rss=False)
    fig = {}
    argv = cli + ["create-snapshot", "--volume", image, "--quiet"]
    if encrypted:
        argv.append("--encrypted")
    m, text = T.run(argv, env=env)
    doc = json.loads(text)
    if bool(doc.get("Encrypted")) != encrypted:
        raise T.Failed("encrypt: the %s snapshot says Encrypted=%s" % (mode, doc.get("Encrypted")))
    snap = doc["SnapshotId"]
    fig["snapshot"] = m.secs
    m, _ = T.run(cli + ["create-volume", "--snapshot-id", snap, "--path", out, "--force",
                        "--quiet"], env=env)
    fig["restore"] = m.secs
    if subprocess.run(["cmp", "-s", image, out]).returncode != 0:
        raise T.Failed("encrypt: the %s restore differs from the image" % mode)
    os.unlink(out)
    path = os.path.join(mnt, "snapshots", snap + ".img")
    with T.Mount(cli + ["mount", mnt, "--foreground"], mnt, probe=lambda: path, env=env):
        secs, n = seq_read(path)
    if n != os.path.getsize(image):
        raise T.Failed("encrypt: the %s FUSE file has %d bytes, the image %d" %
                       (mode, n, os.path.getsize(image)))
    fig["fuse"] = secs
    shutil.rmtree(store, ignore_errors=True)
    log("encrypt: run %d %s: snapshot %.2fs, restore %.2fs, FUSE read %.2fs" %
        (rep + 1, mode, fig["snapshot"], fig["restore"], fig["fuse"]))
    return fig


def run(binary, work, size, seed, reps, log):
    """Both modes, @reps times each, alternating; the results document."""
    image = make_image(work, size, seed, log)
    runs = {"plain": [], "encrypted": []}
    for rep in range(reps):
        for enc in (False, True):
            runs["encrypted" if enc else "plain"].append(one(binary, work, image, enc, rep, log))
    mib = os.path.getsize(image) / W.MIB
    res = {"image_mib": mib, "allocated_mib": T.allocated(image) / W.MIB, "reps": reps}
    for mode, rs in runs.items():
        res[mode] = {op: statistics.median(r[op] for r in rs) for op in ("snapshot", "restore",
                                                                         "fuse")}
    res["ratio"] = {op: res["plain"][op] / res["encrypted"][op] for op in res["plain"]}
    res["runs"] = runs
    return res


def table(res):
    mib = res["image_mib"]
    rows = ["| operation | plain MiB/s | encrypted MiB/s | encrypted / plain |",
            "|---|---:|---:|---:|"]
    names = {"snapshot": "full snapshot", "restore": "restore (create-volume --path)",
             "fuse": "FUSE sequential read"}
    for op in ("snapshot", "restore", "fuse"):
        rows.append("| %s | %.0f | %.0f | %.2fx |" % (names[op], mib / res["plain"][op],
                                                       mib / res["encrypted"][op],
                                                       res["ratio"][op]))
    return "\n".join(rows)
