#!/usr/bin/env python3
"""mdb-pages.py - the pages of an LMDB data file, and damage aimed at them.

    mdb-pages.py list FILE
        one line per page the newest snapshot uses: "PGNO KIND TABLE"
        (KIND: branch, leaf, overflow (the first page of a run, whose
        header liblmdb reads) or overflow-data (the rest of the run);
        TABLE: "free", "main" or a name)
    mdb-pages.py damage FILE KIND SEED [FLIPS]
        FLIPS (default 4) random bit flips in the header or node area of
        pages of KIND (branch, leaf, overflow; "any" for the whole used
        part of the file) chosen with SEED; prints what it flipped

Reads an undamaged file (a test's own store), LMDB 0.9's layout on a
64-bit little-endian host: 16-byte page header, 8-byte node header,
48-byte MDB_db (engine/metacheck.h describes the same layout).
"""
import random
import struct
import sys

P_BRANCH, P_LEAF, P_OVERFLOW = 1, 2, 4
F_BIGDATA = 1


def load(path):
    data = open(path, "rb").read()
    metas = []
    for i in range(2):
        psize = struct.unpack_from("<I", data, 40)[0] if i else 0
        off = i * psize
        dbs = [struct.unpack_from("<IHHQQQQQ", data, off + 40 + 48 * j) for j in range(2)]
        txnid = struct.unpack_from("<Q", data, off + 144)[0]
        metas.append((txnid, dbs))
    psize = struct.unpack_from("<I", data, 40)[0]
    return data, psize, max(metas)[1]


def walk(data, psize, root, table, out):
    """Append (pgno, kind, table) for the tree at ROOT; return its subdbs."""
    subs = []
    stack = [root]
    while stack:
        pg = stack.pop()
        o = pg * psize
        flags, lower = struct.unpack_from("<HH", data, o + 10)
        n = (lower - 16) // 2
        out.append((pg, "branch" if flags & P_BRANCH else "leaf", table))
        for i in range(n):
            no = o + struct.unpack_from("<H", data, o + 16 + 2 * i)[0]
            lo, hi, fl, ks = struct.unpack_from("<HHHH", data, no)
            if flags & P_BRANCH:
                stack.append(lo | hi << 16 | fl << 32)
                continue
            d = no + 8 + ks
            if fl & F_BIGDATA:
                opg = struct.unpack_from("<Q", data, d)[0]
                pages = struct.unpack_from("<I", data, opg * psize + 12)[0]
                out.append((opg, "overflow", table))
                out.extend((opg + k, "overflow-data", table) for k in range(1, pages))
            elif table == "main":
                name = data[no + 8 : no + 8 + ks].decode("ascii", "replace")
                subs.append((name, struct.unpack_from("<IHHQQQQQ", data, d)[7]))
    return subs


def used_pages(path):
    data, psize, dbs = load(path)
    out = []
    for table, db in (("free", dbs[0]), ("main", dbs[1])):
        if db[7] == 2**64 - 1:
            continue
        for name, root in walk(data, psize, db[7], table, out):
            if root != 2**64 - 1:
                walk(data, psize, root, name, out)
    return psize, out


def main():
    if sys.argv[1] == "list":
        for pg, kind, table in used_pages(sys.argv[2])[1]:
            print(pg, kind, table)
        return
    path, kind, seed = sys.argv[2], sys.argv[3], int(sys.argv[4])
    flips = int(sys.argv[5]) if len(sys.argv) > 5 else 4
    psize, pages = used_pages(path)
    rng = random.Random(seed)
    pool = [p for p in pages if kind in ("any", p[1])]
    if not pool:
        print("no %s pages" % kind)
        return
    with open(path, "r+b") as f:
        for _ in range(flips):
            pg, k, table = rng.choice(pool)
            # the header and the node pointers / first nodes: what liblmdb
            # follows (an overflow page's payload is data, not structure)
            if k == "overflow":
                off = rng.randrange(16)
            else:
                off = rng.choice([rng.randrange(16), rng.randrange(16, 64), rng.randrange(psize)])
            bit = rng.randrange(8)
            f.seek(pg * psize + off)
            b = f.read(1)[0]
            f.seek(pg * psize + off)
            f.write(bytes([b ^ (1 << bit)]))
            print("flipped bit %d of byte %d of %s page %d (table %s)" % (bit, off, k, pg, table))


main()
