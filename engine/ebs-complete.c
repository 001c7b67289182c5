/* ebs-complete.c - the EBS direct API's CompleteSnapshot: the written
 * blocks read back through a source of their chunks into the snapshot
 * pipeline, which builds the block map over the parent's; see ebs.h. */
#include "ebs.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "blockmap.h"
#include "catalog.h"
#include "error.h"
#include "fault.h"
#include "index.h"
#include "pack.h"
#include "pipeline.h"
#include "reader.h"
#include "record.h"
#include "source.h"
#include "store.h"
#include "util.h"

/* ---- CompleteSnapshot ---- */

/* The written blocks of a snapshot, ascending: index and chunk ids. */
struct blocks {
    uint32_t k;
    size_t n, cap;
    uint64_t *index;
    chunk_id *ids; /* n * k */
};

static void blocks_free(struct blocks *b)
{
    free(b->index);
    free(b->ids);
}

/* Read the rows of @id into @b, and the aggregate checksum of their
 * checksums (LINEAR) into @agg. */
static int blocks_read(meta_txn *txn, const char *id, struct blocks *b,
                       char agg[BSNAP_EBS_CHECKSUM_MAX])
{
    uint8_t k[EBS_KEY_MAX], md[SHA256_DIGEST_LENGTH];
    size_t plen = ebs_bkey(id, 0, false, k);
    meta_cursor *cur = NULL;
    const void *ck, *v;
    size_t cklen, vlen;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int r;

    if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(c);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    r = meta_cursor_open(txn, T_EBS, &cur);
    ck = k;
    cklen = plen;
    for (r = r < 0 ? r : meta_cursor_get(cur, CUR_SET_RANGE, &ck, &cklen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &ck, &cklen, &v, &vlen)) {
        char b64[BSNAP_EBS_CHECKSUM_MAX];
        uint64_t idx = 0;
        if (cklen != plen + 8 || memcmp(ck, k, plen) != 0)
            break;
        if (vlen != SHA256_DIGEST_LENGTH + (size_t)b->k * 16) {
            r = bsnap_fail(-EIO, "Store.Corrupt", "snapshot %s: malformed EBS block row", id);
            break;
        }
        if (b->n == b->cap) {
            size_t nc = b->cap ? 2 * b->cap : 256;
            uint64_t *ni = realloc(b->index, nc * sizeof *ni);
            chunk_id *nd = ni ? realloc(b->ids, nc * b->k * sizeof *nd) : NULL;
            if (ni)
                b->index = ni;
            if (!nd) {
                r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
                break;
            }
            b->ids = nd;
            b->cap = nc;
        }
        for (int i = 0; i < 8; i++)
            idx = idx << 8 | ((const uint8_t *)ck)[plen + i];
        b->index[b->n] = idx;
        memcpy(&b->ids[b->n * b->k], (const uint8_t *)v + SHA256_DIGEST_LENGTH, b->k * 16u);
        b->n++;
        EVP_EncodeBlock((unsigned char *)b64, v, SHA256_DIGEST_LENGTH);
        EVP_DigestUpdate(c, b64, strlen(b64));
    }
    meta_cursor_close(cur);
    if (r == -ENOENT)
        r = 0;
    EVP_DigestFinal_ex(c, md, NULL);
    EVP_MD_CTX_free(c);
    EVP_EncodeBlock((unsigned char *)agg, md, sizeof md);
    return r;
}

/* A source (source.h) that reads the written blocks from their chunks:
 * what the pipeline needs to build the map, and no more (chunks already
 * stored are found in the index and not stored again). */
struct ebs_source {
    struct source base;
    bsnap_store *s;
    const struct blocks *b;
};

/* The first written block at or after @block (b->n when none). */
static size_t block_at(const struct blocks *b, uint64_t block)
{
    size_t lo = 0, hi = b->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->index[mid] < block)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The id of chunk @c of the volume (zero when unwritten). */
static const chunk_id *chunk_of(const struct blocks *b, uint64_t c)
{
    static const chunk_id zero;
    size_t i = block_at(b, c / b->k);

    if (i < b->n && b->index[i] == c / b->k)
        return &b->ids[i * b->k + c % b->k];
    return &zero;
}

static ssize_t es_pread(struct source *src, void *buf, size_t len, uint64_t off)
{
    struct ebs_source *e = (struct ebs_source *)src;
    uint32_t cs = e->s->chunk_size;

    for (size_t done = 0; done < len; done += cs) {
        const chunk_id *id = chunk_of(e->b, (off + done) / cs);
        struct chunk_entry ent;
        int r;
        if (chunk_id_is_zero(id)) {
            memset((uint8_t *)buf + done, 0, MIN(cs, len - done));
            continue;
        }
        r = index_lookup(e->s, id, &ent);
        if (r == -ENOENT)
            return bsnap_fail(-EIO, "Store.Corrupt", "EBS block chunk not in the index");
        if (r == 0)
            r = pack_read_chunk(e->s, id, &ent.loc, (uint8_t *)buf + done);
        if (r < 0)
            return r;
    }
    return (ssize_t)len;
}

