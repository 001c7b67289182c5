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

Beside it, in the same repetition, the field's own tool: Debian's
virtnbdbackup, which needs libvirt.  The bench runs virtlogd and libvirtd
itself (`-d`, their PID files in the work directory, libvirtd's sockets
in a private directory given by its own configuration file; as root the
QEMU driver's state stays in the system's /run/libvirt and
/var/lib/libvirt), defines a transient domain (created paused, as
backup-vm's QEMU runs no guest) on another fresh copy of the same qcow2,
and times `virtnbdbackup -l full`, the same 1 % change written through
HMP qemu-io, and `virtnbdbackup -l inc` (libvirt's checkpoints, QEMU's
dirty bitmaps): seconds, peak RSS, the bytes read (its own log's "bytes
of data extents to backup") and the bytes its output takes.  The daemons
are stopped by their PIDs at the end.  Targets (issue 21): backup-vm at
least 2x virtnbdbackup's throughput and at most 0.5x its bytes stored.
Without libvirt (or when libvirtd cannot start) the comparison is
skipped with the reason, and backup-vm's figures stand alone.
"""
import glob
import json
import os
import random
import re
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


class Libvirt:
    """virtlogd and libvirtd started as the bench's own daemons in @work,
    stopped by their PIDs when the block ends (and any domain it defined
    destroyed first)."""

    def __init__(self, work):
        self.dir = os.path.join(work, "libvirt")
        self.sockdir = os.path.join(self.dir, "run")
        self.uri = "qemu:///system?socket=%s/libvirt-sock" % self.sockdir
        self.pids = []
        self.up = False

    def __enter__(self):
        for tool in ("libvirtd", "virtlogd", "virsh", "virtnbdbackup"):
            if not shutil.which(tool):
                raise T.Skip("virtnbdbackup: needs %s (libvirt-daemon-system, virtnbdbackup: "
                             "bench/setup)" % tool)
        if os.getuid() != 0:
            raise T.Skip("virtnbdbackup: libvirtd's QEMU driver runs as root here")
        os.makedirs(self.sockdir, exist_ok=True)
        conf = os.path.join(self.dir, "libvirtd.conf")
        with open(conf, "w") as f:
            f.write('unix_sock_dir = "%s"\nlisten_tls = 0\nlisten_tcp = 0\n'
                    'auth_unix_rw = "none"\nauth_unix_ro = "none"\n' % self.sockdir)
        for name, argv in (("virtlogd", ["virtlogd", "-d"]),
                           ("libvirtd", ["libvirtd", "-d", "-f", conf])):
            pidfile = os.path.join(self.dir, name + ".pid")
            err = os.path.join(self.dir, name + ".err")
            with open(err, "w") as e:
                rc = subprocess.run(argv + ["-p", pidfile], stdin=subprocess.DEVNULL,
                                    stdout=e, stderr=e).returncode
            for _ in range(100):
                if os.path.exists(pidfile) and open(pidfile).read().strip():
                    break
                time.sleep(0.1)
            if rc != 0 or not os.path.exists(pidfile):
                self.__exit__(None, None, None)
                raise T.Skip("virtnbdbackup: %s did not start (exit %d): %s" %
                             (name, rc, open(err).read().strip()[-500:]))
            self.pids.append(int(open(pidfile).read().strip()))
        for _ in range(100):
            p = self.virsh("version")
            if p.returncode == 0:
                break
            time.sleep(0.1)
        else:
            self.__exit__(None, None, None)
            raise T.Skip("virtnbdbackup: libvirtd does not answer: %s" % p.stderr.strip())
        self.up = True
        return self

    def virsh(self, *args):
        """virsh on the bench's libvirtd."""
        return subprocess.run(["virsh", "-q", "-c", self.uri] + list(args), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def domain(self, qcow2):
        """A transient domain, paused, of @qcow2 as its virtio disk vda."""
        # libvirt's QEMU runs as libvirt-qemu: it must reach the disk.  The
        # work directory (mkdtemp's, 0700) is made searchable; anything
        # above it must already be.
        d = os.path.dirname(os.path.abspath(qcow2))
        top = os.path.dirname(self.dir)  # the bench's work directory
        while True:
            if d == top or d.startswith(top + "/"):
                os.chmod(d, os.stat(d).st_mode | 0o011)
            elif not os.stat(d).st_mode & 0o001:
                raise T.Skip("virtnbdbackup: libvirt's QEMU (libvirt-qemu) cannot reach %s: "
                             "%s is not searchable by others" % (qcow2, d))
            if d == "/":
                break
            d = os.path.dirname(d)
        xml = """<domain type='qemu'>
  <name>blocksnap-bench</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/><source file='%s'/><target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>""" % qcow2
        path = os.path.join(self.dir, "domain.xml")
        with open(path, "w") as f:
            f.write(xml)
        p = self.virsh("create", path, "--paused")
        if p.returncode != 0:
            raise T.Failed("virsh create: %s" % p.stderr.strip())

    def write(self, writes):
        """The guest's writes, (offset, length, pattern) each, through HMP
        qemu-io on the domain's virtio disk (one virsh for all)."""
        cmds = " ; ".join("qemu-monitor-command blocksnap-bench --hmp 'qemu-io -d "
                          "virtio-disk0/virtio-backend \"write -P 0x%02x %d %d\"'" % (pat, off, n)
                          for off, n, pat in writes)
        p = self.virsh(cmds)
        if p.returncode != 0 or p.stdout.strip() or p.stderr.strip():
            raise T.Failed("qemu-io in the libvirt domain: %s %s" % (p.stdout.strip()[-500:],
                                                                     p.stderr.strip()[-500:]))

    def destroy(self):
        self.virsh("destroy", "blocksnap-bench")

    def __exit__(self, *exc):
        if self.up:
            self.destroy()  # if still there
            self.up = False
        for pid in reversed(self.pids):
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                continue
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, 9)
        self.pids = []
        return False


def vnb(lv, work, level):
    """virtnbdbackup -l @level of the bench's domain into work/vnb: its
    Measure and the bytes it read (its log's data extents)."""
    out = os.path.join(work, "vnb")
    m, _ = T.run(["virtnbdbackup", "-U", lv.uri, "-d", "blocksnap-bench", "-l", level,
                  "-o", out])
    logs = sorted(glob.glob(os.path.join(out, "backup.%s.*.log" % level)))
    read = 0
    with open(logs[-1]) as f:
        for line in f:
            mm = re.search(r"(\d+) bytes of data extents to backup", line)
            if mm:
                read += int(mm.group(1))
    return m, read


def peer(lv, work, qcow2, offs, fig):
    """virtnbdbackup's full and incremental backups around the same change
    as backup-vm's, on a fresh copy of @qcow2; into @fig."""
    disk = os.path.join(work, "vm-libvirt.qcow2")
    out = os.path.join(work, "vnb")
    shutil.rmtree(out, ignore_errors=True)
    shutil.copyfile(qcow2, disk)
    lv.domain(disk)
    try:
        m, read = vnb(lv, work, "full")
        fig["vnb_full"], fig["vnb_full_rss_kib"], fig["vnb_full_read"] = m.secs, m.rss_kib, read
        fig["vnb_full_stored"] = T.allocated(out)
        lv.write([(o * CHUNK, CHUNK, 1 + i % 250) for i, o in enumerate(offs)])
        m, read = vnb(lv, work, "inc")
        fig["vnb_inc"], fig["vnb_inc_rss_kib"], fig["vnb_inc_read"] = m.secs, m.rss_kib, read
        fig["vnb_inc_stored"] = T.allocated(out) - fig["vnb_full_stored"]
    finally:
        lv.destroy()
        os.unlink(disk)
        shutil.rmtree(out, ignore_errors=True)


def backup(binary, store, qmp):
    m, text = T.run([binary, "--store", store, "backup-vm", "--qmp", qmp, "--quiet"])
    return m, json.loads(text)["Snapshots"][0]


def one(binary, work, raw, qcow2, rep, log, lv):
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
        fig["full_stored"] = T.allocated(store)
        for i, o in enumerate(offs):
            vm.cmd("human-monitor-command", **{"command-line": 'qemu-io drive0 "write -P 0x%02x %d %d"'
                                               % (1 + i % 250, o * CHUNK, CHUNK)})
        fig["dirty"] = len(offs) * CHUNK
        m, snap = backup(binary, store, vm.qmp)
        fig["inc"], fig["inc_rss_kib"], fig["inc_read"] = m.secs, m.rss_kib, snap["BytesRead"]
        fig["inc_stored"] = T.allocated(store) - fig["full_stored"]
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
    if lv:
        peer(lv, work, qcow2, offs, fig)
        log("backupvm: run %d: virtnbdbackup full %.2fs (read %d, stored %d), incremental %.2fs "
            "(read %d)" % (rep + 1, fig["vnb_full"], fig["vnb_full_read"], fig["vnb_full_stored"],
                           fig["vnb_inc"], fig["vnb_inc_read"]))
    return fig


def run(binary, work, size, seed, reps, log):
    for tool in ("qemu-system-x86_64", "qemu-img"):
        if not shutil.which(tool):
            raise T.Skip("backupvm: needs %s (qemu-system-x86, qemu-utils)" % tool)
    raw = encrypt.make_image(work, size, seed, log)
    qcow2 = os.path.join(work, "base.qcow2")
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow2], check=True)
    load_before = os.getloadavg()
    peer_skipped = None
    lv = Libvirt(work)
    try:
        lv.__enter__()
    except T.Skip as e:
        peer_skipped, lv = str(e), None
        log("backupvm: %s" % e)
    try:
        runs = [one(binary, work, raw, qcow2, rep, log, lv) for rep in range(reps)]
    finally:
        if lv:
            lv.__exit__(None, None, None)
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    res = {"image_mib": os.path.getsize(raw) / W.MIB, "allocated_mib": T.allocated(raw) / W.MIB,
           "reps": reps, "median": med, "runs": runs, "loadavg_before": load_before,
           "loadavg": os.getloadavg(), "peer_skipped": peer_skipped}
    if "vnb_full" in med:
        res["full_throughput_vs_vnb"] = med["vnb_full"] / med["full"]
        res["inc_throughput_vs_vnb"] = med["vnb_inc"] / med["inc"]
        res["full_stored_vs_vnb"] = med["full_stored"] / med["vnb_full_stored"]
        res["inc_stored_vs_vnb"] = med["inc_stored"] / max(1, med["vnb_inc_stored"])
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
    if "vnb_full" in med:
        rows.append("")
        rows.append("| tool | full: seconds | read | stored | peak RSS | incremental: seconds | "
                    "read | stored |")
        rows.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        rows.append("| backup-vm | %.2f | %.1f MiB | %.1f MiB | %.0f MiB | %.3f | %.2f MiB | "
                    "%.2f MiB |" % (med["full"], med["full_read"] / W.MIB,
                                    med["full_stored"] / W.MIB, med["full_rss_kib"] / 1024,
                                    med["inc"], med["inc_read"] / W.MIB,
                                    med["inc_stored"] / W.MIB))
        rows.append("| virtnbdbackup | %.2f | %.1f MiB | %.1f MiB | %.0f MiB | %.3f | %.2f MiB | "
                    "%.2f MiB |" % (med["vnb_full"], med["vnb_full_read"] / W.MIB,
                                    med["vnb_full_stored"] / W.MIB,
                                    med["vnb_full_rss_kib"] / 1024, med["vnb_inc"],
                                    med["vnb_inc_read"] / W.MIB, med["vnb_inc_stored"] / W.MIB))
        rows.append("")
        rows.append("backup-vm / virtnbdbackup: throughput %.2fx full, %.2fx incremental "
                    "(target >= 2x); bytes stored %.2fx full, %.2fx incremental (target <= 0.5x)."
                    % (res["full_throughput_vs_vnb"], res["inc_throughput_vs_vnb"],
                       res["full_stored_vs_vnb"], res["inc_stored_vs_vnb"]))
    elif res.get("peer_skipped"):
        rows.append("")
        rows.append("virtnbdbackup: skipped: %s" % res["peer_skipped"])
    return "\n".join(rows)
