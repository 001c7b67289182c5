/* copy.c - copy-snapshot: a snapshot of another store (region) into this
 * one, sending only the chunks this store lacks, resumably.
 *
 * The stores hash with different keys, so a source chunk id says nothing
 * here.  The destination keeps a translation table (T_CHUNK_XLATE: source
 * store uuid + source chunk id -> chunk id here), filled in the same
 * transactions that index the chunks it names; the pipeline (pipeline.c,
 * its copy mode) takes a translated chunk without reading it and reads,
 * re-hashes and stores the others through the usual dedup path.
 *
 * T_COPIES holds two kinds of entries (keys "KEY\0ID", xref_key()):
 *   SOURCE-UUID \0 source snapshot id  -> the copy here (lineage: the
 *                                          parent of the next copy)
 *   "token" \0 client token            -> "copy-id PARAMS-HASH"
 * A call without a client token uses "=" and the hash of its parameters as
 * its token, so the same call run again (after a kill, or after it
 * succeeded) finds the copy it started and continues or returns it.  The
 * copy is recorded pending with its token entry in one transaction before
 * any chunk is sent, and completed (record, root reference, lineage) in one
 * transaction at the end; a failed or killed run leaves the pending record
 * and the chunks it landed for the next run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockmap.h"
#include "catalog.h"
#include "copy.h"
#include "error.h"
#include "lineage.h"
#include "index.h"
#include "keys.h"
#include "owner.h"
#include "pack.h"
#include "pipeline.h"
#include "reader.h"
#include "store.h"
#include "util.h"
#include "xref.h"

#define CLIENT_TOKEN_MAX 64
#define COPY_VOLUME_ID "vol-ffffffff" /* EC2's placeholder for a copy's volume */

static int check_token(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > CLIENT_TOKEN_MAX) {
        bsnap_fail(-EINVAL, "InvalidParameterValue",
                   "the client token must be 1 to %d characters, not %zu", CLIENT_TOKEN_MAX, n);
        return error_set_parameter("ClientToken");
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] < 0x21 || (unsigned char)t[i] > 0x7e) {
            bsnap_fail(-EINVAL, "InvalidParameterValue",
                       "the client token must be printable ASCII without spaces");
            return error_set_parameter("ClientToken");
        }
    return 0;
}

void request_hash_begin(struct request_hash *h, const bsnap_store *dst, const bsnap_store *src)
{
    XXH3_128bits_reset(&h->st);
    /* the calling account: another account's same call is another copy */
    XXH3_128bits_update(&h->st, dst->caller, strlen(dst->caller) + 1);
    XXH3_128bits_update(&h->st, src->uuid, 16);
}

void request_hash_str(struct request_hash *h, const char *field)
{
    if (field)
        XXH3_128bits_update(&h->st, field, strlen(field) + 1);
    else
        XXH3_128bits_update(&h->st, "\1", 1);
}

const char *request_hash_end(struct request_hash *h, const char *client_token, char hash[33],
                             char autotok[40])
{
    XXH128_canonical_t c;

    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&h->st));
    hex_encode(c.digest, 16, hash);
    hash[32] = 0;
    if (client_token)
        return client_token;
    snprintf(autotok, 40, "=%s", hash);
    return autotok;
}

/* 0 when source snapshot @srec can be copied: it is completed. */
static int source_completed(const struct snapshot_rec *srec)
{
    if (srec->state == BSNAP_SNAPSHOT_COMPLETED)
        return 0;
    bsnap_fail(-EBUSY, "IncorrectState", "the snapshot '%s' is not completed", srec->id);
    return error_set_parameter("SourceSnapshotId");
}

/* The token of copy-snapshot call @o (request_hash_end()). */
static const char *call_token(const bsnap_store *dst, const bsnap_store *src,
                              const bsnap_copy_options *o, char hash[33], char autotok[40])
{
    struct request_hash h;

    request_hash_begin(&h, dst, src);
    request_hash_str(&h, o->source_snapshot_id);
    request_hash_str(&h, o->description);
    for (size_t i = 0; i < o->ntags; i++) {
        request_hash_str(&h, o->tags[i].key);
        request_hash_str(&h, o->tags[i].value ? o->tags[i].value : "");
    }
    if (o->encrypted) {
        request_hash_str(&h, "encrypted");
        request_hash_str(&h, o->kms_key_id);
    }
    return request_hash_end(&h, o->client_token, hash, autotok);
}

