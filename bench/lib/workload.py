"""Workload generation for the benchmark suite.

Everything here is made from what a Debian machine has, deterministically for
a given seed and source tree, under a work directory:

  base.img     ext4 image made by mkfs.ext4 -d from a tree of copies of system
               directories (mixed compressibility); free space is sparse
  v1.img       base with 1 % of its used 4 KiB blocks rewritten in scattered
               64 KiB runs (v1.ranges: the changed-block list for it)
  v10.img      v1 with a further 10 % rewritten the same way
  addel.img    base with files deleted and added through debugfs -w
  data.img     a second ext4 volume (random and log-like files): the data disk
               of the two-volume machine
  sparse.img   a large sparse volume holding a little scattered data

"Used" blocks are the data regions of the image file (SEEK_DATA/SEEK_HOLE):
what mkfs and the file data wrote.  A rewritten run gets bytes taken from
another used place, with 8 random bytes in every 512, so it compresses like
the data around it but matches nothing already stored.
"""

import os
import random
import shutil
import struct
import subprocess

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
BLOCK = 4 * KIB
RUN = 64 * KIB

# Where the realistic tree comes from, and the share of the budget of each.
SOURCES = [("/usr/lib", 0.60), ("/usr/share", 0.30), ("/usr/include", 0.10)]


def data_extents(path):
    """Return the [(offset, length)] data regions of a (sparse) file."""
    out = []
    with open(path, "rb") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        off = 0
        while off < size:
            try:
                start = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            out.append((start, end - start))
            off = end
    return out


def allocated_bytes(path):
    return os.stat(path).st_blocks * 512


def _list_files(root):
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = os.path.join(dirpath, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            # Regular, readable files only; very large ones would dominate.
            if not os.path.isfile(p) or os.path.islink(p) or st.st_size > 64 * MIB:
                continue
            if not os.access(p, os.R_OK):
                continue
            files.append((p, st.st_size))
    return files


_LISTED = {}  # root -> _list_files(root): the small scaling image reuses the listing


def make_tree(dst, budget, seed):
    """Copy a random selection of system files, about @budget bytes, to @dst.
    Returns the list of (relative path, size) copied and the leftovers that
    were not taken (for adding files later)."""
    rnd = random.Random(seed)
    taken, spare = [], []
    for root, share in SOURCES:
        if not os.path.isdir(root):
            continue
        if root not in _LISTED:
            _LISTED[root] = _list_files(root)
        files = list(_LISTED[root])
        rnd.shuffle(files)
        left = int(budget * share)
        for p, size in files:
            rel = os.path.relpath(p, "/")
            if size <= left:
                target = os.path.join(dst, rel)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                try:
                    shutil.copyfile(p, target)
                except OSError:
                    continue
                taken.append((rel, size))
                left -= size
            elif len(spare) < 4000:
                spare.append((p, size))
            if left < 4 * KIB and len(spare) >= 4000:
                break
    return taken, spare


def make_data_tree(dst, budget, seed):
    """A data disk's files: half incompressible (media-like), half log text."""
    rnd = random.Random(seed)
    os.makedirs(os.path.join(dst, "media"), exist_ok=True)
    os.makedirs(os.path.join(dst, "logs"), exist_ok=True)
    left = budget // 2
    i = 0
    while left > 0:
        n = min(left, rnd.randint(256 * KIB, 16 * MIB))
        with open(os.path.join(dst, "media", "clip%04d.bin" % i), "wb") as f:
            f.write(rnd.randbytes(n))
        left -= n
        i += 1
    words = ("GET POST /api/v1/items /static/app.js 200 404 500 user=alice user=bob "
             "latency_ms=%d bytes=%d INFO WARN ERROR upstream timeout cache hit miss").split()
    left = budget // 2
    i = 0
    while left > 0:
        lines = []
        total = 0
        target = min(left, 4 * MIB)
        while total < target:
            line = "2026-11-%02d %02d:%02d:%02d.%03d %s\n" % (
                rnd.randint(1, 28), rnd.randint(0, 23), rnd.randint(0, 59),
                rnd.randint(0, 59), rnd.randint(0, 999),
                " ".join(rnd.choice(words) for _ in range(8)).replace(
                    "%d", str(rnd.randint(0, 99999))))
            lines.append(line)
            total += len(line)
        with open(os.path.join(dst, "logs", "app%04d.log" % i), "w") as f:
            f.write("".join(lines))
        left -= total
        i += 1


def mkfs(img, tree, size, label, uuid, quiet=False):
    if os.path.exists(img):
        os.unlink(img)
    with open(img, "wb") as f:
        f.truncate(size)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-L", label, "-U", uuid,
                    "-E", "hash_seed=" + uuid + ",nodiscard", "-d", tree, img],
                   check=True, stderr=subprocess.DEVNULL if quiet else None)


