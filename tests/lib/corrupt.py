#!/usr/bin/env python3
"""corrupt.py - damage a blocksnap store's packs on purpose and check what
verify, restore and the FUSE view say about it (tests/e2e/corrupt-*.sh).

  corrupt.py manifest STORE CHUNK OUT.json SNAP=REF:DIFF.json:PAGES...
        write what the store holds: every pack record (parsed as
        docs/format.md says) and, per snapshot, its reference file, its
        chunk ids by block (from `blocksnap diff --output json`) and the
        ids of its block-map pages
  corrupt.py records STORE
        print the ids of every page record, one per line
  corrupt.py damage MANIFEST STORE CASE OUT.json
        apply the damage CASE names; write the damaged chunk ids and the
        snapshots that must be found damaged
  corrupt.py check-verify MANIFEST CASE.json VERIFY.out
        verify named every damaged chunk with its pack and offset, every
        damaged snapshot, and nothing else
  corrupt.py check-read MANIFEST CASE.json SNAP FILE
        read FILE (the snapshot through the FUSE view) chunk by chunk: EIO
        exactly on the damaged chunks, the reference's bytes elsewhere
"""
import errno
import json
import os
import random
import struct
import sys

REC_MAGIC = 0x43525342
HDR = 48


def pack_files(store):
    d = os.path.join(store, "packs")
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".pack"))


def records(store):
    """Every record of every pack: dicts of pack, off, flags, stored, id."""
    out = []
    for path in pack_files(store):
        n = int(os.path.basename(path).split(".")[0])
        data = open(path, "rb").read()
        off = 32
        while off + HDR <= len(data):
            magic, flags, hlen = struct.unpack_from("<IHH", data, off)
            if magic != REC_MAGIC or hlen != HDR:
                break
            cid = data[off + 8:off + 24].hex()
            stored, orig = struct.unpack_from("<II", data, off + 24)
            if off + HDR + stored > len(data):
                break
            out.append({"pack": n, "off": off, "flags": flags, "stored": stored,
                        "orig": orig, "id": cid, "path": path})
            off += HDR + stored
    return out


def cmd_manifest(store, chunk, out, specs):
    snaps = {}
    for spec in specs:
        sid, rest = spec.split("=", 1)
        ref, diff, pages = rest.split(":", 2)
        blocks = json.load(open(diff))["ChangedBlocks"]
        snaps[sid] = {
            "ref": ref,
            "tokens": {str(b["BlockIndex"]): b["SecondBlockToken"] for b in blocks
                       if b.get("SecondBlockToken")},
            "pages": [p for p in pages.split(",") if p],
        }
    json.dump({"chunk": int(chunk), "records": records(store), "snapshots": snaps},
              open(out, "w"), indent=1)


def cmd_pages(store):
    for r in records(store):
        if r["flags"] & 2:
            print(r["id"])


def users(man, cid):
    return {s for s, v in man["snapshots"].items()
            if cid in v["pages"] or cid in v["tokens"].values()}


def pick(man, want_users, page=False, lz4=None, rng=None):
    """A record whose chunk exactly the snapshots want_users use."""
    cands = []
    for r in man["records"]:
        if bool(r["flags"] & 2) != page:
            continue
        if lz4 is not None and bool(r["flags"] & 1) != lz4:
            continue
        if users(man, r["id"]) == set(want_users):
            cands.append(r)
    if not cands:
        sys.exit("corrupt.py: no record used by exactly %s (page=%s lz4=%s)"
                 % (sorted(want_users), page, lz4))
    return rng.choice(cands)


def patch(path, off, fn):
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([fn(b[0])]))


