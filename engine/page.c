/* page.c - MaxResults and NextToken of the list-describe calls; see page.h. */
#include "page.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "error.h"
#include "record.h"
#include "store.h"
#include "util.h"
#include "xref.h"

/* Token bytes, hex-encoded: version, kind, id length, id, then the check
 * (XXH3-64 little-endian). */
#define TOKEN_VERSION 1
#define TOKEN_HEAD 3
#define TOKEN_CHECK 8

static const char *ids_param(enum page_kind kind)
{
    return kind == PAGE_SNAPSHOTS ? "SnapshotIds" : kind == PAGE_VOLUMES ? "VolumeIds" : "ImageIds";
}

static const char *id_prefix(enum page_kind kind)
{
    return kind == PAGE_SNAPSHOTS ? "snap" : kind == PAGE_VOLUMES ? "vol" : "ami";
}

/* @text into the digest @h: each string seeds the next one's hash, its
 * length first, so that ("ab","c") and ("a","bc") differ. */
static uint64_t digest_text(uint64_t h, const char *text)
{
    uint8_t len[8];

    le64_put(len, strlen(text));
    h = XXH3_64bits_withSeed(len, sizeof len, h);
    return XXH3_64bits_withSeed(text, strlen(text), h);
}

static uint64_t query_digest(enum page_kind kind, const bsnap_describe_options *o,
                             const char *const *owners, size_t nowners)
{
    uint64_t h = (uint64_t)kind;

    for (size_t i = 0; o && i < o->nfilters; i++) {
        h = digest_text(h, "filter");
        h = digest_text(h, o->filters[i].name);
        for (size_t j = 0; j < o->filters[i].nvalues; j++)
            h = digest_text(h, o->filters[i].values[j]);
    }
    for (size_t i = 0; i < nowners; i++) {
        h = digest_text(h, "owner");
        h = digest_text(h, owners[i]);
    }
    return h;
}

/* The keyed check of a token's head and id, for this query. */
static uint64_t token_check(const bsnap_store *s, const struct page *p, const uint8_t *bytes,
                            size_t n)
{
    uint8_t buf[16 + TOKEN_HEAD + BSNAP_ID_MAX + 8];

    memcpy(buf, "blocksnap-token", 16);
    memcpy(buf + 16, bytes, n);
    le64_put(buf + 16 + n, p->query);
    return XXH3_64bits_withSecret(buf, 16 + n + 8, s->secret, STORE_SECRET_BYTES);
}

void page_token(const bsnap_store *s, const struct page *p, const char *last_id,
                char out[BSNAP_NEXT_TOKEN_MAX + 1])
{
    uint8_t bytes[TOKEN_HEAD + BSNAP_ID_MAX + TOKEN_CHECK];
    size_t idlen = strlen(last_id);

    assert(idlen < BSNAP_ID_MAX);
    bytes[0] = TOKEN_VERSION;
    bytes[1] = (uint8_t)p->kind;
    bytes[2] = (uint8_t)idlen;
    memcpy(bytes + TOKEN_HEAD, last_id, idlen);
    le64_put(bytes + TOKEN_HEAD + idlen, token_check(s, p, bytes, TOKEN_HEAD + idlen));
    hex_encode(bytes, TOKEN_HEAD + idlen + TOKEN_CHECK, out);
}

static int bad_token(void)
{
    return bsnap_fail(-EINVAL, "InvalidParameterValue",
                      "NextToken: the token is not valid (altered, or from a request with other "
                      "filters)");
}

static int token_parse(const bsnap_store *s, struct page *p, const char *token)
{
    uint8_t bytes[TOKEN_HEAD + BSNAP_ID_MAX + TOKEN_CHECK];
    size_t len = strlen(token), n = len / 2, idlen;

    if (len % 2 || n < TOKEN_HEAD + TOKEN_CHECK || n > sizeof bytes || !hex_decode(token, n, bytes))
        return bad_token();
    idlen = bytes[2];
    if (bytes[0] != TOKEN_VERSION || bytes[1] != (uint8_t)p->kind ||
        n != TOKEN_HEAD + idlen + TOKEN_CHECK)
        return bad_token();
    if (le64_get(bytes + TOKEN_HEAD + idlen) != token_check(s, p, bytes, TOKEN_HEAD + idlen))
        return bad_token();
    memcpy(p->after, bytes + TOKEN_HEAD, idlen);
    p->after[idlen] = '\0';
    /* The check passed, so this store made it; an id check costs nothing. */
    if (!id_valid(p->after, id_prefix(p->kind)))
        return bad_token();
    return 0;
}

