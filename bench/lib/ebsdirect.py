"""--scenario api-ebs: the EBS direct API of `blocksnap serve` against the
CLI on the same image, in one run.

On the workload image (base.img of the main sequence: system files in a
--size ext4 image; --workload DIR reuses DIR/base.img; --size whole GiB),
each repetition:

  * the CLI's full snapshot of the image (create-snapshot --volume) into a
    fresh store, and its restore (create-volume --path);
  * on another fresh store served by `blocksnap serve` on loopback: the
    upload of every block that holds data by 8 concurrent boto3 clients of
    512 KiB put-snapshot-block (real requests and SigV4 signatures, run by
    Debian's python3 with python3-boto3), from start-snapshot to the
    answer of complete-snapshot; then the download of every listed block
    by 8 concurrent get-snapshot-block clients into a sparse file;
  * 1,000 put-snapshot-block requests at once (1,000 client threads, no
    SDK retries): each succeeds or gets a retryable error (503, throttling:
    then it is sent again, as an SDK would); the snapshot completes and
    restores byte-identical to the 1,000 blocks.

Targets (issue 23): upload >= 0.5x the CLI's full snapshot, download >=
0.5x restore (as throughput: the CLI's time over the API's).  The first
repetition compares the upload's restore and the download with the image.
"""
import filecmp
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import time

import nbdkit
import tools as T
import workload as W

PY3 = "/usr/bin/python3"
REGION = "us-east-1"
KEY, SECRET, ACCOUNT = "AKIABENCHEXAMPLE", "bench/Secret+Key0123456789EXAMPLE", "123456789012"
B = 524288