def cmd_damage(manf, store, case, out):
    man = json.load(open(manf))
    rng = random.Random()
    snaps = list(man["snapshots"])  # S1, S2, S3 in that order
    s1, s2, s3 = snaps[:3]
    recs = man["records"]
    # records are re-based on this copy of the store
    for r in recs:
        r["path"] = os.path.join(store, "packs", os.path.basename(r["path"]))
    damaged = set()
    what = ""

    def hit_range(pack_path, lo, hi):
        for r in recs:
            if r["path"] == pack_path and r["off"] < hi and lo < r["off"] + HDR + r["stored"]:
                damaged.add(r["id"])

    if case == "payload-flip":  # one byte of a data chunk only S2 uses
        r = pick(man, [s2], rng=rng)
        at = r["off"] + HDR + rng.randrange(r["stored"])
        patch(r["path"], at, lambda b: b ^ 0x01)
        damaged.add(r["id"])
        what = "flipped payload byte %d of pack %d" % (at, r["pack"])
    elif case == "header-id":  # the chunk id in the header of a chunk S1 and S2 share
        r = pick(man, [s1, s2], rng=rng)
        at = r["off"] + 8 + rng.randrange(16)
        patch(r["path"], at, lambda b: b ^ 0x80)
        damaged.add(r["id"])
        what = "flipped header id byte %d of pack %d" % (at, r["pack"])
    elif case == "header-length":  # the stored length of a chunk only S3 uses
        r = pick(man, [s3], rng=rng)
        at = r["off"] + 24 + 1
        patch(r["path"], at, lambda b: b ^ 0x10)
        damaged.add(r["id"])
        what = "changed the stored length at %d of pack %d" % (at, r["pack"])
    elif case == "lz4-zeroed":  # 64 zero bytes in a compressed chunk only S1 uses
        r = pick(man, [s1], lz4=True, rng=rng)
        at = r["off"] + HDR + r["stored"] // 2
        with open(r["path"], "r+b") as f:
            f.seek(at)
            f.write(bytes(min(64, r["stored"] - r["stored"] // 2)))
        damaged.add(r["id"])
        what = "zeroed 64 bytes of an LZ4 payload at %d of pack %d" % (at, r["pack"])
    elif case == "page-flip":  # a byte of S2's block-map page
        r = pick(man, [s2], page=True, rng=rng)
        at = r["off"] + HDR + rng.randrange(r["stored"])
        patch(r["path"], at, lambda b: b ^ 0x04)
        damaged.add(r["id"])
        what = "flipped byte %d of page %s in pack %d" % (at, r["id"], r["pack"])
    elif case == "two-places":  # S1-only and S3-only chunks at once
        for s in (s1, s3):
            r = pick(man, [s], rng=rng)
            at = r["off"] + HDR + rng.randrange(r["stored"])
            patch(r["path"], at, lambda b: b ^ 0xff)
            damaged.add(r["id"])
        what = "flipped a byte of an S1-only and of an S3-only chunk"
    elif case == "truncate":  # the last pack cut in the middle of a record
        last = max(r["pack"] for r in recs)
        inpack = [r for r in recs if r["pack"] == last]
        r = inpack[len(inpack) // 2]
        cut = r["off"] + HDR // 2
        os.truncate(r["path"], cut)
        hit_range(r["path"], cut, 1 << 62)
        what = "truncated pack %d to %d bytes" % (last, cut)
    elif case == "delete":  # a whole pack of the middle gone
        packs = sorted({r["pack"] for r in recs})
        n = packs[len(packs) // 2]
        path = [r["path"] for r in recs if r["pack"] == n][0]
        os.unlink(path)
        damaged |= {r["id"] for r in recs if r["pack"] == n}
        what = "deleted pack %d" % n
    elif case == "tail-garbage":  # a crashed writer's tail: not damage
        path = max((r["path"] for r in recs))
        with open(path, "ab") as f:
            f.write(os.urandom(1000))
        what = "appended 1000 random bytes to %s" % os.path.basename(path)
    else:
        sys.exit("corrupt.py: unknown case " + case)
    snaps_hit = sorted({s for c in damaged for s in users(man, c)})
    # the records gone with a deleted or truncated pack, with their places
    places = {r["id"]: [r["pack"], r["off"]] for r in recs if r["id"] in damaged}
    json.dump({"case": case, "what": what, "chunks": sorted(damaged), "places": places,
               "snapshots": snaps_hit}, open(out, "w"), indent=1)
    print("%s: %s: %d damaged chunks, damaged snapshots: %s"
          % (case, what, len(damaged), " ".join(snaps_hit) or "none"))


def cmd_check_verify(manf, casef, vout):
    man = json.load(open(manf))
    case = json.load(open(casef))
    lines = [l.rstrip("\n") for l in open(vout) if not l.startswith("verified ")]
    errs = []
    for cid in case["chunks"]:
        pack, off = case["places"][cid]
        want = "chunk %s pack %d offset %d" % (cid, pack, off)
        if not any(want in l for l in lines):
            errs.append("no problem line names '%s'" % want)
    for s in man["snapshots"]:
        named = any(("snapshot %s" % s) in l for l in lines)
        if s in case["snapshots"] and not named:
            errs.append("damaged snapshot %s is not named" % s)
        if s not in case["snapshots"] and named:
            errs.append("undamaged snapshot %s is named" % s)
    known = set(case["chunks"])
    # Below a damaged page verify cannot count its children's references:
    # their refcounts then differ from what it found.  Those lines (and only
    # those) are expected for the children of a damaged page.
    below = set()
    for v in man["snapshots"].values():
        if any(p in known for p in v["pages"]):
            below |= set(v["tokens"].values()) | set(v["pages"])
    extra = 0
    for l in lines:
        if " chunk " in " " + l:
            cid = l.split("chunk ", 1)[1].split()[0]
            if cid in known or l.startswith("snapshot "):
                continue
            if cid in below and "refcount" in l:
                extra += 1
                continue
            errs.append("a problem named on an undamaged chunk: " + l)
    if extra:
        print("check-verify: %d refcount lines for the children of a damaged page" % extra)
    summary = [l for l in open(vout) if l.startswith("verified ")]
    if summary and case["chunks"]:
        n = len(case["snapshots"])
        want = "%d damaged snapshot%s" % (n, "" if n == 1 else "s")
        if want not in summary[0]:
            errs.append("summary '%s' does not say '%s'" % (summary[0].strip(), want))
    for e in errs:
        print("check-verify:", e)
    sys.exit(1 if errs else 0)


def cmd_check_read(manf, casef, sid, path):
    man = json.load(open(manf))
    case = json.load(open(casef))
    snap = man["snapshots"][sid]
    chunk = man["chunk"]
    bad_ids = set(case["chunks"])
    page_hit = any(p in bad_ids for p in snap["pages"])
    fd, rd = os.open(path, os.O_RDONLY), os.open(snap["ref"], os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    size = os.fstat(rd).st_size
    if os.fstat(fd).st_size != size:
        sys.exit("check-read: %s has size %d, expected %d" % (path, os.fstat(fd).st_size, size))
    eio = ok = 0
    for i, off in enumerate(range(0, size, chunk)):
        expect_eio = page_hit or snap["tokens"].get(str(i)) in bad_ids
        try:
            got = os.pread(fd, chunk, off)
        except OSError as e:
            if e.errno != errno.EIO:
                sys.exit("check-read: %s block %d: %s (expected %s)"
                         % (sid, i, e, "EIO" if expect_eio else "data"))
            if not expect_eio:
                sys.exit("check-read: %s block %d: EIO on an undamaged chunk" % (sid, i))
            eio += 1
            continue
        if expect_eio:
            sys.exit("check-read: %s block %d: read %d bytes of a damaged chunk" % (sid, i, len(got)))
        if got != os.pread(rd, chunk, off):
            sys.exit("check-read: %s block %d: WRONG DATA" % (sid, i))
        ok += 1
    print("%s: %d chunks EIO, %d correct%s" % (sid, eio, ok, " (its page is damaged)" if page_hit else ""))


def main():
    a = sys.argv[1:]
    if a[0] == "manifest":
        cmd_manifest(a[1], a[2], a[3], a[4:])
    elif a[0] == "pages":
        cmd_pages(a[1])
    elif a[0] == "damage":
        cmd_damage(a[1], a[2], a[3], a[4])
    elif a[0] == "check-verify":
        cmd_check_verify(a[1], a[2], a[3])
    elif a[0] == "check-read":
        cmd_check_read(a[1], a[2], a[3], a[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
