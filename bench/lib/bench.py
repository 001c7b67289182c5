"""bench/run's driver: make the workload, run every scenario for every tool
with the same inputs, check every restored or FUSE-read image against its
source, and write the results (JSON, Markdown, PNG plots).

Only the Python standard library is used.  See docs/benchmarks.md.
"""

import argparse
import datetime
import glob
import json
import mmap
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import backupvm  # noqa: E402
import catalog  # noqa: E402
import ebsdirect  # noqa: E402
import encrypt  # noqa: E402
import instimage  # noqa: E402
import nbd  # noqa: E402
import nbdkit  # noqa: E402
import cow  # noqa: E402
import inst  # noqa: E402
import prune  # noqa: E402
import report  # noqa: E402
import tools as T  # noqa: E402
import workload as W  # noqa: E402

SCENARIOS = ["full", "rescan", "change1", "change10", "addel", "cbt", "bytes", "restore",
             "fuse-seq", "fuse-rand", "rss", "chain", "sparse", "machine", "scale", "align",
             "chunksize", "copy", "catalog", "encrypt", "prune", "nbd", "nbdkit", "cow",
             "backupvm", "inst-image", "api-ebs", "inst"]
# Scenarios that run only when asked for, and alone (catalog.py, encrypt.py,
# prune.py, nbd.py, nbdkit.py, cow.py, backupvm.py, instimage.py,
# ebsdirect.py, inst.py).
ALONE = {"catalog", "encrypt", "prune", "nbd", "nbdkit", "cow", "backupvm", "inst-image",
         "api-ebs", "inst"}
# Scenarios that are figures of others.
DERIVED = {"bytes": ["full", "change1", "cbt"], "rss": ["full", "restore", "sparse"]}


def parse_size(text):
    units = {"": 1, "K": W.KIB, "M": W.MIB, "G": W.GIB, "T": 1024 * W.GIB}
    t = text.strip().upper().rstrip("B").rstrip("I")
    num = t.rstrip("KMGT")
    return int(float(num) * units[t[len(num):]])


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


class Results:
    """Per scenario and tool: the runs (dicts of figures), or skipped/failed."""

    def __init__(self):
        self.data = {}
        self.errors = []   # wrong answers: these fail the suite

    def slot(self, scenario, tool):
        return self.data.setdefault(scenario, {}).setdefault(
            tool, {"status": "ok", "runs": [], "note": ""})

    def add(self, scenario, tool, **fig):
        self.slot(scenario, tool)["runs"].append(fig)

    def mark(self, scenario, tool, status, note):
        s = self.slot(scenario, tool)
        if s["status"] == "ok" or status == "wrong":
            s["status"] = status
            s["note"] = note

    def summary(self):
        out = {}
        for scen, per in self.data.items():
            for tool, s in per.items():
                med = {}
                keys = set()
                for r in s["runs"]:
                    keys.update(r)
                for k in sorted(keys):
                    vals = [r[k] for r in s["runs"] if isinstance(r.get(k), (int, float))]
                    if vals:
                        med[k] = statistics.median(vals)
                    else:
                        vals = [r[k] for r in s["runs"] if k in r]
                        med[k] = vals[-1] if vals else None
                out.setdefault(scen, {})[tool] = {"status": s["status"], "note": s["note"],
                                                  "median": med, "runs": s["runs"]}
        return out


def same(a, b):
    """cmp -s: byte-identical files."""
    return subprocess.run(["cmp", "-s", a, b]).returncode == 0


def same_sparse(a, b):
    """Byte-identical, reading only where either file has data (a 64 GiB
    mostly-hole volume would take cmp minutes of comparing zeros)."""
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    regions = W.merge(W.data_extents(a) + W.data_extents(b))
    with open(a, "rb") as fa, open(b, "rb") as fb:
        for off, length in regions:
            fa.seek(off)
            fb.seek(off)
            left = length
            while left > 0:
                n = min(left, 4 * W.MIB)
                if fa.read(n) != fb.read(n):
                    return False
                left -= n
    return True


