"""--scenario cow: writable copy-on-write volumes (create-volume without
--path), in one run.

  * create-volume --snapshot-id of a 128 MiB and of a 64 GiB image (sparse,
    a little data): wall time of the command, median of --reps * 5 runs
    each (every volume deleted after its run), and the ratio of the two
    (the issue's targets: <= 50 ms, and the same within 20 %);
  * through the mount, on a writable volume of a --size image: a sequential
    write of the whole volume, 1 MiB at a time, then fsync, against the same
    write of a plain file in the work directory (the same disk) (target:
    the volume >= 0.5x the plain file);
  * random 4 KiB reads of the volume file, warm (it was read whole through
    the same open file first): p50 and p99 of 20,000 (target p99 <= 50 us);
  * random 4 KiB writes to it, each timed alone: p50 and p99 of 5,000
    (target p99 <= 2 ms), on a fresh volume, so that most are a chunk's
    first write (its base read, merged, written whole);
  * the three mount figures again on encrypted volumes (create-volume
    --encrypted: every chunk sealed, a 4 KiB write a read, open, merge and
    seal of its chunk), beside the plain ones, the same targets.

Buffers the kernel copies into or out of are page-aligned (mmap).
"""
import json
import mmap
import os
import random
import shutil
import statistics
import subprocess
import time

import tools as T
import workload as W

IO = 1 << 20


