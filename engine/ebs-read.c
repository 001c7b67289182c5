/* ebs-read.c - the EBS direct API's reads: ListSnapshotBlocks,
 * ListChangedBlocks, GetSnapshotBlock, and their tokens; see ebs.h.
 *
 * A block token is 32 bytes in Base64: its expiry (8 bytes, epoch
 * seconds, big-endian) and the first 24 bytes of an HMAC-SHA256, under a
 * key derived from the store's secret, of "B", the snapshot id, the block
 * index, the expiry and the block's chunk ids.  So a token names one block
 * of one snapshot with the data it holds now; a client can make none, nor
 * move one to another snapshot or block, nor extend its life.  A NextToken
 * is 32 bytes too: the next block index and its expiry (8 bytes each) and
 * the first 16 bytes of the HMAC of the call ("L" or "C"), its snapshot
 * ids, the index and the expiry.
 */
#include "ebs.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "blockmap.h"
#include "catalog.h"
#include "error.h"
#include "reader.h"
#include "record.h"
#include "store.h"
#include "util.h"

#define BLOCK_TOKEN_LIFE_S (7 * 24 * 3600) /* EBS direct: 7 days */
#define PAGE_TOKEN_LIFE_S 3600             /* EBS direct: 60 minutes */
#define MAX_RESULTS_DEFAULT 10000u
#define TOKEN_RAW 32
#define TOKEN_B64 45
#define LINEAGE_MAX 100000 /* parents walked looking for an ancestor */

static void token_key(const bsnap_store *s, uint8_t key[SHA256_DIGEST_LENGTH])
{
    static const char label[] = "blocksnap ebs direct tokens";
    EVP_MD_CTX *c = EVP_MD_CTX_new();

    memset(key, 0, SHA256_DIGEST_LENGTH);
    if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) && EVP_DigestUpdate(c, label, sizeof label) &&
        EVP_DigestUpdate(c, s->secret, sizeof s->secret))
        EVP_DigestFinal_ex(c, key, NULL);
    EVP_MD_CTX_free(c);
}

