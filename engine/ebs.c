/* ebs.c - the EBS direct API's writes: StartSnapshot, PutSnapshotBlock,
 * CompleteSnapshot, and the pending table with its timeouts; see ebs.h. */
#include "ebs.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockmap.h"
#include "catalog.h"
#include "error.h"
#include "fault.h"
#include "index.h"
#include "keys.h"
#include "owner.h"
#include "pack.h"
#include "pipeline.h"
#include "reader.h"
#include "record.h"
#include "source.h"
#include "store.h"
#include "util.h"

#define EBS_VOLUME_SIZE_MAX 65536u            /* GiB */
#define EBS_TIMEOUT_DEFAULT 60u               /* minutes */
#define EBS_PLACEHOLDER_VOLUME "vol-ffffffff" /* EC2's, as for copies */
#define STATE_BYTES 24

/* ---- shared helpers ---- */

int ebs_fail(int err, const char *code, const char *reason, const char *fmt, ...)
{
    bsnap_error_ref refs[BSNAP_ERROR_REFS_MAX];
    char msg[1024];
    size_t n;
    va_list ap;

    va_start(ap, fmt);
    n = error_vformat(msg, sizeof msg, refs, fmt, ap);
    va_end(ap);
    bsnap_fail_text(err, code, msg, refs, n);
    return error_set_reason(reason);
}

int ebs_check_id(const char *id, const char *param)
{
    if (id_valid(id, "snap"))
        return 0;
    ebs_fail(-EINVAL, "ValidationException", "INVALID_SNAPSHOT_ID",
             "the value '%s' of @{%s} is not a snapshot id (snap-...)", id, param);
    return error_set_parameter("%s", param);
}

int64_t ebs_now_ms(const bsnap_store *s)
{
    return s->clock_ms ? s->clock_ms : time_now_ms();
}