int page_begin(const bsnap_store *s, enum page_kind kind, const bsnap_describe_options *o,
               const char *const *owners, size_t nowners, struct page *ret)
{
    struct page p = {.kind = kind};
    int r;

    if (o && o->nids && (o->max_results || o->next_token)) {
        bsnap_fail(-EINVAL, "InvalidParameterCombination",
                   "the parameter %s cannot be used with MaxResults or NextToken", ids_param(kind));
        return error_set_parameter("%s", ids_param(kind));
    }
    if (o && o->max_results && o->max_results < BSNAP_MAX_RESULTS_MIN) {
        bsnap_fail(-EINVAL, "InvalidParameterValue", "MaxResults: %u is below the minimum of %d",
                   (unsigned)o->max_results, BSNAP_MAX_RESULTS_MIN);
        return error_set_parameter("MaxResults");
    }
    if (o)
        p.limit = o->max_results > BSNAP_MAX_RESULTS_MAX ? BSNAP_MAX_RESULTS_MAX : o->max_results;
    p.query = query_digest(kind, o, owners, nowners);
    if (o && o->next_token) {
        r = token_parse(s, &p, o->next_token);
        if (r < 0)
            return error_set_parameter("NextToken");
    }
    *ret = p;
    return 0;
}

/* End a page walked into @d: @r its walk's result, @more whether records
 * remain after it (then the document carries a token for its last id). */
static int page_finish(const bsnap_store *s, const struct page *pg, struct describe *d, int r,
                       bool more, json_t **ret_doc)
{
    char token[BSNAP_NEXT_TOKEN_MAX + 1];

    if (r < 0) {
        describe_free(d);
        return r;
    }
    if (more)
        page_token(s, pg, describe_last_id(d), token);
    return describe_finish(d, more ? token : NULL, ret_doc);
}

/* Every record struct starts with its id. */
static_assert(offsetof(struct snapshot_rec, id) == 0 && offsetof(struct volume_rec, id) == 0,
              "records start with their id");

/* Feed @n records of @size bytes, sorted by id, to a page of @pg and finish
 * the document: records up to the token's id are skipped. */
int page_describe_array(const bsnap_store *s, const struct page *pg,
                        const bsnap_describe_options *o, const void *recs, size_t size, size_t n,
                        json_t **ret_doc)
{
    struct describe *d = NULL;
    bool more = false;
    int r = describe_new(s, pg->kind, o ? o->filters : NULL, o ? o->nfilters : 0, pg->limit, &d);

    for (size_t i = 0; r >= 0 && !more && i < n; i++) {
        const void *rec = (const char *)recs + i * size;
        if (pg->after[0] && strcmp((const char *)rec, pg->after) <= 0)
            continue;
        r = describe_add(d, rec);
        more = r == 0;
    }
    return page_finish(s, pg, d, r, more, ret_doc);
}

int page_describe_walk(const bsnap_store *s, const struct page *pg, const bsnap_describe_options *o,
                       meta_txn *txn, struct xref_walk *w, size_t size, page_load_func load,
                       void (*clear)(void *), json_t **ret_doc)
{
    char id[BSNAP_ID_MAX];
    struct describe *d = NULL;
    bool more = false;
    void *rec = calloc(1, size);
    int r =
        rec ? describe_new(s, pg->kind, o ? o->filters : NULL, o ? o->nfilters : 0, pg->limit, &d)
            : bsnap_fail(-ENOMEM, "InternalError", "out of memory");

    /* One record in memory at a time: a page costs what it walks. */
    while (r >= 0 && !more && (r = xref_walk_next(w, id)) > 0) {
        memset(rec, 0, size);
        r = load(txn, id, rec);
        if (r > 0) {
            r = describe_add(d, rec);
            more = r == 0;
        }
        clear(rec);
    }
    free(rec);
    return page_finish(s, pg, d, r, more, ret_doc);
}
