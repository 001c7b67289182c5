"""--scenario inst-image: what create-image of a running instance costs
per volume, against the floors of the same run.

A running instance's volume is a writable copy-on-write volume served to
QEMU by the blocksnap nbdkit plugin, which holds its one writer handle;
create-image snapshots it through the plugin's control channel (control=,
a flush and a snapshot request).  On the workload image (as the main
sequence's base.img: system files in a --size ext4 image; --workload DIR
reuses DIR/base.img), each repetition, on a fresh store:

  * the full snapshot of the disk (create-snapshot --volume base.img): the
    time to beat, and the base of the volume;
  * create-volume from it, served by `nbdkit blocksnap volume=… control=…`;
  * 1 % of the disk's chunks written through NBD (qemu-io, 64 KiB writes at
    distinct random chunk-aligned offsets, each chunk real data from
    elsewhere in the image with a unique 16-byte head: compressible as the
    image is, never a duplicate);
  * flush and snapshot over the control socket, timed from the first
    request sent to the last answer read: what create-image --no-reboot
    does per volume while the guest is paused.

Then, where QEMU is installed, the whole command on a real instance: an
image of the disk registered (--no-boot-check: the machine only has to
run), run-instances of it (TCG; the disk does not boot, QEMU just runs), 1 %
of the chunks written through a second connection to the server that
serves the volume to QEMU, and create-image --instance-id --no-reboot
timed as the user waits for it (QMP stop, flush and snapshot through the
control channel, the registration, QMP cont), its stored bytes the store's
PackBytes added.

The figures: the bytes the snapshot stored (NewBytes: chunks, block-map
pages and record headers) against the LZ4 (-1, independent 64 KiB blocks:
the suite's floor) size of the written chunks computed in the same run,
and the snapshot's time against the full snapshot's.  Targets (issue 20):
<= 1.1x and <= 5 %.  The first repetition restores the new snapshot and
compares it with the image with the same writes applied.
"""
import json
import os
import random
import shutil
import socket
import statistics
import struct
import subprocess
import time

import nbdkit
import tools as T
import workload as W

CHUNK = 64 * 1024