void ebs_sha256_b64(const void *data, size_t len, char out[BSNAP_EBS_CHECKSUM_MAX])
{
    uint8_t md[SHA256_DIGEST_LENGTH];

    SHA256(data, len, md);
    EVP_EncodeBlock((unsigned char *)out, md, sizeof md);
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;

    for (int i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

static size_t skey(const char *id, uint8_t *k)
{
    size_t n = strlen(id);

    k[0] = 's';
    memcpy(k + 1, id, n);
    return n + 1;
}

/* "b" ID \0: the prefix of a snapshot's block rows; with @index, a row. */
size_t ebs_bkey(const char *id, uint64_t index, bool with_index, uint8_t *k)
{
    size_t n = strlen(id);

    k[0] = 'b';
    memcpy(k + 1, id, n);
    k[n + 1] = '\0';
    if (!with_index)
        return n + 2;
    for (int i = 0; i < 8; i++)
        k[n + 2 + i] = (uint8_t)(index >> (56 - 8 * i));
    return n + 10;
}

/* ---- the pending table ---- */

int ebs_row_read(meta_txn *txn, const char *id, struct ebs_row *ret)
{
    uint8_t k[EBS_KEY_MAX];
    const void *v;
    size_t vlen;
    int r = meta_get(txn, T_EBS, k, skey(id, k), &v, &vlen);

    if (r < 0)
        return r;
    if (vlen != STATE_BYTES || get_le(v, 4) != EBS_STATE_VERSION)
        return bsnap_fail(-EIO, "Store.Corrupt", "snapshot %s: malformed EBS direct state", id);
    ret->flags = (uint32_t)get_le((const uint8_t *)v + 4, 4);
    ret->st.timeout_min = (uint32_t)get_le((const uint8_t *)v + 8, 4);
    ret->st.last_ms = (int64_t)get_le((const uint8_t *)v + 16, 8);
    return 0;
}

int ebs_row_write(meta_txn *txn, const char *id, const struct ebs_row *row)
{
    uint8_t k[EBS_KEY_MAX], v[STATE_BYTES] = {0};

    put_le(v, EBS_STATE_VERSION, 4);
    put_le(v + 4, row->flags, 4);
    put_le(v + 8, row->st.timeout_min, 4);
    put_le(v + 16, (uint64_t)row->st.last_ms, 8);
    return meta_put(txn, T_EBS, k, skey(id, k), v, sizeof v);
}

int ebs_state_get(meta_txn *txn, const char *id, struct ebs_state *ret_state)
{
    struct ebs_row row;
    int r = ebs_row_read(txn, id, &row);

    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    if (ret_state)
        *ret_state = row.st;
    return 1;
}

static bool expired(const bsnap_store *s, const struct ebs_state *st)
{
    return ebs_now_ms(s) - st->last_ms > (int64_t)st->timeout_min * 60000;
}

/* Release the references of block row value @v (@vlen bytes). */
static int row_release(bsnap_store *s, meta_txn *txn, const uint8_t *v, size_t vlen)
{
    chunk_id ids[EBS_CHUNKS_MAX];
    size_t n = (vlen - SHA256_DIGEST_LENGTH) / sizeof(chunk_id);
    int r = 0;

    if (vlen < SHA256_DIGEST_LENGTH || n > EBS_CHUNKS_MAX)
        return bsnap_fail(-EIO, "Store.Corrupt", "malformed EBS direct block row");
    memcpy(ids, v + SHA256_DIGEST_LENGTH, n * sizeof(chunk_id));
    for (size_t i = 0; r == 0 && i < n; i++)
        if (!chunk_id_is_zero(&ids[i]))
            r = index_decref(s, txn, &ids[i]);
    return r;
}

int ebs_drop_rows(bsnap_store *s, meta_txn *txn, const char *id)
{
    uint8_t k[EBS_KEY_MAX];
    size_t plen = ebs_bkey(id, 0, false, k);
    int r;

    for (;;) {
        meta_cursor *cur = NULL;
        const void *ck, *v;
        size_t cklen, vlen;
        uint8_t key[EBS_KEY_MAX], val[SHA256_DIGEST_LENGTH + EBS_CHUNKS_MAX * 16];

        r = meta_cursor_open(txn, T_EBS, &cur);
        if (r < 0)
            return r;
        ck = k;
        cklen = plen;
        r = meta_cursor_get(cur, CUR_SET_RANGE, &ck, &cklen, &v, &vlen);
        meta_cursor_close(cur);
        if (r == -ENOENT || (r == 0 && (cklen != plen + 8 || memcmp(ck, k, plen) != 0)))
            break;
        if (r < 0)
            return r;
        if (vlen > sizeof val)
            return bsnap_fail(-EIO, "Store.Corrupt", "snapshot %s: malformed EBS block row", id);
        memcpy(key, ck, cklen);
        memcpy(val, v, vlen);
        if ((r = meta_del(txn, T_EBS, key, cklen)) < 0 || (r = row_release(s, txn, val, vlen)) < 0)
            return r;
    }
    r = meta_del(txn, T_EBS, k, skey(id, k));
    return r == -ENOENT ? 0 : r;
}

/* Make pending snapshot @id error and give its chunks back, in @txn. */
int ebs_cancel_in(bsnap_store *s, meta_txn *txn, const char *id)
{
    struct snapshot_rec rec = {0};
    int r = catalog_snapshot_load(txn, id, &rec);

    if (r == 0 && rec.state == BSNAP_SNAPSHOT_PENDING) {
        rec.state = BSNAP_SNAPSHOT_ERROR;
        r = catalog_snapshot_save(txn, &rec);
    } else if (r == -ENOENT) {
        bsnap_error_clear();
        r = 0;
    }
    snapshot_rec_clear(&rec);
    return r < 0 ? r : ebs_drop_rows(s, txn, id);
}

static int cancel(bsnap_store *s, const char *id)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    int r = meta_txn_begin(s->meta, true, &txn);

    if (r == 0)
        r = ebs_cancel_in(s, txn, id);
    return r < 0 ? r : meta_txn_commit(steal_ptr(txn));
}

int ebs_gc_sweep(bsnap_store *s, meta_txn *txn, uint64_t *ret_cancelled)
{
    char(*ids)[BSNAP_ID_MAX] = NULL;
    size_t n = 0, cap = 0;
    meta_cursor *cur = NULL;
    const void *k, *v;
    size_t klen, vlen;
    uint64_t cancelled = 0;
    int r = meta_cursor_open(txn, T_EBS, &cur);

    if (r < 0)
        return r;
    for (r = meta_cursor_get(cur, CUR_FIRST, &k, &klen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        void *nv;
        if (klen < 2 || klen >= BSNAP_ID_MAX + 1 || ((const char *)k)[0] != 's')
            continue;
        if (!(nv = array_grow(ids, n, &cap, sizeof *ids, 16))) {
            r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            break;
        }
        ids = nv;
        memcpy(ids[n], (const char *)k + 1, klen - 1);
        ids[n++][klen - 1] = '\0';
    }
    meta_cursor_close(cur);
    if (r == -ENOENT)
        r = 0;
    for (size_t i = 0; r == 0 && i < n; i++) {
        struct snapshot_rec rec = {0};
        struct ebs_row row;
        bool live;
        r = ebs_row_read(txn, ids[i], &row);
        if (r < 0)
            break;
        r = catalog_snapshot_load(txn, ids[i], &rec);
        if (r == -ENOENT) {
            bsnap_error_clear();
            r = 0;
        }
        live = r == 0 && rec.id[0] && rec.state == BSNAP_SNAPSHOT_PENDING;
        snapshot_rec_clear(&rec);
        if (r < 0 || (live && !expired(s, &row.st)))
            continue;
        bsnap_debug("gc", "snapshot %s: EBS direct %s, its blocks given back", ids[i],
                    live ? "timed out" : "no longer pending");
        r = ebs_cancel_in(s, txn, ids[i]);
        cancelled += live;
    }
    free(ids);
    if (r == 0 && ret_cancelled)
        *ret_cancelled = cancelled;
    return r;
}

int ebs_foreach_ref(meta_txn *txn, ebs_ref_func fn, void *ud)
{
    meta_cursor *cur = NULL;
    const void *k, *v;
    size_t klen, vlen;
    int r = meta_cursor_open(txn, T_EBS, &cur);

    if (r < 0)
        return r == -ENOENT ? 0 : r;
    for (r = meta_cursor_get(cur, CUR_FIRST, &k, &klen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        const uint8_t *p = v;
        if (klen < 1 || ((const char *)k)[0] != 'b' || vlen < SHA256_DIGEST_LENGTH)
            continue;
        for (size_t off = SHA256_DIGEST_LENGTH; off + 16 <= vlen; off += 16) {
            chunk_id id;
            memcpy(id.b, p + off, 16);
            if (!chunk_id_is_zero(&id) && (r = fn(ud, &id)) < 0)
                goto out;
        }
    }
out:
    meta_cursor_close(cur);
    return r == -ENOENT ? 0 : r;
}

/* ---- loading a snapshot as the calls need it ---- */

int ebs_load_rec(bsnap_store *s, meta_txn *txn, const char *id, const char *param, bool act,
                 struct snapshot_rec *rec)
{
    int r = ebs_check_id(id, param);

    if (r < 0)
        return r;
    r = catalog_snapshot_load(txn, id, rec);
    if (r == 0)
        r = act ? owner_check_snapshot(s, rec) : owner_read_snapshot(s, rec);
    if (r == -ENOENT) {
        ebs_fail(-ENOENT, "ResourceNotFoundException", "SNAPSHOT_NOT_FOUND",
                 "the snapshot '%s' does not exist", id);
        return error_set_parameter("%s", param);
    }
    if (r == -EACCES) {
        ebs_fail(-EACCES, "AccessDeniedException", "UNAUTHORIZED_ACCOUNT",
                 "the snapshot '%s' is not the caller's to write", id);
        return error_set_parameter("%s", param);
    }
    return r;
}

/* A pending EBS snapshot's record and state; a timed-out one is cancelled
 * here (its own transaction: @txn must be a read transaction, which it
 * aborts). */
int ebs_load_pending(bsnap_store *s, meta_txn **txn, const char *id, struct snapshot_rec *rec,
                     struct ebs_row *row, bool completing_ok)
{
    int r = ebs_load_rec(s, *txn, id, "SnapshotId", true, rec);

    if (r < 0)
        return r;
    r = ebs_row_read(*txn, id, row);
    if (r == -ENOENT || (r == 0 && rec->state != BSNAP_SNAPSHOT_PENDING)) {
        ebs_fail(-EBUSY, "ValidationException", "INVALID_SNAPSHOT_ID",
                 "the snapshot '%s' is %s, not a pending EBS direct snapshot", id,
                 rec->state == BSNAP_SNAPSHOT_PENDING ? "pending"
                 : rec->state == BSNAP_SNAPSHOT_ERROR ? "in error"
                                                      : "completed");
        return error_set_parameter("SnapshotId");
    }
    if (r < 0)
        return r;
    if (expired(s, &row->st)) {
        meta_txn_abort(steal_ptr(*txn));
        r = cancel(s, id);
        if (r < 0)
            return r;
        ebs_fail(-EINVAL, "ValidationException", "WRITE_REQUEST_TIMEOUT",
                 "the snapshot '%s' was not written to for its timeout of %u minutes: it was "
                 "cancelled",
                 id, row->st.timeout_min);
        return error_set_parameter("SnapshotId");
    }
    if ((row->flags & EBS_COMPLETING) && !completing_ok) {
        ebs_fail(-EBUSY, "ValidationException", "INVALID_SNAPSHOT_ID",
                 "the snapshot '%s' is being completed: no more blocks are accepted", id);
        return error_set_parameter("SnapshotId");
    }
    return 0;
}

/* ---- StartSnapshot ---- */

static int start_check(bsnap_store *s, const bsnap_ebs_start_options *o,
                       struct snapshot_rec *parent)
{
    bool by_default = false;
    int r;

    if (o->volume_size < 1 || o->volume_size > EBS_VOLUME_SIZE_MAX) {
        ebs_fail(-EINVAL, "ValidationException", "INVALID_VOLUME_SIZE",
                 "@{VolumeSize} %llu is not between 1 and %u GiB",
                 (unsigned long long)o->volume_size, EBS_VOLUME_SIZE_MAX);
        return error_set_parameter("VolumeSize");
    }
    if (o->timeout && (o->timeout < 10 || o->timeout > 4320)) {
        ebs_fail(-EINVAL, "ValidationException", "INVALID_PARAMETER_VALUE",
                 "@{Timeout} %u is not between 10 and 4320 minutes", o->timeout);
        return error_set_parameter("Timeout");
    }
    if (o->description && bsnap_text_check("description", o->description, 255) < 0) {
        ebs_fail(-EINVAL, "ValidationException", "INVALID_PARAMETER_VALUE", "@{Description}: %s",
                 bsnap_last_error()->message);
        return error_set_parameter("Description");
    }
    if (o->client_token && (!*o->client_token || strlen(o->client_token) > EBS_TOKEN_MAX)) {
        ebs_fail(-EINVAL, "ValidationException", "INVALID_PARAMETER_VALUE",
                 "@{ClientToken} must be 1 to %d characters", EBS_TOKEN_MAX);
        return error_set_parameter("ClientToken");
    }
    if (o->ntags > TAGS_MAX) {
        ebs_fail(-EINVAL, "ValidationException", "INVALID_TAG", "at most %d @{Tags}", TAGS_MAX);
        return error_set_parameter("Tags");
    }
    for (size_t i = 0; i < o->ntags; i++) {
        const char *k = o->tags[i].key, *v = o->tags[i].value ? o->tags[i].value : "";
        if (bsnap_text_check("tag key", k, TAG_KEY_MAX) < 0 || !*k || strncmp(k, "aws:", 4) == 0 ||
            bsnap_text_check("tag value", v, TAG_VALUE_MAX) < 0) {
            ebs_fail(-EINVAL, "ValidationException", "INVALID_TAG",
                     "tag %zu: a key of 1 to %d characters not starting with aws:, a value of "
                     "at most %d",
                     i, TAG_KEY_MAX, TAG_VALUE_MAX);
            return error_set_parameter("Tags[%zu]", i);
        }
    }
    if (o->encrypted || o->kms_key_arn) {
        if (o->encrypted)
            ebs_fail(-EINVAL, "ValidationException", "INVALID_PARAMETER_VALUE",
                     "@{Encrypted}: this store does not write encrypted snapshots through EBS "
                     "direct");
        else
            ebs_fail(-EINVAL, "ValidationException", "INVALID_PARAMETER_VALUE",
                     "@{KmsKeyArn}: this store does not write encrypted snapshots through EBS "
                     "direct");
        return error_set_parameter(o->encrypted ? "Encrypted" : "KmsKeyArn");
    }
    r = keys_encryption_by_default(s, &by_default);
    if (r < 0)
        return r;
    if (by_default) {
        ebs_fail(-EINVAL, "ValidationException", "INVALID_PARAMETER_VALUE",
                 "encryption by default is on: unencrypted snapshots cannot be started, and "
                 "this store does not write encrypted ones through EBS direct");
        return error_set_parameter("Encrypted");
    }
    if (s->chunk_size > BSNAP_EBS_BLOCK_SIZE || BSNAP_EBS_BLOCK_SIZE % s->chunk_size) {
        ebs_fail(-EINVAL, "ValidationException", "INVALID_PARAMETER_VALUE",
                 "the store's chunk size %u does not divide the 512 KiB block", s->chunk_size);
        return error_set_parameter("VolumeSize");
    }
    if (!o->parent_id)
        return 0;
    {
        _cleanup_txn_abort_ meta_txn *txn = NULL;
        if ((r = meta_txn_begin(s->meta, false, &txn)) < 0 ||
            (r = ebs_load_rec(s, txn, o->parent_id, "ParentSnapshotId", true, parent)) < 0)
            return r;
    }
    if (parent->state != BSNAP_SNAPSHOT_COMPLETED || parent->encrypted ||
        parent->chunk_size != s->chunk_size) {
        ebs_fail(-EINVAL, "ValidationException", "INVALID_SNAPSHOT_ID",
                 "the parent snapshot '%s' is %s", parent->id,
                 parent->state != BSNAP_SNAPSHOT_COMPLETED ? "not completed" : "encrypted");
        return error_set_parameter("ParentSnapshotId");
    }
    if (parent->size > o->volume_size << 30) {
        ebs_fail(-EINVAL, "ValidationException", "INVALID_VOLUME_SIZE",
                 "@{VolumeSize} %llu GiB is smaller than the parent snapshot '%s'",
                 (unsigned long long)o->volume_size, parent->id);
        return error_set_parameter("VolumeSize");
    }
    return 0;
}

/* SHA-256 of the request, for ClientToken's check. */
static void start_hash(const bsnap_ebs_start_options *o, uint8_t out[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    uint8_t num[12];

    put_le(num, o->volume_size, 8);
    put_le(num + 8, o->timeout ? o->timeout : EBS_TIMEOUT_DEFAULT, 4);
    if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
        memset(out, 0, 32); /* out of memory: every request then looks alike */
        EVP_MD_CTX_free(c);
        return;
    }
    EVP_DigestUpdate(c, num, sizeof num);
    EVP_DigestUpdate(c, o->parent_id ? o->parent_id : "",
                     o->parent_id ? strlen(o->parent_id) + 1 : 1);
    EVP_DigestUpdate(c, o->description ? o->description : "",
                     o->description ? strlen(o->description) + 1 : 1);
    for (size_t i = 0; i < o->ntags; i++) {
        const char *v = o->tags[i].value ? o->tags[i].value : "";
        EVP_DigestUpdate(c, o->tags[i].key, strlen(o->tags[i].key) + 1);
        EVP_DigestUpdate(c, v, strlen(v) + 1);
    }
    EVP_DigestFinal_ex(c, out, NULL);
    EVP_MD_CTX_free(c);
}

static int start_doc(const bsnap_store *s, const struct snapshot_rec *rec, uint32_t timeout,
                     json_t **ret_doc)
{
    json_t *tags = json_array();
    json_t *d;

    for (size_t i = 0; tags && i < rec->tags.n; i++)
        json_array_append_new(tags, json_pack("{s:s, s:s}", "Key", rec->tags.v[i].key, "Value",
                                              rec->tags.v[i].value));
    d = json_pack("{s:s, s:s, s:s, s:f, s:I, s:I, s:I, s:s, s:o}", "SnapshotId", rec->id, "OwnerId",
                  owner_of(s, rec->owner), "Status",
                  rec->state == BSNAP_SNAPSHOT_PENDING     ? "pending"
                  : rec->state == BSNAP_SNAPSHOT_COMPLETED ? "completed"
                                                           : "error",
                  "StartTime", (double)rec->start_ms / 1000.0, "VolumeSize",
                  (json_int_t)(rec->size >> 30), "BlockSize", (json_int_t)BSNAP_EBS_BLOCK_SIZE,
                  "Timeout", (json_int_t)timeout, "Description",
                  rec->description ? rec->description : "", "Tags", tags);
    if (d && rec->parent_id[0])
        json_object_set_new(d, "ParentSnapshotId", json_string(rec->parent_id));
    if (!d)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    *ret_doc = d;
    return 0;
}

/* The snapshot ClientToken @token of the caller started, if any: 1 and its
 * record, 0, or -errno (ConflictException for another request). */
static int start_replay(meta_txn *txn, const uint8_t hash[32], uint8_t *tk, size_t tklen,
                        struct snapshot_rec *rec)
{
    const void *v;
    size_t vlen;
    char id[BSNAP_ID_MAX];
    int r = meta_get(txn, T_EBS, tk, tklen, &v, &vlen);

    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    if (vlen != BSNAP_ID_MAX + 32)
        return bsnap_fail(-EIO, "Store.Corrupt", "malformed EBS direct client token row");
    memcpy(id, v, BSNAP_ID_MAX);
    id[BSNAP_ID_MAX - 1] = '\0';
    if (CRYPTO_memcmp((const uint8_t *)v + BSNAP_ID_MAX, hash, 32) != 0) {
        ebs_fail(-EEXIST, "ConflictException", "",
                 "@{ClientToken} was used for another request (snapshot %s)", id);
        return error_set_parameter("ClientToken");
    }
    r = catalog_snapshot_load(txn, id, rec);
    if (r == -ENOENT) { /* removed since: the token is free again */
        bsnap_error_clear();
        return 0;
    }
    return r < 0 ? r : 1;
}

int bsnap_ebs_start_snapshot(bsnap_store *s, const bsnap_ebs_start_options *o, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec parent = {0}, rec = {0};
    struct ebs_row row = {0};
    uint8_t hash[32], tk[EBS_KEY_MAX], tv[BSNAP_ID_MAX + 32];
    size_t tklen = 0;
    int r;

    bsnap_error_clear();
    r = start_check(s, o, &parent);
    if (r < 0)
        goto out;
    start_hash(o, hash);
    r = meta_txn_begin(s->meta, true, &txn);
    if (r < 0)
        goto out;
    if (o->client_token) {
        char owner[13];
        owner_stamp(s, owner);
        tklen = (size_t)snprintf((char *)tk, sizeof tk, "t%s", owner) + 1;
        memcpy(tk + tklen, o->client_token, strlen(o->client_token));
        tklen += strlen(o->client_token);
        r = start_replay(txn, hash, tk, tklen, &rec);
        if (r < 0)
            goto out;
        if (r == 1) {
            struct ebs_row old = {.st.timeout_min = o->timeout ? o->timeout : 60};
            (void)ebs_row_read(txn, rec.id, &old);
            r = start_doc(s, &rec, old.st.timeout_min, ret_doc);
            goto out;
        }
    }
    owner_stamp(s, rec.owner);
    r = id_generate("snap", rec.id);
    if (r < 0) {
        r = bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
        goto out;
    }
    snprintf(rec.volume_id, sizeof rec.volume_id, "%s",
             o->parent_id ? parent.volume_id : EBS_PLACEHOLDER_VOLUME);
    if (o->parent_id)
        snprintf(rec.parent_id, sizeof rec.parent_id, "%s", parent.id);
    rec.state = BSNAP_SNAPSHOT_PENDING;
    rec.size = o->volume_size << 30;
    rec.chunk_size = s->chunk_size;
    rec.depth = bm_depth_for(rec.size / s->chunk_size);
    rec.start_ms = ebs_now_ms(s);
    rec.description = strdup(o->description ? o->description : "");
    if (!rec.description) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < o->ntags && r >= 0; i++)
        r = tags_set(&rec.tags, o->tags[i].key, o->tags[i].value);
    if (r < 0)
        goto out;
    row.st.timeout_min = o->timeout ? o->timeout : EBS_TIMEOUT_DEFAULT;
    row.st.last_ms = rec.start_ms;
    if ((r = catalog_snapshot_save(txn, &rec)) < 0 || (r = ebs_row_write(txn, rec.id, &row)) < 0)
        goto out;
    if (o->client_token) {
        memset(tv, 0, sizeof tv);
        memcpy(tv, rec.id, strlen(rec.id));
        memcpy(tv + BSNAP_ID_MAX, hash, 32);
        if ((r = meta_put(txn, T_EBS, tk, tklen, tv, sizeof tv)) < 0)
            goto out;
    }
    if ((r = meta_txn_commit(steal_ptr(txn))) < 0)
        goto out;
    bsnap_debug("ebs", "snapshot %s: started, %llu GiB", rec.id,
                (unsigned long long)o->volume_size);
    r = start_doc(s, &rec, row.st.timeout_min, ret_doc);
out:
    snapshot_rec_clear(&rec);
    snapshot_rec_clear(&parent);
    return r;
}

/* ---- PutSnapshotBlock ---- */

bool ebs_b64_decode32(const char *text, size_t len, uint8_t out[32])
{
    uint8_t buf[36];

    /* 32 bytes are 43 characters and one '=' of padding, exactly: no
     * whitespace, no other spelling of the same bytes */
    if (len != 44 || text[43] != '=' ||
        strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") != 43 ||
        EVP_DecodeBlock(buf, (const unsigned char *)text, 44) != 33)
        return false;
    /* the last character carries 2 bits of padding, which must be 0 */
    if (strchr("AEIMQUYcgkosw048", text[42]) == NULL)
        return false;
    memcpy(out, buf, 32);
    return true;
}

static int put_check(const char *id, uint64_t data_length, const void *data, const char *checksum,
                     const char *algorithm, int progress, uint8_t got[SHA256_DIGEST_LENGTH])
{
    uint8_t want[SHA256_DIGEST_LENGTH];
    int r = ebs_check_id(id, "SnapshotId");

    if (r < 0)
        return r;
    if (strcmp(algorithm, "SHA256") != 0) {
        ebs_fail(-EINVAL, "ValidationException", "INVALID_PARAMETER_VALUE",
                 "@{ChecksumAlgorithm} '%s' is not SHA256", algorithm);
        return error_set_parameter("ChecksumAlgorithm");
    }
    if (data_length != BSNAP_EBS_BLOCK_SIZE) {
        ebs_fail(-EINVAL, "ValidationException", "INVALID_BLOCK",
                 "@{DataLength} %llu is not the block size %u", (unsigned long long)data_length,
                 BSNAP_EBS_BLOCK_SIZE);
        return error_set_parameter("DataLength");
    }
    if (progress < -1 || progress > 100) {
        ebs_fail(-EINVAL, "ValidationException", "INVALID_PARAMETER_VALUE",
                 "@{Progress} %d is not between 0 and 100", progress);
        return error_set_parameter("Progress");
    }
    if (!ebs_b64_decode32(checksum, strlen(checksum), want)) {
        ebs_fail(-EINVAL, "ValidationException", "INVALID_BLOCK",
                 "@{Checksum} '%.64s' is not the Base64 of a SHA-256", checksum);
        return error_set_parameter("Checksum");
    }
    SHA256(data, BSNAP_EBS_BLOCK_SIZE, got);
    if (CRYPTO_memcmp(want, got, SHA256_DIGEST_LENGTH) != 0) {
        ebs_fail(-EINVAL, "ValidationException", "INVALID_BLOCK",
                 "the @{Checksum} does not match the block's data: nothing was stored");
        return error_set_parameter("Checksum");
    }
    return 0;
}

/* Hash the chunks of @data into @ids and append the ones the store lacks
 * to a pack (opened in *@pw), synced; their locations in @loc, flagged in
 * @fresh. */
static int put_store(bsnap_store *s, const uint8_t *data, uint32_t k, chunk_id *ids,
                     struct chunk_loc *loc, bool *fresh, struct pack_writer **pw)
{
    _cleanup_free_ uint8_t *out = NULL;
    size_t cap = chunk_encode_bound(s->chunk_size);
    int r;

    for (uint32_t i = 0; i < k; i++) {
        const uint8_t *p = data + (size_t)i * s->chunk_size;
        struct chunk_entry e;
        uint32_t flags = 0;
        size_t len;
        bool dup = false;

        fresh[i] = false;
        if (mem_is_zero(p, s->chunk_size)) {
            memset(&ids[i], 0, sizeof ids[i]);
            continue;
        }
        chunk_hash(s, false, p, s->chunk_size, &ids[i]);
        for (uint32_t j = 0; j < i && !dup; j++)
            dup = fresh[j] && chunk_id_eq(&ids[i], &ids[j]);
        if (dup)
            continue;
        r = index_lookup(s, &ids[i], &e);
        if (r == 0 && !(e.loc.flags & CHUNK_MISSING))
            continue;
        if (r < 0 && r != -ENOENT)
            return r;
        bsnap_error_clear();
        if (!out && !(out = malloc(cap)))
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        if (!*pw && (r = pack_writer_open(s, false, pw)) < 0)
            return r;
        len = chunk_encode(p, s->chunk_size, out, cap, &flags);
        r = pack_writer_append(*pw, &ids[i], flags, out, (uint32_t)len, s->chunk_size, &loc[i]);
        if (r < 0)
            return r;
        fresh[i] = true;
    }
    return *pw ? pack_writer_sync(*pw) : 0;
}

/* The put's transaction: index what is new, take the row's references,
 * release the row it replaces. */
static int put_commit(bsnap_store *s, const char *id, uint64_t index, const uint8_t *sha,
                      uint32_t k, const chunk_id *ids, const struct chunk_loc *loc,
                      const bool *fresh)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec rec = {0};
    struct ebs_row row;
    uint8_t key[EBS_KEY_MAX], val[SHA256_DIGEST_LENGTH + EBS_CHUNKS_MAX * 16];
    uint8_t old[sizeof val];
    chunk_id refs[EBS_CHUNKS_MAX];
    const void *v;
    size_t vlen, oldlen = 0, nrefs = 0, klen;
    int r;

    if ((r = meta_txn_begin(s->meta, true, &txn)) < 0)
        return r;
    /* Pending still (a completion or a cancel may have come between). */
    r = catalog_snapshot_load(txn, id, &rec);
    if (r == 0)
        r = ebs_row_read(txn, id, &row);
    if (r == 0 && (rec.state != BSNAP_SNAPSHOT_PENDING || (row.flags & EBS_COMPLETING)))
        r = -ENOENT;
    snapshot_rec_clear(&rec);
    if (r == -ENOENT) {
        ebs_fail(-EBUSY, "ValidationException", "INVALID_SNAPSHOT_ID",
                 "the snapshot '%s' is no longer pending", id);
        return error_set_parameter("SnapshotId");
    }
    if (r < 0)
        return r;
    for (uint32_t i = 0; i < k; i++) {
        struct chunk_entry e = {.loc = loc[i], .refcount = 0}, cur;
        if (!fresh[i])
            continue;
        r = index_get(txn, &ids[i], &cur);
        if (r == 0 && !(cur.loc.flags & CHUNK_MISSING))
            continue; /* another writer stored it meanwhile: ours is dead bytes */
        if (r == 0)
            e.refcount = cur.refcount;
        else if (r != -ENOENT)
            return r;
        if ((r = index_put(txn, &ids[i], &e)) < 0)
            return r;
    }
    for (uint32_t i = 0; i < k; i++)
        if (!chunk_id_is_zero(&ids[i]))
            refs[nrefs++] = ids[i];
    /* The new references before the old ones go, so that a chunk both
     * name never falls to zero in between. */
    if (nrefs && (r = index_incref_many(s, txn, refs, nrefs)) < 0)
        return r;
    klen = ebs_bkey(id, index, true, key);
    r = meta_get(txn, T_EBS, key, klen, &v, &vlen);
    if (r == 0) {
        if (vlen > sizeof old)
            return bsnap_fail(-EIO, "Store.Corrupt", "snapshot %s: malformed EBS block row", id);
        memcpy(old, v, vlen);
        oldlen = vlen;
    } else if (r != -ENOENT) {
        return r;
    }
    memcpy(val, sha, SHA256_DIGEST_LENGTH);
    memcpy(val + SHA256_DIGEST_LENGTH, ids, (size_t)k * sizeof *ids);
    if ((r = meta_put(txn, T_EBS, key, klen, val, SHA256_DIGEST_LENGTH + (size_t)k * 16)) < 0)
        return r;
    if (oldlen && (r = row_release(s, txn, old, oldlen)) < 0)
        return r;
    row.st.last_ms = ebs_now_ms(s);
    if ((r = ebs_row_write(txn, id, &row)) < 0)
        return r;
    if (fault_hit("ebs-put"))
        return bsnap_fail(-EIO, "Store.Error", "EBS put: injected failure");
    return meta_txn_commit(steal_ptr(txn));
}

int bsnap_ebs_put_block(bsnap_store *s, const char *id, uint64_t index, const void *data,
                        uint64_t data_length, const char *checksum, const char *algorithm,
                        int progress, json_t **ret_doc)
{
    chunk_id ids[EBS_CHUNKS_MAX];
    struct chunk_loc loc[EBS_CHUNKS_MAX];
    bool fresh[EBS_CHUNKS_MAX];
    uint8_t sha[SHA256_DIGEST_LENGTH];
    struct pack_writer *pw = NULL;
    struct snapshot_rec rec = {0};
    struct ebs_row row;
    uint32_t k = ebs_chunks_per_block(s);
    int lockfd = -1, r;

    bsnap_error_clear();
    r = put_check(id, data_length, data, checksum, algorithm, progress, sha);
    if (r < 0)
        return r;
    {
        _cleanup_txn_abort_ meta_txn *txn = NULL;
        r = meta_txn_begin(s->meta, false, &txn);
        if (r == 0)
            r = ebs_load_pending(s, &txn, id, &rec, &row, false);
    }
    if (r == 0 && index >= rec.size / BSNAP_EBS_BLOCK_SIZE) {
        ebs_fail(-EINVAL, "ValidationException", "INVALID_BLOCK",
                 "Block index %llu is beyond the volume size extent (%llu blocks)",
                 (unsigned long long)index, (unsigned long long)(rec.size / BSNAP_EBS_BLOCK_SIZE));
        r = error_set_parameter("BlockIndex");
    }
    snapshot_rec_clear(&rec);
    if (r < 0)
        return r;
    if (k > EBS_CHUNKS_MAX || k == 0)
        return ebs_fail(-EINVAL, "ValidationException", "INVALID_PARAMETER_VALUE",
                        "the store's chunk size %u does not divide the 512 KiB block",
                        s->chunk_size);
    /* Shared, so that gc (exclusive) cannot free a chunk this put found in
     * the index before the put's row names it. */
    r = store_lock(s, false, NULL, &lockfd);
    if (r < 0)
        return r;
    r = put_store(s, data, k, ids, loc, fresh, &pw);
    if (r == 0)
        r = put_commit(s, id, index, sha, k, ids, loc, fresh);
    if (r < 0 && pw)
        pack_writer_abort(pw);
    pack_writer_close(pw);
    store_unlock(lockfd);
    if (r < 0)
        return r;
    *ret_doc = json_pack("{s:s, s:s}", "Checksum", checksum, "ChecksumAlgorithm", "SHA256");
    return *ret_doc ? 0 : bsnap_fail(-ENOMEM, "InternalError", "out of memory");
}
