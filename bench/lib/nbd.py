"""--scenario nbd: snapshots of a qcow2 disk served by qemu-nbd, side by side
with the same data from its raw file and with the peers that read the same
qcow2 (qemu-img convert -O raw into a file; nbdcopy over the same NBD
socket into /dev/null, libnbd's own copier: a floor of reading the export),
in one run.

On the workload image (as the main sequence's base.img: system files in a
--size ext4 image), converted to qcow2 once (qemu-img convert -O qcow2:
holes stay unallocated), each repetition takes:

  * a full snapshot of the raw file (a fresh store);
  * a full snapshot over NBD of the qcow2 (qemu-nbd --read-only, unix
    socket; a fresh store), whose restore is compared with the raw image
    in the first repetition;
  * qemu-img convert -O raw of the qcow2 into a file, and nbdcopy of the
    export into /dev/null;
  * a persistent dirty bitmap added to a copy of the qcow2 after that full
    snapshot, a 1 % change written through qemu-io (64 KiB writes at
    random 64 KiB-aligned offsets), the disk exported again with
    qemu-nbd -B, and the incremental create-snapshot --changed-blocks
    nbd:qemu:dirty-bitmap:b1 --parent FULL; its BytesRead against the dirty
    bytes (nbdinfo --map) and its time against the full NBD snapshot's.
    Its restore is compared with qemu-img convert's raw in the first
    repetition.

Figures are medians of --reps runs, with the page cache warm for all
(every input was just written or read).  Targets (issue 21): NBD snapshot
>= 0.5x the raw file's throughput and faster than qemu-img convert; the
bitmap incremental reads <= 1.1x the dirty bytes in <= 5 % of the full
snapshot's time.
"""
import json
import os
import random
import shutil
import statistics
import subprocess
import time

import encrypt
import tools as T
import workload as W

CHUNK = 64 * 1024
# nbdcopy runs that compare ways of reading the export: (figure, connections,
# requests in flight per connection), 64 KiB requests each.
READ_MODES = (("read_1conn_1req", 1, 1), ("read_1conn_4req", 1, 4), ("read_1conn_8req", 1, 8),
              ("read_2conn_4req", 2, 4))