def control(sock, req):
    """One request on control socket @sock: its answer (a dict)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(600)
    s.connect(sock)
    s.sendall(json.dumps(req).encode() + b"\n")
    got = b""
    while b"\n" not in got:
        b = s.recv(65536)
        if not b:
            break
        got += b
    s.close()
    a = json.loads(got)
    if not a.get("Ok"):
        raise T.Failed("control %s: %s (%s)" % (req["Op"], a.get("Message"), a.get("Code")))
    return a


def data_chunks(image, rnd, n):
    """@n indices of non-zero chunks of @image, drawn at random."""
    size = os.path.getsize(image)
    out = []
    with open(image, "rb") as f:
        while len(out) < n:
            i = rnd.randrange(size // CHUNK)
            f.seek(i * CHUNK)
            if f.read(CHUNK).strip(b"\0"):
                out.append(i)
    return out


def write_set(work, image, seed, rep):
    """1 % of @image's chunks at random distinct offsets, each real data
    from elsewhere in it with a unique head: (offsets, qemu-io arguments
    that write them, the file of the written chunks, their LZ4 size)."""
    size = os.path.getsize(image)
    rnd = random.Random(seed)
    offs = sorted(rnd.sample(range(size // CHUNK), max(1, size // 100 // CHUNK)))
    srcs = data_chunks(image, rnd, len(offs))
    cdir = os.path.join(work, "chunks")
    shutil.rmtree(cdir, ignore_errors=True)
    os.makedirs(cdir)
    written = os.path.join(work, "written.bin")
    cmds = []
    with open(image, "rb") as img, open(written, "wb") as allw:
        for i, (o, s) in enumerate(zip(offs, srcs)):
            img.seek(s * CHUNK)
            data = struct.pack("<QQ", seed + rep, i) + img.read(CHUNK)[16:]
            path = os.path.join(cdir, "%d" % i)
            with open(path, "wb") as f:
                f.write(data)
            allw.write(data)
            cmds += ["-c", "write -q -s %s %d %d" % (path, o * CHUNK, CHUNK)]
    out = subprocess.run(W.lz4_chunks_argv(written, CHUNK), stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, check=True).stdout
    return offs, cmds, written, len(out)


def qemu_io(uri, cmds):
    p = subprocess.run(["qemu-io", "-f", "raw", uri] + cmds, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise T.Failed("qemu-io: %s" % p.stdout[-1000:])


def pack_bytes(binary, store):
    _, text = T.run([binary, "--store", store, "describe-store"], rss=False)
    return json.loads(text)["PackBytes"]


def instance_image(binary, plugin, work, store, base, image, rep, log):
    """create-image --no-reboot of a running instance of the image whose
    volume took a 1 % write: (seconds, PackBytes added, LZ4 of the written
    chunks, bytes written)."""
    env = dict(os.environ, BLOCKSNAP_NBDKIT_PLUGIN=plugin, BLOCKSNAP_ACCEL="tcg")
    b = [binary, "--store", store]
    _, text = T.run(b + ["register-image", "--name", "wl-%d" % rep, "--no-boot-check",
                         "--block-device-mappings",
                         "DeviceName=/dev/xvda,Ebs={SnapshotId=%s}" % base], rss=False)
    ami = json.loads(text)["ImageId"]
    _, text = T.run(b + ["run-instances", "--image-id", ami, "--instance-type", "t3.nano"],
                    env=env, rss=False)
    iid = json.loads(text)["Instances"][0]["InstanceId"]
    try:
        for _ in range(600):
            _, text = T.run(b + ["describe-instances", "--instance-ids", iid], env=env, rss=False)
            st = json.loads(text)["Reservations"][0]["Instances"][0]["State"]["Name"]
            if st == "running":
                break
            time.sleep(0.2)
        else:
            raise T.Failed("inst-image: instance %s is %s, not running" % (iid, st))
        # the volume's server (QEMU's) takes a second connection: the 1 % write
        sock = os.path.join(store, "instances", iid, "v0.sock")
        offs, cmds, written, lz4 = write_set(work, image, 4000 + rep, rep)
        qemu_io("nbd+unix:///?socket=" + sock, cmds)
        shutil.rmtree(os.path.join(work, "chunks"))
        os.unlink(written)
        before = pack_bytes(binary, store)
        m, _ = T.run(b + ["create-image", "--instance-id", iid, "--name", "ci-%d" % rep,
                          "--no-reboot", "--no-boot-check"], env=env)
        stored = pack_bytes(binary, store) - before
    finally:
        T.run(b + ["terminate-instances", "--instance-ids", iid, "--stop-timeout", "1"], env=env,
              rss=False)
    return m.secs, stored, lz4, len(offs) * CHUNK


def one(binary, plugin, work, image, rep, log):
    fig = {}
    store = os.path.join(work, "store-ii")
    shutil.rmtree(store, ignore_errors=True)
    size = os.path.getsize(image)
    m, text = T.run([binary, "--store", store, "create-snapshot", "--volume", image, "--quiet"])
    base = json.loads(text)["SnapshotId"]
    fig["full"], fig["full_rss_kib"] = m.secs, m.rss_kib
    _, text = T.run([binary, "--store", store, "create-volume", "--snapshot-id", base, "--quiet"])
    vol = json.loads(text)["VolumeId"]

    offs, cmds, written, fig["lz4"] = write_set(work, image, 2000 + rep, rep)
    fig["written"] = len(offs) * CHUNK
    ctl = os.path.join(work, "ctl.sock")
    with nbdkit.Server(work, "vol", [plugin, "store=" + store, "volume=" + vol,
                                     "control=" + ctl]) as s:
        qemu_io(s.uri, cmds)
        fig["load"] = os.getloadavg()[0]
        t0 = time.perf_counter()
        control(ctl, {"Op": "flush"})
        t1 = time.perf_counter()
        a = control(ctl, {"Op": "snapshot", "Description": "bench inst-image"})
        t2 = time.perf_counter()
    fig["flush"], fig["snap"], fig["ctl"] = t1 - t0, t2 - t1, t2 - t0
    st = a["Stats"]
    fig["read"], fig["stored"], fig["new_chunks"] = st["ReadBytes"], st["NewBytes"], st["NewChunks"]
    shutil.rmtree(os.path.join(work, "chunks"))
    if rep == 0:
        ref = os.path.join(work, "changed.raw")
        shutil.copyfile(image, ref)
        with open(ref, "r+b") as f, open(written, "rb") as w:
            for o in offs:
                f.seek(o * CHUNK)
                f.write(w.read(CHUNK))
        restored = os.path.join(work, "restored.raw")
        T.run([binary, "--store", store, "create-volume", "--snapshot-id", a["SnapshotId"],
               "--path", restored, "--force", "--quiet"])
        same = subprocess.run(["cmp", "-s", ref, restored]).returncode == 0
        os.unlink(restored)
        os.unlink(ref)
        if not same:
            raise T.Failed("inst-image: the restore of the volume's snapshot differs")
    os.unlink(written)
    if shutil.which("qemu-system-x86_64"):
        fig["ci"], fig["ci_stored"], fig["ci_lz4"], fig["ci_written"] = instance_image(
            binary, plugin, work, store, base, image, rep, log)
        log("inst-image: run %d: create-image --no-reboot of a running instance after a 1 %% "
            "write: %.3fs, stored %d (LZ4 of the written chunks %d)" %
            (rep + 1, fig["ci"], fig["ci_stored"], fig["ci_lz4"]))
    shutil.rmtree(store, ignore_errors=True)
    log("inst-image: run %d: full snapshot %.2fs; flush+snapshot over control %.3fs, read %d of "
        "%d written, stored %d (LZ4 of the written chunks %d) (load %.1f)" %
        (rep + 1, fig["full"], fig["ctl"], fig["read"], fig["written"], fig["stored"], fig["lz4"],
         fig["load"]))
    return fig


def run(binary, work, size, seed, reps, log, workload=None):
    plugin = os.path.join(os.path.dirname(os.path.abspath(binary)), "nbdkit",
                          "nbdkit-blocksnap-plugin.so")
    for tool in ("nbdkit", "nbdinfo", "qemu-io", "lz4"):
        if not shutil.which(tool):
            raise T.Skip("inst-image: needs %s" % tool)
    if not os.path.exists(plugin):
        raise T.Skip("inst-image: no plugin beside %s (%s)" % (binary, plugin))
    reused = workload and os.path.exists(os.path.join(workload, "base.img"))
    if reused:
        image = os.path.join(workload, "base.img")
        log("inst-image: workload image reused: %s" % image)
    else:
        image = nbdkit.make_image(work, size, seed, log)
    res = {"image_mib": os.path.getsize(image) / W.MIB,
           "allocated_mib": T.allocated(image) / W.MIB, "reps": reps,
           "load_before": os.getloadavg()}
    runs = [one(binary, plugin, work, image, rep, log) for rep in range(reps)]
    res["load_after"] = os.getloadavg()
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    res.update({"median": med, "runs": runs})
    res["stored_vs_lz4"] = med["stored"] / med["lz4"]
    res["ctl_vs_full"] = med["ctl"] / med["full"]
    res["read_vs_written"] = med["read"] / med["written"]
    if "ci" in med:
        res["ci_stored_vs_lz4"] = med["ci_stored"] / med["ci_lz4"]
        res["ci_vs_full"] = med["ci"] / med["full"]
    return res


def table(res):
    med = res["median"]
    rows = ["| operation | seconds | read | stored | figure | target |",
            "|---|---:|---:|---:|---|---|"]
    rows.append("| full snapshot of the disk (create-snapshot) | %.2f | | | %.0f MiB/s of the "
                "image | |" % (med["full"], res["image_mib"] / med["full"]))
    rows.append("| flush + snapshot over the control socket after a 1 %% write | %.3f | %.2f MiB "
                "| %.2f MiB | stored %.3fx the LZ4 size (%.2f MiB) of the %.2f MiB written; "
                "%.1f %% of the full snapshot's time | <= 1.1x; <= 5 %% |" %
                (med["ctl"], med["read"] / W.MIB, med["stored"] / W.MIB, res["stored_vs_lz4"],
                 med["lz4"] / W.MIB, med["written"] / W.MIB, 100 * res["ctl_vs_full"]))
    if "ci" in med:
        rows.append("| create-image --no-reboot of a running instance after a 1 %% write (the "
                    "whole command: QMP stop, the control channel, registration, cont) | %.3f | "
                    "| %.2f MiB | stored %.3fx the LZ4 size (%.2f MiB) of the %.2f MiB written; "
                    "%.1f %% of the full snapshot's time | <= 1.1x; <= 5 %% |" %
                    (med["ci"], med["ci_stored"] / W.MIB, res["ci_stored_vs_lz4"],
                     med["ci_lz4"] / W.MIB, med["ci_written"] / W.MIB, 100 * res["ci_vs_full"]))
    return "\n".join(rows)
