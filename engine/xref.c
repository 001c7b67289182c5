/* xref.c - cross-reference tables and the walks over them; see xref.h. */
#include "xref.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "error.h"
#include "util.h"

size_t xref_key(const char *key, const char *id, char out[XREF_KEY_MAX])
{
    size_t klen = strlen(key), ilen = strlen(id);

    /* A key that would not fit (LMDB keys have at most 511 bytes; a tag key
     * of 127 four-byte characters has 508) is named by its hash. */
    if (klen + 1 + ilen + 1 > XREF_KEY_MAX || (klen && key[0] == '\1')) {
        XXH128_hash_t h = XXH3_128bits(key, klen);
        klen = (size_t)snprintf(out, XREF_KEY_MAX, "\1%016llx%016llx", (unsigned long long)h.high64,
                                (unsigned long long)h.low64);
    } else {
        memcpy(out, key, klen);
    }
    out[klen] = '\0';
    memcpy(out + klen + 1, id, ilen);
    return klen + 1 + ilen;
}

int xref_set(meta_txn *txn, meta_table t, const char *key, const char *id, const char *value,
             bool add)
{
    char k[XREF_KEY_MAX];
    size_t klen = xref_key(key, id, k);
    int r;

    if (add)
        return meta_put(txn, t, k, klen, value ? value : "", value ? strlen(value) : 0);
    r = meta_del(txn, t, k, klen);
    return r == -ENOENT ? 0 : r;
}

static const char *tag_value(const struct tags *t, const char *key)
{
    for (size_t i = 0; t && i < t->n; i++)
        if (strcmp(t->v[i].key, key) == 0)
            return t->v[i].value;
    return NULL;
}

int xref_tags_update(meta_txn *txn, meta_table t, const char *id, const struct tags *old,
                     const struct tags *new)
{
    int r = 0;

    for (size_t i = 0; old && r >= 0 && i < old->n; i++)
        if (!tag_value(new, old->v[i].key))
            r = xref_set(txn, t, old->v[i].key, id, NULL, false);
    for (size_t i = 0; new &&r >= 0 && i < new->n; i++) {
        const char *was = tag_value(old, new->v[i].key);
        if (!was || strcmp(was, new->v[i].value) != 0)
            r = xref_set(txn, t, new->v[i].key, id, new->v[i].value, true);
    }
    return r;
}

static const char *const marker[] = {
    [XREF_CATALOG] = "xref-catalog", [XREF_IMAGES] = "xref-images"};

int xref_ready(meta_txn *txn, enum xref_group g)
{
    const void *v;
    size_t vlen;
    int r = meta_get(txn, T_INFO, marker[g], strlen(marker[g]), &v, &vlen);

    if (r == -ENOENT)
        return 0;
    return r < 0 ? r : 1;
}

int xref_mark(meta_txn *txn, enum xref_group g)
{
    return meta_put(txn, T_INFO, marker[g], strlen(marker[g]), "1", 1);
}

int xref_clear(meta_txn *txn, meta_table t)
{
    meta_cursor *cur = NULL;
    const void *k;
    size_t klen;
    int r = meta_cursor_open(txn, t, &cur);

    if (r < 0)
        return r;
    while ((r = meta_cursor_get(cur, CUR_FIRST, &k, &klen, NULL, NULL)) == 0)
        if ((r = meta_cursor_del(cur)) < 0)
            break;
    meta_cursor_close(cur);
    return r == -ENOENT ? 0 : r;
}

bool xref_exact(const char *value)
{
    return !strpbrk(value, "*?\\");
}

/* ---- walks ---- */

struct source {
    meta_cursor *cur; /* NULL: a list of ids */
    char prefix[XREF_KEY_MAX];
    size_t plen;
    const bsnap_filter *match; /* only entries whose value matches one of its values */
    char **ids;                /* sorted */
    size_t nids, next;
    bool done;
    char id[BSNAP_ID_MAX]; /* current */
};

struct xref_walk {
    meta_txn *txn;
    char last[BSNAP_ID_MAX]; /* "" or the last id returned (or the token's) */
    struct source *src;
    size_t n;
};

int xref_walk_new(meta_txn *txn, const char *after, struct xref_walk **ret)
{
    struct xref_walk *w = calloc(1, sizeof *w);

    if (!w)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    w->txn = txn;
    snprintf(w->last, sizeof w->last, "%s", after ? after : "");
    *ret = w;
    return 0;
}

static struct source *source_new(struct xref_walk *w)
{
    struct source *na = realloc(w->src, (w->n + 1) * sizeof *na);

    if (!na)
        return NULL;
    w->src = na;
    memset(&na[w->n], 0, sizeof *na);
    return &na[w->n++];
}