static int es_seek(struct source *src, uint64_t off, bool data, uint64_t *ret)
{
    struct ebs_source *e = (struct ebs_source *)src;
    const struct blocks *b = e->b;
    uint32_t cs = e->s->chunk_size;
    uint64_t c = off / cs, nchunks = src->size / cs;

    while (c < nchunks) {
        size_t i = block_at(b, c / b->k);
        bool is_data;
        if (i == b->n || b->index[i] > c / b->k) {
            /* unwritten up to the next written block */
            if (!data) {
                *ret = c * cs;
                return 0;
            }
            if (i == b->n)
                return -ENXIO;
            c = b->index[i] * b->k;
            continue;
        }
        is_data = !chunk_id_is_zero(&b->ids[i * b->k + c % b->k]);
        if (is_data == data) {
            *ret = c * cs;
            return 0;
        }
        c++;
    }
    if (data)
        return -ENXIO;
    *ret = src->size;
    return 0;
}

static int es_check(struct source *src)
{
    (void)src;
    return 0;
}

static void es_close(struct source *src)
{
    (void)src;
}

static const struct source_ops ebs_source_ops = {es_pread, es_seek, es_check, es_close};

/* The written blocks as sorted, merged byte ranges. */
static int blocks_ranges(const struct blocks *b, bsnap_range **ret, size_t *ret_n)
{
    bsnap_range *v = malloc((b->n ? b->n : 1) * sizeof *v);
    size_t n = 0;

    if (!v)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    for (size_t i = 0; i < b->n; i++) {
        uint64_t off = b->index[i] * BSNAP_EBS_BLOCK_SIZE;
        if (n && v[n - 1].offset + v[n - 1].length == off)
            v[n - 1].length += BSNAP_EBS_BLOCK_SIZE;
        else
            v[n++] = (bsnap_range){.offset = off, .length = BSNAP_EBS_BLOCK_SIZE};
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

/* Build @rec's block map from @b over its parent's: its root in @rec. */
static int complete_build(bsnap_store *s, struct snapshot_rec *rec, const struct blocks *b)
{
    struct ebs_source src = {
        .base = {.ops = &ebs_source_ops, .size = rec->size, .key = rec->id, .shown = rec->id},
        .s = s,
        .b = b,
    };
    struct snapshot_rec parent = {0};
    struct bm_tree ptree;
    bsnap_range *ranges = NULL;
    size_t nranges = 0;
    struct pipeline *p = NULL;
    struct pack_writer *pw = NULL;
    bsnap_snapshot_stats stats;
    int r = 0;

    if (rec->parent_id[0]) {
        r = catalog_snapshot_get(s, rec->parent_id, &parent);
        if (r == -ENOENT || (r == 0 && parent.state != BSNAP_SNAPSHOT_COMPLETED)) {
            ebs_fail(-ENOENT, "ResourceNotFoundException", "DEPENDENCY_RESOURCE_NOT_FOUND",
                     "the parent snapshot '%s' of '%s' is gone", rec->parent_id, rec->id);
            r = error_set_parameter("SnapshotId");
            goto out;
        }
        if (r < 0)
            goto out;
        snapshot_tree(&parent, &ptree);
        r = blocks_ranges(b, &ranges, &nranges);
        if (r < 0)
            goto out;
    }
    {
        struct pipeline_options po = {
            .s = s,
            .vol = &src.base,
            .size = rec->size,
            .parent = rec->parent_id[0] ? &ptree : NULL,
            .changed = ranges,
            .nchanged = nranges,
            .parent_size = parent.size,
        };
        r = pipeline_new(&po, &p);
    }
    if (r == 0)
        r = pack_writer_open(s, false, &pw);
    if (r == 0)
        r = pipeline_run(p, pw);
    if (r == 0)
        r = pipeline_finish(p, &rec->root, &stats, &rec->data_chunks);
    if (r == 0) {
        rec->bytes_read = stats.read_bytes;
        rec->bytes_written = stats.new_bytes;
        rec->chunks_written = stats.new_chunks;
        rec->pages_written = stats.new_pages;
    }
out:
    pipeline_free(p);
    pack_writer_close(pw);
    free(ranges);
    snapshot_rec_clear(&parent);
    return r;
}

/* Mark the "s" row completing (puts refused from now on). */
static int complete_begin(bsnap_store *s, const char *id)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct ebs_row row;
    int r = meta_txn_begin(s->meta, true, &txn);

    if (r == 0)
        r = ebs_row_read(txn, id, &row);
    if (r == -ENOENT)
        return ebs_fail(-EBUSY, "ValidationException", "INVALID_SNAPSHOT_ID",
                        "the snapshot '%s' is no longer pending", id);
    if (r < 0 || (row.flags & EBS_COMPLETING))
        return r;
    row.flags |= EBS_COMPLETING;
    r = ebs_row_write(txn, id, &row);
    return r < 0 ? r : meta_txn_commit(steal_ptr(txn));
}

/* The final transaction: completed (@built) or error. */
static int complete_end(bsnap_store *s, struct snapshot_rec *built, const char *id)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec cur = {0};
    struct ebs_row row;
    int r = meta_txn_begin(s->meta, true, &txn);

    if (r == 0)
        r = catalog_snapshot_load(txn, id, &cur);
    if (r == 0)
        r = ebs_row_read(txn, id, &row);
    if (r == 0 && cur.state != BSNAP_SNAPSHOT_PENDING)
        r = -ENOENT;
    snapshot_rec_clear(&cur);
    if (r == -ENOENT)
        return ebs_fail(-EBUSY, "ValidationException", "INVALID_SNAPSHOT_ID",
                        "the snapshot '%s' is no longer pending (completed meanwhile?)", id);
    if (r < 0)
        return r;
    if (!built)
        return (r = ebs_cancel_in(s, txn, id)) < 0 ? r : meta_txn_commit(steal_ptr(txn));
    built->state = BSNAP_SNAPSHOT_COMPLETED;
    built->completion_ms = ebs_now_ms(s);
    if (!chunk_id_is_zero(&built->root) && (r = index_incref(s, txn, &built->root)) < 0)
        return r;
    if ((r = catalog_snapshot_save(txn, built)) < 0 || (r = ebs_drop_rows(s, txn, id)) < 0)
        return r;
    if (fault_hit("ebs-complete"))
        return bsnap_fail(-EIO, "Store.Error", "EBS complete: injected failure");
    return meta_txn_commit(steal_ptr(txn));
}