def copy_sparse(src, dst):
    subprocess.run(["cp", "--sparse=always", src, dst], check=True)


def mutated(buf, rnd):
    """Return @buf with 8 random bytes in every 512: compressible like the
    original, equal to nothing stored."""
    b = bytearray(buf)
    noise = rnd.randbytes(8 * (len(b) // 512 + 1))
    for i, pos in enumerate(range(0, len(b), 512)):
        b[pos:pos + 8] = noise[i * 8:i * 8 + 8][: len(b) - pos]
    return bytes(b)


def rewrite_runs(img, fraction, seed, run=RUN):
    """Rewrite @fraction of the used blocks of @img in place, in runs of
    @run bytes (64 KiB; 4 KiB aligned) at random used places.  Returns the
    merged, sorted list of changed (offset, length) ranges."""
    rnd = random.Random(seed)
    ext = data_extents(img)
    used = sum(l for _, l in ext)
    goal = int(used * fraction)
    # Cumulative table to pick a used byte uniformly.
    cum, acc = [], 0
    for off, length in ext:
        acc += length
        cum.append(acc)
    import bisect

    def pick():
        x = rnd.randrange(used)
        i = bisect.bisect_right(cum, x)
        off, length = ext[i]
        pos = off + (x - (cum[i] - length))
        pos -= pos % BLOCK
        end = min(pos + run, off + length)
        return pos, end - pos

    ranges = []
    done = 0
    with open(img, "r+b") as f:
        while done < goal:
            pos, length = pick()
            if length <= 0:
                continue
            spos, slen = pick()
            f.seek(spos)
            src = f.read(min(slen, length))
            src = (src * (length // max(1, len(src)) + 1))[:length]
            f.seek(pos)
            f.write(mutated(src, rnd))
            ranges.append((pos, length))
            done += length
    return merge(ranges)


def merge(ranges):
    out = []
    for off, length in sorted(ranges):
        if out and off <= out[-1][0] + out[-1][1]:
            o, l = out[-1]
            out[-1] = (o, max(l, off + length - o))
        else:
            out.append((off, length))
    return out


def write_ranges(path, ranges):
    with open(path, "w") as f:
        f.write("# changed-block list: OFFSET LENGTH (bytes)\n")
        for off, length in ranges:
            f.write("%d %d\n" % (off, length))


def changed_chunks(a, b, chunk):
    """Indices of the @chunk-sized pieces that differ between images a and b."""
    out = []
    with open(a, "rb") as fa, open(b, "rb") as fb:
        i = 0
        while True:
            x = fa.read(chunk)
            y = fb.read(chunk)
            if not x and not y:
                break
            if x != y:
                out.append(i)
            i += 1
    return out


def extract_chunks(img, indices, chunk, out):
    """Write the given chunks of @img, one after the other, to @out."""
    with open(img, "rb") as f, open(out, "wb") as o:
        for i in indices:
            f.seek(i * chunk)
            o.write(f.read(chunk))


def extract_data_chunks(img, chunk, out):
    """Write the @chunk-sized pieces of @img that hold data (neither in a
    hole nor all zeros), one after the other, to @out: what a chunking
    tool must compress.  Returns how many there are."""
    zero = bytes(chunk)
    n = done = 0
    with open(img, "rb") as f, open(out, "wb") as o:
        for start, length in data_extents(img):
            first = max(start // chunk * chunk, done)  # a chunk two extents share: once
            f.seek(first)
            for done in range(first + chunk, start + length + chunk, chunk):
                b = f.read(chunk)
                if b and b != zero[: len(b)]:
                    o.write(b)
                    n += 1
    return n


def lz4_chunks_argv(path, chunk):
    """lz4 -1 of @path to stdout in independent blocks of one chunk: how a
    chunk store compresses."""
    return ["lz4", "-1", "-B%d" % chunk, "-BI", "-c", path]


def lz4_size_of_chunks(img, indices, chunk, tmp):
    """LZ4 (-1, independent blocks of one chunk) size of the given chunks."""
    extract_chunks(img, indices, chunk, tmp)
    out = subprocess.run(lz4_chunks_argv(tmp, chunk),
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout
    os.unlink(tmp)
    return len(out)


def add_delete(img, taken, spare, fraction, seed, work):
    """Delete about @fraction of the files of @img and add as many bytes of
    new files, with debugfs -w (no root, no mount)."""
    rnd = random.Random(seed)
    total = sum(s for _, s in taken)
    goal = int(total * fraction)
    victims = rnd.sample(taken, len(taken))
    cmds = []
    gone = 0
    for rel, size in victims:
        if gone >= goal:
            break
        cmds.append('rm "/%s"' % rel)
        gone += size
    cmds.append("mkdir /added")
    added = 0
    n = 0
    for p, size in rnd.sample(spare, len(spare)):
        if added >= goal:
            break
        if size == 0 or size > goal - added + MIB:
            continue
        cmds.append('write "%s" /added/f%05d' % (p, n))
        added += size
        n += 1
    script = os.path.join(work, "addel.debugfs")
    with open(script, "w") as f:
        f.write("\n".join(cmds) + "\n")
    subprocess.run(["debugfs", "-w", "-f", script, img], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.unlink(script)
    return {"deleted_bytes": gone, "added_bytes": added, "added_files": n}


def make_sparse(img, size, data_bytes, src, seed):
    """A @size sparse volume with @data_bytes of data in scattered 4 MiB
    extents, taken (mutated) from the used parts of @src."""
    rnd = random.Random(seed)
    ext = [e for e in data_extents(src) if e[1] >= 64 * KIB]
    if os.path.exists(img):
        os.unlink(img)
    extent = 4 * MIB
    slots = size // extent
    n = min(slots, max(1, data_bytes // extent))
    where = sorted(rnd.sample(range(slots), n))
    with open(img, "wb") as o, open(src, "rb") as s:
        o.truncate(size)
        for slot in where:
            o.seek(slot * extent)
            left = extent
            while left > 0:
                off, length = rnd.choice(ext)
                take = min(left, length, 1 * MIB)
                s.seek(off)
                o.write(mutated(s.read(take), rnd))
                left -= take
    return n * extent


def make_small_image(img, size, seed, work):
    """A real ext4 image of @size made like base.img (the same mix of system
    files filling about 55 %, mkfs.ext4 -d, free space sparse): the small
    point of the scaling scenario.  Returns the share of @size filled."""
    tree = os.path.join(work, "scale-tree")
    raw = img + ".raw"
    # A small file system has less room for the same files (the journal,
    # the inode tables and the last block of each small file take a larger
    # share): fill less when the files do not fit.
    for fill in (0.55, 0.45, 0.35):
        if os.path.exists(tree):
            shutil.rmtree(tree)
        make_tree(tree, int(size * fill), seed)
        try:
            mkfs(raw, tree, size, "benchscale", "5b1e0d6c-0000-4000-8000-00000000c001",
                 quiet=True)
            break
        except subprocess.CalledProcessError:
            if fill == 0.35:
                raise
        finally:
            shutil.rmtree(tree)
    copy_sparse(raw, img)
    os.unlink(raw)
    return fill


def make_tiled_image(base, img, size):
    """An image of @size bytes (a multiple of 4 KiB) that is @base over and
    over, holes kept, where every 4 KiB block of copy k > 0 that is not all
    zeros has its first 16 bytes replaced by (k, its offset): no block of one
    copy equals a block of another, so nothing dedups, while each block
    compresses as its original does (16 bytes in 4096 changed) and zero
    blocks stay zero.  The large points of the scaling scenario: a 16 GiB
    ext4 of real files cannot be made from what a Debian machine has, and
    this costs one sequential write of the data.  The result is a raw volume
    (its copies are not one valid ext4), which blocksnap reads as any other."""
    bsize = os.path.getsize(base)
    zero = bytes(BLOCK)
    ext = data_extents(base)
    with open(base, "rb") as f, open(img, "wb") as o:
        o.truncate(size)
        k = 0
        while k * bsize < size:
            for start, length in ext:
                pos, end = start, start + length
                while pos < end:
                    dst = k * bsize + pos
                    if dst >= size:
                        break
                    n = min(4 * MIB, end - pos, size - dst)
                    buf = bytearray(os.pread(f.fileno(), n, pos))
                    if k:
                        for c in range(0, len(buf) - len(buf) % BLOCK, BLOCK):
                            if buf[c:c + BLOCK] != zero:
                                buf[c:c + 16] = struct.pack("<QQ", k, dst + c)
                    os.pwrite(o.fileno(), buf, dst)
                    pos += n
            k += 1


def generate(work, size, sparse_size, sparse_data, seed, log):
    """Make every workload file under @work; return facts about them."""
    facts = {"image_size": size, "seed": seed}
    tree = os.path.join(work, "tree")
    budget = int(size * 0.55)
    log("workload: copying about %d MiB of system files" % (budget // MIB))
    taken, spare = make_tree(tree, budget, seed)
    facts["files"] = len(taken)
    facts["file_bytes"] = sum(s for _, s in taken)
    base = os.path.join(work, "base.img")
    log("workload: mkfs.ext4 -d (%d MiB image)" % (size // MIB))
    raw = os.path.join(work, "mkfs.img")
    mkfs(raw, tree, size, "benchroot", "5b1e0d6c-0000-4000-8000-00000000b001")
    shutil.rmtree(tree)
    # mkfs writes zeroed metadata blocks; a used disk's free space is holes.
    copy_sparse(raw, base)
    os.unlink(raw)
    facts["base_allocated"] = allocated_bytes(base)

    v1 = os.path.join(work, "v1.img")
    copy_sparse(base, v1)
    r1 = rewrite_runs(v1, 0.01, seed + 1)
    write_ranges(os.path.join(work, "v1.ranges"), r1)
    facts["v1_changed_bytes"] = sum(l for _, l in r1)
    facts["v1_ranges"] = len(r1)

    v10 = os.path.join(work, "v10.img")
    copy_sparse(v1, v10)
    r10 = rewrite_runs(v10, 0.10, seed + 2)
    facts["v10_changed_bytes"] = sum(l for _, l in r10)

    # From base, not v10: the rewrites above do not respect the file system
    # (as a block-level change need not), and debugfs needs a sound one.
    addel = os.path.join(work, "addel.img")
    copy_sparse(base, addel)
    log("workload: debugfs -w: deleting and adding files")
    facts["addel"] = add_delete(addel, taken, spare, 0.05, seed + 3, work)

    log("workload: data disk and sparse volume")
    dtree = os.path.join(work, "dtree")
    make_data_tree(dtree, int(size // 4 * 0.6), seed + 4)
    raw = os.path.join(work, "mkfs.img")
    mkfs(raw, dtree, size // 4, "benchdata", "5b1e0d6c-0000-4000-8000-00000000d001")
    shutil.rmtree(dtree)
    copy_sparse(raw, os.path.join(work, "data.img"))
    os.unlink(raw)
    facts["data_size"] = size // 4
    facts["data_allocated"] = allocated_bytes(os.path.join(work, "data.img"))

    facts["sparse_size"] = sparse_size
    facts["sparse_data"] = make_sparse(os.path.join(work, "sparse.img"), sparse_size,
                                       sparse_data, base, seed + 5)
    return facts