/* The T_COPIES value of @key/@id into @out ("" when absent). */
static int copies_get(meta_txn *txn, const char *key, const char *id, char *out, size_t cap)
{
    char k[XREF_KEY_MAX];
    size_t klen = xref_key(key, id, k);
    const void *v;
    size_t vlen;
    int r = meta_get(txn, T_COPIES, k, klen, &v, &vlen);

    out[0] = 0;
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    if (vlen >= cap)
        return bsnap_fail(-EIO, "Store.Corrupt", "copies table: an entry of %zu bytes", vlen);
    memcpy(out, v, vlen);
    out[vlen] = 0;
    return 0;
}

static int copies_put(meta_txn *txn, const char *key, const char *id, const char *value)
{
    char k[XREF_KEY_MAX];
    size_t klen = xref_key(key, id, k);

    return meta_put(txn, T_COPIES, k, klen, value, strlen(value));
}

/* What this store knows of the call: the copy of a finished or unfinished
 * earlier run of it (@rec, *@ret_state), or nothing (*@ret_state -1). */
static int find_earlier(bsnap_store *s, const char *tok, const char *hash, bool explicit_token,
                        struct snapshot_rec *rec, int *ret_state)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    char v[BSNAP_ID_MAX + 40];
    char *sp;
    int r;

    *ret_state = -1;
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    r = copies_get(txn, "token", tok, v, sizeof v);
    if (r < 0 || !v[0])
        return r;
    sp = strchr(v, ' ');
    if (!sp)
        return bsnap_fail(-EIO, "Store.Corrupt", "copies table: a bad token entry");
    *sp++ = 0;
    if (explicit_token && strcmp(sp, hash) != 0) {
        bsnap_fail(-EINVAL, "IdempotentParameterMismatch",
                   "the client token '%s' was used for a copy with other parameters", tok);
        return error_set_parameter("ClientToken");
    }
    r = catalog_snapshot_load(txn, v, rec);
    if (r == 0 && !owner_visible(s, rec->owner))
        r = -ENOENT; /* not the caller's (a token of another account) */
    if (r == -ENOENT) {
        bsnap_error_clear(); /* the copy was deleted since: a new one */
        snapshot_rec_clear(rec);
        memset(rec, 0, sizeof *rec);
        return 0;
    }
    if (r < 0)
        return r;
    *ret_state = (int)rec->state;
    return 0;
}

/* The destination's copy of source snapshot @src_id, when it has one
 * completed: a copy of a child is incremental against it. */
static int find_parent(bsnap_store *s, const bsnap_store *src, const char *src_id,
                       struct snapshot_rec *parent, bool *ret_have)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    char v[BSNAP_ID_MAX];
    int r;

    *ret_have = false;
    if (!src_id[0])
        return 0;
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    r = copies_get(txn, src->uuid_text, src_id, v, sizeof v);
    if (r < 0 || !v[0])
        return r;
    r = catalog_snapshot_load(txn, v, parent);
    if (r < 0) {
        bsnap_error_clear(); /* deleted since: a full copy */
        return r == -ENOENT || r == -EINVAL ? 0 : r;
    }
    if (parent->state != BSNAP_SNAPSHOT_COMPLETED || parent->chunk_size != s->chunk_size ||
        !owner_visible(s, parent->owner)) {
        snapshot_rec_clear(parent);
        return 0;
    }
    *ret_have = true;
    return 0;
}

/* In write transaction @txn: whether token @tok names a copy of the
 * caller's that exists.  find_earlier() looked in a read transaction; two
 * runs of the same call started together both found nothing there, and
 * the one that records second must take the first one's copy instead of
 * making another (two copies, the token naming only the last). */
static int token_taken(bsnap_store *s, meta_txn *txn, const char *tok, bool *ret_taken)
{
    struct snapshot_rec cur = {0};
    char v[BSNAP_ID_MAX + 40], *sp;
    int r = copies_get(txn, "token", tok, v, sizeof v);

    *ret_taken = false;
    if (r < 0 || !v[0])
        return r;
    if ((sp = strchr(v, ' ')))
        *sp = 0;
    r = catalog_snapshot_load(txn, v, &cur);
    if (r == 0)
        *ret_taken = owner_visible(s, cur.owner);
    snapshot_rec_clear(&cur);
    if (r == -ENOENT || r == -EINVAL) {
        bsnap_error_clear(); /* deleted since (find_earlier() says the same) */
        r = 0;
    }
    return r;
}