int bsnap_ebs_complete(bsnap_store *s, const char *id, const bsnap_ebs_complete_options *o,
                       json_t **ret_doc)
{
    struct snapshot_rec rec = {0};
    struct ebs_row row;
    struct blocks b = {.k = ebs_chunks_per_block(s)};
    char agg[BSNAP_EBS_CHECKSUM_MAX];
    const char *why = NULL;
    int lockfd = -1, r;

    bsnap_error_clear();
    r = ebs_check_id(id, "SnapshotId");
    if (r < 0)
        return r;
    if (o->checksum_algorithm && strcmp(o->checksum_algorithm, "SHA256") != 0) {
        ebs_fail(-EINVAL, "ValidationException", "INVALID_PARAMETER_VALUE",
                 "@{ChecksumAlgorithm} '%s' is not SHA256", o->checksum_algorithm);
        return error_set_parameter("ChecksumAlgorithm");
    }
    if (o->checksum_aggregation_method && strcmp(o->checksum_aggregation_method, "LINEAR") != 0) {
        ebs_fail(-EINVAL, "ValidationException", "INVALID_PARAMETER_VALUE",
                 "@{ChecksumAggregationMethod} '%s' is not LINEAR", o->checksum_aggregation_method);
        return error_set_parameter("ChecksumAggregationMethod");
    }
    {
        _cleanup_txn_abort_ meta_txn *txn = NULL;
        r = meta_txn_begin(s->meta, false, &txn);
        if (r == 0)
            r = ebs_load_pending(s, &txn, id, &rec, &row, true);
        if (r == 0)
            r = blocks_read(txn, id, &b, agg);
    }
    if (r < 0)
        goto out;
    if (b.n != o->changed_blocks_count)
        why = "ChangedBlocksCount";
    else if (o->checksum && strcmp(o->checksum, agg) != 0)
        why = "Checksum";
    if (why) {
        bsnap_log(BSNAP_LOG_WARNING, "ebs",
                  "snapshot %s: %s does not match what was written (%zu blocks): error", id, why,
                  b.n);
        r = complete_end(s, NULL, id);
        if (r == 0)
            *ret_doc = json_pack("{s:s}", "Status", "error");
        goto out;
    }
    r = complete_begin(s, id);
    if (r == 0)
        r = store_lock(s, false, NULL, &lockfd);
    if (r == 0)
        r = complete_build(s, &rec, &b);
    if (r == 0)
        r = complete_end(s, &rec, id);
    if (r == 0) {
        bsnap_debug("ebs", "snapshot %s: completed, %zu blocks", id, b.n);
        *ret_doc = json_pack("{s:s}", "Status", "completed");
    }
out:
    if (r == 0 && !*ret_doc)
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    store_unlock(lockfd);
    blocks_free(&b);
    snapshot_rec_clear(&rec);
    return r;
}