def warm_memory(nbytes):
    """Touch @nbytes of fresh anonymous memory and free it again, right
    before a timed command that will fill about that much of the page cache
    (a restore, a copy, a backup writing its repository).

    On a virtual machine whose balloon device has free page reporting (this
    project's machines), the guest hands free memory back to the host; the
    first touch of such a page costs a page fault in the host (measured here:
    about 1 s per GiB).  A command that happens to be given those pages pays
    it: `cp` of the 2 GiB image once took 2.7 s instead of 0.45 s, a restore
    2.4 s instead of 0.7 s.  The kernel hands out recently freed pages first,
    so the pages touched here are the ones the timed command gets, whichever
    tool it is."""
    if nbytes <= 0:
        return
    piece = b"\x01" * (1 << 20)
    mm = mmap.mmap(-1, (nbytes + len(piece) - 1) // len(piece) * len(piece))
    try:
        for _ in range(len(mm) // len(piece)):
            mm.write(piece)
    finally:
        mm.close()


def warm(*paths, memory=0):
    """Read the data regions of @paths (files, or every file under a
    directory) so that the next timed command finds them in the page cache.
    Needed before every timed command: this machine's kernel pages out what
    was not touched for a few seconds (DAMON), so "warm" does not last.
    @memory: bytes the command will write, for warm_memory()."""
    warm_memory(memory)
    buf = bytearray(1 << 20)
    files = []
    for p in paths:
        if os.path.isdir(p):
            for d, _, names in os.walk(p):
                files.extend(os.path.join(d, n) for n in names)
        elif os.path.exists(p):
            files.append(p)
    for f in files:
        try:
            fd = os.open(f, os.O_RDONLY)
        except OSError:
            continue
        try:
            if not os.path.isfile(f):
                continue
            for off, length in W.data_extents(f):
                end = off + length
                while off < end:
                    n = os.preadv(fd, [memoryview(buf)[:min(len(buf), end - off)]], off)
                    if n <= 0:
                        break
                    off += n
        finally:
            os.close(fd)


def can_drop_caches():
    return os.geteuid() == 0 and os.access("/proc/sys/vm/drop_caches", os.W_OK)


def widen_readahead(mnt, kb=2048):
    """Give the FUSE mount at @mnt the readahead window blocksnap's mount
    sets for itself when it runs as root (the kernel's default is 128 KiB),
    so that the null file system is measured with the same window."""
    st = os.stat(mnt)
    path = "/sys/class/bdi/%d:%d/read_ahead_kb" % (os.major(st.st_dev), os.minor(st.st_dev))
    try:
        with open(path, "w") as f:
            f.write("%d\n" % kb)
    except OSError:
        pass


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def random_offsets(src, count, seed):
    """@count random 4 KiB-aligned offsets inside the data regions of @src."""
    rnd = random.Random(seed)
    ext = [(o, l) for o, l in W.data_extents(src) if l >= 4096]
    total = sum(l for _, l in ext)
    cum, acc = [], 0
    for o, l in ext:
        acc += l
        cum.append(acc)
    import bisect
    offs = []
    for _ in range(count):
        x = rnd.randrange(total)
        i = bisect.bisect_right(cum, x)
        o, l = ext[i]
        pos = o + (x - (cum[i] - l))
        pos -= pos % 4096
        if pos + 4096 > o + l:
            pos = o + l - 4096 - (o + l - 4096) % 4096
            pos = max(pos, o)
        offs.append(pos)
    return offs


def randread(path, offsets, check=None):
    """pread() 4 KiB at each offset; return latencies in microseconds.  With
    @check (the source file), every block read is compared with it."""
    lat = []
    fd = os.open(path, os.O_RDONLY)
    ref = os.open(check, os.O_RDONLY) if check else -1
    # Into a page-aligned buffer (an anonymous mapping), as blocksnap's
    # buffers are: os.pread() would copy into a new bytes object wherever
    # malloc() put it.
    page = mmap.mmap(-1, 4096)
    view = memoryview(page)
    try:
        for off in offsets:
            t0 = time.perf_counter_ns()
            n = os.preadv(fd, [view], off)
            lat.append((time.perf_counter_ns() - t0) / 1000.0)
            if ref >= 0 and view[:n] != os.pread(ref, 4096, off):
                raise T.Failed("random read at %d differs from the source" % off)
    finally:
        view.release()
        page.close()
        os.close(fd)
        if ref >= 0:
            os.close(ref)
    return lat


def randread_packs(packs, count, size, seed):
    """pread() @size bytes at @count random 4 KiB-aligned offsets of the
    files @packs (each offset drawn over their bytes together, so a larger
    file gets more reads), into a page-aligned buffer; latencies in
    microseconds.  With the page cache dropped first, what one chunk read
    from the store's disk costs: the floor of a cold random read through
    any chunk store's mount."""
    rnd = random.Random(seed)
    fds = [os.open(p, os.O_RDONLY) for p in packs]
    sizes = [os.fstat(fd).st_size for fd in fds]
    total = sum(sizes)
    buf = mmap.mmap(-1, size)
    view = memoryview(buf)
    lat = []
    try:
        for _ in range(count):
            pos = rnd.randrange(total)
            for fd, n in zip(fds, sizes):
                if pos < n:
                    break
                pos -= n
            off = max(0, min(pos, n - size)) // 4096 * 4096
            t0 = time.perf_counter_ns()
            os.preadv(fd, [view], off)
            lat.append((time.perf_counter_ns() - t0) / 1000.0)
    finally:
        view.release()
        buf.close()
        for fd in fds:
            os.close(fd)
    return lat


def pct(vals, p):
    s = sorted(vals)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


class Bench:
    def __init__(self, args):
        self.a = args
        self.res = Results()
        self.selected = set(args.scenarios)
        for d, needs in DERIVED.items():
            if d in self.selected:
                self.selected.update(needs)
        self.work = args.work
        self.wl = args.workload or os.path.join(self.work, "wl")
        self.vol = os.path.join(self.work, "vol")
        os.makedirs(self.wl, exist_ok=True)
        os.makedirs(self.vol)
        self.disk = os.path.join(self.vol, "disk.img")
        self.datadisk = os.path.join(self.vol, "data.img")
        self.tools = []
        self.phase = []  # (scenario, tool, seconds) of each guarded step
        if not os.path.exists("/dev/fuse"):
            T.NO_FUSE = "no /dev/fuse on this machine"
        self.skipped = {}
        cands = [T.Blocksnap(self.work, args.blocksnap, args.threads), T.Restic(self.work),
                 T.Borg(self.work), T.Casync(self.work)]
        for t in cands:
            if t.name not in args.tools:
                continue
            why = t.available()
            if why:
                self.skipped[t.name] = why
            else:
                self.tools.append(t)

    def want(self, *names):
        return any(n in self.selected for n in names)

    def img(self, name):
        return os.path.join(self.wl, name)

    def put(self, version, dst=None):
        """Make the volume hold @version (a fresh write, as a VM would), and
        let the kernel write it back before anything is timed: otherwise the
        timed run shares the machine with the flush of 2 GiB of the suite's
        own writes (seen: +0.9 s of system time in one blocksnap run)."""
        W.copy_sparse(self.img(version), dst or self.disk)
        os.sync()

    # ------------------------------------------------------------------
    def build_c(self, name, flags=(), shared=False):
        """Compile bench/@name.c into the work directory (cc -O2); return
        the path, or raise OSError/CalledProcessError."""
        exe = os.path.join(self.work, name + (".so" if shared else ""))
        if not os.path.exists(exe):
            argv = ["cc", "-O2", "-o", exe, os.path.join(HERE, "..", name + ".c")]
            if shared:
                argv[1:1] = ["-shared", "-fPIC"]
            subprocess.run(argv + list(flags), check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        return exe

    def aligned_env(self):
        """LD_PRELOAD of bench/alignmalloc.c (large malloc()s page-aligned),
        or None when it cannot be built."""
        if not hasattr(self, "_aligned_env"):
            try:
                self._aligned_env = {"LD_PRELOAD": self.build_c("alignmalloc", shared=True)}
            except (OSError, subprocess.CalledProcessError) as e:
                log("cannot build bench/alignmalloc.c: %s" % e)
                self._aligned_env = None
        return self._aligned_env

    def baselines(self):
        src = self.img("base.img")
        out = os.path.join(self.work, "cp.img")
        cmds = {
            "cat": ["cat", src],
            "xxhsum -H3": ["xxhsum", "-H3", src] if shutil.which("xxhsum") else None,
            "lz4 -1": ["lz4", "-1", "-c", src] if shutil.which("lz4") else None,
            "cp --sparse=always": ["cp", "--sparse=always", src, out],
            # blocksnap's restore fsyncs the file before it renames it into
            # place; this is cp with the same durability.
            "cp --sparse=always, sync": ["sh", "-c", 'cp --sparse=always "$1" "$2" && sync "$2"',
                                         "sh", src, out],
            # The data written to the disk at the device's speed, as
            # blocksnap's restore writes it (4 MiB direct writes, holes kept).
            "dd oflag=direct": ["dd", "if=" + src, "of=" + out, "bs=4M", "oflag=direct",
                                "conv=sparse,fsync", "status=none"],
        }
        # xxhsum reads into a malloc()ed buffer (not page-aligned): measured
        # again with large malloc()s page-aligned, as blocksnap's buffers are.
        # cat, cp and dd allocate page-aligned buffers themselves.
        aligned = {"xxhsum -H3, aligned": "xxhsum -H3"}
        for name, plain in aligned.items():
            if cmds[plain] is not None and self.aligned_env() is None:
                self.res.mark("baseline", name, "skipped", "cannot build bench/alignmalloc.c")
        for rep in range(self.a.reps):
            for name, argv in list(cmds.items()) + [(n, cmds[p]) for n, p in aligned.items()]:
                env = self.aligned_env() if name in aligned else None
                if argv is None or (name in aligned and env is None):
                    if argv is None:
                        self.res.mark("baseline", name, "skipped", "not installed")
                    continue
                writes = name.startswith(("cp", "dd"))
                warm(src, memory=W.allocated_bytes(src) if writes else 0)
                m, _ = T.run(argv, env=env, stdout=subprocess.DEVNULL)
                if writes and not same(src, out):
                    self.fail_wrong("baseline", name, "%s output differs" % name.split()[0])
                self.res.add("baseline", name, **m.fig())
                if os.path.exists(out):
                    os.unlink(out)
        self.data_chunks_baseline(src)
        offs = random_offsets(src, self.a.reads, 7)
        warm(src)
        randread(src, offs)
        lat = randread(src, offs)
        self.res.add("fuse-rand", "page cache", warm_p50_us=pct(lat, 50), warm_p99_us=pct(lat, 99))

    def data_chunks_baseline(self, src):
        """The compression a full snapshot cannot skip: lz4 -1 of the image's
        chunks that hold data, in independent blocks of one chunk, as a
        chunk store compresses them (holes and zero chunks cost nothing)."""
        name = "lz4 -1, data chunks"
        if not shutil.which("lz4"):
            self.res.mark("baseline", name, "skipped", "not installed")
            return
        chunks = os.path.join(self.work, "data-chunks.bin")
        n = W.extract_data_chunks(src, self.a.chunk, chunks)
        env = self.aligned_env()
        if env is None:
            self.res.mark("baseline", name + ", aligned", "skipped",
                          "cannot build bench/alignmalloc.c")
        for rep in range(self.a.reps):
            # lz4 reads into a malloc()ed buffer 16 bytes past a page (or
            # wherever the heap is): measured both ways.
            for tag, e in (("", None), (", aligned", env)):
                if tag and e is None:
                    continue
                warm(chunks)
                m, _ = T.run(W.lz4_chunks_argv(chunks, self.a.chunk), env=e,
                             stdout=subprocess.DEVNULL)
                self.res.add("baseline", name + tag, **m.fig(), chunks=n)
        # The other side: decompressing (and checking) every data chunk,
        # which a sequential read through any chunk store's mount cannot
        # skip; part of the floor of the FUSE sequential read.
        # Without the frame's checksum (--no-frame-crc): decompression
        # alone, a lower bound of a mount's work, which checks every chunk
        # too (with the checksum, lz4 -d took twice as long here).
        packed = chunks + ".lz4"
        with open(packed, "wb") as f:
            subprocess.run(W.lz4_chunks_argv(chunks, self.a.chunk)[:-2] +
                           ["--no-frame-crc", "-c", chunks], stdout=f, check=True)
        os.unlink(chunks)
        for rep in range(self.a.reps):
            for tag, e in (("", None), (", aligned", env)):
                if tag and e is None:
                    continue
                warm(packed)
                m, _ = T.run(["lz4", "-d", "-c", packed], env=e, stdout=subprocess.DEVNULL)
                self.res.add("baseline", "lz4 -d, data chunks" + tag, **m.fig(), chunks=n)
        os.unlink(packed)

    def fuse_ceiling(self):
        """Sequential and random reads of a FUSE file system that does no
        work at all (bench/fusenull.c): what any FUSE view can reach here."""
        name = "null FUSE fs"
        if T.NO_FUSE:
            self.res.mark("fuse-seq", name, "skipped", T.NO_FUSE)
            return
        try:
            flags = subprocess.run(["pkg-config", "--cflags", "--libs", "fuse3"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   check=True).stdout.decode().split()
            exe = self.build_c("fusenull", flags)
        except (OSError, subprocess.CalledProcessError) as e:
            self.res.mark("fuse-seq", name, "skipped", "cannot build bench/fusenull.c: %s" % e)
            return
        mnt = os.path.join(self.work, "mnt")
        size = os.path.getsize(self.img("base.img"))
        offs = random_offsets(self.img("base.img"), self.a.reads, 11)
        try:
            for rep in range(self.a.reps):
                with T.Mount([exe, mnt, str(size)], mnt,
                             probe=lambda: os.path.join(mnt, "data")) as mp:
                    f = os.path.join(mnt, "data")
                    widen_readahead(mnt)
                    m, _ = T.run(["cat", f], stdout=subprocess.DEVNULL, rss=False)
                    lat = randread(f, offs)
                self.res.add("fuse-seq", name, secs=m.secs)
                self.res.add("fuse-rand", name, cold_p50_us=pct(lat, 50), cold_p99_us=pct(lat, 99))
        except (T.Failed, T.Skip, OSError) as e:
            self.res.mark("fuse-seq", name, "failed", str(e)[:300])

    def fail_wrong(self, scen, tool, msg):
        log("WRONG: %s/%s: %s" % (scen, tool, msg))
        self.res.errors.append("%s/%s: %s" % (scen, tool, msg))
        self.res.mark(scen, tool, "wrong", msg)

    def guarded(self, scen, tool, fn):
        """Run fn(); a failure of a peer is recorded, one of blocksnap too and
        makes the suite fail."""
        t0 = time.monotonic()
        try:
            r = fn()
            self.phase.append((scen, tool.name, time.monotonic() - t0))
            return r
        except T.Skip as e:
            self.res.mark(scen, tool.name, "skipped", str(e))
        except (T.Failed, OSError, ValueError, KeyError, subprocess.CalledProcessError) as e:
            log("%s/%s failed: %s" % (scen, tool.name, e))
            self.res.mark(scen, tool.name, "timeout" if isinstance(e, T.TimedOut) else "failed",
                          str(e)[:300])
            if tool.name == "blocksnap":
                self.res.errors.append("%s/blocksnap: %s" % (scen, e))
        return None

    def repo(self, tool, tag):
        path = os.path.join(self.work, "repos", "%s-%s" % (tool.name, tag))
        for p in (path, path + ".cache", path + ".base"):
            if os.path.exists(p):
                shutil.rmtree(p)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path

    def cleanup_repo(self, path):
        for p in (path, path + ".cache", path + ".base"):
            if os.path.exists(p):
                shutil.rmtree(p)

    # ------------------------------------------------------------------
    def sequence(self, tool, rep):
        """full -> rescan -> 1 % -> 10 % -> add/delete, then restore and
        mounts of the full snapshot, in one repository."""
        repo = self.repo(tool, "main")
        self.put("base.img")
        tool.init(repo)
        bs = tool.name == "blocksnap"

        def pack_bytes():
            return tool.store_info().get("PackBytes", 0) if bs else None

        def step(scen, version, label):
            if version:
                self.put(version)
            before, pb = tool.repo_bytes(), pack_bytes()
            warm(self.disk, repo, memory=W.allocated_bytes(self.disk))
            m, snap = tool.backup([self.disk], label)
            fig = dict(m.fig(), bytes=tool.repo_bytes() - before)
            if bs:
                fig["pack_bytes"] = pack_bytes() - pb
            self.res.add(scen, tool.name, **fig)
            return snap

        full = step("full", None, "full")
        if self.want("rescan"):
            step("rescan", None, "rescan")
        if self.want("change1", "change10", "addel"):
            step("change1", "v1.img", "change1")
        if self.want("change10"):
            step("change10", "v10.img", "change10")
        if self.want("addel"):
            step("addel", "addel.img", "addel")
        if self.want("restore"):
            self.guarded("restore", tool, lambda: self.restore(tool, full, "restore",
                                                               {self.disk: "base.img"}))
        if self.want("fuse-seq", "fuse-rand"):
            self.guarded("fuse-seq", tool, lambda: self.fuse(tool, full))
        self.cleanup_repo(repo)

    def restore(self, tool, snap, scen, sources, sparse=False):
        outs = {src: os.path.join(self.work, "restored-%d.img" % i)
                for i, src in enumerate(sources)}
        warm(tool.repo, memory=sum(W.allocated_bytes(self.img(v)) for v in sources.values()))
        m = tool.restore(snap, outs)
        fig = m.fig()
        for src, out in outs.items():
            ref = self.img(sources[src])
            ok = same_sparse(ref, out) if sparse else same(ref, out)
            fig.setdefault("allocated", 0)
            fig["allocated"] += W.allocated_bytes(out)
            os.unlink(out)
            if not ok:
                self.fail_wrong(scen, tool.name, "restored image differs from %s" % sources[src])
                return
        self.res.add(scen, tool.name, **fig)

    def fuse(self, tool, snap):
        mnt = os.path.join(self.work, "mnt")
        ref = self.img("base.img")
        offs = random_offsets(ref, self.a.reads, 11)
        warm(tool.repo)
        with tool.mount(snap, mnt) as mp:
            f = mp.path(self.disk)
            m, _ = T.run(["cat", f], stdout=subprocess.DEVNULL, rss=False)
            m2, _ = T.run(["cat", f], stdout=subprocess.DEVNULL, rss=False)
            if not same(ref, f):
                self.fail_wrong("fuse-seq", tool.name, "image read through the mount differs")
                return
            self.res.add("fuse-seq", tool.name, secs=m.secs, reread_secs=m2.secs)
            if not self.want("fuse-rand"):
                return
            warm(tool.repo)
            randread(f, offs, check=ref)            # warm-up, checked
            lat = randread(f, offs)
            figs = {"warm_p50_us": pct(lat, 50), "warm_p99_us": pct(lat, 99)}
        if can_drop_caches():
            drop_caches()
            with tool.mount(snap, mnt) as mp:
                lat = randread(mp.path(self.disk), offs)
            figs.update(cold_p50_us=pct(lat, 50), cold_p99_us=pct(lat, 99))
            if tool.name == "blocksnap":
                self.cold_pack_reads(tool)
        else:
            self.res.mark("fuse-rand", tool.name, "ok",
                          "cold skipped: cannot drop caches (needs root)")
        self.res.add("fuse-rand", tool.name, **figs)

    # ------------------------------------------------------------------
    def cold_pack_reads(self, tool):
        """The floor of a cold random read through the mount, besides the
        FUSE round trip: one read of a chunk's record from the store's disk,
        page cache dropped (as many reads as the random-read pass, each the
        store's mean record size rounded up to 4 KiB)."""
        packs = sorted(glob.glob(os.path.join(tool.repo, "packs", "*.pack")))
        info = tool.store_info()
        if not packs or not info.get("ChunkCount"):
            return
        size = -(-info["StoredBytes"] // info["ChunkCount"] // 4096) * 4096 or 4096
        drop_caches()
        lat = randread_packs(packs, self.a.reads, size, 13)
        self.res.add("fuse-rand", "store packs", cold_p50_us=pct(lat, 50),
                     cold_p99_us=pct(lat, 99), read_bytes=size)

    def cbt(self, tool, rep):
        """Blocksnap only: the 1 % change taken from a changed-block list."""
        repo = self.repo(tool, "cbt")
        self.put("base.img")
        tool.init(repo)
        tool.backup([self.disk], "full")
        self.put("v1.img")
        pb, before = tool.store_info()["PackBytes"], tool.repo_bytes()
        warm(self.disk, repo)
        m, snap = tool.backup([self.disk], "cbt", changed={self.disk: self.img("v1.ranges")})
        self.res.add("cbt", tool.name, **m.fig(), bytes=tool.repo_bytes() - before,
                     pack_bytes=tool.store_info()["PackBytes"] - pb)
        # What a changed-block snapshot cannot avoid: starting the program and
        # opening the store, and compressing the changed chunks.
        m0, _ = T.run(tool.cli("describe-store"))
        self.res.add("cbt-floor", "blocksnap describe-store", **m0.fig())
        chunks = os.path.join(self.work, "chunks.bin")
        W.extract_chunks(self.img("v1.img"), self.changed, self.a.chunk, chunks)
        m1, _ = T.run(W.lz4_chunks_argv(chunks, self.a.chunk),
                      stdout=subprocess.DEVNULL)
        self.res.add("cbt-floor", "lz4 -1 of the changed chunks", **m1.fig())
        if self.aligned_env():
            m1, _ = T.run(W.lz4_chunks_argv(chunks, self.a.chunk), env=self.aligned_env(),
                          stdout=subprocess.DEVNULL)
            self.res.add("cbt-floor", "lz4 -1 of the changed chunks, aligned", **m1.fig())
        os.unlink(chunks)
        # The snapshot must be exactly v1.
        outs = {self.disk: os.path.join(self.work, "cbt-restored.img")}
        tool.restore(snap, outs)
        if not same(self.img("v1.img"), outs[self.disk]):
            self.fail_wrong("cbt", tool.name, "snapshot from the changed-block list is not v1")
        os.unlink(outs[self.disk])
        self.cleanup_repo(repo)

    def chain(self, tool):
        """Blocksnap only: snapshot (no-change rescan) and restore time at
        several chain lengths; the chain grows by one small changed-block
        snapshot at a time."""
        repo = self.repo(tool, "chain")
        self.put("base.img")
        tool.init(repo)
        _, snap = tool.backup([self.disk], "chain")
        length = 1
        rnd = random.Random(99)
        ext = [(o, l) for o, l in W.data_extents(self.disk) if l >= W.RUN]
        ranges = os.path.join(self.work, "chain.ranges")
        out = os.path.join(self.work, "chain-restored.img")
        step_times = []
        for target in self.a.chain:
            while length < target:
                o, l = rnd.choice(ext)
                pos = o + rnd.randrange(0, (l - W.RUN) // 4096 + 1) * 4096
                with open(self.disk, "r+b") as f:
                    f.seek(pos)
                    data = f.read(W.RUN)
                    f.seek(pos)
                    f.write(W.mutated(data, rnd))
                W.write_ranges(ranges, [(pos, W.RUN)])
                m, snap = tool.backup([self.disk], "chain", changed={self.disk: ranges})
                step_times.append(m.secs)
                length += 1
            for rep in range(self.a.reps):
                warm(self.disk, repo)
                m, snap = tool.backup([self.disk], "chain")
                length += 1
                warm(repo, memory=W.allocated_bytes(self.disk))
                r = tool.restore(snap, {self.disk: out})
                if not same(self.disk, out):
                    self.fail_wrong("chain", tool.name, "restore at chain length %d differs" % length)
                os.unlink(out)
                recent = step_times[-20:]
                self.res.add("chain", "blocksnap@%d" % target, length=length, snapshot_secs=m.secs,
                             restore_secs=r.secs,
                             cbt_step_secs=statistics.median(recent) if recent else None)
        self.cleanup_repo(repo)

    def sparse(self, tool):
        src = self.img("sparse.img")
        repo = self.repo(tool, "sparse")
        tool.init(repo)
        warm(src, memory=W.allocated_bytes(src))
        m, snap = tool.backup([src], "sparse")
        self.res.add("sparse", tool.name, **m.fig(), bytes=tool.repo_bytes())
        if tool.name == "restic":
            self.res.mark("sparse-restore", tool.name, "skipped",
                          "restic 0.14 restore has no --sparse: it would write every zero")
        else:
            self.guarded("sparse-restore", tool,
                         lambda: self.restore(tool, snap, "sparse-restore", {src: "sparse.img"},
                                              sparse=True))
        self.cleanup_repo(repo)

    def machine(self, tool):
        self.put("base.img")
        self.put("data.img", self.datadisk)
        repo = self.repo(tool, "machine")
        tool.init(repo)
        warm(self.disk, self.datadisk,
             memory=W.allocated_bytes(self.disk) + W.allocated_bytes(self.datadisk))
        m, snap = tool.backup([self.disk, self.datadisk], "machine")
        self.res.add("machine", tool.name, **m.fig(), bytes=tool.repo_bytes())
        self.guarded("machine-restore", tool,
                     lambda: self.restore(tool, snap, "machine-restore",
                                          {self.disk: "base.img", self.datadisk: "data.img"}))
        self.cleanup_repo(repo)
        os.unlink(self.datadisk)

    def align(self):
        """bench/alignsweep.c: pread() rates of a warm file by destination and
        file offset alignment (the sweep behind the aligned buffers)."""
        try:
            exe = self.build_c("alignsweep")
        except (OSError, subprocess.CalledProcessError) as e:
            self.res.mark("align", "alignsweep", "skipped", "cannot build bench/alignsweep.c: %s"
                          % e)
            return
        f = os.path.join(self.work, "alignsweep.bin")
        mib = self.a.align_size // W.MIB
        m, out = T.run([exe, "-s", str(mib), "-r", str(self.a.reps), f], rss=False)
        os.unlink(f)
        cells = [[int(x) for x in line.split()[:3]] + [float(line.split()[3])]
                 for line in out.splitlines() if line and not line.startswith("#")]
        self.res.add("align", "alignsweep", cells=cells, file_mib=mib, secs=m.secs)

    def timed_trio(self, tool, label, reps, data):
        """Full snapshot, no-change rescan and restore (compared) of the
        volume self.disk, @reps times, each in a fresh store; returns the
        list of figures of each run."""
        runs = []
        out = os.path.join(self.work, "scale-restored.img")
        for rep in range(reps):
            repo = self.repo(tool, "scale")
            tool.init(repo)
            warm(self.disk, repo, memory=data)
            m_full, snap = tool.backup([self.disk], label)
            warm(self.disk, repo)
            m_scan, _ = tool.backup([self.disk], label + "-rescan")
            warm(repo, memory=data)
            m_rest = tool.restore(snap, {self.disk: out})
            ok = same_sparse(self.disk, out)
            os.unlink(out)
            self.cleanup_repo(repo)
            if not ok:
                raise T.Failed("%s: restored image differs" % label)
            runs.append({"full_secs": m_full.secs, "full_cpu_secs": m_full.cpu_secs,
                         "rescan_secs": m_scan.secs, "rescan_cpu_secs": m_scan.cpu_secs,
                         "restore_secs": m_rest.secs, "restore_cpu_secs": m_rest.cpu_secs})
        return runs

    def scale(self, tool):
        """Blocksnap only: the second core's gain, and the cost per GiB from
        a small image to a large one, for full snapshot, rescan and restore."""
        a = self.a
        # Cores: one core (taskset -c 0, and --threads 1 for the snapshots)
        # against every core (--threads N).  restore has no --threads: its
        # worker count follows the cores the machine has, taskset bounds it.
        self.put("base.img")
        data = W.allocated_bytes(self.disk)
        allowed = sorted(os.sched_getaffinity(0))
        ncores = len(allowed)
        saved = tool.threads, tool.prefix
        try:
            for n in sorted({1, ncores}):
                if n == 1 and ncores > 1:
                    if not shutil.which("taskset"):
                        self.res.mark("cores", "blocksnap@1", "skipped", "no taskset")
                        continue
                    tool.prefix = ["taskset", "-c", str(allowed[0])]
                else:
                    tool.prefix = []
                tool.threads = n
                log("blocksnap: scaling, %d core(s), %d run(s)" % (n, a.reps))
                for r in self.timed_trio(tool, "cores%d" % n, a.reps, data):
                    self.res.add("cores", "blocksnap@%d" % n, cores=n, **r)
        finally:
            tool.threads, tool.prefix = saved
        os.unlink(self.disk)
        # Sizes: smaller than base.img, a real ext4 made the same way; base.img
        # itself; larger, base.img tiled (make_tiled_image), one run each.
        for size in a.scale_sizes:
            if size < a.size:
                small = self.img("scale-%d.img" % size)
                if not os.path.exists(small):
                    log("workload: %d MiB ext4 image for the scaling scenario" % (size // W.MIB))
                    fill = W.make_small_image(small, size, a.seed + 6, self.work)
                    if fill != 0.55:
                        log("workload: the files fit at %.0f %% of %d MiB" % (fill * 100,
                                                                             size // W.MIB))
                self.put(os.path.basename(small))
                how, reps = "ext4", a.reps
            elif size == a.size:
                self.put("base.img")
                how, reps = "ext4", a.reps
            else:
                log("workload: %d MiB image tiled from base.img" % (size // W.MIB))
                t0 = time.monotonic()
                W.make_tiled_image(self.img("base.img"), self.disk, size)
                os.sync()
                log("workload: tiled in %.1fs" % (time.monotonic() - t0))
                how, reps = "tiled", 1
            data = W.allocated_bytes(self.disk)
            log("blocksnap: scaling, %d MiB image, %d run(s)" % (size // W.MIB, reps))
            for r in self.timed_trio(tool, "size%d" % (size // W.MIB), reps, data):
                self.res.add("scale", "blocksnap@%d" % size, size=size, data_bytes=data,
                             made=how, **r)
            os.unlink(self.disk)

    def copy(self, tool):
        """Blocksnap only: copy-image of the workload image (base.img) from
        one region to another on the same disk, against restoring the same
        snapshot; the second copy, of the image after the 1 % change
        (v1.img), against the bytes that change stored; and copies killed
        with SIGKILL at --copy-kills random moments, each resumed by the same
        command.  What a resume re-sends is measured from outside: the bytes
        the killed run and its resume read (rchar of /proc/PID/io, read after
        the process ended and before it is reaped), less what one
        uninterrupted copy reads."""
        src = self.repo(tool, "copy-src")
        dst = self.repo(tool, "copy-dst")
        cfg = os.path.join(self.work, "copy-config")
        os.makedirs(os.path.join(cfg, "blocksnap"), exist_ok=True)
        with open(os.path.join(cfg, "blocksnap", "config"), "w") as f:
            f.write("[region bench-src]\nstore_path = %s\n" % src)
        env = dict(os.environ, XDG_CONFIG_HOME=cfg)
        out = os.path.join(self.work, "copy-restored.img")

        def cli(repo, *args):
            return [tool.binary, "--store", repo] + list(args)

        def image_of(repo, snap, name):
            _, o = T.run(cli(repo, "register-image", "--name", name, "--no-boot-check",
                             "--block-device-mappings",
                             "DeviceName=/dev/xvda,Ebs={SnapshotId=%s}" % snap), rss=False)
            return json.loads(o)["ImageId"]

        def copy_argv(ami, name):
            return cli(dst, "copy-image", "--source-region", "bench-src", "--source-image-id",
                       ami, "--name", name, "--quiet")

        def timed_copy(ami, name):
            """One copy-image: (seconds, rchar, image id, cpu seconds)."""
            t0 = time.perf_counter()
            p = subprocess.Popen(copy_argv(ami, name), env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, start_new_session=True)
            rchar, cpu = wait_rchar(p.pid)
            secs = time.perf_counter() - t0
            o, e = p.communicate()
            if p.returncode != 0:
                raise T.Failed("copy-image exited %d: %s" % (p.returncode, e.decode()[-500:]))
            return secs, rchar, json.loads(o)["ImageId"], cpu

        def store_bytes(repo):
            _, o = T.run(cli(repo, "describe-store"), rss=False)
            return json.loads(o)["PackBytes"]

        def count(repo, what, key):
            _, o = T.run(cli(repo, "describe-" + what), rss=False)
            return len(json.loads(o)[key])

        def verify(repo, when):
            try:
                T.run(cli(repo, "verify"), rss=False)
            except T.Failed as e:
                raise T.Failed("verify of the destination %s: %s" % (when, e))

        def restores_as(repo, ami, ref):
            _, o = T.run(cli(repo, "describe-images", "--image-ids", ami), rss=False)
            snap = json.loads(o)["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
            T.run(cli(repo, "create-volume", "--snapshot-id", snap, "--path", out, "--force",
                      "--quiet"), rss=False)
            ok = same(self.img(ref), out)
            os.unlink(out)
            return ok

        for rep in range(self.a.reps):
            # a fresh source region each run: the 1 % change is new there
            self.put("base.img")
            if os.path.exists(src):
                shutil.rmtree(src)
            tool.init(src)
            _, full = tool.backup([self.disk], "copy")
            ami1 = image_of(src, full[self.disk], "bench-base")
            fig = {"load_before": os.getloadavg()[0]}
            # restore of the same snapshot, in the source region
            warm(src, memory=W.allocated_bytes(self.img("base.img")))
            m = tool.restore(full, {self.disk: out})
            if not same(self.img("base.img"), out):
                self.fail_wrong("copy", "blocksnap", "restored image differs from base.img")
            os.unlink(out)
            fig.update(restore_secs=m.secs)
            # the first copy, into a fresh region
            if os.path.exists(dst):
                shutil.rmtree(dst)
            T.run(cli(dst, "create-store"), rss=False)
            warm(src, memory=W.allocated_bytes(self.img("base.img")))
            secs, rchar, c1, cpu = timed_copy(ami1, "bench-copy")
            fig.update(copy_secs=secs, copy_cpu_secs=cpu, copy_read=rchar,
                       copy_pack_bytes=store_bytes(dst))
            if not restores_as(dst, c1, "base.img"):
                self.fail_wrong("copy", "blocksnap", "the copy restores differently")
            # the 1 % change, snapshotted in the source, then copied again
            self.put("v1.img")
            pb = store_bytes(src)
            warm(self.disk, src, memory=W.allocated_bytes(self.disk))
            _, v1 = tool.backup([self.disk], "change1")
            fig["change1_pack_bytes"] = store_bytes(src) - pb
            ami2 = image_of(src, v1[self.disk], "bench-v1")
            pb = store_bytes(dst)
            warm(src, dst)
            secs2, rchar2, c2, _ = timed_copy(ami2, "bench-copy-v1")
            fig.update(copy2_secs=secs2, copy2_read=rchar2, copy2_pack_bytes=store_bytes(dst) - pb)
            if not restores_as(dst, c2, "v1.img"):
                self.fail_wrong("copy", "blocksnap", "the second copy restores differently")
            self.put("base.img")
            fig["load_after"] = os.getloadavg()[0]
            self.res.add("copy", "blocksnap", **fig)
            log("copy: restore %.1fs, copy %.1fs, second copy %.2fs (%d pack bytes, the 1 %% "
                "change stored %d)" % (m.secs, secs, secs2, fig["copy2_pack_bytes"],
                                       fig["change1_pack_bytes"]))
        # kill -9 during copies into a fresh region, each resumed
        full_secs = med_of(self.res, "copy", "blocksnap", "copy_secs")
        full_read = med_of(self.res, "copy", "blocksnap", "copy_read")
        rnd = random.Random(self.a.seed + 20)
        resent, killed = [], 0
        for i in range(self.a.copy_kills):
            if os.path.exists(dst):
                shutil.rmtree(dst)
            T.run(cli(dst, "create-store"), rss=False)
            at = rnd.uniform(0, full_secs)
            p = subprocess.Popen(copy_argv(ami1, "bench-copy"), env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
            time.sleep(at)
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            rchar_k, _ = wait_rchar(p.pid)
            p.wait()
            killed += p.returncode == -signal.SIGKILL
            verify(dst, "after a kill at %.2fs" % at)
            if count(dst, "images", "Images") > 1:
                raise T.Failed("%d images after a kill" % count(dst, "images", "Images"))
            secs, rchar_r, cid, _ = timed_copy(ami1, "bench-copy")
            verify(dst, "after the resume of a kill at %.2fs" % at)
            n_img, n_snap = count(dst, "images", "Images"), count(dst, "snapshots", "Snapshots")
            if (n_img, n_snap) != (1, 1):
                raise T.Failed("after the resume of a kill at %.2fs: %d images, %d snapshots"
                               % (at, n_img, n_snap))
            resent.append(max(0, rchar_k + rchar_r - full_read))
            log("copy: killed at %.2fs (%s), resumed in %.1fs: re-sent %.1f MiB"
                % (at, "killed" if p.returncode == -signal.SIGKILL else "had finished", secs,
                   resent[-1] / W.MIB))
        if resent:
            if not restores_as(dst, cid, "base.img"):
                self.fail_wrong("copy", "blocksnap", "a resumed copy restores differently")
            self.res.add("copy-kill", "blocksnap", kills=len(resent), killed=killed,
                         resent_max=max(resent), resent_median=statistics.median(resent),
                         resent=resent)
        shutil.rmtree(dst, ignore_errors=True)
        self.cleanup_repo(src)

    def chunksize(self, tool):
        """Blocksnap only: the main figures again in a store of each
        --chunk-sizes size: full snapshot, rescan, the 1 % change (bytes
        and block-map pages), the metadata, and random 4 KiB reads through
        the mount (first pass after mounting, warm, and cold after dropping
        the caches).  The load average is kept beside each run."""
        ref = self.img("base.img")
        offs = random_offsets(ref, self.a.reads, 11)
        mnt = os.path.join(self.work, "mnt")
        small = self.img("v1s.img")
        if not os.path.exists(small):
            # v1.img with 1 % of the used blocks rewritten again, in single
            # 4 KiB blocks: a guest's scattered small writes.
            W.copy_sparse(self.img("v1.img"), small + ".tmp")
            r = W.rewrite_runs(small + ".tmp", 0.01, self.a.seed + 8, run=W.BLOCK)
            os.rename(small + ".tmp", small)
            log("workload: v1s.img, %d scattered 4 KiB writes" % len(r))
        for rep in range(self.a.reps):
            for cs in self.a.chunk_sizes:
                log("blocksnap: chunk size %d KiB, run %d/%d" % (cs // W.KIB, rep + 1,
                                                               self.a.reps))
                fig = {"chunk_size": cs, "load_before": os.getloadavg()[0]}
                repo = self.repo(tool, "cs%d" % cs)
                self.put("base.img")
                data = W.allocated_bytes(self.disk)
                tool.init(repo, chunk_size=cs)
                warm(self.disk, repo, memory=data)
                m, full = tool.backup([self.disk], "full")
                fig.update(full_secs=m.secs, full_cpu_secs=m.cpu_secs, full_rss_kib=m.rss_kib,
                           data_bytes=data)
                fig["full_pages"] = tool.snapshot_info(full[self.disk])["PagesWritten"]
                warm(self.disk, repo)
                m, _ = tool.backup([self.disk], "rescan")
                fig.update(rescan_secs=m.secs, rescan_cpu_secs=m.cpu_secs)
                self.put("v1.img")
                pb, before = tool.store_info()["PackBytes"], tool.repo_bytes()
                warm(self.disk, repo, memory=W.allocated_bytes(self.disk))
                m, c1 = tool.backup([self.disk], "change1")
                info = tool.store_info()
                snap = tool.snapshot_info(c1[self.disk])
                fig.update(change1_secs=m.secs, change1_pack_bytes=info["PackBytes"] - pb,
                           change1_bytes=tool.repo_bytes() - before,
                           change1_chunks=snap["ChunksWritten"],
                           change1_pages=snap["PagesWritten"])
                self.put("v1s.img")
                pb, before = info["PackBytes"], tool.repo_bytes()
                warm(self.disk, repo, memory=W.allocated_bytes(self.disk))
                m, c4 = tool.backup([self.disk], "change4k")
                info = tool.store_info()
                snap = tool.snapshot_info(c4[self.disk])
                fig.update(change4k_secs=m.secs, change4k_pack_bytes=info["PackBytes"] - pb,
                           change4k_bytes=tool.repo_bytes() - before,
                           change4k_chunks=snap["ChunksWritten"],
                           change4k_pages=snap["PagesWritten"], meta_bytes=info["MetaBytes"],
                           chunk_count=info["ChunkCount"], pack_bytes=info["PackBytes"])
                self.chunksize_reads(tool, full, ref, offs, mnt, fig)
                fig["load_after"] = os.getloadavg()[0]
                self.res.add("chunksize", "blocksnap@%d" % cs, **fig)
                self.cleanup_repo(repo)

    def chunksize_reads(self, tool, snap, ref, offs, mnt, fig):
        """The mount's figures of the chunk-size scenario, into @fig."""
        warm(tool.repo)
        with tool.mount(snap, mnt) as mp:
            f = mp.path(self.disk)
            lat = randread(f, offs, check=ref)  # the mount's cache empty, checked
            fig.update(first_p50_us=pct(lat, 50), first_p99_us=pct(lat, 99))
            lat = randread(f, offs)
            fig.update(warm_p50_us=pct(lat, 50), warm_p99_us=pct(lat, 99))
            m, _ = T.run(["cat", f], stdout=subprocess.DEVNULL, rss=False)
            fig["fuse_seq_secs"] = m.secs
            if not same(ref, f):
                raise T.Failed("image read through the mount differs")
        if can_drop_caches():
            drop_caches()
            with tool.mount(snap, mnt) as mp:
                lat = randread(mp.path(self.disk), offs)
            fig.update(cold_p50_us=pct(lat, 50), cold_p99_us=pct(lat, 99))

    def sparse_baselines(self):
        src = self.img("sparse.img")
        out = os.path.join(self.work, "cp.img")
        for rep in range(self.a.sparse_reps):
            warm(src, memory=W.allocated_bytes(src))
            m, _ = T.run(["cp", "--sparse=always", src, out])
            if not same_sparse(src, out):
                self.fail_wrong("sparse-baseline", "cp --sparse=always", "copy differs")
            os.unlink(out)
            self.res.add("sparse-baseline", "cp --sparse=always", secs=m.secs)

    # ------------------------------------------------------------------
    def main(self):
        t0 = time.monotonic()
        a = self.a
        if self.selected == {"align"}:
            # The sweep needs no workload and no baselines.
            self.facts = {}
            log("alignment sweep (bench/alignsweep.c, %d MiB file)" % (a.align_size // W.MIB))
            self.align()
            self.elapsed = time.monotonic() - t0
            return
        saved = os.path.join(self.wl, "facts.json")
        if a.workload and os.path.exists(saved):
            with open(saved) as f:
                self.facts = json.load(f)
            a.size, a.sparse_size = self.facts["image_size"], self.facts["sparse_size"]
            a.sparse_data = self.facts["sparse_data"]
            if a.scale_sizes_default:
                a.scale_sizes = default_scale_sizes(a)
            log("workload reused from %s (image %d MiB)" % (self.wl, self.facts["image_size"] // W.MIB))
        else:
            log("workload in %s (image %d MiB)" % (self.wl, a.size // W.MIB))
            self.facts = W.generate(self.wl, a.size, a.sparse_size, a.sparse_data, a.seed, log)
            ch = W.changed_chunks(self.img("base.img"), self.img("v1.img"), a.chunk)
            self.facts["v1_changed_chunk_list"] = ch
            self.facts["v1_changed_chunks"] = len(ch)
            self.facts["v1_changed_chunks_lz4_bytes"] = W.lz4_size_of_chunks(
                self.img("v1.img"), ch, a.chunk, os.path.join(self.work, "chunks.bin"))
            self.facts["generate_secs"] = time.monotonic() - t0
            with open(saved, "w") as f:
                json.dump(self.facts, f)
            log("workload ready in %.1fs" % self.facts["generate_secs"])

        self.changed = self.facts["v1_changed_chunk_list"]
        t1 = time.monotonic()
        self.baselines()
        if self.want("fuse-seq", "fuse-rand"):
            self.fuse_ceiling()
        log("baselines done in %.1fs" % (time.monotonic() - t1))
        for name, why in self.skipped.items():
            for scen in SCENARIOS:
                if scen in self.selected and scen not in DERIVED:
                    self.res.mark(scen, name, "skipped", why)
        main_scen = ("full", "rescan", "change1", "change10", "addel", "restore", "fuse-seq",
                     "fuse-rand")
        for tool in self.tools:
            reps = a.reps if tool.name == "blocksnap" else a.peer_reps
            T.TIMEOUT = None if tool.name == "blocksnap" else a.peer_timeout
            for rep in range(reps):
                if self.want(*main_scen):
                    log("%s: main sequence, run %d/%d" % (tool.name, rep + 1, reps))
                    self.guarded("full", tool, lambda: self.sequence(tool, rep))
                if tool.name == "blocksnap" and self.want("cbt"):
                    log("blocksnap: changed-block list, run %d/%d" % (rep + 1, reps))
                    self.guarded("cbt", tool, lambda: self.cbt(tool, rep))
                # --quick: the peers run the main sequence only (time).
                quick_peer = a.quick and tool.name != "blocksnap"
                if self.want("machine") and not quick_peer:
                    log("%s: two-volume machine, run %d/%d" % (tool.name, rep + 1, reps))
                    self.guarded("machine", tool, lambda: self.machine(tool))
            if a.quick and tool.name != "blocksnap":
                for scen in ("machine", "machine-restore", "sparse", "sparse-restore"):
                    if self.want(scen.split("-")[0]):
                        self.res.mark(scen, tool.name, "skipped", "--quick: peers run the main "
                                      "sequence only")
            elif self.want("sparse"):
                for rep in range(a.sparse_reps):
                    log("%s: sparse volume, run %d/%d" % (tool.name, rep + 1, a.sparse_reps))
                    self.guarded("sparse", tool, lambda: self.sparse(tool))
            if tool.name == "blocksnap" and self.want("chain"):
                log("blocksnap: chain scaling to %d" % max(a.chain))
                self.guarded("chain", tool, lambda: self.chain(tool))
        if self.want("sparse"):
            self.sparse_baselines()
        for tool in self.tools:
            if tool.name == "blocksnap" and self.want("scale"):
                self.guarded("scale", tool, lambda: self.scale(tool))
        for tool in self.tools:
            if tool.name == "blocksnap" and self.want("copy"):
                log("blocksnap: copy-image between two regions, %d run(s), %d kills"
                    % (a.reps, a.copy_kills))
                self.guarded("copy", tool, lambda: self.copy(tool))
        for tool in self.tools:
            if tool.name == "blocksnap" and self.want("chunksize"):
                self.guarded("chunksize", tool, lambda: self.chunksize(tool))
        if self.want("align"):
            log("alignment sweep (bench/alignsweep.c, %d MiB file)" % (a.align_size // W.MIB))
            self.align()
        self.elapsed = time.monotonic() - t0


def wait_rchar(pid):
    """Wait for child @pid to end without reaping it and read, from the
    zombie, what it read (rchar of /proc/PID/io: every byte read(2) and
    pread(2) returned, page cache or not) and its CPU seconds (all its
    threads); then leave it for Popen.wait().  Returns (rchar, cpu_secs)."""
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    rchar, cpu = 0, 0.0
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                if line.startswith("rchar:"):
                    rchar = int(line.split()[1])
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    return rchar, cpu


def med_of(res, scen, tool, key):
    vals = [r[key] for r in res.slot(scen, tool)["runs"] if key in r]
    return statistics.median(vals) if vals else 0


def catalog_main(a):
    """--scenario catalog (catalog.py): stores of each --catalog-sizes, the
    operations' figures as a Markdown table on stdout and, with --results,
    a JSON and a Markdown file there.  Exit 0 unless an operation failed."""
    fill = a.catalog_fill or os.path.join(os.path.dirname(a.blocksnap or ""), "bsnap-catalog-fill")
    if not a.blocksnap or not os.access(fill, os.X_OK):
        log("catalog: needs --blocksnap and bsnap-catalog-fill beside it (or --catalog-fill)")
        return 1
    facts = machine_facts(a)
    results = {}
    try:
        for n in a.catalog_sizes:
            results[n] = catalog.run_one(a.blocksnap, fill, a.work, n, a.reps, log)
    except (T.Failed, subprocess.CalledProcessError) as e:
        log("catalog: FAILED: %s" % e)
        return 1
    md = "Catalog scenario, %d run(s) each, median wall time and largest peak RSS of the " \
         "whole CLI process (mount: the daemon).\n\n%s\n" % (a.reps, catalog.table(results))
    print(md)
    if a.results:
        os.makedirs(a.results, exist_ok=True)
        stem = "%s-%s-catalog" % (datetime.datetime.utcnow().strftime("%Y%m%d"), facts["host"])
        with open(os.path.join(a.results, stem + ".json"), "w") as f:
            json.dump({"facts": facts, "reps": a.reps, "results": results}, f, indent=1)
        with open(os.path.join(a.results, stem + ".md"), "w") as f:
            f.write(md)
        log("results: %s.json, %s.md in %s" % (stem, stem, a.results))
    return 0


def encrypt_main(a):
    """--scenario encrypt (encrypt.py): plain vs encrypted snapshot, restore
    and FUSE read on one workload image, the ratios as a Markdown table on
    stdout and, with --results, a JSON and a Markdown file there."""
    if not a.blocksnap:
        log("encrypt: needs --blocksnap")
        return 1
    facts = machine_facts(a)
    try:
        res = encrypt.run(a.blocksnap, a.work, a.size, a.seed, a.reps, log)
    except (T.Failed, T.Skip, subprocess.CalledProcessError) as e:
        log("encrypt: FAILED: %s" % e)
        return 1
    md = "Encryption scenario: a %d MiB ext4 image (%d MiB allocated), %d run(s) each, " \
         "median.\n\n%s\n" % (res["image_mib"], res["allocated_mib"], a.reps, encrypt.table(res))
    print(md)
    if a.results:
        os.makedirs(a.results, exist_ok=True)
        stem = "%s-%s-encrypt" % (datetime.datetime.utcnow().strftime("%Y%m%d"), facts["host"])
        with open(os.path.join(a.results, stem + ".json"), "w") as f:
            json.dump({"facts": facts, "results": res}, f, indent=1)
        with open(os.path.join(a.results, stem + ".md"), "w") as f:
            f.write(md)
        log("results: %s.json, %s.md in %s" % (stem, stem, a.results))
    return 0


def inst_main(a):
    """--scenario inst (inst.py): run-instances' volume step for a 128 MiB and
    a 64 GiB image; a Markdown table on stdout and, with --results, a JSON
    and a Markdown file there."""
    if not a.blocksnap:
        log("inst: needs --blocksnap")
        return 1
    facts = machine_facts(a)
    try:
        res = inst.run(a.blocksnap, a.work, a.seed, a.reps, log)
    except T.Skip as e:
        log("inst: SKIPPED: %s" % e)
        return 0
    except (T.Failed, subprocess.CalledProcessError) as e:
        log("inst: FAILED: %s" % e)
        return 1
    md = "Instance scenario, %d run(s), load average %s at the start, %s at the end." \
         "\n\n%s\n" % (a.reps, " ".join("%.2f" % x for x in res["loadavg_start"]),
                         " ".join("%.2f" % x for x in res["loadavg_end"]), inst.table(res))
    print(md)
    if a.results:
        os.makedirs(a.results, exist_ok=True)
        stem = "%s-%s-inst" % (datetime.datetime.utcnow().strftime("%Y%m%d"), facts["host"])
        with open(os.path.join(a.results, stem + ".json"), "w") as f:
            json.dump({"facts": facts, "results": res}, f, indent=1)
        with open(os.path.join(a.results, stem + ".md"), "w") as f:
            f.write(md)
        log("results: %s.json, %s.md in %s" % (stem, stem, a.results))
    return 0


def cow_main(a):
    """--scenario cow (cow.py): writable volumes: create-volume's time for a
    128 MiB and a 64 GiB snapshot, and sequential write, random reads and
    random writes through the mount; a Markdown table on stdout and, with
    --results, a JSON and a Markdown file there."""
    if not a.blocksnap:
        log("cow: needs --blocksnap")
        return 1
    facts = machine_facts(a)
    try:
        res = cow.run(a.blocksnap, a.work, a.size, a.seed, a.reps, log)
    except T.Skip as e:
        log("cow: SKIPPED: %s" % e)
        return 0
    except (T.Failed, subprocess.CalledProcessError) as e:
        log("cow: FAILED: %s" % e)
        return 1
    md = "Writable volume scenario, %d run(s), load average %s at the start, %s at the end." \
         "\n\n%s\n" % (a.reps, " ".join("%.2f" % x for x in res["loadavg_start"]),
                         " ".join("%.2f" % x for x in res["loadavg_end"]), cow.table(res))
    print(md)
    if a.results:
        os.makedirs(a.results, exist_ok=True)
        stem = "%s-%s-cow" % (datetime.datetime.utcnow().strftime("%Y%m%d"), facts["host"])
        with open(os.path.join(a.results, stem + ".json"), "w") as f:
            json.dump({"facts": facts, "results": res}, f, indent=1)
        with open(os.path.join(a.results, stem + ".md"), "w") as f:
            f.write(md)
        log("results: %s.json, %s.md in %s" % (stem, stem, a.results))
    return 0


def prune_main(a):
    """--scenario prune (prune.py): the plan of a prune of one volume of
    --prune-snapshots snapshots, and the space real prunes free against
    what they delete; a Markdown table on stdout and, with --results, a
    JSON and a Markdown file there."""
    fill = a.catalog_fill or os.path.join(os.path.dirname(a.blocksnap or ""), "bsnap-catalog-fill")
    if not a.blocksnap or not os.access(fill, os.X_OK):
        log("prune: needs --blocksnap and bsnap-catalog-fill beside it (or --catalog-fill)")
        return 1
    facts = machine_facts(a)
    load0 = os.getloadavg()
    try:
        res = prune.run(a.blocksnap, fill, a.work, a.prune_snapshots, a.reps, a.seed, log)
    except (T.Failed, subprocess.CalledProcessError) as e:
        log("prune: FAILED: %s" % e)
        return 1
    md = "Prune scenario, %d run(s) of the plan, median wall time and largest peak RSS of " \
         "the whole CLI process; load average (1, 5, 15 min) at the start %s, at the end " \
         "%s.\n\n%s\n" % (a.reps, " ".join("%.2f" % x for x in load0),
                            " ".join("%.2f" % x for x in os.getloadavg()), prune.table(res))
    print(md)
    if a.results:
        os.makedirs(a.results, exist_ok=True)
        stem = "%s-%s-prune" % (datetime.datetime.utcnow().strftime("%Y%m%d"), facts["host"])
        with open(os.path.join(a.results, stem + ".json"), "w") as f:
            json.dump({"facts": facts, "reps": a.reps, "loadavg": [load0, os.getloadavg()],
                       "results": res}, f, indent=1)
        with open(os.path.join(a.results, stem + ".md"), "w") as f:
            f.write(md)
        log("results: %s.json, %s.md in %s" % (stem, stem, a.results))
    return 0


def nbd_main(a):
    """--scenario nbd (nbd.py): snapshots of a qcow2 over qemu-nbd beside the
    raw file's, qemu-img convert and nbdcopy, and an incremental from a
    dirty bitmap; the table on stdout and, with --results, a JSON and a
    Markdown file there."""
    if not a.blocksnap:
        log("nbd: needs --blocksnap")
        return 1
    facts = machine_facts(a)
    try:
        res = nbd.run(a.blocksnap, a.work, a.size, a.seed, a.reps, log)
    except T.Skip as e:
        log("nbd: SKIPPED: %s" % e)
        return 77
    except (T.Failed, subprocess.CalledProcessError) as e:
        log("nbd: FAILED: %s" % e)
        return 1
    md = "NBD scenario: a %d MiB ext4 image (%d MiB allocated; %d MiB as qcow2), %d run(s) " \
         "each, median; load average at the end %.2f %.2f %.2f.\n\n%s\n" % (
             res["image_mib"], res["allocated_mib"], res["qcow2_mib"], a.reps,
             res["loadavg"][0], res["loadavg"][1], res["loadavg"][2], nbd.table(res))
    print(md)
    if a.results:
        os.makedirs(a.results, exist_ok=True)
        stem = "%s-%s-nbd" % (datetime.datetime.utcnow().strftime("%Y%m%d"), facts["host"])
        with open(os.path.join(a.results, stem + ".json"), "w") as f:
            json.dump({"facts": facts, "results": res}, f, indent=1)
        with open(os.path.join(a.results, stem + ".md"), "w") as f:
            f.write(md)
        log("results: %s.json, %s.md in %s" % (stem, stem, a.results))
    return 0


def backupvm_main(a):
    """--scenario backupvm (backupvm.py): backup-vm of a running QEMU, full
    and then incremental after a 1 % change; the table on stdout and, with
    --results, a JSON and a Markdown file there."""
    if not a.blocksnap:
        log("backupvm: needs --blocksnap")
        return 1
    facts = machine_facts(a)
    try:
        res = backupvm.run(a.blocksnap, a.work, a.size, a.seed, a.reps, log)
    except T.Skip as e:
        log("backupvm: SKIPPED: %s" % e)
        return 77
    except (T.Failed, subprocess.CalledProcessError) as e:
        log("backupvm: FAILED: %s" % e)
        return 1
    md = "backup-vm scenario: a %d MiB ext4 image (%d MiB allocated) as a running QEMU's qcow2 " \
         "disk, %d run(s) each, median; load average at the end %.2f %.2f %.2f.\n\n%s\n" % (
             res["image_mib"], res["allocated_mib"], a.reps, res["loadavg"][0],
             res["loadavg"][1], res["loadavg"][2], backupvm.table(res))
    print(md)
    if a.results:
        os.makedirs(a.results, exist_ok=True)
        stem = "%s-%s-backupvm" % (datetime.datetime.utcnow().strftime("%Y%m%d"), facts["host"])
        with open(os.path.join(a.results, stem + ".json"), "w") as f:
            json.dump({"facts": facts, "results": res}, f, indent=1)
        with open(os.path.join(a.results, stem + ".md"), "w") as f:
            f.write(md)
        log("results: %s.json, %s.md in %s" % (stem, stem, a.results))
    return 0


def instimage_main(a):
    """--scenario inst-image (instimage.py): a running instance's volume
    snapshotted through the nbdkit plugin's control channel after a 1 %
    write, against the LZ4 size of the written chunks and a full snapshot
    of the disk; the table on stdout and, with --results, a JSON and a
    Markdown file there."""
    if not a.blocksnap:
        log("inst-image: needs --blocksnap")
        return 1
    facts = machine_facts(a)
    try:
        res = instimage.run(a.blocksnap, a.work, a.size, a.seed, a.reps, log, a.workload)
    except T.Skip as e:
        log("inst-image: SKIPPED: %s" % e)
        return 77
    except (T.Failed, subprocess.CalledProcessError) as e:
        log("inst-image: FAILED: %s" % e)
        return 1
    lb, la = res["load_before"], res["load_after"]
    md = "inst-image scenario: a %d MiB ext4 image (%d MiB allocated) as a writable volume " \
         "served by the nbdkit plugin, %d run(s), median; load average %.2f %.2f %.2f before, " \
         "%.2f %.2f %.2f after.\n\n%s\n" % (
             res["image_mib"], res["allocated_mib"], a.reps, lb[0], lb[1], lb[2], la[0], la[1],
             la[2], instimage.table(res))
    print(md)
    if a.results:
        os.makedirs(a.results, exist_ok=True)
        stem = "%s-%s-inst-image" % (datetime.datetime.utcnow().strftime("%Y%m%d"), facts["host"])
        with open(os.path.join(a.results, stem + ".json"), "w") as f:
            json.dump({"facts": facts, "results": res}, f, indent=1)
        with open(os.path.join(a.results, stem + ".md"), "w") as f:
            f.write(md)
        log("results: %s.json, %s.md in %s" % (stem, stem, a.results))
    return 0


def ebsdirect_main(a):
    """--scenario api-ebs (ebsdirect.py): EBS direct upload and download
    through `blocksnap serve` by 8 boto3 clients against the CLI's full
    snapshot and restore of the same image, and 1,000 concurrent puts; the
    table on stdout and, with --results, a JSON and a Markdown file there."""
    if not a.blocksnap:
        log("api-ebs: needs --blocksnap")
        return 1
    facts = machine_facts(a)
    try:
        res = ebsdirect.run(a.blocksnap, a.work, a.size, a.seed, a.reps, log, a.workload)
    except T.Skip as e:
        log("api-ebs: SKIPPED: %s" % e)
        return 77
    except (T.Failed, subprocess.CalledProcessError) as e:
        log("api-ebs: FAILED: %s" % e)
        return 1
    lb, la = res["load_before"], res["load_after"]
    md = "api-ebs scenario: a %d MiB ext4 image (%d MiB allocated), %d run(s), median; load " \
         "average %.2f %.2f %.2f before, %.2f %.2f %.2f after (the machine is shared: other " \
         "engineers' builds and tests ran meanwhile).\n\n%s\n" % (
             res["image_mib"], res["allocated_mib"], a.reps, lb[0], lb[1], lb[2], la[0], la[1],
             la[2], ebsdirect.table(res))
    print(md)
    if a.results:
        os.makedirs(a.results, exist_ok=True)
        stem = "%s-%s-api-ebs" % (datetime.datetime.utcnow().strftime("%Y%m%d"), facts["host"])
        with open(os.path.join(a.results, stem + ".json"), "w") as f:
            json.dump({"facts": facts, "results": res}, f, indent=1)
        with open(os.path.join(a.results, stem + ".md"), "w") as f:
            f.write(md)
        log("results: %s.json, %s.md in %s" % (stem, stem, a.results))
    return 0 if res["storm_all_good"] else 1


def nbdkit_main(a):
    """--scenario nbdkit (nbdkit.py): a snapshot served by the blocksnap
    nbdkit plugin beside the same image served by nbdkit's file plugin:
    nbdcopy throughput and random 4 KiB read latency, as a Markdown table on
    stdout and, with --results, a JSON and a Markdown file there."""
    if not a.blocksnap:
        log("nbdkit: needs --blocksnap")
        return 1
    facts = machine_facts(a)
    try:
        res = nbdkit.run(a.blocksnap, a.work, a.size, a.seed, a.reps, log)
    except T.Skip as e:
        log("nbdkit: skipped: %s" % e)
        return 77
    except (T.Failed, subprocess.CalledProcessError) as e:
        log("nbdkit: FAILED: %s" % e)
        return 1
    md = "nbdkit scenario: a %d MiB ext4 image (%d MiB allocated), %d run(s) each, median; " \
         "%d random reads of %d bytes per run.\n\n%s\n" % (
             res["image_mib"], res["allocated_mib"], a.reps, res["reads"], res["read_size"],
             nbdkit.table(res))
    print(md)
    if a.results:
        os.makedirs(a.results, exist_ok=True)
        stem = "%s-%s-nbdkit" % (datetime.datetime.utcnow().strftime("%Y%m%d"), facts["host"])
        with open(os.path.join(a.results, stem + ".json"), "w") as f:
            json.dump({"facts": facts, "results": res}, f, indent=1)
        with open(os.path.join(a.results, stem + ".md"), "w") as f:
            f.write(md)
        log("results: %s.json, %s.md in %s" % (stem, stem, a.results))
    return 0


def default_scale_sizes(a):
    """128 MiB, the image size and 16 GiB (--quick: 64 MiB, the image size and
    four times it)."""
    return sorted({64 * W.MIB, a.size, 4 * a.size} if a.quick else
                  {128 * W.MIB, a.size, 16 * W.GIB})


def machine_facts(args):
    facts = {"host": socket.gethostname(), "kernel": platform.release(),
             "cores": os.cpu_count(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    facts["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    facts["memory_bytes"] = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        out = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", args.work],
                             stdout=subprocess.PIPE).stdout.decode().split()
        facts["workdir_fs"] = " ".join(out)
        dev = out[0] if out else ""
        model = subprocess.run(["lsblk", "-n", "-d", "-P", "-o", "MODEL,ROTA,SIZE", dev],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode()
        facts["disk"] = (dev + " " + model.strip().replace('"', "")).strip()
    except OSError:
        pass
    if args.blocksnap:
        build = os.path.dirname(os.path.abspath(args.blocksnap))
        cache = os.path.join(build, "CMakeCache.txt")
        cm = {}
        if os.path.exists(cache):
            with open(cache) as f:
                for line in f:
                    if ":" in line and "=" in line and not line.startswith(("#", "//")):
                        k, v = line.rstrip("\n").split("=", 1)
                        cm[k.split(":")[0]] = v
        bt = cm.get("CMAKE_BUILD_TYPE", "")
        cc = cm.get("CMAKE_C_COMPILER", "cc")
        facts["blocksnap_build"] = {
            "build_type": bt, "compiler": T.tool_version([cc, "--version"]),
            "c_flags": " ".join(x for x in (cm.get("CMAKE_C_FLAGS", ""),
                                            cm.get("CMAKE_C_FLAGS_" + bt.upper(), "")) if x),
            "sanitize": cm.get("BSNAP_SANITIZE", "")}
    return facts


def main(argv=None):
    p = argparse.ArgumentParser(prog="bench/run", description=(
        "Benchmark blocksnap against restic, borg, casync and the machine's limits."))
    p.add_argument("--quick", action="store_true", help="small sizes, one run: CI smoke (< 2 min)")
    p.add_argument("--scenario", action="append", default=[],
                   help="run only these scenarios (repeat or comma-separate): " + ", ".join(SCENARIOS))
    p.add_argument("--size", help="ext4 image size (default 2G, quick 128M)")
    p.add_argument("--sparse-size", help="sparse volume size (default 64G, quick 512M)")
    p.add_argument("--sparse-data", help="data in the sparse volume (default 1G, quick 8M)")
    p.add_argument("--blocksnap", help="the blocksnap binary (default: blocksnap on PATH)")
    p.add_argument("--workdir", help="parent directory of the temporary work directory")
    p.add_argument("--reps", type=int, help="runs per scenario, median taken (default 3, quick 1)")
    p.add_argument("--peer-reps", type=int, help="runs per scenario of the peers (default: --reps)")
    p.add_argument("--peer-timeout", type=int, default=1800,
                   help="seconds one peer command may take before it counts as failed (1800)")
    p.add_argument("--sparse-reps", type=int, default=1, help="runs of the sparse scenario (1)")
    p.add_argument("--chain", help="chain lengths, comma separated (default 1,100,1000; quick 1,10,30)")
    p.add_argument("--scale-sizes", help="image sizes of the scaling scenario, comma separated "
                   "(default 128M,SIZE,16G; quick 64M,SIZE,4xSIZE)")
    p.add_argument("--align-size", help="file size of the alignment sweep (default 512M, "
                   "quick 16M)")
    p.add_argument("--chunk-sizes", default="16K,64K,256K",
                   help="store chunk sizes of the chunksize scenario (16K,64K,256K)")
    p.add_argument("--copy-kills", type=int, help="SIGKILLed and resumed copies of the copy "
                   "scenario (default 20, quick 5)")
    p.add_argument("--reads", type=int, default=2000, help="random 4 KiB reads per pass (2000)")
    p.add_argument("--tools", default="blocksnap,restic,borg,casync", help="tools to compare")
    p.add_argument("--threads", type=int, default=0, help="blocksnap --threads (0: its default)")
    p.add_argument("--results", help="results directory (default bench/results; quick: none)")
    p.add_argument("--update-docs", action="store_true",
                   help="put the table into docs/benchmarks.md between its result markers")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--workload", help="generate the workload in (or reuse it from) this directory, "
                   "which is kept")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--catalog-sizes", help="snapshots per store of the catalog scenario, comma "
                   "separated (default 1000,100000; quick 100,1000)")
    p.add_argument("--catalog-fill", help="the bsnap-catalog-fill helper (default: beside "
                   "--blocksnap)")
    p.add_argument("--prune-snapshots", type=int, default=10000,
                   help="snapshots of the volume the prune scenario plans (10000)")
    a = p.parse_args(argv)

    a.scenarios = [s for arg in a.scenario for s in arg.split(",") if s] or [
        s for s in SCENARIOS if s not in ALONE]
    bad = [s for s in a.scenarios if s not in SCENARIOS]
    if bad:
        p.error("unknown scenario %s (known: %s)" % (", ".join(bad), ", ".join(SCENARIOS)))
    if set(a.scenarios) & ALONE and len(set(a.scenarios)) > 1:
        p.error("--scenario %s runs alone" % ", ".join(sorted(set(a.scenarios) & ALONE)))
    a.size = parse_size(a.size or ("128M" if a.quick else "2G"))
    a.sparse_size = parse_size(a.sparse_size or ("512M" if a.quick else "64G"))
    a.sparse_data = parse_size(a.sparse_data or ("8M" if a.quick else "1G"))
    a.reps = a.reps or (1 if a.quick else 3)
    a.copy_kills = a.copy_kills if a.copy_kills is not None else (5 if a.quick else 20)
    a.scale_sizes_default = not a.scale_sizes
    if a.scale_sizes:
        a.scale_sizes = sorted({parse_size(x) for x in a.scale_sizes.split(",") if x})
    else:
        a.scale_sizes = default_scale_sizes(a)
    if any(x % W.BLOCK for x in a.scale_sizes):
        p.error("--scale-sizes: every size must be a multiple of 4 KiB")
    a.chunk_sizes = [parse_size(x) for x in a.chunk_sizes.split(",") if x]
    if any(x < 4 * W.KIB or x > 4 * W.MIB or x & (x - 1) for x in a.chunk_sizes):
        p.error("--chunk-sizes: every size must be a power of two from 4K to 4M")
    a.align_size = parse_size(a.align_size or ("16M" if a.quick else "512M"))
    a.peer_reps = a.peer_reps or a.reps
    a.chain = [int(x) for x in (a.chain or ("1,10,30" if a.quick else "1,100,1000")).split(",")]
    a.tools = a.tools.split(",")
    a.catalog_sizes = [int(x) for x in (a.catalog_sizes or
                                        ("100,1000" if a.quick else "1000,100000")).split(",")]
    a.chunk = 64 * 1024
    if not a.blocksnap:
        a.blocksnap = shutil.which("blocksnap")
    if a.blocksnap:
        a.blocksnap = os.path.abspath(a.blocksnap)
    repo_root = os.path.dirname(os.path.dirname(HERE))
    if a.results is None and not a.quick:
        a.results = os.path.join(repo_root, "bench", "results")

    parent = a.workdir or os.environ.get("TMPDIR", "/tmp")
    os.makedirs(parent, exist_ok=True)
    a.work = tempfile.mkdtemp(prefix="blocksnap-bench-", dir=parent)
    status = 1
    if a.scenarios == ["catalog"]:
        try:
            return catalog_main(a)
        finally:
            if not a.keep:
                shutil.rmtree(a.work, ignore_errors=True)
    if a.scenarios == ["prune"]:
        try:
            return prune_main(a)
        finally:
            if not a.keep:
                shutil.rmtree(a.work, ignore_errors=True)
    if a.scenarios == ["nbd"]:
        try:
            return nbd_main(a)
        finally:
            if not a.keep:
                shutil.rmtree(a.work, ignore_errors=True)
    if a.scenarios == ["inst"]:
        try:
            return inst_main(a)
        finally:
            if not a.keep:
                shutil.rmtree(a.work, ignore_errors=True)
    if a.scenarios == ["cow"]:
        try:
            return cow_main(a)
        finally:
            if not a.keep:
                shutil.rmtree(a.work, ignore_errors=True)
    if a.scenarios == ["encrypt"]:
        try:
            return encrypt_main(a)
        finally:
            if not a.keep:
                shutil.rmtree(a.work, ignore_errors=True)
    if a.scenarios == ["backupvm"]:
        try:
            return backupvm_main(a)
        finally:
            if not a.keep:
                shutil.rmtree(a.work, ignore_errors=True)
    if a.scenarios == ["inst-image"]:
        try:
            return instimage_main(a)
        finally:
            if not a.keep:
                shutil.rmtree(a.work, ignore_errors=True)
    if a.scenarios == ["api-ebs"]:
        try:
            return ebsdirect_main(a)
        finally:
            if not a.keep:
                shutil.rmtree(a.work, ignore_errors=True)
    if a.scenarios == ["nbdkit"]:
        try:
            return nbdkit_main(a)
        finally:
            if not a.keep:
                shutil.rmtree(a.work, ignore_errors=True)
    try:
        b = Bench(a)
        b.main()
        per = {}
        for scen, tool, secs in b.phase:
            per[tool] = per.get(tool, 0) + secs
        log("time per tool: " + ", ".join("%s %.0fs" % kv for kv in per.items()))
        facts = machine_facts(a)
        doc = report.build(a, b, facts)
        with open(os.path.join(a.work, "doc.json"), "w") as f:
            json.dump(doc, f, indent=1)
        md = report.markdown(doc)
        print(md)
        if a.results:
            os.makedirs(a.results, exist_ok=True)
            stem = "%s-%s" % (datetime.datetime.utcnow().strftime("%Y%m%d"), facts["host"])
            doc["files"] = report.write(doc, md, a.results, stem, os.path.join(a.work, "plot"))
            log("results: %s" % ", ".join(doc["files"]))
            if a.update_docs:
                report.update_docs(os.path.join(repo_root, "docs", "benchmarks.md"), doc, a.results,
                                   stem)
        if b.res.errors:
            log("FAILED: %d wrong or failed blocksnap results:" % len(b.res.errors))
            for e in b.res.errors:
                log("  " + e)
            status = 1
        else:
            log("all comparisons passed (%.0fs)" % b.elapsed)
            status = 0
    finally:
        if a.keep:
            log("work directory kept: %s" % a.work)
        else:
            shutil.rmtree(a.work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
