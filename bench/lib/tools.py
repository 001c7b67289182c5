"""The tools the suite compares: blocksnap and its peers restic, borg, casync.

Every tool has the same face:

  available()            -> None, or why the tool is skipped
  version()              -> version string
  init(repo)             create an empty repository/store at @repo
  backup(paths, label, changed=None) -> (Measure, snap)
  restore(snap, {src: out})          -> Measure     (writes raw files)
  mount(snap, mnt)       -> Mount (a context manager; .path(src) is the file
                            that shows @src inside the mount), or raises Skip
  repo_bytes()           disk space the repository takes (allocated bytes)

The exact command lines are in the methods below and in docs/benchmarks.md.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

TIME = "/usr/bin/time"
NO_FUSE = None  # set to the reason when FUSE cannot work here
TIMEOUT = None  # seconds a command may take (the driver sets it for peers)


class Skip(Exception):
    """A tool or feature cannot run here; the message says why."""


class Failed(Exception):
    """A command failed; the message has its stderr."""


class TimedOut(Failed):
    """A command took longer than it was allowed to."""


class Measure:
    """Wall seconds, peak RSS (KiB) and CPU seconds (user + system) of one
    command or of several run one after the other."""

    def __init__(self, secs=0.0, rss_kib=0, cpu_secs=0.0):
        self.secs = secs
        self.rss_kib = rss_kib
        self.cpu_secs = cpu_secs

    def add(self, other):
        self.secs += other.secs
        self.rss_kib = max(self.rss_kib, other.rss_kib)
        self.cpu_secs += other.cpu_secs
        return self

    def fig(self):
        return {"secs": self.secs, "rss_kib": self.rss_kib, "cpu_secs": self.cpu_secs}


def run(argv, env=None, cwd=None, stdout=subprocess.PIPE, timeout=None, rss=True):
    """Run @argv, return (Measure, stdout text).  Wall time is measured here;
    peak RSS and CPU time come from /usr/bin/time (the child's getrusage).
    The command runs in a process group of its own, so that a timeout ends
    it and everything it started, and nothing else."""
    timeout = timeout or TIMEOUT
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    rss_file = None
    cmd = list(argv)
    if rss and os.access(TIME, os.X_OK):
        fd, rss_file = tempfile.mkstemp(prefix="bench-rss-")
        os.close(fd)
        cmd = [TIME, "-f", "%M %U %S", "-o", rss_file] + cmd
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=full_env, cwd=cwd, stdout=stdout, start_new_session=True,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        if rss_file:
            os.unlink(rss_file)
        raise TimedOut("%s: timed out after %ds" % (argv[0], timeout))
    secs = time.perf_counter() - t0
    usage_rss, cpu = 0, 0.0
    if rss_file:
        try:
            with open(rss_file) as f:
                last = f.read().strip().splitlines()[-1:]  # after any "Command exited" line
            parts = last[0].split() if last else []
            if len(parts) == 3:
                usage_rss, cpu = int(parts[0]), float(parts[1]) + float(parts[2])
        except (OSError, ValueError):
            pass
        finally:
            os.unlink(rss_file)
    if p.returncode != 0:
        raise Failed("%s exited %d: %s" % (" ".join(argv[:3]), p.returncode,
                                           (err or b"").decode(errors="replace").strip()[-2000:]))
    text = out.decode(errors="replace") if out is not None else ""
    return Measure(secs, usage_rss, cpu), text


def allocated(path):
    """Allocated bytes under @path (du -s -B1: what the repository costs on
    disk; sparse files count only their data)."""
    if not os.path.exists(path):
        return 0
    out = subprocess.run(["du", "-s", "-B1", path], stdout=subprocess.PIPE, check=True).stdout
    return int(out.split()[0])


def tool_version(argv):
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=20).stdout.decode(errors="replace")
        return out.strip().splitlines()[0] if out.strip() else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


class Mount:
    """A FUSE daemon run in the foreground by us, unmounted on exit.  Only the
    process we started is ever signalled, by its pid."""

    def __init__(self, argv, mnt, probe, env=None, cwd=None, pathfn=None, timeout=60):
        if NO_FUSE:
            raise Skip(NO_FUSE)
        self.mnt = mnt
        self.pathfn = pathfn
        os.makedirs(mnt, exist_ok=True)
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, env=full_env, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.log.seek(0)
                msg = self.log.read().decode(errors="replace").strip()
                raise Failed("%s mount exited %d: %s" % (argv[0], self.proc.returncode, msg[-1000:]))
            if os.path.ismount(mnt) and os.path.exists(probe()):
                break
            if time.monotonic() > deadline:
                self.close()
                raise Failed("%s mount did not answer within %ds" % (argv[0], timeout))
            time.sleep(0.05)

    def path(self, src):
        return self.pathfn(src)

    def close(self):
        if self.proc is None:
            return
        for cmd in (["fusermount3", "-u", self.mnt], ["fusermount", "-u", self.mnt]):
            if shutil.which(cmd[0]) and subprocess.run(
                    cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
                break
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if os.path.ismount(self.mnt):
            subprocess.run(["fusermount3", "-u", "-z", self.mnt],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.proc = None
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Tool:
    name = "?"
    binary = "?"

    def __init__(self, work):
        self.work = work
        self.repo = None

    def available(self):
        if not shutil.which(self.binary):
            return "%s not installed" % self.binary
        return None

    def repo_bytes(self):
        return allocated(self.repo)


class Blocksnap(Tool):
    name = "blocksnap"

    def __init__(self, work, binary, threads=0):
        super().__init__(work)
        self.binary = binary
        self.threads = threads
        self.prefix = []  # e.g. ["taskset", "-c", "0"]: the scaling scenario's one core

    def available(self):
        if not self.binary:
            return "no --blocksnap binary given"
        if not os.access(self.binary, os.X_OK):
            return "%s is not an executable" % self.binary
        return None

    def version(self):
        return tool_version([self.binary, "--version"])

    def cli(self, *args):
        return [self.binary, "--store", self.repo] + list(args)

    def init(self, repo, chunk_size=None):
        self.repo = repo
        extra = ["--chunk-size", str(chunk_size)] if chunk_size else []
        run(self.cli("create-store", *extra), rss=False)

    def snapshot_info(self, sid):
        _, out = run(self.cli("describe-snapshots", "--snapshot-ids", sid), rss=False)
        return json.loads(out)["Snapshots"][0]

    def backup(self, paths, label, changed=None):
        total = Measure()
        snap = {}
        for p in paths:
            argv = self.cli("create-snapshot", "--volume", p, "--description", label, "--quiet")
            if changed:
                argv += ["--changed-blocks", changed[p]]
            if self.threads:
                argv += ["--threads", str(self.threads)]
            m, out = run(self.prefix + argv)
            total.add(m)
            snap[p] = json.loads(out)["SnapshotId"]
        return total, snap

    def restore(self, snap, mapping):
        total = Measure()
        for src, out in mapping.items():
            m, _ = run(self.prefix + self.cli("create-volume", "--snapshot-id", snap[src],
                                              "--path", out, "--force", "--quiet"))
            total.add(m)
        return total

    def store_info(self):
        _, out = run(self.cli("describe-store"), rss=False)
        return json.loads(out)

    def has_mount(self):
        try:
            out = subprocess.run([self.binary, "mount", "--help"], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return out.returncode == 0

    def mount(self, snap, mnt):
        if not self.has_mount():
            raise Skip("this blocksnap has no mount verb yet")
        first = next(iter(snap.values()))
        return Mount(self.cli("mount", mnt, "--foreground"), mnt,
                     probe=lambda: os.path.join(mnt, "snapshots", first + ".img"),
                     pathfn=lambda src: os.path.join(mnt, "snapshots", snap[src] + ".img"))


class Restic(Tool):
    name = "restic"
    binary = "restic"

    def env(self):
        return {"RESTIC_REPOSITORY": self.repo, "RESTIC_PASSWORD": "bench",
                "RESTIC_CACHE_DIR": self.repo + ".cache", "RESTIC_PROGRESS_FPS": "0.1"}

    def version(self):
        return tool_version(["restic", "version"])

    def init(self, repo):
        self.repo = repo
        run(["restic", "init", "--repository-version", "2"], env=self.env(), rss=False)

    def backup(self, paths, label, changed=None):
        m, out = run(["restic", "backup", "--json", "--quiet", "--compression", "auto",
                      "--force", "--tag", label] + list(paths), env=self.env())
        sid = None
        for line in out.splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if doc.get("message_type") == "summary":
                sid = doc.get("snapshot_id")
        if not sid:
            raise Failed("restic backup printed no snapshot id")
        return m, sid

    def restore(self, snap, mapping):
        target = tempfile.mkdtemp(prefix="restic-restore-", dir=self.work)
        m, _ = run(["restic", "restore", snap, "--target", target], env=self.env())
        for src, out in mapping.items():
            os.replace(target + os.path.abspath(src), out)
        shutil.rmtree(target)
        return m

    def repo_bytes(self):
        return allocated(self.repo)  # the local cache is not counted

    def mount(self, snap, mnt):
        return Mount(["restic", "mount", "--no-default-permissions", mnt], mnt, env=self.env(),
                     probe=lambda: os.path.join(mnt, "ids", snap[:8]),
                     pathfn=lambda src: os.path.join(mnt, "ids", snap[:8]) + os.path.abspath(src))


class Borg(Tool):
    name = "borg"
    binary = "borg"

    def env(self):
        return {"BORG_BASE_DIR": self.repo + ".base", "BORG_PASSPHRASE": "",
                "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
                "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes"}

    def version(self):
        return tool_version(["borg", "--version"])

    def init(self, repo):
        self.repo = repo
        run(["borg", "init", "--encryption", "none", repo], env=self.env(), rss=False)

    def backup(self, paths, label, changed=None):
        # borg stores paths without their leading "/": run from "/".
        rel = [os.path.relpath(os.path.abspath(p), "/") for p in paths]
        m, _ = run(["borg", "create", "--compression", "lz4", "--chunker-params", "fixed,65536",
                    "--sparse", "--files-cache", "disabled", self.repo + "::" + label] + rel,
                   env=self.env(), cwd="/")
        return m, label

    def restore(self, snap, mapping):
        target = tempfile.mkdtemp(prefix="borg-restore-", dir=self.work)
        m, _ = run(["borg", "extract", "--sparse", self.repo + "::" + snap], env=self.env(),
                   cwd=target)
        for src, out in mapping.items():
            os.replace(os.path.join(target, os.path.relpath(os.path.abspath(src), "/")), out)
        shutil.rmtree(target)
        return m

    def mount(self, snap, mnt):
        def pathfn(src):
            return os.path.join(mnt, os.path.relpath(os.path.abspath(src), "/"))
        return Mount(["borg", "mount", "-f", self.repo + "::" + snap, mnt], mnt, env=self.env(),
                     probe=lambda: mnt if os.listdir(mnt) else os.path.join(mnt, "-"),
                     pathfn=pathfn)


class Casync(Tool):
    name = "casync"
    binary = "casync"

    def version(self):
        return tool_version(["casync", "--version"])

    def init(self, repo):
        self.repo = repo
        os.makedirs(os.path.join(repo, "store"))
        os.makedirs(os.path.join(repo, "index"))

    def backup(self, paths, label, changed=None):
        total = Measure()
        snap = {}
        for i, p in enumerate(paths):
            idx = os.path.join(self.repo, "index", "%s-%d.caibx" % (label, i))
            m, _ = run(["casync", "make", "--compression=zstd",
                        "--store=" + os.path.join(self.repo, "store"), idx, p])
            total.add(m)
            snap[p] = idx
        return total, snap

    def restore(self, snap, mapping):
        total = Measure()
        for src, out in mapping.items():
            if os.path.exists(out):
                os.unlink(out)
            m, _ = run(["casync", "extract", "--seed-output=no",
                        "--store=" + os.path.join(self.repo, "store"), snap[src], out])
            total.add(m)
        return total

    def mount(self, snap, mnt):
        raise Skip("casync mount serves directory archives (.caidx) only; a blob index "
                   "(.caibx) is exposed through 'casync mkdev' (NBD), not FUSE")
