"""--scenario backupvm: backup-vm of a running QEMU (no guest: -machine none,
the workload image as a qcow2 disk), full and then incremental from the
dirty bitmap the full run left, in one run.

Each repetition starts QEMU on a fresh copy of the qcow2 and a fresh
store, and takes:

  * backup-vm's first run: the bitmap and fleecing transaction, the NBD
    export, a full read of the disk (holes from base:allocation are not
    read), the tear-down;
  * a 1 % change written by the "guest" (HMP qemu-io: 64 KiB writes at
    distinct random 64 KiB-aligned offsets);
  * backup-vm's second run: only what the bitmap marks dirty is read; its
    BytesRead against the bytes written, its time against the full run's.
    In the first repetition its restore is compared with the raw image with
    the same writes applied.

Both runs include QMP and the set-up and tear-down of the export (about
0.1 s): the whole of what a user waits for.  Targets (issue 21): the
incremental reads <= 1.1x the dirty bytes in <= 5 % of the full backup's
time.
"""
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import time

import encrypt
import tools as T
import workload as W

CHUNK = 64 * 1024


class Qemu:
    """QEMU -machine none with @qcow2 as node drive0, a QMP socket for
    backup-vm and one for the bench; stopped by its PID when the block
    ends."""

    def __init__(self, work, qcow2):
        self.qmp = os.path.join(work, "vm.qmp")
        self.own = os.path.join(work, "vm-bench.qmp")
        self.argv = ["qemu-system-x86_64", "-nodefaults", "-display", "none", "-machine", "none",
                     "-uuid", "6c0a3a5e-5e7b-4a50-9d0c-0123456789ab",
                     "-qmp", "unix:%s,server=on,wait=off" % self.qmp,
                     "-qmp", "unix:%s,server=on,wait=off" % self.own,
                     "-blockdev", "driver=file,filename=%s,node-name=f0" % qcow2,
                     "-blockdev", "driver=qcow2,file=f0,node-name=drive0"]
        self.p = None
        self.f = None

    def __enter__(self):
        for s in (self.qmp, self.own):
            if os.path.exists(s):
                os.unlink(s)
        self.p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(self.qmp) and os.path.exists(self.own):
                break
            if self.p.poll() is not None:
                raise T.Failed("qemu exited %d" % self.p.returncode)
            time.sleep(0.05)
        else:
            raise T.Failed("qemu did not open its QMP sockets")
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(60)
        s.connect(self.own)
        self.f = s.makefile("rw")
        self.f.readline()
        self.cmd("qmp_capabilities")
        return self

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            m = json.loads(self.f.readline())
            if "error" in m:
                raise T.Failed("qmp %s: %s" % (name, m["error"]))
            if "return" in m:
                return m["return"]

    def __exit__(self, *exc):
        self.p.terminate()
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def backup(binary, store, qmp):
    m, text = T.run([binary, "--store", store, "backup-vm", "--qmp", qmp, "--quiet"])
    return m, json.loads(text)["Snapshots"][0]


def one(binary, work, raw, qcow2, rep, log):
    fig = {}
    store = os.path.join(work, "store-vm")
    shutil.rmtree(store, ignore_errors=True)
    disk = os.path.join(work, "vm.qcow2")
    shutil.copyfile(qcow2, disk)
    size = os.path.getsize(raw)
    rnd = random.Random(1000 + rep)
    offs = sorted(rnd.sample(range(size // CHUNK), max(1, size // 100 // CHUNK)))
    with Qemu(work, disk) as vm:
        m, snap = backup(binary, store, vm.qmp)
        fig["full"], fig["full_rss_kib"], fig["full_read"] = m.secs, m.rss_kib, snap["BytesRead"]
        for i, o in enumerate(offs):
            vm.cmd("human-monitor-command", **{"command-line": 'qemu-io drive0 "write -P 0x%02x %d %d"'
                                               % (1 + i % 250, o * CHUNK, CHUNK)})
        fig["dirty"] = len(offs) * CHUNK
        m, snap = backup(binary, store, vm.qmp)
        fig["inc"], fig["inc_rss_kib"], fig["inc_read"] = m.secs, m.rss_kib, snap["BytesRead"]
        if not snap["Incremental"]:
            raise T.Failed("backupvm: the second run was not incremental")
    if rep == 0:
        ref = os.path.join(work, "changed.raw")
        shutil.copyfile(raw, ref)
        with open(ref, "r+b") as f:
            for i, o in enumerate(offs):
                f.seek(o * CHUNK)
                f.write(bytes([1 + i % 250]) * CHUNK)
        out = os.path.join(work, "restored.raw")
        T.run([binary, "--store", store, "create-volume", "--snapshot-id", snap["SnapshotId"],
               "--path", out, "--force", "--quiet"])
        same = subprocess.run(["cmp", "-s", ref, out]).returncode == 0
        os.unlink(out)
        os.unlink(ref)
        if not same:
            raise T.Failed("backupvm: the restore of the incremental differs from the disk")
    os.unlink(disk)
    shutil.rmtree(store, ignore_errors=True)
    log("backupvm: run %d: full %.2fs (read %d), incremental %.3fs (read %d of %d dirty)" %
        (rep + 1, fig["full"], fig["full_read"], fig["inc"], fig["inc_read"], fig["dirty"]))
    return fig


def run(binary, work, size, seed, reps, log):
    for tool in ("qemu-system-x86_64", "qemu-img"):
        if not shutil.which(tool):
            raise T.Skip("backupvm: needs %s (qemu-system-x86, qemu-utils)" % tool)
    raw = encrypt.make_image(work, size, seed, log)
    qcow2 = os.path.join(work, "base.qcow2")
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow2], check=True)
    runs = [one(binary, work, raw, qcow2, rep, log) for rep in range(reps)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    res = {"image_mib": os.path.getsize(raw) / W.MIB, "allocated_mib": T.allocated(raw) / W.MIB,
           "reps": reps, "median": med, "runs": runs, "loadavg": os.getloadavg()}
    res["inc_read_vs_dirty"] = med["inc_read"] / med["dirty"]
    res["inc_vs_full"] = med["inc"] / med["full"]
    return res


def table(res):
    med, mib = res["median"], res["image_mib"]
    rows = ["| operation | seconds | read | peak RSS | figure | target |",
            "|---|---:|---:|---:|---|---|"]
    rows.append("| backup-vm, first run (full) | %.2f | %.1f MiB | %.0f MiB | %.0f MiB/s of the "
                "image | |" % (med["full"], med["full_read"] / W.MIB, med["full_rss_kib"] / 1024,
                              mib / med["full"]))
    rows.append("| backup-vm after a 1 %% change (bitmap) | %.3f | %.2f MiB | %.0f MiB | read "
                "%.3fx the %.2f MiB dirty; %.1f %% of the full run's time | <= 1.1x; <= 5 %% |" %
                (med["inc"], med["inc_read"] / W.MIB, med["inc_rss_kib"] / 1024,
                 res["inc_read_vs_dirty"], med["dirty"] / W.MIB, 100 * res["inc_vs_full"]))
    return "\n".join(rows)