/* Record @rec pending under token @tok.  A new copy (@fresh) is recorded
 * only if no other run of the same call recorded one since find_earlier(),
 * a continued one only if no other run completed it since: otherwise
 * -EAGAIN (no error set), and the caller looks again. */
static int record_pending(bsnap_store *s, const struct snapshot_rec *rec, const char *tok,
                          const char *hash, bool fresh)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    char v[BSNAP_ID_MAX + 40];
    bool taken = false;
    int r = meta_txn_begin(s->meta, true, &txn);

    if (r < 0)
        return r;
    if (fresh && ((r = token_taken(s, txn, tok, &taken)) < 0 || taken))
        return r < 0 ? r : -EAGAIN;
    if (!fresh) {
        /* continuing: the run that started it may have completed it since
         * find_earlier(); saving this older pending record over it would
         * undo that (and the copy would be completed, and its root
         * referenced, twice) */
        struct snapshot_rec cur = {0};
        r = catalog_snapshot_load(txn, rec->id, &cur);
        bool done = r == 0 && cur.state == BSNAP_SNAPSHOT_COMPLETED;
        snapshot_rec_clear(&cur);
        if (r < 0 && r != -ENOENT)
            return r;
        bsnap_error_clear();
        if (done)
            return -EAGAIN;
    }
    r = catalog_snapshot_save(txn, rec);
    if (r < 0)
        return r;
    snprintf(v, sizeof v, "%s %s", rec->id, hash);
    r = copies_put(txn, "token", tok, v);
    if (r < 0)
        return r;
    return meta_txn_commit(steal_ptr(txn));
}

static int complete_copy(bsnap_store *s, const bsnap_store *src, const char *src_id,
                         struct snapshot_rec *rec)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec cur = {0};
    int r = meta_txn_begin(s->meta, true, &txn);

    if (r < 0)
        return r;
    r = catalog_snapshot_load(txn, rec->id, &cur);
    if (r < 0)
        return r;
    if (cur.state == BSNAP_SNAPSHOT_COMPLETED) {
        /* the same call, run at the same time, completed it first: its
         * root reference is taken; the copies are of the same data */
        snapshot_rec_clear(&cur);
        return 0;
    }
    snapshot_rec_clear(&cur);
    rec->state = BSNAP_SNAPSHOT_COMPLETED;
    rec->completion_ms = time_now_ms();
    if (!chunk_id_is_zero(&rec->root)) {
        r = index_incref(s, txn, &rec->root);
        if (r < 0)
            return r;
    }
    r = catalog_snapshot_save(txn, rec);
    if (r < 0)
        return r;
    r = copies_put(txn, src->uuid_text, src_id, rec->id);
    if (r < 0)
        return r;
    return meta_txn_commit(steal_ptr(txn));
}