def sparse_image(path, size, seed):
    """@size bytes, sparse, with 8 MiB of random data spread in 1 MiB pieces."""
    rnd = random.Random(seed)
    with open(path, "wb") as f:
        f.truncate(size)
        for i in range(8):
            f.seek((size // 8) * i)
            f.write(rnd.randbytes(IO))


def time_create(cli, snap, n, log):
    """Median wall seconds of @n create-volume runs (each volume deleted after)."""
    secs = []
    for _ in range(n):
        m, text = T.run(cli + ["create-volume", "--snapshot-id", snap], rss=False)
        secs.append(m.secs)
        vol = json.loads(text)["VolumeId"]
        T.run(cli + ["delete-volume", "--volume-id", vol], rss=False)
    return statistics.median(secs), secs


def seq_write(path, size, create):
    """Seconds to write @size bytes to @path 1 MiB at a time, then fsync."""
    buf = mmap.mmap(-1, IO)
    buf.write(os.urandom(IO))
    flags = os.O_WRONLY | (os.O_CREAT | os.O_TRUNC if create else 0)
    fd = os.open(path, flags, 0o644)
    t0 = time.perf_counter()
    off = 0
    while off < size:
        os.pwritev(fd, [buf], off)
        off += IO
    os.fsync(fd)
    secs = time.perf_counter() - t0
    os.close(fd)
    return secs


def pctl(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def rand_reads(path, size, n, seed):
    """Warm random 4 KiB reads: the file read whole first through the same fd."""
    buf = mmap.mmap(-1, IO)
    fd = os.open(path, os.O_RDONLY)
    off = 0
    while off < size:
        os.preadv(fd, [buf], off)
        off += IO
    small = memoryview(mmap.mmap(-1, 4096))
    rnd = random.Random(seed)
    lat = []
    for _ in range(n):
        o = rnd.randrange(size // 4096) * 4096
        t0 = time.perf_counter_ns()
        os.preadv(fd, [small], o)
        lat.append((time.perf_counter_ns() - t0) / 1000.0)
    os.close(fd)
    return lat


def rand_writes(path, size, n, seed):
    small = mmap.mmap(-1, 4096)
    small.write(os.urandom(4096))
    fd = os.open(path, os.O_WRONLY)
    rnd = random.Random(seed)
    lat = []
    for _ in range(n):
        o = rnd.randrange(size // 4096) * 4096
        t0 = time.perf_counter_ns()
        os.pwritev(fd, [small], o)
        lat.append((time.perf_counter_ns() - t0) / 1000.0)
    os.fsync(fd)
    os.close(fd)
    return lat


def through_mount(cli, env, snap, mnt, plain, size, seed, reps, extra, mode, log):
    """The mount figures on volumes made with @extra options."""
    seq_vol, seq_plain, reads, writes = [], [], [], []
    for rep in range(reps):
        vols = []
        for _ in range(2):
            _, text = T.run(cli + ["create-volume", "--snapshot-id", snap] + extra, env=env,
                            rss=False)
            doc = json.loads(text)
            if bool(doc.get("Encrypted")) != bool(extra):
                raise T.Failed("cow: the %s volume says Encrypted=%s" % (mode, doc.get("Encrypted")))
            vols.append(doc["VolumeId"])
        p0 = os.path.join(mnt, "volumes", vols[0] + ".img")
        p1 = os.path.join(mnt, "volumes", vols[1] + ".img")
        with T.Mount(cli + ["mount", mnt, "--foreground"], mnt, probe=lambda: p1, env=env):
            seq_plain.append(seq_write(plain, size, True))
            os.unlink(plain)
            seq_vol.append(seq_write(p0, size, False))
            reads += rand_reads(p0, size, 20000, seed + rep)
            writes += rand_writes(p1, size, 5000, seed + rep)
        for v in vols:
            T.run(cli + ["delete-volume", "--volume-id", v], env=env, rss=False)
        log("cow: run %d %s: sequential write volume %.2fs, plain file %.2fs" %
            (rep + 1, mode, seq_vol[-1], seq_plain[-1]))
    mib = size / W.MIB
    m = {
        "size": size,
        "seq_volume_mibs": mib / statistics.median(seq_vol),
        "seq_plain_mibs": mib / statistics.median(seq_plain),
        "read_p50_us": pctl(reads, 0.50), "read_p99_us": pctl(reads, 0.99),
        "write_p50_us": pctl(writes, 0.50), "write_p99_us": pctl(writes, 0.99),
    }
    m["seq_ratio"] = m["seq_volume_mibs"] / m["seq_plain_mibs"]
    return m


def run(binary, work, size, seed, reps, log):
    store = os.path.join(work, "store-cow")
    cli = [binary, "--store", store]
    env = {"BLOCKSNAP_KEY_DIR": os.path.join(work, "keys-cow")}
    shutil.rmtree(store, ignore_errors=True)
    T.run(cli + ["create-store"], env=env, rss=False)
    res = {"reps": reps, "loadavg_start": os.getloadavg()}

    # create-volume: constant time in the image size
    for name, isize in (("small", 128 * W.MIB), ("large", 64 << 30)):
        img = os.path.join(work, "cow-%s.img" % name)
        sparse_image(img, isize, seed)
        m, text = T.run(cli + ["create-snapshot", "--volume", img, "--quiet"], env=env, rss=False)
        snap = json.loads(text)["SnapshotId"]
        os.unlink(img)
        med, all_secs = time_create(cli, snap, max(5, reps * 5), log)
        res["create_" + name] = {"size": isize, "median": med, "runs": all_secs}
        log("cow: create-volume of a %d MiB snapshot: median %.1f ms" % (isize // W.MIB, med * 1e3))
    res["create_ratio"] = res["create_large"]["median"] / res["create_small"]["median"]

    # through the mount
    img = os.path.join(work, "cow-base.img")
    sparse_image(img, size, seed + 1)
    m, text = T.run(cli + ["create-snapshot", "--volume", img, "--quiet"], env=env, rss=False)
    snap = json.loads(text)["SnapshotId"]
    os.unlink(img)
    mnt = os.path.join(work, "mnt-cow")
    plain = os.path.join(work, "plain.img")
    res["mount"] = through_mount(cli, env, snap, mnt, plain, size, seed, reps, [], "plain", log)
    res["mount_encrypted"] = through_mount(cli, env, snap, mnt, plain, size, seed, reps,
                                           ["--encrypted"], "encrypted", log)
    res["loadavg_end"] = os.getloadavg()
    shutil.rmtree(store, ignore_errors=True)
    return res


def table(res):
    s, l, m = res["create_small"], res["create_large"], res["mount"]
    rows = ["| figure | measured | target |", "|---|---:|---|",
            "| create-volume, 128 MiB snapshot | %.1f ms | <= 50 ms |" % (s["median"] * 1e3),
            "| create-volume, 64 GiB snapshot | %.1f ms | <= 50 ms |" % (l["median"] * 1e3),
            "| 64 GiB / 128 MiB | %.2fx | 0.8-1.2x |" % res["create_ratio"],
            "| sequential write through the mount (%d MiB, fsync) | %.0f MiB/s | |" %
            (m["size"] // W.MIB, m["seq_volume_mibs"]),
            "| the same write to a plain file | %.0f MiB/s | |" % m["seq_plain_mibs"],
            "| volume / plain file | %.2fx | >= 0.5x |" % m["seq_ratio"],
            "| random 4 KiB read, warm: p50 / p99 | %.1f / %.1f us | p99 <= 50 us |" %
            (m["read_p50_us"], m["read_p99_us"]),
            "| random 4 KiB write: p50 / p99 | %.0f / %.0f us | p99 <= 2 ms |" %
            (m["write_p50_us"], m["write_p99_us"])]
    e = res.get("mount_encrypted")
    if e:
        rows += ["| encrypted: sequential write through the mount | %.0f MiB/s | |" %
                 e["seq_volume_mibs"],
                 "| encrypted: volume / plain file | %.2fx | >= 0.5x |" % e["seq_ratio"],
                 "| encrypted: random 4 KiB read, warm: p50 / p99 | %.1f / %.1f us | "
                 "p99 <= 50 us |" % (e["read_p50_us"], e["read_p99_us"]),
                 "| encrypted: random 4 KiB write: p50 / p99 | %.0f / %.0f us | p99 <= 2 ms |" %
                 (e["write_p50_us"], e["write_p99_us"])]
    return "\n".join(rows)
