"""The EBS direct client of --scenario api-ebs: boto3 (Debian's
python3-boto3, so run by /usr/bin/python3), real requests and SigV4
signatures against `blocksnap serve`.  Prints one JSON line of figures.

  ebsclient.py up ENDPOINT IMAGE THREADS     start, put every block that holds
                                             data from THREADS threads, complete
  ebsclient.py down ENDPOINT SNAP OUT THREADS  list, get every block into OUT
  ebsclient.py storm ENDPOINT N THREADS      N puts at once into a new 1 GiB
                                             snapshot (at most THREADS in
                                             flight), completed; no retries

Keys: $EBS_KEY and $EBS_SECRET; region $EBS_REGION.
"""
import base64
import hashlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore.config
import botocore.exceptions

B = 524288


def client(endpoint, threads, retries):
    return boto3.client("ebs", endpoint_url=endpoint, region_name=os.environ["EBS_REGION"],
                        aws_access_key_id=os.environ["EBS_KEY"],
                        aws_secret_access_key=os.environ["EBS_SECRET"],
                        config=botocore.config.Config(max_pool_connections=threads + 4,
                                                      retries={"max_attempts": retries}))


def b64sum(b):
    return base64.b64encode(hashlib.sha256(b).digest()).decode()


def data_blocks(image):
    """The indexes of @image's blocks that are not all zeros (SEEK_DATA
    first: holes are skipped without reading)."""
    fd = os.open(image, os.O_RDONLY)
    size = os.fstat(fd).st_size
    out, off = [], 0
    while off < size:
        try:
            start = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:
            break
        end = os.lseek(fd, start, os.SEEK_HOLE)
        for i in range(start // B, (end + B - 1) // B):
            if not out or out[-1] != i:
                if os.pread(fd, B, i * B).count(0) != B:
                    out.append(i)
        off = end
    os.close(fd)
    return out, size


def up(endpoint, image, threads):
    ebs = client(endpoint, threads, 3)
    blocks, size = data_blocks(image)
    fd = os.open(image, os.O_RDONLY)
    t0 = time.perf_counter()
    sid = ebs.start_snapshot(VolumeSize=(size + (1 << 30) - 1) >> 30)["SnapshotId"]

    def put(i):
        d = os.pread(fd, B, i * B).ljust(B, b"\0")
        ebs.put_snapshot_block(SnapshotId=sid, BlockIndex=i, BlockData=d, DataLength=B,
                               Checksum=b64sum(d), ChecksumAlgorithm="SHA256")

    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(put, blocks))
    st = ebs.complete_snapshot(SnapshotId=sid, ChangedBlocksCount=len(blocks))["Status"]
    secs = time.perf_counter() - t0
    os.close(fd)
    return {"snapshot": sid, "status": st, "blocks": len(blocks), "secs": secs}


def down(endpoint, sid, out, threads):
    ebs = client(endpoint, threads, 3)
    t0 = time.perf_counter()
    blocks, kw = [], {}
    while True:
        p = ebs.list_snapshot_blocks(SnapshotId=sid, MaxResults=10000, **kw)
        size = p["VolumeSize"] << 30
        blocks += [(b["BlockIndex"], b["BlockToken"]) for b in p["Blocks"]]
        if "NextToken" not in p:
            break
        kw = {"NextToken": p["NextToken"]}
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.ftruncate(fd, size)

    def get(bt):
        g = ebs.get_snapshot_block(SnapshotId=sid, BlockIndex=bt[0], BlockToken=bt[1])
        os.pwrite(fd, g["BlockData"].read(), bt[0] * B)

    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(get, blocks))
    os.fsync(fd)
    os.close(fd)
    return {"blocks": len(blocks), "secs": time.perf_counter() - t0}


RETRYABLE = {"RequestThrottledException", "ServiceUnavailable", "InternalServerException",
             "ConcurrentLimitExceededException"}


def storm(endpoint, n, threads):
    ebs = client(endpoint, threads, 1)
    sid = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]
    seed = os.urandom(B)
    result = {"ok": 0, "retryable": 0, "other": []}

    def put(i):
        d = i.to_bytes(8, "little") + seed[8:]
        try:
            ebs.put_snapshot_block(SnapshotId=sid, BlockIndex=i, BlockData=d, DataLength=B,
                                   Checksum=b64sum(d), ChecksumAlgorithm="SHA256")
            return "ok", i
        except botocore.exceptions.ClientError as e:
            code = e.response["Error"]["Code"]
            return ("retryable" if code in RETRYABLE else code), i
        except botocore.exceptions.BotoCoreError:
            # refused or closed before an answer (the server's connection
            # limits): nothing was done, the request may be sent again
            return "retryable", i

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as ex:
        res = list(ex.map(put, range(n)))
    secs = time.perf_counter() - t0
    failed = []
    for what, i in res:
        if what == "ok":
            result["ok"] += 1
        elif what == "retryable":
            result["retryable"] += 1
            failed.append(i)
        else:
            result["other"].append(what)
    for i in failed:  # the retries a client makes, one at a time
        for attempt in range(5):
            again, _ = put(i)
            if again != "retryable":
                break
            time.sleep(0.2 * (attempt + 1))
        if again != "ok":
            result["other"].append("retry of %d: %s" % (i, again))
    st = ebs.complete_snapshot(SnapshotId=sid, ChangedBlocksCount=n)["Status"]
    result.update({"snapshot": sid, "status": st, "secs": secs, "seed_sha": b64sum(seed)})
    with open(os.environ["EBS_SEED_OUT"], "wb") as f:
        f.write(seed)
    return result


def main():
    mode = sys.argv[1]
    if mode == "up":
        r = up(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif mode == "down":
        r = down(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        r = storm(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    print(json.dumps(r))


if __name__ == "__main__":
    main()