int copy_prune(meta_txn *txn, uint64_t *ret_n)
{
    meta_cursor *cur = NULL;
    uint8_t(*dead)[32] = NULL;
    size_t n = 0, cap = 0;
    const void *k, *v;
    size_t klen, vlen;
    int r;

    *ret_n = 0;
    r = meta_cursor_open(txn, T_CHUNK_XLATE, &cur);
    if (r < 0)
        return r;
    for (r = meta_cursor_get(cur, CUR_FIRST, &k, &klen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        struct chunk_entry e;
        chunk_id id;
        int g;

        if (klen != 32 || vlen != sizeof id) {
            r = bsnap_fail(-EIO, "Store.Corrupt", "copy-chunks table: an entry of %zu/%zu bytes",
                           klen, vlen);
            break;
        }
        memcpy(&id, v, sizeof id);
        g = index_get(txn, &id, &e);
        if (g == 0)
            continue;
        if (g != -ENOENT) {
            r = g;
            break;
        }
        {
            void *nd = array_grow(dead, n, &cap, sizeof *dead, 256);
            if (!nd) {
                r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
                break;
            }
            dead = nd;
        }
        memcpy(dead[n++], k, 32);
    }
    meta_cursor_close(cur);
    if (r == -ENOENT)
        r = 0;
    for (size_t i = 0; r == 0 && i < n; i++)
        r = meta_del(txn, T_CHUNK_XLATE, dead[i], 32);
    free(dead);
    if (r == 0)
        *ret_n = n;
    return r;
}

/* The chunks in which source snapshot @srec differs from its parent there
 * (a walk of both block maps that skips the pages they share), as sorted
 * byte ranges within @srec's size.  A copy whose parent here is the copy of
 * that parent reads only these: every other chunk is the parent copy's, by
 * the lineage.  So the second copy of a volume costs what changed, not a
 * look-up per chunk of the volume.  @ret_n is 0 (and @ret_ranges non-NULL)
 * when nothing changed; -ENOENT when the parent is not there to compare. */
struct changes {
    bsnap_range *r;
    size_t n, cap;
    uint64_t cs, size;
};

static int changes_add(void *ud, uint64_t idx, const chunk_id *a, const chunk_id *b)
{
    struct changes *c = ud;
    uint64_t off = idx * c->cs, len;

    (void)a;
    (void)b;
    if (off >= c->size)
        return 0;
    len = MIN(c->cs, c->size - off);
    if (c->n > 0 && c->r[c->n - 1].offset + c->r[c->n - 1].length == off) {
        c->r[c->n - 1].length += len;
        return 0;
    }
    bsnap_range *nr = array_grow(c->r, c->n, &c->cap, sizeof *nr, 64);
    if (!nr)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    c->r = nr;
    c->r[c->n++] = (bsnap_range){off, len};
    return 0;
}

static int source_changes(bsnap_store *src, const struct snapshot_rec *srec,
                          bsnap_range **ret_ranges, size_t *ret_n)
{
    struct snapshot_rec sp = {0};
    struct bm_tree ta, tb;
    struct changes c = {.cs = src->chunk_size, .size = srec->size};
    int r;

    r = catalog_snapshot_get(src, srec->parent_id, &sp);
    if (r < 0)
        goto out;
    if (sp.state != BSNAP_SNAPSHOT_COMPLETED || sp.chunk_size != src->chunk_size) {
        r = -ENOENT;
        goto out;
    }
    if ((r = lineage_open(src, &sp, NULL)) < 0 || (r = lineage_open(src, srec, NULL)) < 0)
        goto out;
    snapshot_tree(&sp, &ta);
    snapshot_tree(srec, &tb);
    r = bm_diff(src, &ta, &tb, changes_add, &c);
    if (r == 0 && !c.r && !(c.r = calloc(1, sizeof *c.r)))
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
out:
    snapshot_rec_clear(&sp);
    if (r < 0) {
        free(c.r);
        bsnap_error_clear(); /* a full walk instead: still right, only slower */
        return r;
    }
    *ret_ranges = c.r;
    *ret_n = c.n;
    return 0;
}

static int check_options(const bsnap_copy_options *o)
{
    int r;

    if (!o->source_snapshot_id || !o->source_snapshot_id[0]) {
        bsnap_fail(-EINVAL, "MissingParameter", "the source snapshot id is missing");
        return error_set_parameter("SourceSnapshotId");
    }
    r = check_snapshot_id(o->source_snapshot_id);
    if (r < 0)
        return error_set_parameter("SourceSnapshotId");
    if (o->description &&
        (r = bsnap_text_check("description", o->description, DESCRIPTION_MAX)) < 0)
        return error_set_parameter("Description");
    if (o->ntags > TAGS_MAX) {
        bsnap_fail(-EINVAL, "TagLimitExceeded", "at most %d tags per resource", TAGS_MAX);
        return error_set_parameter("Tags");
    }
    if (o->client_token && (r = check_token(o->client_token)) < 0)
        return r;
    if (o->kms_key_id && !o->encrypted) {
        bsnap_fail(-EINVAL, "InvalidParameterDependency",
                   "The parameter [KmsKeyId] requires the parameter Encrypted to be set.");
        return error_set_parameter("KmsKeyId");
    }
    return 0;
}

/* How a copy of @srec into @s (@same_store: its own store) is to be
 * encrypted: *@ret_enc, and when it is, the ARN of its key into @ret_arn
 * ("" when that key is the default one, not made yet).  EC2's table:
 * encrypted when asked, when the source is, or by default; under the
 * named key, else the caller's own snapshot's key in its own region, else
 * the default key (keys are regional, and another account's snapshot is
 * copied under the caller's key). */
static int copy_encryption(bsnap_store *s, const bsnap_copy_options *o,
                           const struct snapshot_rec *srec, bool same_store, bool *ret_enc,
                           char ret_arn[KEYS_ARN_MAX])
{
    bool by_default = false;
    int r = keys_encryption_by_default(s, &by_default);

    if (r < 0)
        return r;
    *ret_enc = o->encrypted || srec->encrypted || by_default;
    ret_arn[0] = 0;
    if (!*ret_enc)
        return 0;
    if (same_store && srec->encrypted && !o->kms_key_id && srec->kms_key_id &&
        owner_visible(s, srec->owner)) {
        snprintf(ret_arn, KEYS_ARN_MAX, "%s", srec->kms_key_id);
        return 0;
    }
    r = o->kms_key_id ? keys_key_arn(s, o->kms_key_id, ret_arn) : keys_default_key_arn(s, ret_arn);
    if (r == -ENOENT && !o->kms_key_id) {
        bsnap_error_clear(); /* made by lineage_new() */
        ret_arn[0] = 0;
        return 0;
    }
    return r < 0 ? error_param(r, "KmsKeyId") : 0;
}

/* Whether a copy under (@enc, @arn) stores nothing in the same store:
 * it keeps the source's lineage. */
static bool same_lineage(const struct snapshot_rec *srec, bool enc, const char *arn)
{
    return enc == srec->encrypted && (!enc || strcmp(arn, srec->kms_key_id) == 0);
}

/* A copy within one store (EC2: a same-region copy stores no new data):
 * a new completed record naming the same block map, its root referenced
 * once more, in one transaction with its token and lineage entries. */
static int copy_within(bsnap_store *s, const bsnap_copy_options *o, char ret_id[BSNAP_ID_MAX],
                       bsnap_snapshot_stats *ret_stats)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec srec = {0}, rec = {0}, parent = {0};
    bsnap_snapshot_stats stats = {0};
    char hash[33], autotok[40], v[BSNAP_ID_MAX + 40];
    const char *tok;
    bool have_parent = false;
    int lockfd = -1, state, r;

    tok = call_token(s, s, o, hash, autotok);
    r = store_lock(s, false, &o->run, &lockfd);
    if (r < 0)
        goto out;
again:
    r = find_earlier(s, tok, hash, o->client_token != NULL, &rec, &state);
    if (r < 0)
        goto out;
    if (state == BSNAP_SNAPSHOT_COMPLETED) {
        snprintf(ret_id, BSNAP_ID_MAX, "%s", rec.id);
        stats.volume_bytes = rec.size;
        r = 0;
        goto done;
    }
    snapshot_rec_clear(&rec);
    memset(&rec, 0, sizeof rec);
    r = catalog_snapshot_get(s, o->source_snapshot_id, &srec);
    if (r < 0) {
        error_param(r, "SourceSnapshotId");
        goto out;
    }
    r = find_parent(s, s, srec.parent_id, &parent, &have_parent);
    if (r < 0)
        goto out;
    r = id_generate("snap", rec.id);
    if (r < 0) {
        r = bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
        goto out;
    }
    for (size_t i = 0; i < o->ntags; i++) {
        r = tags_set(&rec.tags, o->tags[i].key, o->tags[i].value);
        if (r < 0) {
            error_param(r, "Tags[%zu]", i);
            goto out;
        }
    }
    if (o->description)
        rec.description = strdup(o->description);
    else if (asprintf(&rec.description, "[Copied %s from %s]", srec.id, s->region) < 0)
        rec.description = NULL;
    if (!rec.description) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    if (srec.nparts) {
        rec.parts = calloc(srec.nparts, sizeof *rec.parts);
        if (!rec.parts) {
            r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            goto out;
        }
        memcpy(rec.parts, srec.parts, srec.nparts * sizeof *rec.parts);
    }
    rec.nparts = srec.nparts;
    rec.parts_known = srec.parts_known;
    /* the same block map: the same lineage and key, which the caller must
     * be able to use (its own, or granted for Decrypt: another account's
     * shared snapshot is copied only with the key's grant, as EC2 asks) */
    r = lineage_open(s, &srec, NULL);
    if (r >= 0)
        r = lineage_inherit(&rec, &srec);
    if (r < 0)
        goto out;
    snprintf(rec.volume_id, sizeof rec.volume_id, "%s", COPY_VOLUME_ID);
    owner_stamp(s, rec.owner);
    if (have_parent)
        snprintf(rec.parent_id, sizeof rec.parent_id, "%s", parent.id);
    rec.size = srec.size;
    rec.chunk_size = srec.chunk_size;
    rec.depth = srec.depth;
    rec.root = srec.root;
    rec.data_chunks = srec.data_chunks;
    rec.state = BSNAP_SNAPSHOT_COMPLETED;
    rec.start_ms = time_now_ms();
    rec.completion_ms = rec.start_ms;

    r = meta_txn_begin(s->meta, true, &txn);
    if (r < 0)
        goto out;
    {
        /* the same call, run at the same time, made its copy first */
        bool taken;
        r = token_taken(s, txn, tok, &taken);
        if (r < 0)
            goto out;
        if (taken) {
            meta_txn_abort(steal_ptr(txn));
            snapshot_rec_clear(&srec);
            snapshot_rec_clear(&rec);
            snapshot_rec_clear(&parent);
            memset(&srec, 0, sizeof srec);
            memset(&rec, 0, sizeof rec);
            memset(&parent, 0, sizeof parent);
            have_parent = false;
            goto again;
        }
    }
    /* again, where it counts: the source may have been deleted meanwhile */
    snapshot_rec_clear(&srec);
    r = catalog_snapshot_load(txn, o->source_snapshot_id, &srec);
    if (r == 0)
        r = owner_read_snapshot(s, &srec); /* the owner's or shared with the caller */
    if (r < 0) {
        error_param(r, "SourceSnapshotId");
        goto out;
    }
    if ((r = source_completed(&srec)) < 0)
        goto out;
    if (!chunk_id_is_zero(&rec.root) && (r = index_incref(s, txn, &rec.root)) < 0)
        goto out;
    r = catalog_snapshot_save(txn, &rec);
    if (r < 0)
        goto out;
    snprintf(v, sizeof v, "%s %s", rec.id, hash);
    r = copies_put(txn, "token", tok, v);
    if (r < 0)
        goto out;
    r = copies_put(txn, s->uuid_text, srec.id, rec.id);
    if (r < 0)
        goto out;
    r = meta_txn_commit(steal_ptr(txn));
    if (r < 0)
        goto out;
    snprintf(ret_id, BSNAP_ID_MAX, "%s", rec.id);
    stats.volume_bytes = rec.size;
    stats.reused_chunks = rec.data_chunks;
done:
    if (ret_stats)
        *ret_stats = stats;
out:
    store_unlock(lockfd);
    snapshot_rec_clear(&srec);
    snapshot_rec_clear(&rec);
    snapshot_rec_clear(&parent);
    return r;
}