/* Whether @val (@vlen bytes) matches a value of @f: 1, 0, or -ENOMEM. */
static int value_matches(const bsnap_filter *f, const void *val, size_t vlen)
{
    char buf[1024];
    int m = 0;

    if (vlen >= sizeof buf)
        return 1; /* longer than any tag value: let the record decide */
    memcpy(buf, val, vlen);
    buf[vlen] = '\0';
    for (size_t i = 0; m == 0 && i < f->nvalues; i++)
        m = ec2_wildcard_match(f->values[i], buf);
    return m < 0 ? bsnap_fail(m, "InternalError", "out of memory matching filters") : m;
}

/* Read the cursor's entry (after @op) into @s->id, or mark it done; with
 * @s->match, go on past the entries whose value does not match. */
static int source_read(struct source *s, meta_cursor_op op, const void *seek, size_t seeklen)
{
    for (;;) {
        const void *k = seek, *v;
        size_t klen = seeklen, vlen;
        int r = meta_cursor_get(s->cur, op, &k, &klen, &v, &vlen);

        if (r == -ENOENT || (r == 0 && (klen < s->plen || memcmp(k, s->prefix, s->plen) != 0))) {
            s->done = true;
            return 0;
        }
        if (r < 0)
            return r;
        if (klen - s->plen >= BSNAP_ID_MAX)
            return bsnap_fail(-EIO, "Store.Corrupt",
                              "metadata: a cross-reference key is malformed");
        op = CUR_NEXT;
        if (s->match && (r = value_matches(s->match, v, vlen)) <= 0) {
            if (r < 0)
                return r;
            continue;
        }
        memcpy(s->id, (const char *)k + s->plen, klen - s->plen);
        s->id[klen - s->plen] = '\0';
        return 0;
    }
}

/* Move @s to its first id > @after. */
static int source_advance(struct source *s, const char *after)
{
    int r = 0;

    if (!s->cur) {
        while (!s->done && (!s->id[0] || (after[0] && strcmp(s->id, after) <= 0))) {
            if (s->next == s->nids)
                s->done = true;
            else
                snprintf(s->id, sizeof s->id, "%s", s->ids[s->next++]);
        }
        return 0;
    }
    while (!s->done && (!s->id[0] || (after[0] && strcmp(s->id, after) <= 0)) && r == 0)
        r = source_read(s, CUR_NEXT, NULL, 0);
    return r;
}

int xref_walk_add(struct xref_walk *w, meta_table t, const char *key)
{
    return xref_walk_add_matching(w, t, key, NULL);
}

int xref_walk_add_matching(struct xref_walk *w, meta_table t, const char *key,
                           const bsnap_filter *match)
{
    struct source *s = source_new(w);
    char seek[XREF_KEY_MAX];
    size_t seeklen;
    int r;

    if (!s)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    s->plen = key ? xref_key(key, "", s->prefix) : 0;
    s->match = match;
    r = meta_cursor_open(w->txn, t, &s->cur);
    if (r < 0) {
        w->n--;
        return r;
    }
    /* Start at the prefix and the id after which the walk begins. */
    seeklen = s->plen + strlen(w->last);
    memcpy(seek, s->prefix, s->plen);
    memcpy(seek + s->plen, w->last, strlen(w->last));
    r = seeklen ? source_read(s, CUR_SET_RANGE, seek, seeklen) : source_read(s, CUR_FIRST, NULL, 0);
    if (r == 0 && !s->done && w->last[0] && strcmp(s->id, w->last) <= 0)
        r = source_advance(s, w->last);
    return r;
}

static int cmp_idp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int xref_walk_add_ids(struct xref_walk *w, const char *const *ids, size_t n)
{
    struct source *s = source_new(w);

    if (!s)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    s->ids = calloc(n ? n : 1, sizeof *s->ids);
    if (!s->ids)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    for (size_t i = 0; i < n; i++)
        if (strlen(ids[i]) < BSNAP_ID_MAX && !(s->ids[s->nids++] = strdup(ids[i])))
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    qsort(s->ids, s->nids, sizeof *s->ids, cmp_idp);
    return source_advance(s, w->last);
}

int xref_walk_next(struct xref_walk *w, char ret_id[BSNAP_ID_MAX])
{
    const char *min = NULL;
    int r;

    for (size_t i = 0; i < w->n; i++)
        if (!w->src[i].done && (!min || strcmp(w->src[i].id, min) < 0))
            min = w->src[i].id;
    if (!min)
        return 0;
    snprintf(w->last, sizeof w->last, "%s", min);
    /* Every source at that id moves past it (deduplication). */
    for (size_t i = 0; i < w->n; i++)
        if (!w->src[i].done && (r = source_advance(&w->src[i], w->last)) < 0)
            return r;
    snprintf(ret_id, BSNAP_ID_MAX, "%s", w->last);
    return 1;
}

void xref_walk_free(struct xref_walk *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++) {
        meta_cursor_close(w->src[i].cur);
        for (size_t j = 0; j < w->src[i].nids; j++)
            free(w->src[i].ids[j]);
        free(w->src[i].ids);
    }
    free(w->src);
    free(w);
}