class Server:
    """`blocksnap serve` on a free loopback port, stopped by its PID."""

    def __init__(self, binary, store, work):
        self.binary, self.store, self.work = binary, store, work

    def __enter__(self):
        creds = os.path.join(self.work, "credentials")
        with open(creds, "w") as f:
            f.write("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                    "blocksnap_account_id = %s\n" % (KEY, SECRET, ACCOUNT))
        os.chmod(creds, 0o600)
        env = dict(os.environ, BLOCKSNAP_SHARED_CREDENTIALS_FILE=creds,
                   BLOCKSNAP_CONFIG_FILE=os.path.join(self.work, "config"))
        self.out = os.path.join(self.work, "serve.out")
        self.err = open(os.path.join(self.work, "serve.log"), "w")
        self.p = subprocess.Popen([self.binary, "--store", self.store, "serve", "--listen",
                                   "127.0.0.1:0", "--quiet", "--threads", "16"],
                                  stdout=open(self.out, "w"), stderr=self.err,
                                  stdin=subprocess.DEVNULL, env=env)
        for _ in range(300):
            with open(self.out) as f:
                text = f.read()
            if text.startswith("listening on "):
                self.endpoint = text.split()[2]
                return self
            if self.p.poll() is not None:
                break
            time.sleep(0.1)
        self.__exit__(None, None, None)
        raise T.Failed("blocksnap serve did not start (serve.log in %s)" % self.work)

    def __exit__(self, *exc):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.err.close()


def client(endpoint, args):
    env = dict(os.environ, EBS_KEY=KEY, EBS_SECRET=SECRET, EBS_REGION=REGION)
    env.update(args.pop("env", {}))
    p = subprocess.run([PY3, os.path.join(os.path.dirname(__file__), "ebsclient.py")] +
                       args["argv"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=3600)
    if p.returncode != 0:
        raise T.Failed("ebsclient %s: %s" % (args["argv"][0], p.stderr.decode()[-2000:]))
    return json.loads(p.stdout.decode().strip().splitlines()[-1])


def store_new(binary, path):
    shutil.rmtree(path, ignore_errors=True)
    T.run([binary, "--store", path, "--region", REGION, "create-store"], rss=False)


def one(binary, work, image, rep, log):
    fig = {}
    a, b = os.path.join(work, "cli-store"), os.path.join(work, "api-store")
    out = os.path.join(work, "out.img")
    store_new(binary, a)
    m, text = T.run([binary, "--store", a, "create-snapshot", "--volume", image, "--quiet"])
    fig["cli_snapshot"] = m.secs
    snap = json.loads(text)["SnapshotId"]
    m, _ = T.run([binary, "--store", a, "create-volume", "--snapshot-id", snap, "--path", out,
                  "--force", "--quiet"])
    fig["cli_restore"] = m.secs
    os.unlink(out)
    store_new(binary, b)
    with Server(binary, b, work) as srv:
        r = client(srv.endpoint, {"argv": ["up", srv.endpoint, image, "8"]})
        if r["status"] != "completed":
            raise T.Failed("api-ebs: the upload completed as %s" % r["status"])
        fig["api_upload"], fig["blocks"] = r["secs"], r["blocks"]
        d = client(srv.endpoint, {"argv": ["down", srv.endpoint, r["snapshot"], out, "8"]})
        fig["api_download"] = d["secs"]
        if rep == 0:
            if not filecmp.cmp(out, image, shallow=False):
                raise T.Failed("api-ebs: the downloaded image differs from the image")
            restored = os.path.join(work, "restored.img")
            T.run([binary, "--store", b, "create-volume", "--snapshot-id", r["snapshot"],
                   "--path", restored, "--force", "--quiet"], rss=False)
            if not filecmp.cmp(restored, image, shallow=False):
                raise T.Failed("api-ebs: the uploaded snapshot restores different")
            os.unlink(restored)
        os.unlink(out)
        seed = os.path.join(work, "storm.seed")
        s = client(srv.endpoint, {"argv": ["storm", srv.endpoint, "1000", "1000"],
                                  "env": {"EBS_SEED_OUT": seed}})
    fig["storm_ok"], fig["storm_retryable"] = s["ok"], s["retryable"]
    fig["storm_other"] = len(s["other"])
    fig["storm_secs"] = s["secs"]
    fig["storm_status"] = s["status"]
    restored = os.path.join(work, "storm.img")
    T.run([binary, "--store", b, "create-volume", "--snapshot-id", s["snapshot"], "--path",
           restored, "--force", "--quiet"], rss=False)
    with open(seed, "rb") as f:
        tail = f.read()[8:]
    with open(restored, "rb") as f:
        same = all(f.read(B) == i.to_bytes(8, "little") + tail for i in range(1000))
        same = same and all(c == 0 for c in f.read())
    fig["storm_identical"] = same
    os.unlink(restored)
    log("api-ebs: run %d: %s" % (rep + 1, json.dumps(fig)))
    return fig


def run(binary, work, size, seed, reps, log, workload=None):
    if not os.path.exists(PY3) or subprocess.run([PY3, "-c", "import boto3"],
                                                 capture_output=True).returncode != 0:
        raise T.Skip("api-ebs: needs Debian's python3-boto3 (%s)" % PY3)
    if size % (1 << 30):
        raise T.Skip("api-ebs: --size must be whole GiB (EBS direct's VolumeSize)")
    reused = workload and os.path.exists(os.path.join(workload, "base.img"))
    image = os.path.join(workload, "base.img") if reused else nbdkit.make_image(work, size, seed,
                                                                                 log)
    res = {"image_mib": os.path.getsize(image) / W.MIB,
           "allocated_mib": T.allocated(image) / W.MIB, "reps": reps,
           "load_before": os.getloadavg()}
    runs = [one(binary, work, image, rep, log) for rep in range(reps)]
    res["load_after"] = os.getloadavg()
    keys = ["cli_snapshot", "cli_restore", "api_upload", "api_download", "storm_secs"]
    res["median"] = {k: statistics.median(r[k] for r in runs) for k in keys}
    res["runs"] = runs
    med = res["median"]
    res["upload_vs_snapshot"] = med["cli_snapshot"] / med["api_upload"]
    res["download_vs_restore"] = med["cli_restore"] / med["api_download"]
    res["storm_all_good"] = all(r["storm_other"] == 0 and r["storm_status"] == "completed" and
                                r["storm_identical"] for r in runs)
    return res


def table(res):
    med, mib = res["median"], res["allocated_mib"]
    rows = ["| operation | seconds | MiB/s of the allocated image | figure | target |",
            "|---|---:|---:|---|---|"]
    rows.append("| CLI full snapshot (create-snapshot) | %.2f | %.0f | | |" %
                (med["cli_snapshot"], mib / med["cli_snapshot"]))
    rows.append("| EBS direct upload, 8 clients of 512 KiB put-snapshot-block | %.2f | %.0f | "
                "%.2fx the CLI's snapshot | >= 0.5x |" %
                (med["api_upload"], mib / med["api_upload"], res["upload_vs_snapshot"]))
    rows.append("| CLI restore (create-volume --path) | %.2f | %.0f | | |" %
                (med["cli_restore"], mib / med["cli_restore"]))
    rows.append("| EBS direct download, 8 clients of get-snapshot-block | %.2f | %.0f | "
                "%.2fx restore | >= 0.5x |" %
                (med["api_download"], mib / med["api_download"], res["download_vs_restore"]))
    r = res["runs"]
    rows.append("| 1,000 concurrent put-snapshot-block | %.2f | | %s succeeded, %s retryable "
                "(sent again), %s other; completed and restored identical: %s | all succeed "
                "or retryable; identical |" %
                (med["storm_secs"], "/".join(str(x["storm_ok"]) for x in r),
                 "/".join(str(x["storm_retryable"]) for x in r),
                 "/".join(str(x["storm_other"]) for x in r),
                 "yes" if res["storm_all_good"] else "NO"))
    return "\n".join(rows)