static void be64_put(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t be64_get(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* The token of (@kind, @a, @b, @n1, @n2, @ids) into @out (Base64). */
static void token_make(const bsnap_store *s, char kind, const char *a, const char *b, uint64_t n1,
                       uint64_t n2, const chunk_id *ids, size_t nids, char out[TOKEN_B64])
{
    uint8_t key[SHA256_DIGEST_LENGTH], md[EVP_MAX_MD_SIZE], raw[TOKEN_RAW];
    uint8_t msg[1 + 2 * BSNAP_ID_MAX + 16 + EBS_CHUNKS_MAX * sizeof(chunk_id)];
    size_t la = strnlen(a, BSNAP_ID_MAX - 1), lb = strnlen(b, BSNAP_ID_MAX - 1), n = 0;
    unsigned mdlen = 0;

    token_key(s, key);
    msg[n++] = (uint8_t)kind;
    memcpy(msg + n, a, la);
    n += la;
    msg[n++] = '\0';
    memcpy(msg + n, b, lb);
    n += lb;
    msg[n++] = '\0';
    be64_put(msg + n, n1);
    be64_put(msg + n + 8, n2);
    n += 16;
    if (nids) {
        memcpy(msg + n, ids, nids * sizeof *ids);
        n += nids * sizeof *ids;
    }
    memset(md, 0, sizeof md);
    if (!HMAC(EVP_sha256(), key, sizeof key, msg, n, md, &mdlen))
        memset(md, 0, sizeof md); /* out of memory: a token nobody accepts */
    OPENSSL_cleanse(key, sizeof key);
    /* block tokens carry the expiry (n2), page tokens the index and the expiry */
    if (kind == 'B') {
        be64_put(raw, n2);
        memcpy(raw + 8, md, TOKEN_RAW - 8);
    } else {
        be64_put(raw, n1);
        be64_put(raw + 8, n2);
        memcpy(raw + 16, md, TOKEN_RAW - 16);
    }
    EVP_EncodeBlock((unsigned char *)out, raw, TOKEN_RAW);
}

/* Decode a token's 32 bytes; false when it is not one. */
static bool token_raw(const char *text, uint8_t raw[TOKEN_RAW])
{
    return ebs_b64_decode32(text, strlen(text), raw);
}

static int64_t now_s(const bsnap_store *s)
{
    return ebs_now_ms(s) / 1000;
}

/* The next block index a NextToken of (@kind, @a, @b) carries. */
static int page_token_read(const bsnap_store *s, char kind, const char *a, const char *b,
                           const char *text, uint64_t *ret_next)
{
    uint8_t raw[TOKEN_RAW];
    char want[TOKEN_B64];
    uint64_t next, expiry;

    if (token_raw(text, raw)) {
        next = be64_get(raw);
        expiry = be64_get(raw + 8);
        token_make(s, kind, a, b, next, expiry, NULL, 0, want);
        if (CRYPTO_memcmp(want, text, TOKEN_B64 - 1) == 0 && (int64_t)expiry >= now_s(s)) {
            *ret_next = next;
            return 0;
        }
    }
    ebs_fail(-EINVAL, "ValidationException", "INVALID_PAGE_TOKEN",
             "@{NextToken} is not one this call gave for these snapshots, or it expired");
    return error_set_parameter("NextToken");
}

/* A completed snapshot the caller may read, and a reader of it (no pin: a
 * call is short, and a chunk gc took meanwhile is an error, never wrong
 * data). */
static int open_completed(bsnap_store *s, const char *id, const char *param,
                          struct snapshot_rec *rec, bsnap_reader **ret_rd)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    int r = meta_txn_begin(s->meta, false, &txn);

    if (r == 0)
        r = ebs_load_rec(s, txn, id, param, false, rec);
    if (r < 0)
        return r;
    meta_txn_abort(steal_ptr(txn));
    if (rec->state != BSNAP_SNAPSHOT_COMPLETED) {
        ebs_fail(-EBUSY, "ValidationException", "INVALID_SNAPSHOT_ID",
                 "the snapshot '%s' is not completed: only completed snapshots are read", id);
        return error_set_parameter("%s", param);
    }
    if (s->chunk_size > BSNAP_EBS_BLOCK_SIZE || BSNAP_EBS_BLOCK_SIZE % s->chunk_size)
        return ebs_fail(-EINVAL, "ValidationException", "INVALID_PARAMETER_VALUE",
                        "the store's chunk size %u does not divide the 512 KiB block",
                        s->chunk_size);
    r = reader_open(s, id, false, ret_rd);
    return error_param(r, "%s", param);
}

static int list_limits(const bsnap_ebs_list_options *o, uint32_t *ret_max)
{
    if (o->max_results > MAX_RESULTS_DEFAULT) {
        ebs_fail(-EINVAL, "ValidationException", "INVALID_PARAMETER_VALUE",
                 "@{MaxResults} %u is more than %u", o->max_results, MAX_RESULTS_DEFAULT);
        return error_set_parameter("MaxResults");
    }
    *ret_max = !o->max_results ? MAX_RESULTS_DEFAULT : o->max_results < 100 ? 100 : o->max_results;
    return 0;
}

/* The chunk ids of block @b of @t (k of them) into @ids; 1 when any holds
 * data. */
static int block_ids(bsnap_store *s, const struct bm_tree *t, uint64_t b, uint32_t k, chunk_id *ids)
{
    int any = 0;

    for (uint32_t j = 0; j < k; j++) {
        int r = bm_lookup(s, NULL, t, b * k + j, 0, &ids[j]);
        if (r < 0)
            return r;
        any |= !chunk_id_is_zero(&ids[j]);
    }
    return any;
}

static int list_doc(json_t *list, const char *name, uint64_t size, int64_t expiry_s,
                    const char *next, json_t **ret_doc)
{
    json_t *d =
        json_pack("{s:o, s:f, s:I, s:I}", name, list, "ExpiryTime", (double)expiry_s, "VolumeSize",
                  (json_int_t)(size >> 30), "BlockSize", (json_int_t)BSNAP_EBS_BLOCK_SIZE);

    if (d && next)
        json_object_set_new(d, "NextToken", json_string(next));
    if (!d)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    *ret_doc = d;
    return 0;
}

int bsnap_ebs_list_blocks(bsnap_store *s, const char *id, const bsnap_ebs_list_options *o,
                          json_t **ret_doc)
{
    struct snapshot_rec rec = {0};
    bsnap_reader *rd = NULL;
    chunk_id ids[EBS_CHUNKS_MAX];
    json_t *list = NULL;
    uint32_t max = 0, k;
    uint64_t b, nblocks, c;
    int64_t expiry = 0;
    char next[TOKEN_B64], *next_p = NULL;
    int r;

    bsnap_error_clear();
    if ((r = list_limits(o, &max)) < 0 || (r = ebs_check_id(id, "SnapshotId")) < 0)
        return r;
    r = open_completed(s, id, "SnapshotId", &rec, &rd);
    if (r < 0)
        goto out;
    k = BSNAP_EBS_BLOCK_SIZE / s->chunk_size;
    nblocks = rec.size / BSNAP_EBS_BLOCK_SIZE;
    b = o->starting_block_index;
    if (o->next_token && (r = page_token_read(s, 'L', id, "", o->next_token, &b)) < 0)
        goto out;
    expiry = now_s(s) + BLOCK_TOKEN_LIFE_S;
    if (!(list = json_array())) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    for (size_t n = 0; b < nblocks; n++) {
        char tok[TOKEN_B64];
        if (b > UINT64_MAX / k)
            break;
        r = bm_next(s, &rd->tree, b * k, true, &c);
        if (r == -ENXIO) {
            r = 0;
            break;
        }
        if (r < 0)
            goto out;
        b = c / k;
        if (b >= nblocks)
            break;
        if (n == max) {
            token_make(s, 'L', id, "", b, (uint64_t)(now_s(s) + PAGE_TOKEN_LIFE_S), NULL, 0, next);
            next_p = next;
            break;
        }
        if ((r = block_ids(s, &rd->tree, b, k, ids)) < 0)
            goto out;
        token_make(s, 'B', id, "", b, (uint64_t)expiry, ids, k, tok);
        if (json_array_append_new(list, json_pack("{s:I, s:s}", "BlockIndex", (json_int_t)b,
                                                  "BlockToken", tok)) < 0) {
            r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            goto out;
        }
        b++;
    }
    r = list_doc(list, "Blocks", rec.size, expiry, next_p, ret_doc);
    list = NULL;
out:
    json_decref(list);
    bsnap_reader_close(rd);
    snapshot_rec_clear(&rec);
    return r;
}

/* Whether @anc is @rec or one of its parents. */
static int is_ancestor(bsnap_store *s, const char *anc, const struct snapshot_rec *rec)
{
    char cur[BSNAP_ID_MAX];

    snprintf(cur, sizeof cur, "%s", rec->parent_id);
    for (int i = 0; cur[0] && i < LINEAGE_MAX; i++) {
        struct snapshot_rec p = {0};
        int r;
        if (strcmp(cur, anc) == 0)
            return 1;
        r = catalog_snapshot_get(s, cur, &p);
        if (r == -ENOENT) {
            bsnap_error_clear();
            return 0;
        }
        if (r < 0)
            return r;
        snprintf(cur, sizeof cur, "%s", p.parent_id);
        snapshot_rec_clear(&p);
    }
    return 0;
}

static int related(bsnap_store *s, const struct snapshot_rec *a, const struct snapshot_rec *b)
{
    int r;

    if (strcmp(a->id, b->id) == 0 ||
        (strcmp(a->volume_id, b->volume_id) == 0 && strcmp(a->volume_id, "vol-ffffffff") != 0))
        return 1;
    r = is_ancestor(s, a->id, b);
    return r != 0 ? r : is_ancestor(s, b->id, a);
}

struct changed {
    bsnap_store *s;
    const char *first, *second;
    const struct bm_tree *ta, *tb;
    uint32_t k, max;
    uint64_t start, nblocks, last, n;
    bool have_last;
    int64_t expiry;
    json_t *list;
    char next[TOKEN_B64];
    bool more;
};

static int changed_cb(void *ud, uint64_t idx, const chunk_id *a, const chunk_id *b)
{
    struct changed *c = ud;
    uint64_t blk = idx / c->k;
    chunk_id ids[EBS_CHUNKS_MAX];
    json_t *o;
    int r;

    (void)a;
    (void)b;
    if (blk < c->start || blk >= c->nblocks || (c->have_last && blk == c->last))
        return 0;
    if (c->n == c->max) {
        token_make(c->s, 'C', c->first, c->second, blk, (uint64_t)(now_s(c->s) + PAGE_TOKEN_LIFE_S),
                   NULL, 0, c->next);
        c->more = true;
        return -ECANCELED; /* a full page: stop the walk */
    }
    c->last = blk;
    c->have_last = true;
    c->n++;
    if (!(o = json_pack("{s:I}", "BlockIndex", (json_int_t)blk)) ||
        json_array_append_new(c->list, o) < 0)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    for (int side = 0; side < 2; side++) {
        const struct bm_tree *t = side ? c->tb : c->ta;
        char tok[TOKEN_B64];
        if (!t)
            continue;
        r = block_ids(c->s, t, blk, c->k, ids);
        if (r < 0)
            return r;
        if (!r)
            continue;
        token_make(c->s, 'B', side ? c->second : c->first, "", blk, (uint64_t)c->expiry, ids, c->k,
                   tok);
        json_object_set_new(o, side ? "SecondBlockToken" : "FirstBlockToken", json_string(tok));
    }
    return 0;
}

int bsnap_ebs_list_changed(bsnap_store *s, const char *second, const bsnap_ebs_list_options *o,
                           json_t **ret_doc)
{
    struct snapshot_rec ra = {0}, rb = {0};
    bsnap_reader *rda = NULL, *rdb = NULL;
    struct changed c = {.s = s, .first = o->first_id ? o->first_id : "", .second = second};
    int r;

    bsnap_error_clear();
    if ((r = list_limits(o, &c.max)) < 0 ||
        (o->first_id && (r = ebs_check_id(o->first_id, "FirstSnapshotId")) < 0) ||
        (r = ebs_check_id(second, "SecondSnapshotId")) < 0)
        return r;
    if (o->first_id && (r = open_completed(s, o->first_id, "FirstSnapshotId", &ra, &rda)) < 0)
        goto out;
    if ((r = open_completed(s, second, "SecondSnapshotId", &rb, &rdb)) < 0)
        goto out;
    if (o->first_id && (r = related(s, &ra, &rb)) <= 0) {
        if (r == 0) {
            ebs_fail(-EINVAL, "ValidationException", "UNRELATED_SNAPSHOTS",
                     "the snapshots '%s' and '%s' are not of one lineage", o->first_id, second);
            r = error_set_parameter("FirstSnapshotId");
        }
        goto out;
    }
    c.k = BSNAP_EBS_BLOCK_SIZE / s->chunk_size;
    c.ta = rda ? &rda->tree : NULL;
    c.tb = &rdb->tree;
    c.nblocks = MAX(ra.size, rb.size) / BSNAP_EBS_BLOCK_SIZE;
    c.start = o->starting_block_index;
    if (o->next_token &&
        (r = page_token_read(s, 'C', c.first, second, o->next_token, &c.start)) < 0)
        goto out;
    c.expiry = now_s(s) + BLOCK_TOKEN_LIFE_S;
    if (!(c.list = json_array())) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    r = bm_diff(s, c.ta, c.tb, changed_cb, &c);
    if (r == -ECANCELED && c.more) {
        bsnap_error_clear();
        r = 0;
    }
    if (r < 0)
        goto out;
    r = list_doc(c.list, "ChangedBlocks", MAX(ra.size, rb.size), c.expiry, c.more ? c.next : NULL,
                 ret_doc);
    c.list = NULL;
out:
    json_decref(c.list);
    bsnap_reader_close(rda);
    bsnap_reader_close(rdb);
    snapshot_rec_clear(&ra);
    snapshot_rec_clear(&rb);
    return r;
}

int bsnap_ebs_get_block(bsnap_store *s, const char *id, uint64_t index, const char *token,
                        void *buf, char ret_checksum[BSNAP_EBS_CHECKSUM_MAX])
{
    struct snapshot_rec rec = {0};
    bsnap_reader *rd = NULL;
    chunk_id ids[EBS_CHUNKS_MAX];
    uint8_t raw[TOKEN_RAW];
    char want[TOKEN_B64];
    uint32_t k;
    int r;

    bsnap_error_clear();
    if ((r = ebs_check_id(id, "SnapshotId")) < 0)
        return r;
    r = open_completed(s, id, "SnapshotId", &rec, &rd);
    if (r < 0)
        goto out;
    k = BSNAP_EBS_BLOCK_SIZE / s->chunk_size;
    if (index >= rec.size / BSNAP_EBS_BLOCK_SIZE) {
        ebs_fail(-EINVAL, "ValidationException", "INVALID_BLOCK",
                 "Block index %llu is beyond the volume size extent", (unsigned long long)index);
        r = error_set_parameter("BlockIndex");
        goto out;
    }
    if ((r = block_ids(s, &rd->tree, index, k, ids)) < 0)
        goto out;
    r = -1;
    if (token_raw(token, raw) && (int64_t)be64_get(raw) >= now_s(s)) {
        token_make(s, 'B', id, "", index, be64_get(raw), ids, k, want);
        r = CRYPTO_memcmp(want, token, TOKEN_B64 - 1) == 0 ? 0 : -1;
    }
    if (r < 0) {
        ebs_fail(-EINVAL, "ValidationException", "INVALID_BLOCK_TOKEN",
                 "@{BlockToken} is not a token of block %llu of '%s', or it expired",
                 (unsigned long long)index, id);
        r = error_set_parameter("BlockToken");
        goto out;
    }
    for (uint32_t j = 0; j < k && r == 0; j++)
        r = reader_read_chunk_id(rd, index * k + j, &ids[j],
                                 (uint8_t *)buf + (size_t)j * s->chunk_size);
    if (r < 0)
        goto out;
    ebs_sha256_b64(buf, BSNAP_EBS_BLOCK_SIZE, ret_checksum);
out:
    bsnap_reader_close(rd);
    snapshot_rec_clear(&rec);
    return r;
}
