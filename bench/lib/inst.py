"""--scenario inst: run-instances' volume step (a writable copy-on-write
volume per mapping of the image) for an image of a 128 MiB and of a 64 GiB
volume (sparse, 8 MiB of data), in one run.

Each run-instances runs with BLOCKSNAP_DEBUG=instance, whose log line
"run: volume step: N volumes in X ms" is the engine's own time of the step
(the issue's target: <= 50 ms, and the same within 20 % for both sizes);
the machine's start is cut short (BLOCKSNAP_NBDKIT=false: the volume's
server fails at once, the instance ends terminated and its volume is
deleted), so the command's wall time, reported beside it, is the engine's
run plus the CLI's start and that clean-up, not a boot.  Median of
--reps * 5 runs per size, the sizes in turn.
"""
import json
import os
import re
import shutil
import statistics
import subprocess
import time

import cow
import tools as T
import workload as W

STEP = re.compile(r"volume step: (\d+) volumes in ([0-9.]+) ms")


def one_run(cli, ami):
    """(engine ms of the volume step, wall seconds of run-instances)."""
    env = dict(os.environ, BLOCKSNAP_DEBUG="instance", BLOCKSNAP_NBDKIT="false",
               BLOCKSNAP_ACCEL="tcg")
    t0 = time.perf_counter()
    p = subprocess.run(cli + ["run-instances", "--image-id", ami], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=T.TIMEOUT)
    secs = time.perf_counter() - t0
    if p.returncode != 0:
        raise T.Failed("run-instances exited %d: %s" % (p.returncode, p.stderr[-400:]))
    m = STEP.search(p.stderr)
    if not m:
        raise T.Failed("run-instances logged no volume step: %s" % p.stderr[-400:])
    return float(m.group(2)), secs


def run(binary, work, seed, reps, log):
    store = os.path.join(work, "store-inst")
    cli = [binary, "--store", store]
    shutil.rmtree(store, ignore_errors=True)
    T.run(cli + ["create-store"], rss=False)
    res = {"reps": reps, "loadavg_start": os.getloadavg()}
    amis = {}
    for name, isize in (("small", 128 * W.MIB), ("large", 64 << 30)):
        img = os.path.join(work, "inst-%s.img" % name)
        cow.sparse_image(img, isize, seed)
        _, text = T.run(cli + ["create-snapshot", "--volume", img, "--quiet"], rss=False)
        snap = json.loads(text)["SnapshotId"]
        os.unlink(img)
        _, text = T.run(cli + ["register-image", "--name", "inst-" + name, "--no-boot-check",
                               "--block-device-mappings",
                               "DeviceName=/dev/xvda,Ebs={SnapshotId=%s}" % snap], rss=False)
        amis[name] = (isize, json.loads(text)["ImageId"])
    # the two sizes in turn, so that the load of the moment weighs on both alike
    runs = {"small": ([], []), "large": ([], [])}
    for _ in range(max(5, reps * 5)):
        for name in ("small", "large"):
            ms, secs = one_run(cli, amis[name][1])
            runs[name][0].append(ms)
            runs[name][1].append(secs)
    for name in ("small", "large"):
        steps, walls = runs[name]
        res[name] = {"size": amis[name][0], "step_ms": statistics.median(steps),
                     "wall_ms": statistics.median(walls) * 1e3, "steps": steps}
        log("inst: volume step of a %d MiB image: median %.2f ms (run-instances %.0f ms)" %
            (amis[name][0] // W.MIB, res[name]["step_ms"], res[name]["wall_ms"]))
    res["ratio"] = res["large"]["step_ms"] / res["small"]["step_ms"]
    res["loadavg_end"] = os.getloadavg()
    shutil.rmtree(store, ignore_errors=True)
    return res


def table(res):
    s, l = res["small"], res["large"]
    return "\n".join([
        "| figure | measured | target |", "|---|---:|---|",
        "| volume step, 128 MiB image | %.2f ms | <= 50 ms |" % s["step_ms"],
        "| volume step, 64 GiB image | %.2f ms | <= 50 ms |" % l["step_ms"],
        "| 64 GiB / 128 MiB | %.2fx | 0.8-1.2x |" % res["ratio"],
        "| run-instances, machine start cut short: 128 MiB / 64 GiB | %.0f / %.0f ms | |" %
        (s["wall_ms"], l["wall_ms"])])