int bsnap_snapshot_copy(bsnap_store *s, bsnap_store *src, const bsnap_copy_options *o,
                        char ret_id[BSNAP_ID_MAX], bsnap_snapshot_stats *ret_stats)
{
    struct snapshot_rec srec = {0}, rec = {0}, parent = {0};
    struct pipeline *p = NULL;
    struct pack_writer *pw = NULL;
    bsnap_reader *rd = NULL;
    bsnap_snapshot_stats stats = {0};
    struct bm_tree parent_tree;
    bsnap_range *changed = NULL;
    size_t nchanged = 0;
    const struct crypt_key *key = NULL;
    char hash[33], autotok[40], enc_arn[KEYS_ARN_MAX];
    uint8_t xuuid[16];
    const char *tok;
    bool have_parent = false, enc = false;
    int lockfd = -1, src_lockfd = -1, state, r;

    bsnap_error_clear();
    r = check_options(o);
    if (r < 0)
        return r;
    if (memcmp(s->uuid, src->uuid, 16) == 0) {
        /* the same lineage: a record over the same map; another key (or
         * a plain source encrypted): the data is rewritten below */
        struct snapshot_rec probe = {0};
        char parn[KEYS_ARN_MAX];
        bool penc = false, within = true;
        if (catalog_snapshot_get(s, o->source_snapshot_id, &probe) == 0) {
            r = copy_encryption(s, o, &probe, true, &penc, parn);
            within = r < 0 || same_lineage(&probe, penc, parn);
            snapshot_rec_clear(&probe);
            if (r < 0)
                return r;
        }
        bsnap_error_clear();
        if (within)
            return copy_within(s, o, ret_id, ret_stats);
    }
    if (src->chunk_size != s->chunk_size) {
        bsnap_fail(-EINVAL, "InvalidParameterValue",
                   "the source store (region %s) has chunk size %u, this store %u: a copy "
                   "needs equal chunk sizes",
                   src->region, src->chunk_size, s->chunk_size);
        return error_set_parameter("SourceRegion");
    }
    tok = call_token(s, src, o, hash, autotok);

    /* Shared locks on both: gc waits on either side until the copy is
     * done (the source's chunks stay; the destination's landed chunks,
     * not yet named by a page, stay). */
    r = store_lock(src, false, &o->run, &src_lockfd);
    if (r == -EACCES) {
        /* a store shared with our group: its lock is its owner's alone.
         * Read without it; a gc there meanwhile fails the copy (every
         * chunk read is checked against its id) and the same call
         * continues it. */
        bsnap_debug("copy", "source store %s: lock not ours: reading without it", src->path);
        bsnap_error_clear();
    } else if (r < 0) {
        goto out;
    }
    r = catalog_snapshot_get(src, o->source_snapshot_id, &srec);
    if (r < 0) {
        error_param(r, "SourceSnapshotId");
        goto out;
    }
    if ((r = source_completed(&srec)) < 0)
        goto out;
    /* Encryption is one-way: the reader below decrypts, so the copy is
     * sealed again, under a key of this region. */
    r = copy_encryption(s, o, &srec, memcmp(s->uuid, src->uuid, 16) == 0, &enc, enc_arn);
    if (r < 0)
        goto out;
    r = store_lock(s, false, &o->run, &lockfd);
    if (r < 0)
        goto out;
again:
    r = find_earlier(s, tok, hash, o->client_token != NULL, &rec, &state);
    if (r < 0)
        goto out;
    if (state == BSNAP_SNAPSHOT_COMPLETED) {
        bsnap_debug("copy", "snapshot %s: copied already as %s", srec.id, rec.id);
        snprintf(ret_id, BSNAP_ID_MAX, "%s", rec.id);
        stats.volume_bytes = rec.size;
        if (ret_stats)
            *ret_stats = stats;
        r = 0;
        goto out;
    }
    r = find_parent(s, src, srec.parent_id, &parent, &have_parent);
    if (r < 0)
        goto out;
    if (state == BSNAP_SNAPSHOT_PENDING) {
        bsnap_debug("copy", "snapshot %s: continuing its copy %s", srec.id, rec.id);
    } else {
        snapshot_rec_clear(&rec);
        memset(&rec, 0, sizeof rec);
        r = id_generate("snap", rec.id);
        if (r < 0) {
            r = bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
            goto out;
        }
        snprintf(rec.volume_id, sizeof rec.volume_id, "%s", COPY_VOLUME_ID);
        owner_stamp(s, rec.owner); /* the caller's, whoever owns the source */
        rec.state = BSNAP_SNAPSHOT_PENDING;
        rec.start_ms = time_now_ms();
        if (o->description)
            rec.description = strdup(o->description);
        else if (asprintf(&rec.description, "[Copied %s from %s]", srec.id, src->region) < 0)
            rec.description = NULL;
        if (!rec.description) {
            r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            goto out;
        }
        for (size_t i = 0; i < o->ntags; i++) {
            r = tags_set(&rec.tags, o->tags[i].key, o->tags[i].value);
            if (r < 0) {
                error_param(r, "Tags[%zu]", i);
                goto out;
            }
        }
    }
    /* The copy's lineage: a continued copy keeps the one it recorded; a
     * new one continues its parent copy's when that is under the same key
     * (else the copy is full), or starts one.  Incremental only within a
     * lineage: a map names the chunks of one key. */
    if (state == BSNAP_SNAPSHOT_PENDING) {
        if (have_parent && (parent.encrypted != rec.encrypted ||
                            (rec.encrypted && parent.key_slot != rec.key_slot))) {
            snapshot_rec_clear(&parent);
            memset(&parent, 0, sizeof parent);
            have_parent = false;
        }
        r = lineage_open(s, &rec, &key);
    } else {
        if (have_parent && (parent.encrypted != enc ||
                            (enc && (!enc_arn[0] || strcmp(parent.kms_key_id, enc_arn) != 0)))) {
            snapshot_rec_clear(&parent);
            memset(&parent, 0, sizeof parent);
            have_parent = false;
        }
        r = 0;
        if (enc && have_parent) {
            r = lineage_inherit(&rec, &parent);
            if (r >= 0)
                r = lineage_open(s, &parent, &key);
        } else if (enc) {
            r = lineage_new(s, enc_arn[0] ? enc_arn : NULL, &rec, &key);
        }
    }
    if (r < 0) {
        error_param(r, "KmsKeyId");
        goto out;
    }
    /* Translations name chunks of one lineage (or plain ones): their
     * table is kept per lineage, the source's uuid mixed with its slot. */
    memcpy(xuuid, src->uuid, 16);
    for (int i = 0; rec.encrypted && i < 8; i++)
        xuuid[i] ^= (uint8_t)(rec.key_slot >> (8 * i));
    rec.size = srec.size;
    rec.chunk_size = s->chunk_size;
    rec.depth = bm_depth_for(DIV_ROUND_UP(srec.size, s->chunk_size));
    rec.parent_id[0] = 0;
    if (have_parent) {
        snprintf(rec.parent_id, sizeof rec.parent_id, "%s", parent.id);
        snapshot_tree(&parent, &parent_tree);
    }
    r = record_pending(s, &rec, tok, hash, state < 0);
    if (r == 0 && o->started) /* recorded: the caller may answer with the id now */
        o->started(o->started_ud, rec.id);
    if (r == -EAGAIN) {
        /* the same call, run at the same time, recorded its copy first
         * (continue that one: two runs landing the same chunks is safe,
         * and complete_copy() lets the second find it completed), or
         * completed it (return it) */
        bsnap_debug("copy", "snapshot %s: another run of the same call started first", srec.id);
        snapshot_rec_clear(&rec);
        snapshot_rec_clear(&parent);
        memset(&rec, 0, sizeof rec);
        memset(&parent, 0, sizeof parent);
        have_parent = false;
        goto again;
    }
    if (r < 0)
        goto out;
    r = reader_open(src, srec.id, false, &rd);
    if (r < 0) {
        error_param(r, "SourceSnapshotId");
        goto out;
    }
    /* The parent here is the copy of the source's parent: read only what
     * the source changed since (else every chunk is looked up). */
    if (have_parent && source_changes(src, &srec, &changed, &nchanged) == 0)
        bsnap_debug("copy", "snapshot %s: %zu changed ranges since its parent %s", srec.id,
                    nchanged, srec.parent_id);
    {
        struct pipeline_options po = {
            .s = s,
            .size = srec.size,
            .parent = have_parent ? &parent_tree : NULL,
            .changed = changed,
            .nchanged = nchanged,
            .parent_size = parent.size,
            .threads = o->threads,
            .run = &o->run,
            .src = rd,
            .src_uuid = xuuid,
            .key = key,
        };
        r = pipeline_new(&po, &p);
        if (r < 0)
            goto out;
    }
    r = pack_writer_open(s, false, &pw);
    if (r < 0)
        goto out;
    r = pipeline_run(p, pw);
    if (r < 0)
        goto out;
    r = pipeline_finish(p, &rec.root, &stats, &rec.data_chunks);
    if (r < 0)
        goto out;
    rec.bytes_read = stats.read_bytes;
    rec.bytes_written = stats.new_bytes;
    rec.chunks_written = stats.new_chunks;
    rec.pages_written = stats.new_pages;
    if (srec.parts_known && srec.nparts) {
        free(rec.parts);
        rec.parts = calloc(srec.nparts, sizeof *rec.parts);
        if (!rec.parts) {
            r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            goto out;
        }
        memcpy(rec.parts, srec.parts, srec.nparts * sizeof *rec.parts);
    }
    rec.nparts = srec.parts_known ? srec.nparts : 0;
    rec.parts_known = srec.parts_known;
    pack_writer_close(pw);
    pw = NULL;
    r = complete_copy(s, src, srec.id, &rec);
    if (r < 0)
        goto out;
    bsnap_debug("copy", "snapshot %s copied as %s: %llu bytes read, %llu chunks new", srec.id,
                rec.id, (unsigned long long)stats.read_bytes, (unsigned long long)stats.new_chunks);
    snprintf(ret_id, BSNAP_ID_MAX, "%s", rec.id);
    if (ret_stats)
        *ret_stats = stats;
    r = 0;
out:
    /* On failure the pending record and the landed chunks stay: the same
     * call continues from them (gc reclaims them if it never comes). */
    pipeline_free(p);
    free(changed);
    pack_writer_close(pw);
    bsnap_reader_close(rd);
    store_unlock(lockfd);
    store_unlock(src_lockfd);
    snapshot_rec_clear(&srec);
    snapshot_rec_clear(&rec);
    snapshot_rec_clear(&parent);
    return r;
}