class Server:
    """qemu-nbd serving @qcow2 read-only on @sock (extra @args), stopped by
    its PID when the block ends."""

    def __init__(self, qcow2, sock, *args):
        self.argv = ["qemu-nbd", "--read-only", "--persistent", "-f", "qcow2", "-k", sock] + \
            list(args) + [qcow2]
        self.sock = sock
        self.p = None

    def __enter__(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(self.sock):
                return "nbd+unix:///?socket=" + self.sock
            if self.p.poll() is not None:
                raise T.Failed("qemu-nbd exited %d" % self.p.returncode)
            time.sleep(0.05)
        raise T.Failed("qemu-nbd did not start")

    def __exit__(self, *exc):
        self.p.terminate()
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def snapshot(binary, store, volume, *extra):
    """A snapshot of @volume into @store: (seconds, its document)."""
    m, text = T.run([binary, "--store", store, "create-snapshot", "--volume", volume, "--quiet"] +
                    list(extra))
    return m.secs, json.loads(text)


def restore_equals(binary, store, snap, ref, work):
    out = os.path.join(work, "restored.raw")
    T.run([binary, "--store", store, "create-volume", "--snapshot-id", snap, "--path", out,
           "--force", "--quiet"])
    same = subprocess.run(["cmp", "-s", ref, out]).returncode == 0
    os.unlink(out)
    return same


def dirty_bytes(uri):
    """The bytes qemu:dirty-bitmap:b1 marks dirty, rounded out to chunks."""
    out = subprocess.run(["nbdinfo", "--map=qemu:dirty-bitmap:b1", uri], check=True,
                         stdout=subprocess.PIPE).stdout.decode()
    n = 0
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 3 and f[2] == "1":
            a, b = int(f[0]), int(f[0]) + int(f[1])
            n += -(-b // CHUNK) * CHUNK - a // CHUNK * CHUNK
    return n


def change(qcow2, size, seed):
    """Write 1 % of @size as 64 KiB of random-pattern writes at distinct
    random aligned offsets of @qcow2 (qemu-io).  Returns the bytes written."""
    rnd = random.Random(seed)
    count = max(1, size // 100 // CHUNK)
    offs = sorted(rnd.sample(range(size // CHUNK), count))
    cmds = []
    for i, o in enumerate(offs):
        cmds += ["-c", "write -P 0x%02x %d %d" % (1 + i % 250, o * CHUNK, CHUNK)]
    subprocess.run(["qemu-io", "-f", "qcow2"] + cmds + [qcow2], check=True,
                   stdout=subprocess.DEVNULL)
    return count * CHUNK


def one(binary, work, raw, qcow2, rep, log):
    fig = {}
    sock = os.path.join(work, "nbd.sock")
    st_raw, st_nbd = os.path.join(work, "store-raw"), os.path.join(work, "store-nbd")
    for s in (st_raw, st_nbd):
        shutil.rmtree(s, ignore_errors=True)
    fig["raw_snapshot"], doc = snapshot(binary, st_raw, raw)
    fig["raw_read"] = doc["BytesRead"]
    shutil.rmtree(st_raw, ignore_errors=True)

    disk = os.path.join(work, "disk.qcow2")
    shutil.copyfile(qcow2, disk)
    # --shared 2: the two-connection read below; the snapshot uses one
    with Server(disk, sock, "--shared", "2") as uri:
        fig["nbd_snapshot"], doc = snapshot(binary, st_nbd, uri)
        full = doc["SnapshotId"]
        fig["nbd_read"] = doc["BytesRead"]
        m, _ = T.run(["nbdcopy", uri, "null:"])
        fig["nbdcopy"] = m.secs
        # How to read the export: one request at a time, several in flight
        # on one connection (what the NBD source does: 64 KiB requests,
        # four per worker's piece), or a connection per worker.
        for name, conns, reqs in READ_MODES:
            m, _ = T.run(["nbdcopy", "-C", str(conns), "-R", str(reqs), "-T", str(conns),
                          "--request-size", str(CHUNK), uri, "null:"])
            fig[name] = m.secs
    if rep == 0 and not restore_equals(binary, st_nbd, full, raw, work):
        raise T.Failed("nbd: the restore of the NBD snapshot differs from the raw image")
    out = os.path.join(work, "convert.raw")
    m, _ = T.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", disk, out])
    fig["qemu_img_convert"] = m.secs
    os.unlink(out)

    subprocess.run(["qemu-img", "bitmap", "--add", disk, "b1"], check=True)
    fig["written"] = change(disk, os.path.getsize(raw), 1000 + rep)
    with Server(disk, sock, "-B", "b1") as uri:
        fig["dirty"] = dirty_bytes(uri)
        fig["inc_snapshot"], doc = snapshot(binary, st_nbd, uri, "--changed-blocks",
                                            "nbd:qemu:dirty-bitmap:b1", "--parent", full)
        fig["inc_read"] = doc["BytesRead"]
    if rep == 0:
        ref = os.path.join(work, "changed.raw")
        subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", disk, ref], check=True)
        same = restore_equals(binary, st_nbd, doc["SnapshotId"], ref, work)
        os.unlink(ref)
        if not same:
            raise T.Failed("nbd: the restore of the bitmap incremental differs from the disk")
    os.unlink(disk)
    shutil.rmtree(st_nbd, ignore_errors=True)
    log("nbd: run %d: raw file %.2fs, NBD %.2fs, qemu-img convert %.2fs, nbdcopy %.2fs; "
        "bitmap incremental %.3fs, read %d of %d dirty" %
        (rep + 1, fig["raw_snapshot"], fig["nbd_snapshot"], fig["qemu_img_convert"],
         fig["nbdcopy"], fig["inc_snapshot"], fig["inc_read"], fig["dirty"]))
    return fig


def run(binary, work, size, seed, reps, log):
    for tool in ("qemu-nbd", "qemu-img", "qemu-io", "nbdinfo", "nbdcopy"):
        if not shutil.which(tool):
            raise T.Skip("nbd: needs %s (qemu-utils, libnbd-bin)" % tool)
    raw = encrypt.make_image(work, size, seed, log)
    qcow2 = os.path.join(work, "base.qcow2")
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow2], check=True)
    runs = [one(binary, work, raw, qcow2, rep, log) for rep in range(reps)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    res = {"image_mib": os.path.getsize(raw) / W.MIB, "allocated_mib": T.allocated(raw) / W.MIB,
           "qcow2_mib": T.allocated(qcow2) / W.MIB, "reps": reps, "median": med, "runs": runs,
           "loadavg": os.getloadavg()}
    res["nbd_vs_raw"] = med["raw_snapshot"] / med["nbd_snapshot"]
    res["nbd_vs_convert"] = med["qemu_img_convert"] / med["nbd_snapshot"]
    res["inc_read_vs_dirty"] = med["inc_read"] / med["dirty"]
    res["inc_vs_full"] = med["inc_snapshot"] / med["nbd_snapshot"]
    return res


def table(res):
    med, mib = res["median"], res["image_mib"]
    rows = ["| operation | seconds | MiB/s of the image | figure | target |",
            "|---|---:|---:|---|---|"]
    rows.append("| full snapshot of the raw file | %.2f | %.0f | | |" %
                (med["raw_snapshot"], mib / med["raw_snapshot"]))
    rows.append("| full snapshot over NBD (qemu-nbd, qcow2) | %.2f | %.0f | %.2fx the raw file's "
                "throughput | >= 0.5x |" % (med["nbd_snapshot"], mib / med["nbd_snapshot"],
                                             res["nbd_vs_raw"]))
    rows.append("| qemu-img convert -O raw of the qcow2 | %.2f | %.0f | the NBD snapshot %.2fx "
                "as fast | faster (> 1x) |" % (med["qemu_img_convert"],
                                                 mib / med["qemu_img_convert"],
                                                 res["nbd_vs_convert"]))
    rows.append("| nbdcopy of the export to null: | %.2f | %.0f | (libnbd's copier: the read "
                "floor) | |" % (med["nbdcopy"], mib / med["nbdcopy"]))
    rows.append("| incremental from a dirty bitmap of a 1 %% change | %.3f | | read %.2f MiB "
                "of %.2f MiB dirty (%.3fx); %.1f %% of the full NBD snapshot's time | <= 1.1x; "
                "<= 5 %% |" % (med["inc_snapshot"], med["inc_read"] / W.MIB,
                               med["dirty"] / W.MIB, res["inc_read_vs_dirty"],
                               100 * res["inc_vs_full"]))
    rows += ["", "Reading the export alone (nbdcopy to null:, 64 KiB requests):", "",
             "| connections | requests in flight per connection | seconds | MiB/s of the image |",
             "|---:|---:|---:|---:|"]
    for name, conns, reqs in READ_MODES:
        if name in med:
            rows.append("| %d | %d | %.2f | %.0f |" % (conns, reqs, med[name], mib / med[name]))
    return "\n".join(rows)
