/* cow-crypt.c - sealed chunks of encrypted writable volumes; see
 * cow-crypt.h. */
#include "cow-crypt.h"

#include <errno.h>
#include <string.h>

#include "error.h"
#include "util.h"

#define AAD_BYTES (4 + 24 + 8 + 1 + 4 + 8)

struct entry {
    uint32_t seq; /* 0: empty */
    uint8_t nonce[CRYPT_NONCE_BYTES];
    uint8_t tag[CRYPT_TAG_BYTES];
};

uint64_t cow_crypt_data_bytes(uint64_t nchunks, uint32_t cs)
{
    return 2 * nchunks * cs;
}

uint64_t cow_crypt_seal_bytes(uint64_t nchunks)
{
    return nchunks * COW_SEAL_RECORD;
}

static size_t chunk_len(const struct cow_crypt *c, uint64_t idx)
{
    return (size_t)MIN((uint64_t)c->cs, c->size - idx * c->cs);
}

static uint64_t copy_offset(const struct cow_crypt *c, uint64_t idx, unsigned copy)
{
    return (copy ? c->nchunks + idx : idx) * c->cs;
}

static void make_aad(const struct cow_crypt *c, uint64_t idx, unsigned copy, uint32_t seq,
                     uint8_t out[AAD_BYTES])
{
    memset(out, 0, AAD_BYTES);
    memcpy(out, "BSV1", 4);
    memcpy(out + 4, c->vol_id, MIN(strlen(c->vol_id), (size_t)24));
    le64_put(out + 28, idx);
    out[36] = (uint8_t)copy;
    le32_put(out + 37, seq);
    le64_put(out + 41, c->k->slot);
}

/* seq @a newer than @b (both non-zero), counting modulo 2^32 */
static bool newer(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) > 0;
}

static int read_entries(const struct cow_crypt *c, uint64_t idx, struct entry e[2])
{
    _Alignas(IO_ALIGN) uint8_t rec[COW_SEAL_RECORD];
    ssize_t k = full_pread(c->seal_fd, rec, sizeof rec, (off_t)(idx * COW_SEAL_RECORD));

    if (k < 0)
        return bsnap_fail((int)k, "Store.IOError", "volume %s: its seal file: %s", c->vol_id,
                          strerror((int)-k));
    if (k != (ssize_t)sizeof rec)
        return bsnap_fail(-EIO, "Store.Corrupt", "volume %s: its seal file is short", c->vol_id);
    for (unsigned i = 0; i < 2; i++) {
        const uint8_t *p = rec + i * COW_SEAL_ENTRY;
        e[i].seq = le32_get(p);
        memcpy(e[i].nonce, p + 4, CRYPT_NONCE_BYTES);
        memcpy(e[i].tag, p + 4 + CRYPT_NONCE_BYTES, CRYPT_TAG_BYTES);
    }
    return 0;
}

/* The current copy (0 or 1), or -1 when the chunk has none. */
static int current(const struct entry e[2])
{
    if (!e[0].seq && !e[1].seq)
        return -1;
    if (!e[1].seq)
        return 0;
    if (!e[0].seq)
        return 1;
    return newer(e[1].seq, e[0].seq) ? 1 : 0;
}

static int damaged(const struct cow_crypt *c, uint64_t idx, const char *why)
{
    return bsnap_fail(-EIO, "Store.Corrupt",
                      "volume %s chunk %llu (offset %llu): its sealed copy %s", c->vol_id,
                      (unsigned long long)idx, (unsigned long long)(idx * c->cs), why);
}

/* Open copy @copy of chunk @idx under entry @e into @buf: 0, -EBADMSG
 * (nothing recorded), or a recorded read error. */
static int open_copy(const struct cow_crypt *c, uint64_t idx, unsigned copy, const struct entry *e,
                     uint8_t *buf)
{
    uint8_t aad[AAD_BYTES];
    size_t len = chunk_len(c, idx);
    ssize_t k = full_pread(c->data_fd, buf, len, (off_t)copy_offset(c, idx, copy));

    if (k < 0)
        return bsnap_fail((int)k, "Store.IOError", "volume %s: read of chunk %llu: %s", c->vol_id,
                          (unsigned long long)idx, strerror((int)-k));
    if ((size_t)k != len)
        return damaged(c, idx, "is past the end of its data file");
    make_aad(c, idx, copy, e->seq, aad);
    return crypt_open_detached(c->k, aad, sizeof aad, e->nonce, e->tag, buf, buf, len);
}

int cow_crypt_read(const struct cow_crypt *c, uint64_t idx, uint8_t *buf)
{
    struct entry e[2];
    int r = read_entries(c, idx, e), cur;

    if (r < 0)
        return r;
    cur = current(e);
    if (cur < 0)
        return damaged(c, idx, "is missing (a written chunk without a seal)");
    r = open_copy(c, idx, (unsigned)cur, &e[cur], buf);
    if (r == -EBADMSG)
        return damaged(c, idx, "does not authenticate");
    return r;
}

int cow_crypt_write(const struct cow_crypt *c, uint64_t idx, const uint8_t *plain, uint8_t *scratch)
{
    _Alignas(IO_ALIGN) uint8_t ent[COW_SEAL_ENTRY];
    uint8_t aad[AAD_BYTES];
    struct entry e[2], n;
    size_t len = chunk_len(c, idx);
    int r = read_entries(c, idx, e), cur;
    unsigned copy;

    if (r < 0)
        return r;
    cur = current(e);
    copy = cur < 0 ? 0 : (unsigned)cur ^ 1u;
    n.seq = cur < 0 ? 1 : e[cur].seq + 1;
    if (n.seq == 0)
        n.seq = 1;
    make_aad(c, idx, copy, n.seq, aad);
    r = crypt_seal_detached(c->k, aad, sizeof aad, plain, scratch, len, n.nonce, n.tag);
    if (r < 0)
        return r;
    /* the ciphertext first, then the entry that makes it current */
    r = full_pwrite(c->data_fd, scratch, len, (off_t)copy_offset(c, idx, copy));
    if (r == 0) {
        le32_put(ent, n.seq);
        memcpy(ent + 4, n.nonce, CRYPT_NONCE_BYTES);
        memcpy(ent + 4 + CRYPT_NONCE_BYTES, n.tag, CRYPT_TAG_BYTES);
        r = full_pwrite(c->seal_fd, ent, sizeof ent,
                        (off_t)(idx * COW_SEAL_RECORD + copy * COW_SEAL_ENTRY));
    }
    if (r < 0)
        return bsnap_fail(r, r == -ENOSPC ? "Store.Full" : "Store.IOError",
                          "volume %s: write of chunk %llu: %s", c->vol_id, (unsigned long long)idx,
                          strerror(-r));
    return 0;
}

int cow_crypt_recover(const struct cow_crypt *c, uint64_t idx, uint8_t *scratch, bool *ret_rolled)
{
    _Alignas(IO_ALIGN) uint8_t zero[COW_SEAL_ENTRY] = {0};
    struct entry e[2];
    int r = read_entries(c, idx, e), cur;

    *ret_rolled = false;
    if (r < 0)
        return r;
    cur = current(e);
    if (cur < 0 || !e[cur ^ 1].seq)
        return 0; /* no older copy to go back to */
    r = open_copy(c, idx, (unsigned)cur, &e[cur], scratch);
    if (r != -EBADMSG)
        return r;
    r = open_copy(c, idx, (unsigned)cur ^ 1u, &e[cur ^ 1], scratch);
    if (r == -EBADMSG)
        return 0; /* neither: reads report it */
    if (r < 0)
        return r;
    r = full_pwrite(c->seal_fd, zero, sizeof zero,
                    (off_t)(idx * COW_SEAL_RECORD + (unsigned)cur * COW_SEAL_ENTRY));
    if (r < 0)
        return bsnap_fail(r, "Store.IOError", "volume %s: seal file: %s", c->vol_id, strerror(-r));
    *ret_rolled = true;
    return 0;
}
