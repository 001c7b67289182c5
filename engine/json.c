/* json.c - records as JSON, EC2 describe shapes and filters; see record.h. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cow-files.h"
#include "error.h"
#include "image.h"
#include "keys.h"
#include "owner.h"
#include "record.h"
#include "store.h"
#include "util.h"

/* ---- tags ---- */

void tags_clear(struct tags *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].key);
        free(t->v[i].value);
    }
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

int tags_set(struct tags *t, const char *key, const char *value)
{
    char *k, *v;
    struct tag *nv;

    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->v[i].key, key) == 0) {
            v = strdup(value ? value : "");
            if (!v)
                return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            free(t->v[i].value);
            t->v[i].value = v;
            return 0;
        }
    }
    if (t->n >= TAGS_MAX)
        return bsnap_fail(-EINVAL, "TagLimitExceeded", "a resource can have at most %d tags",
                          TAGS_MAX);
    nv = realloc(t->v, (t->n + 1) * sizeof *nv);
    if (!nv)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    t->v = nv;
    k = strdup(key);
    v = strdup(value ? value : "");
    if (!k || !v) {
        free(k);
        free(v);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    t->v[t->n++] = (struct tag){k, v};
    return 0;
}

void tags_remove(struct tags *t, const char *key, const char *value)
{
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->v[i].key, key) != 0)
            continue;
        if (value && strcmp(t->v[i].value, value) != 0)
            return;
        free(t->v[i].key);
        free(t->v[i].value);
        memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof *t->v);
        t->n--;
        return;
    }
}

static json_t *tags_to_json(const struct tags *t)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < t->n; i++)
        json_array_append_new(a,
                              json_pack("{s:s, s:s}", "Key", t->v[i].key, "Value", t->v[i].value));
    return a;
}

static int tags_from_json(json_t *a, struct tags *t)
{
    size_t i;
    json_t *e;

    if (!a)
        return 0;
    if (!json_is_array(a))
        return -EIO;
    json_array_foreach (a, i, e) {
        const char *k = json_string_value(json_object_get(e, "Key"));
        const char *v = json_string_value(json_object_get(e, "Value"));
        if (!k || !v)
            return -EIO;
        if (tags_set(t, k, v) < 0)
            return -EIO;
    }
    return 0;
}

/* ---- stored records ---- */

void shares_clear(struct shares *sh)
{
    free(sh->users);
    memset(sh, 0, sizeof *sh);
}

bool shares_has(const struct shares *sh, const char *account)
{
    for (size_t i = 0; i < sh->n; i++)
        if (strcmp(sh->users[i], account) == 0)
            return true;
    return false;
}

int shares_add(struct shares *sh, const char *account)
{
    size_t i = 0;
    char(*v)[13];

    while (i < sh->n && strcmp(sh->users[i], account) < 0)
        i++;
    if (i < sh->n && strcmp(sh->users[i], account) == 0)
        return 0;
    v = realloc(sh->users, (sh->n + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    memmove(v + i + 1, v + i, (sh->n - i) * sizeof *v);
    snprintf(v[i], sizeof v[i], "%s", account);
    sh->users = v;
    sh->n++;
    return 0;
}

void shares_remove(struct shares *sh, const char *account)
{
    for (size_t i = 0; i < sh->n; i++)
        if (strcmp(sh->users[i], account) == 0) {
            memmove(sh->users + i, sh->users + i + 1, (sh->n - i - 1) * sizeof *sh->users);
            sh->n--;
            return;
        }
}

/* "create-volume-permission" / "launch-permission": {"all": true,
 * "users": ["111122223333", ...]}; absent when there is no share. */
static void shares_to_json(json_t *o, const char *key, const struct shares *sh)
{
    json_t *p, *users;

    if (!o || (!sh->all && !sh->n))
        return;
    p = json_object();
    users = json_array();
    for (size_t i = 0; users && i < sh->n; i++)
        json_array_append_new(users, json_string(sh->users[i]));
    if (p && sh->all)
        json_object_set_new(p, "all", json_true());
    if (p && users && sh->n)
        json_object_set(p, "users", users);
    json_decref(users);
    if (p)
        json_object_set_new(o, key, p);
}

static int shares_from_json(const json_t *o, const char *key, struct shares *ret)
{
    const json_t *p = json_object_get(o, key), *all, *users, *u;
    size_t i;

    memset(ret, 0, sizeof *ret);
    if (!p)
        return 0;
    all = json_object_get(p, "all");
    users = json_object_get(p, "users");
    if (!json_is_object(p) || (all && !json_is_boolean(all)) || (users && !json_is_array(users)))
        return -1;
    ret->all = json_is_true(all);
    json_array_foreach (users, i, u) {
        const char *t = json_string_value(u);
        if (!t || strlen(t) != 12 || strspn(t, "0123456789") != 12 || shares_add(ret, t) < 0) {
            shares_clear(ret);
            return -1;
        }
    }
    return 0;
}

void snapshot_rec_clear(struct snapshot_rec *r)
{
    free(r->description);
    free(r->kms_key_id);
    shares_clear(&r->cvp);
    free(r->parts);
    tags_clear(&r->tags);
    memset(r, 0, sizeof *r);
}

void volume_rec_clear(struct volume_rec *r)
{
    free(r->path);
    free(r->kms_key_id);
    tags_clear(&r->tags);
    memset(r, 0, sizeof *r);
}

static const char *const state_names[] = {"pending", "completed", "error"};

/* Hand document @o over (NULL: out of memory). */
static int doc_out(json_t *o, json_t **ret_doc)
{
    if (!o)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    *ret_doc = o;
    return 0;
}

static int dump(json_t *o, char **ret_json, size_t *ret_len)
{
    char *s;

    if (!o)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    *ret_json = s;
    if (ret_len)
        *ret_len = strlen(s);
    return 0;
}

/* ---- the records' check ----
 *
 * LMDB keeps no checksums, and a record is text: a flipped bit in a digit
 * of "size" ('6' -> '2') decodes as another valid record, which verify
 * cannot tell from the truth (a tree shorter or longer by zero chunks is
 * the same tree).  So every record carries "check": 16 hex digits, XXH3-64
 * of its compact encoding without that key (the other keys in their
 * order).  A record without one is an older version's: it is taken only
 * when it has no key but the ones those versions wrote, so a flip in the
 * word "check" itself does not turn the check off. */
#define RECORD_DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

/* A record's "owner" (absent in older records: "", the store's account);
 * -1 when it is there but not 12 digits. */
static int owner_from_json(const json_t *o, char ret[13])
{
    const json_t *v = json_object_get(o, "owner");
    const char *t = json_string_value(v);

    ret[0] = '\0';
    if (!v)
        return 0;
    if (!t || strlen(t) != 12 || strspn(t, "0123456789") != 12)
        return -1;
    memcpy(ret, t, 13);
    return 0;
}

static void owner_to_json(json_t *o, const char *owner)
{
    if (o && owner[0])
        json_object_set_new(o, "owner", json_string(owner));
}

static const char *const snapshot_keys_v0[] = {
    "id",         "volume",        "parent",         "state",         "size",        "root",
    "depth",      "chunk-size",    "start",          "completion",    "description", "data-chunks",
    "bytes-read", "bytes-written", "chunks-written", "pages-written", "tags",        NULL};
static const char *const volume_keys_v0[] = {"id",   "path",   "size", "source",
                                             "last", "create", "tags", NULL};
static const char *const image_keys_v0[] = {"id",
                                            "name",
                                            "description",
                                            "state",
                                            "architecture",
                                            "virtualization",
                                            "root",
                                            "boot-mode",
                                            "detected",
                                            "ena",
                                            "creation",
                                            "deregistered",
                                            "mappings",
                                            "reason-code",
                                            "reason-message",
                                            "tags",
                                            NULL};

/* The check of @o as it is (without its "check" key), in @hex. */
static int record_sum(json_t *o, char hex[17])
{
    char *s = json_dumps(o, RECORD_DUMP_FLAGS);

    if (!s)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    snprintf(hex, 17, "%016" PRIx64, (uint64_t)XXH3_64bits(s, strlen(s)));
    free(s);
    return 0;
}

/* 0 when @o's check matches its contents (the key is then removed from
 * @o), or @o is an older record with only the keys in @v0; -EIO (not
 * recorded) when it does not, -ENOMEM (recorded). */
static int record_check(json_t *o, const char *const *v0)
{
    json_t *v = json_object_get(o, "check");
    char want[17], got[17];
    int r;

    if (!json_is_object(o))
        return -EIO;
    if (!v) {
        const char *k;
        json_t *x;
        json_object_foreach (o, k, x) {
            size_t i = 0;
            while (v0[i] && strcmp(v0[i], k) != 0)
                i++;
            if (!v0[i])
                return -EIO;
        }
        return 0;
    }
    if (!json_is_string(v) || strlen(json_string_value(v)) != 16)
        return -EIO;
    memcpy(want, json_string_value(v), sizeof want);
    json_object_del(o, "check");
    r = record_sum(o, got);
    if (r < 0)
        return r;
    return strcmp(want, got) == 0 ? 0 : -EIO;
}

/* dump() of a record, with its check added (consumes @o). */
static int dump_record(json_t *o, char **ret_json, size_t *ret_len)
{
    char hex[17];
    int r;

    if (!o)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    r = record_sum(o, hex);
    if (r == 0 && json_object_set_new(o, "check", json_string(hex)) < 0)
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    if (r < 0) {
        json_decref(o);
        return r;
    }
    return dump(o, ret_json, ret_len);
}

/* The record @o's id for a message, or "(unknown)". */
static const char *record_id(json_t *o)
{
    const char *id = json_string_value(json_object_get(o, "id"));

    return id ? id : "(unknown)";
}

/* record_check() for a decoder: a failure is recorded, naming @kind. */
static int record_verify(json_t *o, const char *const *v0, const char *kind)
{
    int r = record_check(o, v0);

    if (r == -EIO)
        return bsnap_fail(-EIO, "Store.Corrupt",
                          "%s record %s is damaged: its check does not match its contents", kind,
                          record_id(o));
    return r;
}

/* "encryption": {"key": ARN, "data-key": HEX, "slot": HEX} into @o. */
static int encryption_to_json(json_t *o, const char *arn, const uint8_t *data_key, uint64_t slot)
{
    char dk[2 * SNAP_WRAPPED_BYTES + 1], sl[17];

    hex_encode(data_key, SNAP_WRAPPED_BYTES, dk);
    snprintf(sl, sizeof sl, "%016" PRIx64, slot);
    return json_object_set_new(
        o, "encryption",
        json_pack("{s:s, s:s, s:s}", "key", arn ? arn : "", "data-key", dk, "slot", sl));
}

int snapshot_rec_encode(const struct snapshot_rec *r, char **ret_json, size_t *ret_len)
{
    char root[33];
    json_t *o;

    chunk_id_hex(&r->root, root);
    o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:i, s:i, s:I, s:I, s:s, s:I, s:I, s:I, s:I}",
                  "id", r->id, "volume", r->volume_id, "parent", r->parent_id, "state",
                  state_names[r->state], "size", (json_int_t)r->size, "root", root, "depth",
                  (int)r->depth, "chunk-size", (int)r->chunk_size, "start", (json_int_t)r->start_ms,
                  "completion", (json_int_t)r->completion_ms, "description",
                  r->description ? r->description : "", "data-chunks", (json_int_t)r->data_chunks,
                  "bytes-read", (json_int_t)r->bytes_read, "bytes-written",
                  (json_int_t)r->bytes_written, "chunks-written", (json_int_t)r->chunks_written);
    if (o && r->pages_written) /* records of older versions have none */
        json_object_set_new(o, "pages-written", json_integer((json_int_t)r->pages_written));
    if (o && r->tags.n)
        json_object_set_new(o, "tags", tags_to_json(&r->tags));
    owner_to_json(o, r->owner);
    shares_to_json(o, "create-volume-permission", &r->cvp);
    if (o && r->encrypted && encryption_to_json(o, r->kms_key_id, r->data_key, r->key_slot) < 0) {
        json_decref(o);
        o = NULL;
    }
    if (o && r->parts_known) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < r->nparts; i++)
            if (json_array_append_new(a, json_pack("[i, I, I]", (int)r->parts[i].number,
                                                   (json_int_t)r->parts[i].offset,
                                                   (json_int_t)r->parts[i].size)) < 0) {
                json_decref(a);
                a = NULL;
            }
        if (!a || json_object_set_new(o, "partitions", a) < 0) {
            json_decref(o);
            o = NULL;
        }
    }
    return dump_record(o, ret_json, ret_len);
}

/* "partitions": [[number, offset, size], ...] within a volume of @size
 * bytes, numbers rising; absent in older records. */
static int parts_from_json(json_t *a, uint64_t size, struct snapshot_rec *r)
{
    size_t i;
    json_t *e;

    if (!a)
        return 0;
    if (!json_is_array(a))
        return -EIO;
    r->parts_known = true;
    r->nparts = json_array_size(a);
    if (!r->nparts)
        return 0;
    r->parts = calloc(r->nparts, sizeof *r->parts);
    if (!r->parts)
        return -EIO;
    json_array_foreach (a, i, e) {
        json_int_t num, off, len;
        if (json_unpack(e, "[I, I, I]", &num, &off, &len) < 0 || num < 1 || num > UINT32_MAX ||
            off < 0 || len <= 0 || (uint64_t)off > size || (uint64_t)len > size - (uint64_t)off ||
            (i && (unsigned)num <= r->parts[i - 1].number))
            return -EIO;
        r->parts[i] = (bsnap_part_extent){(unsigned)num, (uint64_t)off, (uint64_t)len};
    }
    return 0;
}

/* "encryption": {"key": ARN, "data-key": HEX, "slot": HEX}; absent when
 * the snapshot (or writable volume) is plain. */
static int encryption_parse(json_t *e, bool *ret_enc, char **ret_arn, uint8_t *data_key,
                            uint64_t *ret_slot)
{
    const char *key, *dk, *slot;
    char *end;

    if (!e)
        return 0;
    if (json_unpack(e, "{s:s, s:s, s:s}", "key", &key, "data-key", &dk, "slot", &slot) < 0 ||
        !key[0] || strlen(dk) != 2 * SNAP_WRAPPED_BYTES ||
        !hex_decode(dk, SNAP_WRAPPED_BYTES, data_key) || strlen(slot) != 16)
        return -EIO;
    *ret_slot = strtoull(slot, &end, 16);
    if (*end || *ret_slot == 0 || !(*ret_arn = strdup(key)))
        return -EIO;
    *ret_enc = true;
    return 0;
}

static int encryption_from_json(json_t *e, struct snapshot_rec *r)
{
    return encryption_parse(e, &r->encrypted, &r->kms_key_id, r->data_key, &r->key_slot);
}

static int copy_id(char *dst, const char *src)
{
    if (!src || strlen(src) >= BSNAP_ID_MAX)
        return -EIO;
    strcpy(dst, src);
    return 0;
}

/* ---- a look at a record without decoding it ---- */

/* Past the white space at @p (before @end). */
static const char *peek_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* Past the JSON string at @p (its opening quote); its text (without the
 * quotes) in *@ret_s, *@ret_len, and whether it holds an escape.  NULL
 * when it does not end before @end. */
static const char *peek_string(const char *p, const char *end, const char **ret_s, size_t *ret_len,
                               bool *ret_escaped)
{
    const char *s = ++p;
    bool esc = false;

    while (p < end && *p != '"') {
        if (*p == '\\') {
            esc = true;
            p++;
        }
        p++;
    }
    if (p >= end)
        return NULL;
    *ret_s = s;
    *ret_len = (size_t)(p - s);
    *ret_escaped = esc;
    return p + 1;
}

/* Past the JSON value at @p, or NULL when it is not one that ends before
 * @end (only its brackets and strings are followed: a bad number passes,
 * which is the full decoder's to find). */
static const char *peek_skip(const char *p, const char *end)
{
    const char *s;
    size_t n, depth = 0;
    bool e;

    if (p >= end)
        return NULL;
    if (*p == '"')
        return peek_string(p, end, &s, &n, &e);
    if (*p != '{' && *p != '[') {
        while (p < end && !strchr(",}] \t\n\r", *p))
            p++;
        return p;
    }
    while (p < end) {
        if (*p == '"') {
            if (!(p = peek_string(p, end, &s, &n, &e)))
                return NULL;
            continue;
        }
        if (*p == '{' || *p == '[')
            depth++;
        else if ((*p == '}' || *p == ']') && --depth == 0)
            return p + 1;
        p++;
    }
    return NULL;
}

int snapshot_rec_peek(const void *buf, size_t len, struct snapshot_peek *ret)
{
    const char *p = buf, *end = p + len, *k, *v;
    size_t klen, vlen;
    bool esc, have_state = false;
    struct snapshot_peek r = {0};

    p = peek_ws(p, end);
    if (p >= end || *p++ != '{')
        return -EIO;
    p = peek_ws(p, end);
    while (p < end && *p != '}') {
        if (*p != '"' || !(p = peek_string(p, end, &k, &klen, &esc)) || esc)
            return -EIO;
        p = peek_ws(p, end);
        if (p >= end || *p++ != ':')
            return -EIO;
        p = peek_ws(p, end);
        if ((klen == 5 && !memcmp(k, "state", 5)) || (klen == 5 && !memcmp(k, "owner", 5))) {
            if (p >= end || *p != '"' || !(p = peek_string(p, end, &v, &vlen, &esc)) || esc)
                return -EIO;
            if (k[0] == 'o') {
                if (vlen >= sizeof r.owner)
                    return -EIO;
                memcpy(r.owner, v, vlen);
                r.owner[vlen] = '\0';
            } else {
                size_t i;
                for (i = 0; i < ARRAY_SIZE(state_names); i++)
                    if (strlen(state_names[i]) == vlen && !memcmp(state_names[i], v, vlen))
                        break;
                if (i == ARRAY_SIZE(state_names))
                    return -EIO;
                r.state = (bsnap_snapshot_state)i;
                have_state = true;
            }
        } else {
            if (klen == 24 && !memcmp(k, "create-volume-permission", 24))
                r.shared = true;
            if (!(p = peek_skip(p, end)))
                return -EIO;
        }
        p = peek_ws(p, end);
        if (p < end && *p == ',')
            p = peek_ws(p + 1, end);
        else if (p >= end || *p != '}')
            return -EIO;
    }
    if (p >= end || !have_state)
        return -EIO;
    *ret = r;
    return 0;
}

int snapshot_rec_decode(const void *buf, size_t len, struct snapshot_rec *ret)
{
    struct snapshot_rec r = {0};
    json_error_t jerr;
    json_t *o = json_loadb(buf, len, 0, &jerr);
    const char *id = NULL, *vol = NULL, *parent = NULL, *state = NULL, *root = NULL, *desc = NULL;
    json_int_t size = 0, start = 0, completion = 0, data = 0, br = 0, bw = 0, cw = 0;
    int depth = 0, cs = 0, rc = -EIO;

    if (!o)
        return bsnap_fail(-EIO, "Store.Corrupt", "snapshot record: %s", jerr.text);
    if ((rc = record_verify(o, snapshot_keys_v0, "snapshot")) < 0) {
        json_decref(o);
        return rc;
    }
    rc = -EIO;
    if (json_unpack(o,
                    "{s:s, s:s, s:s, s:s, s:I, s:s, s:i, s:i, s:I, s:I, s:s, s:I, s:I, s:I, s:I}",
                    "id", &id, "volume", &vol, "parent", &parent, "state", &state, "size", &size,
                    "root", &root, "depth", &depth, "chunk-size", &cs, "start", &start,
                    "completion", &completion, "description", &desc, "data-chunks", &data,
                    "bytes-read", &br, "bytes-written", &bw, "chunks-written", &cw) < 0)
        goto out;
    if (copy_id(r.id, id) < 0 || copy_id(r.volume_id, vol) < 0 || copy_id(r.parent_id, parent) < 0)
        goto out;
    for (int i = 0; i < 3; i++)
        if (strcmp(state, state_names[i]) == 0)
            r.state = (bsnap_snapshot_state)i, rc = 0;
    if (rc < 0 || strlen(root) != 32 || !hex_decode(root, 16, r.root.b) || size < 0 || depth < 0 ||
        depth > 16 || cs < 0) {
        rc = -EIO;
        goto out;
    }
    r.size = (uint64_t)size;
    r.depth = (uint32_t)depth;
    r.chunk_size = (uint32_t)cs;
    r.start_ms = start;
    r.completion_ms = completion;
    r.data_chunks = (uint64_t)data;
    r.bytes_read = (uint64_t)br;
    r.bytes_written = (uint64_t)bw;
    r.chunks_written = (uint64_t)cw;
    {
        json_t *pw = json_object_get(o, "pages-written");
        if (pw && (!json_is_integer(pw) || json_integer_value(pw) < 0)) {
            rc = -EIO;
            goto out;
        }
        r.pages_written = pw ? (uint64_t)json_integer_value(pw) : 0;
    }
    r.description = strdup(desc);
    if (!r.description || tags_from_json(json_object_get(o, "tags"), &r.tags) < 0 ||
        owner_from_json(o, r.owner) < 0 ||
        shares_from_json(o, "create-volume-permission", &r.cvp) < 0 ||
        parts_from_json(json_object_get(o, "partitions"), r.size, &r) < 0 ||
        encryption_from_json(json_object_get(o, "encryption"), &r) < 0) {
        rc = -EIO;
        goto out;
    }
    *ret = r;
    memset(&r, 0, sizeof r);
    rc = 0;
out:
    /* @id points into @o: report before releasing it */
    if (rc < 0)
        bsnap_fail(-EIO, "Store.Corrupt", "snapshot record %s is malformed", id ? id : "(unknown)");
    json_decref(o);
    snapshot_rec_clear(&r);
    return rc < 0 ? -EIO : 0;
}

int volume_rec_encode(const struct volume_rec *r, char **ret_json, size_t *ret_len)
{
    json_t *o =
        json_pack("{s:s, s:s, s:I, s:s, s:s, s:I}", "id", r->id, "path", r->path ? r->path : "",
                  "size", (json_int_t)r->size, "source", r->source_snapshot, "last",
                  r->last_snapshot, "create", (json_int_t)r->create_ms);

    if (o && r->tags.n)
        json_object_set_new(o, "tags", tags_to_json(&r->tags));
    if (o && r->writable)
        json_object_set_new(o, "writable", json_pack("{s:s}", "type", r->volume_type));
    if (o && r->attach_instance[0])
        json_object_set_new(o, "attachment",
                            json_pack("{s:s, s:s, s:b, s:I}", "instance", r->attach_instance,
                                      "device", r->attach_device, "delete", r->attach_delete,
                                      "time", (json_int_t)r->attach_ms));
    owner_to_json(o, r->owner);
    if (o && r->encrypted && encryption_to_json(o, r->kms_key_id, r->data_key, r->key_slot) < 0) {
        json_decref(o);
        o = NULL;
    }
    return dump_record(o, ret_json, ret_len);
}

int volume_rec_decode(const void *buf, size_t len, struct volume_rec *ret)
{
    struct volume_rec r = {0};
    json_error_t jerr;
    json_t *o = json_loadb(buf, len, 0, &jerr);
    const char *id = NULL, *path = NULL, *source = NULL, *last = NULL;
    json_int_t size = 0, create = 0;
    int rc = -EIO;

    if (!o)
        return bsnap_fail(-EIO, "Store.Corrupt", "volume record: %s", jerr.text);
    if ((rc = record_verify(o, volume_keys_v0, "volume")) < 0) {
        json_decref(o);
        return rc;
    }
    rc = -EIO;
    if (json_unpack(o, "{s:s, s:s, s:I, s:s, s:s, s:I}", "id", &id, "path", &path, "size", &size,
                    "source", &source, "last", &last, "create", &create) < 0 ||
        size < 0)
        goto out;
    if (copy_id(r.id, id) < 0 || copy_id(r.source_snapshot, source) < 0 ||
        copy_id(r.last_snapshot, last) < 0)
        goto out;
    r.size = (uint64_t)size;
    r.create_ms = create;
    r.path = strdup(path);
    if (!r.path || tags_from_json(json_object_get(o, "tags"), &r.tags) < 0 ||
        owner_from_json(o, r.owner) < 0)
        goto out;
    if (json_object_get(o, "writable")) {
        const char *type = NULL;
        if (json_unpack(json_object_get(o, "writable"), "{s:s}", "type", &type) < 0 ||
            strlen(type) >= sizeof r.volume_type)
            goto out;
        r.writable = true;
        strcpy(r.volume_type, type);
    }
    if (json_object_get(o, "attachment")) {
        const char *inst = NULL, *dev = NULL;
        int del = 0;
        json_int_t t = 0;
        if (json_unpack(json_object_get(o, "attachment"), "{s:s, s:s, s:b, s:I}", "instance", &inst,
                        "device", &dev, "delete", &del, "time", &t) < 0 ||
            copy_id(r.attach_instance, inst) < 0 || strlen(dev) >= sizeof r.attach_device)
            goto out;
        strcpy(r.attach_device, dev);
        r.attach_delete = del;
        r.attach_ms = t;
    }
    if (encryption_parse(json_object_get(o, "encryption"), &r.encrypted, &r.kms_key_id, r.data_key,
                         &r.key_slot) < 0 ||
        (r.encrypted && !r.writable))
        goto out;
    *ret = r;
    memset(&r, 0, sizeof r);
    rc = 0;
out:
    /* @id points into @o: report before releasing it */
    if (rc < 0)
        bsnap_fail(-EIO, "Store.Corrupt", "volume record %s is malformed", id ? id : "(unknown)");
    json_decref(o);
    volume_rec_clear(&r);
    return rc < 0 ? -EIO : 0;
}

/* ---- EC2 shapes ---- */

static uint64_t gib_ceil(uint64_t bytes)
{
    return (bytes + (1ull << 30) - 1) >> 30;
}

static json_t *snapshot_ec2(const bsnap_store *s, const struct snapshot_rec *r)
{
    char start[32], done[32];
    json_t *o;

    time_format_ms(r->start_ms, start, sizeof start);
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:s}", "SnapshotId", r->id,
                  "VolumeId", r->volume_id, "State", state_names[r->state], "StartTime", start,
                  "Progress", r->state == BSNAP_SNAPSHOT_COMPLETED ? "100%" : "0%", "OwnerId",
                  owner_of(s, r->owner), "Description", r->description ? r->description : "",
                  "VolumeSize", (json_int_t)gib_ceil(r->size), "Encrypted", r->encrypted,
                  "StorageTier", "standard");
    if (!o)
        return NULL;
    if (r->encrypted && r->kms_key_id)
        json_object_set_new(o, "KmsKeyId", json_string(r->kms_key_id));
    if (r->state == BSNAP_SNAPSHOT_COMPLETED) {
        time_format_ms(r->completion_ms, done, sizeof done);
        json_object_set_new(o, "CompletionTime", json_string(done));
    }
    if (r->tags.n && owner_visible(s, r->owner)) /* tags are the owner's alone */
        json_object_set_new(o, "Tags", tags_to_json(&r->tags));
    /* blocksnap's own fields, after EC2's */
    if (r->parent_id[0])
        json_object_set_new(o, "ParentSnapshotId", json_string(r->parent_id));
    json_object_set_new(o, "VolumeSizeBytes", json_integer((json_int_t)r->size));
    json_object_set_new(o, "ChunkSize", json_integer(r->chunk_size));
    json_object_set_new(o, "DataChunks", json_integer((json_int_t)r->data_chunks));
    json_object_set_new(o, "BytesRead", json_integer((json_int_t)r->bytes_read));
    json_object_set_new(o, "BytesWritten", json_integer((json_int_t)r->bytes_written));
    json_object_set_new(o, "ChunksWritten", json_integer((json_int_t)r->chunks_written));
    json_object_set_new(o, "PagesWritten", json_integer((json_int_t)r->pages_written));
    return o;
}

static json_t *volume_ec2(const bsnap_store *s, const struct volume_rec *r)
{
    char created[32], az[80];
    json_t *o;

    time_format_ms(r->create_ms, created, sizeof created);
    snprintf(az, sizeof az, "%sa", s->region);
    o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:b, s:b}", "VolumeId", r->id, "Size",
                  (json_int_t)gib_ceil(r->size), "SnapshotId", r->source_snapshot,
                  "AvailabilityZone", az, "State",
                  r->attach_instance[0] ? "in-use"
                  : r->writable         ? cow_state(s, r->id)
                                        : "available",
                  "CreateTime", created, "VolumeType", r->writable ? r->volume_type : "standard",
                  "Encrypted", r->encrypted, "MultiAttachEnabled", 0);
    if (!o)
        return NULL;
    if (r->encrypted && r->kms_key_id)
        json_object_set_new(o, "KmsKeyId", json_string(r->kms_key_id));
    if (r->writable)
        json_object_set_new(o, "Writable", json_true());
    if (r->attach_instance[0]) {
        char at[32];
        time_format_ms(r->attach_ms, at, sizeof at);
        json_object_set_new(o, "Attachments",
                            json_pack("[{s:s, s:s, s:s, s:s, s:s, s:b}]", "AttachTime", at,
                                      "Device", r->attach_device, "InstanceId", r->attach_instance,
                                      "State", "attached", "VolumeId", r->id, "DeleteOnTermination",
                                      r->attach_delete));
    }
    if (r->tags.n)
        json_object_set_new(o, "Tags", tags_to_json(&r->tags));
    json_object_set_new(o, "Path", json_string(r->path ? r->path : ""));
    json_object_set_new(o, "SizeBytes", json_integer((json_int_t)r->size));
    json_object_set_new(o, "LastSnapshotId", json_string(r->last_snapshot));
    return o;
}

/* ---- filters ---- */

/* Length of the pattern token at @p (not at its end): '*', '?', a backslash
 * and the character it escapes, or one UTF-8 character (a stray byte is a
 * character of its own). */
static size_t token_len(const char *p)
{
    size_t n = *p == '\\' && p[1] ? 1 : 0;

    return n + utf8_char_len(p + n);
}

int ec2_wildcard_match_steps(const char *pattern, const char *s, uint64_t *steps)
{
    /* A set of pattern positions (byte offsets of tokens, plus the end)
     * that the text read so far can reach, as in a Thompson NFA: each
     * character of @s costs one pass over the pattern, so the whole match
     * is O(|pattern| * |s|) with no recursion and no backtracking. */
    size_t plen = strlen(pattern);
    _cleanup_free_ uint8_t *cur = calloc(2 * (plen + 1), 1);
    uint8_t *next = cur + plen + 1;
    uint64_t count = 0;

    if (!cur)
        return -ENOMEM;
    cur[0] = 1;
    for (;;) {
        /* Close over '*' and '?' matching nothing: they only move forward,
         * so one pass in order reaches every position. */
        for (size_t i = 0; i < plen; i += token_len(pattern + i), count++)
            if (cur[i] && (pattern[i] == '*' || pattern[i] == '?'))
                cur[i + 1] = 1;
        if (!*s)
            break;
        size_t sl = utf8_char_len(s);
        bool any = false;

        memset(next, 0, plen + 1);
        for (size_t i = 0, tl; i < plen; i += tl, count++) {
            const char *t = pattern + i;

            tl = token_len(t);
            if (!cur[i])
                continue;
            if (*t == '*') {
                next[i] = any = 1;
            } else if (*t == '?') {
                next[i + 1] = any = 1;
            } else {
                const char *lit = *t == '\\' && t[1] ? t + 1 : t;
                size_t ll = tl - (size_t)(lit - t);
                if (ll == sl && memcmp(lit, s, sl) == 0)
                    next[i + tl] = any = 1;
            }
        }
        if (!any)
            break;
        memcpy(cur, next, plen + 1);
        s += sl;
    }
    if (steps)
        *steps += count;
    return !*s && cur[plen];
}

int ec2_wildcard_match(const char *pattern, const char *s)
{
    return ec2_wildcard_match_steps(pattern, s, NULL);
}

struct filter_field {
    const char *name;
    const char *field;
};

static const struct filter_field snapshot_fields[] = {
    {"snapshot-id", "SnapshotId"},
    {"volume-id", "VolumeId"},
    {"status", "State"},
    {"description", "Description"},
    {"volume-size", "VolumeSize"},
    {"start-time", "StartTime"},
    {"owner-id", "OwnerId"},
    {"progress", "Progress"},
    {"encrypted", "Encrypted"},
    {"storage-tier", "StorageTier"},
    {"parent-snapshot-id", "ParentSnapshotId"},
    {"restorable-by", NULL}, /* blocksnap's: --restorable-by-user-ids */
    {NULL, NULL},
};

static const struct filter_field volume_fields[] = {
    {"volume-id", "VolumeId"},
    {"snapshot-id", "SnapshotId"},
    {"size", "Size"},
    {"status", "State"},
    {"create-time", "CreateTime"},
    {"availability-zone", "AvailabilityZone"},
    {"volume-type", "VolumeType"},
    {"encrypted", "Encrypted"},
    {"path", "Path"},
    {NULL, NULL},
};

static int check_filters(const struct filter_field *fields, const bsnap_filter *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool known = strncmp(f[i].name, "tag:", 4) == 0 || strcmp(f[i].name, "tag-key") == 0;
        for (const struct filter_field *ff = fields; !known && ff->name; ff++)
            known = strcmp(ff->name, f[i].name) == 0;
        if (!known) {
            bsnap_fail(-EINVAL, "InvalidParameterValue",
                       "the filter '%s' is invalid for this operation", f[i].name);
            return error_set_parameter("Filters[%zu].Name", i);
        }
    }
    return 0;
}

/* The value of @field in @o as text (numbers in decimal, booleans as
 * true/false); NULL if absent. */
static const char *field_text(json_t *o, const char *field, char *buf, size_t buflen)
{
    json_t *v = json_object_get(o, field);

    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, buflen, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    return NULL;
}

/* 1 if a value of @f matches @text, 0 if none does, -ENOMEM. */
static int any_value_matches(const bsnap_filter *f, const char *text)
{
    for (size_t j = 0; text && j < f->nvalues; j++) {
        int m = ec2_wildcard_match(f->values[j], text);
        if (m != 0)
            return m;
    }
    return 0;
}

/* 1 if @o passes every filter of @f, 0 if not, -ENOMEM. */
static int filters_match(const struct filter_field *fields, json_t *o, const bsnap_filter *f,
                         size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int ok = 0;
        json_t *tags = json_object_get(o, "Tags"), *t;
        size_t k;

        if (strcmp(f[i].name, "restorable-by") == 0 || strcmp(f[i].name, "executable-by") == 0)
            continue; /* on the record: users_match() */
        if (strncmp(f[i].name, "tag:", 4) == 0 || strcmp(f[i].name, "tag-key") == 0) {
            bool by_key = f[i].name[3] == '-';
            json_array_foreach (tags, k, t) {
                const char *key = json_string_value(json_object_get(t, "Key"));
                const char *val = json_string_value(json_object_get(t, "Value"));
                if (by_key)
                    ok = any_value_matches(&f[i], key);
                else if (key && strcmp(key, f[i].name + 4) == 0)
                    ok = any_value_matches(&f[i], val);
                if (ok != 0)
                    break;
            }
        } else {
            char buf[32];
            for (const struct filter_field *ff = fields; ff->name; ff++)
                if (strcmp(ff->name, f[i].name) == 0)
                    ok = any_value_matches(&f[i], field_text(o, ff->field, buf, sizeof buf));
        }
        if (ok <= 0)
            return ok;
    }
    return 1;
}

static int check_image_filters(const bsnap_filter *filters, size_t nfilters);
static int image_matches(json_t *o, const bsnap_filter *f, size_t n);
static json_t *image_ec2(const bsnap_store *s, const struct image_rec *r);

/* ---- list-describe pages ---- */

struct describe {
    const bsnap_store *s;
    enum page_kind kind;
    const bsnap_filter *filters;
    size_t nfilters;
    uint32_t limit; /* 0: none */
    size_t n;
    json_t *arr;
    char last[BSNAP_ID_MAX];
};

int describe_new(const bsnap_store *s, enum page_kind kind, const bsnap_filter *filters,
                 size_t nfilters, uint32_t limit, struct describe **ret)
{
    struct describe *d;
    int r = kind == PAGE_IMAGES      ? check_image_filters(filters, nfilters)
            : kind == PAGE_SNAPSHOTS ? check_filters(snapshot_fields, filters, nfilters)
                                     : check_filters(volume_fields, filters, nfilters);

    if (r < 0)
        return r;
    d = calloc(1, sizeof *d);
    if (!d || !(d->arr = json_array())) {
        free(d);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    d->s = s;
    d->kind = kind;
    d->filters = filters;
    d->nfilters = nfilters;
    d->limit = limit;
    *ret = d;
    return 0;
}

/* Whether a record of @owner shared as @sh passes the filter @name
 * ("restorable-by" of snapshots, "executable-by" of images) of @d, if
 * any: a value "all" matches a public record, an account id one that
 * account owns or that is shared with it by id.  1, 0. */
static int users_match(const struct describe *d, const char *name, const char *owner,
                       const struct shares *sh)
{
    for (size_t i = 0; i < d->nfilters; i++) {
        const bsnap_filter *f = &d->filters[i];
        bool ok = false;
        if (strcmp(f->name, name) != 0)
            continue;
        for (size_t j = 0; j < f->nvalues && !ok; j++)
            ok = strcmp(f->values[j], "all") == 0
                     ? sh->all
                     : strcmp(owner_of(d->s, owner), f->values[j]) == 0 ||
                           shares_has(sh, f->values[j]);
        if (!ok)
            return 0;
    }
    return 1;
}

int describe_add(struct describe *d, const void *rec)
{
    const char *id;
    json_t *o;
    int m;

    /* Another account's records are not there for this one unless shared
     * with it (owner.h). */
    if (d->kind == PAGE_SNAPSHOTS) {
        const struct snapshot_rec *sr = rec;
        if (!owner_shared(d->s, sr->owner, &sr->cvp) ||
            !users_match(d, "restorable-by", sr->owner, &sr->cvp))
            return 1;
    } else if (d->kind == PAGE_IMAGES) {
        const struct image_rec *ir = rec;
        if (!owner_shared(d->s, ir->owner, &ir->lp) ||
            !users_match(d, "executable-by", ir->owner, &ir->lp))
            return 1;
    } else if (!owner_visible(d->s, ((const struct volume_rec *)rec)->owner)) {
        return 1;
    }
    switch (d->kind) {
    case PAGE_SNAPSHOTS:
        id = ((const struct snapshot_rec *)rec)->id;
        o = snapshot_ec2(d->s, rec);
        break;
    case PAGE_VOLUMES:
        id = ((const struct volume_rec *)rec)->id;
        o = volume_ec2(d->s, rec);
        break;
    default:
        id = ((const struct image_rec *)rec)->id;
        o = image_ec2(d->s, rec);
        break;
    }
    if (!o)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    m = d->kind == PAGE_IMAGES
            ? image_matches(o, d->filters, d->nfilters)
            : filters_match(d->kind == PAGE_SNAPSHOTS ? snapshot_fields : volume_fields, o,
                            d->filters, d->nfilters);
    if (m <= 0 || (d->limit && d->n == d->limit)) {
        json_decref(o);
        if (m < 0)
            return bsnap_fail(m, "InternalError", "out of memory matching filters");
        return m == 0 ? 1 : 0; /* a match past a full page: more remain */
    }
    if (json_array_append_new(d->arr, o) < 0)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    d->n++;
    snprintf(d->last, sizeof d->last, "%s", id);
    return 1;
}

const char *describe_last_id(const struct describe *d)
{
    return d->last;
}

int describe_finish(struct describe *d, const char *next_token, json_t **ret_doc)
{
    const char *list = d->kind == PAGE_SNAPSHOTS ? "Snapshots"
                       : d->kind == PAGE_VOLUMES ? "Volumes"
                                                 : "Images";
    json_t *doc = json_object();

    if (!doc || json_object_set(doc, list, d->arr) < 0 ||
        (next_token && json_object_set_new(doc, "NextToken", json_string(next_token)) < 0)) {
        json_decref(doc);
        describe_free(d);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    describe_free(d);
    *ret_doc = doc;
    return 0;
}

void describe_free(struct describe *d)
{
    if (!d)
        return;
    json_decref(d->arr);
    free(d);
}

int json_describe_snapshot(const bsnap_store *s, const struct snapshot_rec *rec, json_t **ret_doc)
{
    return doc_out(snapshot_ec2(s, rec), ret_doc);
}

int json_describe_volume(const bsnap_store *s, const struct volume_rec *rec, json_t **ret_doc)
{
    return doc_out(volume_ec2(s, rec), ret_doc);
}

int json_changed_blocks(const struct changed_block *b, size_t n, uint64_t volume_size,
                        uint32_t block_size, json_t **ret_doc)
{
    json_t *arr = json_array();

    if (!arr)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_pack("{s:I}", "BlockIndex", (json_int_t)b[i].index);
        if (!o) {
            json_decref(arr);
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        }
        if (b[i].first[0])
            json_object_set_new(o, "FirstBlockToken", json_string(b[i].first));
        if (b[i].second[0])
            json_object_set_new(o, "SecondBlockToken", json_string(b[i].second));
        json_array_append_new(arr, o);
    }
    return doc_out(json_pack("{s:o, s:I, s:I, s:I}", "ChangedBlocks", arr, "VolumeSize",
                             (json_int_t)gib_ceil(volume_size), "VolumeSizeBytes",
                             (json_int_t)volume_size, "BlockSize", (json_int_t)block_size),
                   ret_doc);
}

/* ---- images (image.h) ---- */

static const char *const image_state_names[] = {"pending", "available", "failed", "deregistered"};

void image_rec_clear(struct image_rec *r)
{
    free(r->name);
    free(r->description);
    free(r->reason_code);
    free(r->reason_message);
    free(r->source_instance);
    free(r->bdm);
    tags_clear(&r->tags);
    shares_clear(&r->lp);
    memset(r, 0, sizeof *r);
}

void image_request_clear(struct image_request *q)
{
    free(q->name);
    free(q->description);
    free(q->architecture);
    free(q->virtualization);
    free(q->root_device);
    free(q->boot_mode);
    free(q->bdm);
    tags_clear(&q->tags);
    memset(q, 0, sizeof *q);
    q->ena_support = -1;
}

/* Copy string @v into a fixed field; false when it does not fit. */
static bool copy_field(char *dst, size_t cap, const char *v)
{
    if (!v || strlen(v) >= cap)
        return false;
    strcpy(dst, v);
    return true;
}

static json_t *bdm_to_json(const struct image_bdm *b, bool stored)
{
    json_t *o = json_pack("{s:s}", "DeviceName", b->device), *e;

    if (!o)
        return NULL;
    switch (b->kind) {
    case BDM_VIRTUAL:
        json_object_set_new(o, "VirtualName", json_string(b->virtual_name));
        break;
    case BDM_NODEVICE:
        json_object_set_new(o, "NoDevice", json_string(""));
        break;
    case BDM_EBS:
        e = json_object();
        if (!e) {
            json_decref(o);
            return NULL;
        }
        /* Described images say everything (EC2's defaults filled in);
         * stored records keep "not given" apart. */
        if (stored || b->delete_on_termination >= 0)
            json_object_set_new(e, "DeleteOnTermination",
                                stored ? json_integer(b->delete_on_termination)
                                       : json_boolean(b->delete_on_termination));
        else
            json_object_set_new(e, "DeleteOnTermination", json_true());
        if (b->snapshot_id[0])
            json_object_set_new(e, "SnapshotId", json_string(b->snapshot_id));
        if (b->volume_size)
            json_object_set_new(e, "VolumeSize", json_integer((json_int_t)b->volume_size));
        if (b->volume_type[0] || !stored)
            json_object_set_new(e, "VolumeType",
                                json_string(b->volume_type[0] ? b->volume_type : "standard"));
        if (b->iops)
            json_object_set_new(e, "Iops", json_integer((json_int_t)b->iops));
        if (stored)
            json_object_set_new(e, "Encrypted", json_integer(b->encrypted));
        else
            json_object_set_new(e, "Encrypted", json_boolean(b->encrypted > 0));
        json_object_set_new(o, "Ebs", e);
        break;
    }
    return o;
}

int image_rec_encode(const struct image_rec *r, char **ret_json, size_t *ret_len)
{
    json_t *o, *a;

    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I}", "id", r->id,
                  "name", r->name ? r->name : "", "description",
                  r->description ? r->description : "", "state", image_state_names[r->state],
                  "architecture", r->architecture, "virtualization", r->virtualization, "root",
                  r->root_device, "boot-mode", r->boot_mode, "detected", r->detected, "ena",
                  r->ena_support, "creation", (json_int_t)r->creation_ms, "deregistered",
                  (json_int_t)r->deregistered_ms);
    a = json_array();
    if (!o || !a) {
        json_decref(o);
        json_decref(a);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    for (size_t i = 0; i < r->nbdm; i++)
        json_array_append_new(a, bdm_to_json(&r->bdm[i], true));
    json_object_set_new(o, "mappings", a);
    if (r->reason_code)
        json_object_set_new(o, "reason-code", json_string(r->reason_code));
    if (r->reason_message)
        json_object_set_new(o, "reason-message", json_string(r->reason_message));
    if (r->source_instance)
        json_object_set_new(o, "source-instance", json_string(r->source_instance));
    if (r->tags.n)
        json_object_set_new(o, "tags", tags_to_json(&r->tags));
    owner_to_json(o, r->owner);
    shares_to_json(o, "launch-permission", &r->lp);
    return dump_record(o, ret_json, ret_len);
}

/* A stored integer from 0 to @max. */
static bool json_uint_value(json_t *v, uint64_t max, uint64_t *ret)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return false;
    *ret = (uint64_t)json_integer_value(v);
    return true;
}

#define BDM_FAIL(...) bsnap_fail(-EINVAL, "InvalidBlockDeviceMapping", __VA_ARGS__)

/* One mapping of a stored record, whose DeleteOnTermination and Encrypted
 * are integers, -1 for "not given".  (Requests are the front end's to
 * parse: the engine takes typed mappings, image_bdm_from_mapping().) */
static int bdm_from_json(json_t *o, struct image_bdm *b)
{
    const char *key;
    json_t *v, *ebs = NULL;
    int kinds = 0;

    memset(b, 0, sizeof *b);
    b->delete_on_termination = b->encrypted = -1;
    if (!json_is_object(o))
        return BDM_FAIL("a block device mapping must be an object");
    json_object_foreach (o, key, v) {
        if (strcmp(key, "DeviceName") == 0) {
            if (!json_is_string(v) ||
                !copy_field(b->device, sizeof b->device, json_string_value(v)))
                return BDM_FAIL("invalid device name");
        } else if (strcmp(key, "VirtualName") == 0) {
            if (!json_is_string(v) ||
                !copy_field(b->virtual_name, sizeof b->virtual_name, json_string_value(v)))
                return BDM_FAIL("invalid virtual name");
            b->kind = BDM_VIRTUAL;
            kinds++;
        } else if (strcmp(key, "NoDevice") == 0) {
            if (!json_is_string(v))
                return BDM_FAIL("NoDevice must be a string");
            b->kind = BDM_NODEVICE;
            kinds++;
        } else if (strcmp(key, "Ebs") == 0) {
            ebs = v;
            b->kind = BDM_EBS;
            kinds++;
        } else {
            return BDM_FAIL("unknown block device mapping field '%s'", key);
        }
    }
    if (!b->device[0])
        return BDM_FAIL("missing device name in a block device mapping");
    if (kinds != 1)
        return BDM_FAIL("%s: a mapping needs exactly one of Ebs, VirtualName or NoDevice",
                        b->device);
    if (!ebs)
        return 0;
    if (!json_is_object(ebs))
        return BDM_FAIL("%s: Ebs must be an object", b->device);
    json_object_foreach (ebs, key, v) {
        int bv;
        if (strcmp(key, "SnapshotId") == 0) {
            if (!json_is_string(v) ||
                !copy_field(b->snapshot_id, sizeof b->snapshot_id, json_string_value(v)))
                return bsnap_fail(-EINVAL, "InvalidSnapshotID.Malformed", "%s: invalid snapshot id",
                                  b->device);
        } else if (strcmp(key, "VolumeSize") == 0) {
            if (!json_uint_value(v, BSNAP_VOLUME_SIZE_MAX, &b->volume_size) || b->volume_size == 0)
                return BDM_FAIL("%s: VolumeSize must be 1 to %u (GiB)", b->device,
                                BSNAP_VOLUME_SIZE_MAX);
        } else if (strcmp(key, "VolumeType") == 0) {
            if (!json_is_string(v) ||
                !copy_field(b->volume_type, sizeof b->volume_type, json_string_value(v)))
                return BDM_FAIL("%s: invalid volume type", b->device);
        } else if (strcmp(key, "Iops") == 0) {
            if (!json_uint_value(v, BSNAP_IOPS_MAX, &b->iops))
                return BDM_FAIL("%s: invalid Iops", b->device);
        } else if (strcmp(key, "DeleteOnTermination") == 0 || strcmp(key, "Encrypted") == 0) {
            int *dst = key[0] == 'D' ? &b->delete_on_termination : &b->encrypted;
            if (json_is_integer(v) && json_integer_value(v) >= -1 && json_integer_value(v) <= 1)
                bv = (int)json_integer_value(v);
            else if (json_is_boolean(v))
                bv = json_is_true(v);
            else
                return BDM_FAIL("%s: %s must be true or false", b->device, key);
            *dst = bv;
        } else if (strcmp(key, "Throughput") == 0 || strcmp(key, "KmsKeyId") == 0 ||
                   strcmp(key, "OutpostArn") == 0) {
            continue; /* launch-time settings: nothing to keep locally */
        } else {
            return BDM_FAIL("%s: unknown Ebs field '%s'", b->device, key);
        }
    }
    return 0;
}

static int bdm_array(json_t *a, struct image_bdm **ret, size_t *ret_n)
{
    struct image_bdm *v;
    size_t n, i;
    json_t *e;
    int r;

    if (!json_is_array(a))
        return BDM_FAIL("block device mappings must be a JSON array of objects");
    n = json_array_size(a);
    if (n > BSNAP_IMAGE_MAPPINGS_MAX)
        return BDM_FAIL("at most %d block device mappings", BSNAP_IMAGE_MAPPINGS_MAX);
    v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    json_array_foreach (a, i, e) {
        r = bdm_from_json(e, &v[i]);
        if (r < 0) {
            free(v);
            return r;
        }
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int image_rec_decode(const void *buf, size_t len, struct image_rec *ret)
{
    struct image_rec r = {0};
    json_error_t jerr;
    json_t *o = json_loadb(buf, len, 0, &jerr);
    const char *id = NULL, *name, *desc, *state, *arch, *virt, *root, *boot, *det, *rc, *rm;
    json_int_t creation = 0, dereg = 0;
    int ena = 0, rcode = -EIO;

    if (!o)
        return bsnap_fail(-EIO, "Store.Corrupt", "image record: %s", jerr.text);
    if ((rcode = record_verify(o, image_keys_v0, "image")) < 0) {
        json_decref(o);
        return rcode;
    }
    rcode = -EIO;
    if (json_unpack(o, "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I}", "id", &id,
                    "name", &name, "description", &desc, "state", &state, "architecture", &arch,
                    "virtualization", &virt, "root", &root, "boot-mode", &boot, "detected", &det,
                    "ena", &ena, "creation", &creation, "deregistered", &dereg) < 0)
        goto out;
    if (!copy_field(r.id, sizeof r.id, id) ||
        !copy_field(r.architecture, sizeof r.architecture, arch) ||
        !copy_field(r.virtualization, sizeof r.virtualization, virt) ||
        !copy_field(r.root_device, sizeof r.root_device, root) ||
        !copy_field(r.boot_mode, sizeof r.boot_mode, boot) ||
        !copy_field(r.detected, sizeof r.detected, det))
        goto out;
    r.state = BSNAP_IMAGE_DEREGISTERED + 1;
    for (int i = 0; i < 4; i++)
        if (strcmp(state, image_state_names[i]) == 0)
            r.state = (bsnap_image_state)i;
    if (r.state > BSNAP_IMAGE_DEREGISTERED)
        goto out;
    r.ena_support = ena;
    r.creation_ms = creation;
    r.deregistered_ms = dereg;
    r.name = strdup(name);
    r.description = strdup(desc);
    if (!r.name || !r.description)
        goto out;
    rc = json_string_value(json_object_get(o, "reason-code"));
    rm = json_string_value(json_object_get(o, "reason-message"));
    if ((rc && !(r.reason_code = strdup(rc))) || (rm && !(r.reason_message = strdup(rm))))
        goto out;
    const char *si = json_string_value(json_object_get(o, "source-instance"));
    if (si && !(r.source_instance = strdup(si)))
        goto out;
    if (bdm_array(json_object_get(o, "mappings"), &r.bdm, &r.nbdm) < 0)
        goto out;
    if (tags_from_json(json_object_get(o, "tags"), &r.tags) < 0 ||
        owner_from_json(o, r.owner) < 0 || shares_from_json(o, "launch-permission", &r.lp) < 0)
        goto out;
    *ret = r;
    memset(&r, 0, sizeof r);
    rcode = 0;
out:
    /* @id points into @o: report before releasing it */
    if (rcode < 0)
        bsnap_fail(-EIO, "Store.Corrupt", "image record %s is malformed", id ? id : "(unknown)");
    json_decref(o);
    image_rec_clear(&r);
    return rcode;
}

/* ---- EC2 image shape ---- */

static json_t *image_ec2(const bsnap_store *s, const struct image_rec *r)
{
    char created[32], location[200];
    json_t *o, *a;

    time_format_ms(r->creation_ms, created, sizeof created);
    snprintf(location, sizeof location, "%s/%s", owner_of(s, r->owner), r->name ? r->name : "");
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s}", "Architecture",
                  r->architecture, "CreationDate", created, "ImageId", r->id, "ImageLocation",
                  location, "ImageType", "machine", "OwnerId", owner_of(s, r->owner), "Public",
                  r->lp.all, "PlatformDetails", "Linux/UNIX", "UsageOperation", "RunInstances",
                  "State", image_state_names[r->state]);
    a = json_array();
    if (!o || !a) {
        json_decref(o);
        json_decref(a);
        return NULL;
    }
    for (size_t i = 0; i < r->nbdm; i++)
        json_array_append_new(a, bdm_to_json(&r->bdm[i], false));
    json_object_set_new(o, "BlockDeviceMappings", a);
    /* EC2 leaves Description out of an image that has none. */
    if (r->description && r->description[0])
        json_object_set_new(o, "Description", json_string(r->description));
    json_object_set_new(o, "EnaSupport", json_boolean(r->ena_support));
    json_object_set_new(o, "Hypervisor", json_string("xen"));
    json_object_set_new(o, "Name", json_string(r->name ? r->name : ""));
    json_object_set_new(o, "RootDeviceName", json_string(r->root_device));
    json_object_set_new(o, "RootDeviceType", json_string("ebs"));
    json_object_set_new(o, "VirtualizationType", json_string(r->virtualization));
    if (r->boot_mode[0])
        json_object_set_new(o, "BootMode", json_string(r->boot_mode));
    if (r->reason_code)
        json_object_set_new(o, "StateReason",
                            json_pack("{s:s, s:s}", "Code", r->reason_code, "Message",
                                      r->reason_message ? r->reason_message : ""));
    if (r->source_instance)
        json_object_set_new(o, "SourceInstanceId", json_string(r->source_instance));
    if (r->tags.n && owner_visible(s, r->owner)) /* tags are the owner's alone */
        json_object_set_new(o, "Tags", tags_to_json(&r->tags));
    /* blocksnap's own, after EC2's */
    json_object_set_new(o, "DetectedBootMode", json_string(r->detected));
    return o;
}

static const struct filter_field image_fields[] = {
    {"architecture", "Architecture"},
    {"boot-mode", "BootMode"},
    {"creation-date", "CreationDate"},
    {"description", "Description"},
    {"ena-support", "EnaSupport"},
    {"hypervisor", "Hypervisor"},
    {"image-id", "ImageId"},
    {"image-type", "ImageType"},
    {"is-public", "Public"},
    {"executable-by", NULL}, /* blocksnap's: --executable-users */
    {"name", "Name"},
    {"owner-id", "OwnerId"},
    {"root-device-name", "RootDeviceName"},
    {"root-device-type", "RootDeviceType"},
    {"state", "State"},
    {"virtualization-type", "VirtualizationType"},
    {"detected-boot-mode", "DetectedBootMode"},
    {NULL, NULL},
};

/* block-device-mapping.* filters: the field of the mapping (or of its Ebs)
 * a filter looks at. */
static const struct filter_field bdm_fields[] = {
    {"block-device-mapping.device-name", "DeviceName"},
    {"block-device-mapping.snapshot-id", "SnapshotId"},
    {"block-device-mapping.volume-size", "VolumeSize"},
    {"block-device-mapping.volume-type", "VolumeType"},
    {"block-device-mapping.delete-on-termination", "DeleteOnTermination"},
    {"block-device-mapping.encrypted", "Encrypted"},
    {NULL, NULL},
};

/* 1 if the image @o passes every filter of @f, 0 if not, -ENOMEM. */
static int image_matches(json_t *o, const bsnap_filter *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *field = NULL;
        int ok = 0;

        for (const struct filter_field *ff = bdm_fields; ff->name; ff++)
            if (strcmp(ff->name, f[i].name) == 0)
                field = ff->field;
        if (field) {
            json_t *m;
            size_t k;
            json_array_foreach (json_object_get(o, "BlockDeviceMappings"), k, m) {
                char buf[32];
                json_t *src = strcmp(field, "DeviceName") == 0 ? m : json_object_get(m, "Ebs");
                if (src && (ok = any_value_matches(&f[i], field_text(src, field, buf, sizeof buf))))
                    break;
            }
        } else if (strcmp(f[i].name, "state-reason-code") == 0 ||
                   strcmp(f[i].name, "state-reason-message") == 0) {
            json_t *sr = json_object_get(o, "StateReason");
            char buf[8];
            if (sr)
                ok = any_value_matches(
                    &f[i],
                    field_text(sr, f[i].name[13] == 'c' ? "Code" : "Message", buf, sizeof buf));
        } else {
            ok = filters_match(image_fields, o, &f[i], 1);
        }
        if (ok <= 0)
            return ok;
    }
    return 1;
}

static int check_image_filters(const bsnap_filter *filters, size_t nfilters)
{
    for (size_t i = 0; i < nfilters; i++) {
        bool known = strcmp(filters[i].name, "state-reason-code") == 0 ||
                     strcmp(filters[i].name, "state-reason-message") == 0;
        for (const struct filter_field *ff = bdm_fields; ff->name; ff++)
            known = known || strcmp(ff->name, filters[i].name) == 0;
        if (!known) {
            int r = check_filters(image_fields, &filters[i], 1);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

int json_describe_image(const bsnap_store *s, const struct image_rec *rec, json_t **ret_doc)
{
    return doc_out(image_ec2(s, rec), ret_doc);
}

int json_image_attribute(const char *id, const char *key, const char *value, bool list,
                         json_t **ret_doc)
{
    json_t *o = json_pack("{s:s}", "ImageId", id);

    if (o) {
        if (list)
            json_object_set_new(o, key, json_array());
        else if (value)
            json_object_set_new(o, key, json_pack("{s:s}", "Value", value));
        else
            json_object_set_new(o, key, json_object());
    }
    return doc_out(o, ret_doc);
}

int json_deregister_result(const char (*snaps)[BSNAP_ID_MAX], const char *const *codes, size_t n,
                           bool with, json_t **ret_doc)
{
    json_t *o = json_pack("{s:b}", "Return", 1), *a;

    if (o && with) {
        a = json_array();
        for (size_t i = 0; a && i < n; i++)
            json_array_append_new(
                a, json_pack("{s:s, s:s}", "SnapshotId", snaps[i], "ReturnCode", codes[i]));
        json_object_set_new(o, "DeleteSnapshotResults", a);
    }
    return doc_out(o, ret_doc);
}

/* ---- keys (keys.h) ---- */

int json_key_metadata(const bsnap_store *s, const struct key_rec *k, json_t **ret_doc)
{
    char arn[256], date[32], gone[32];
    const char *state = k->deletion_ms            ? "PendingDeletion"
                        : k->state == KEY_ENABLED ? "Enabled"
                                                  : "Disabled";
    json_t *doc;

    keys_arn(s, k, arn, sizeof arn);
    time_format_ms(k->created_ms, date, sizeof date);
    doc = json_pack("{s:{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:b}}",
                    "KeyMetadata", "AWSAccountId", owner_of(s, k->owner), "KeyId", k->id, "Arn",
                    arn, "CreationDate", date, "Enabled",
                    k->state == KEY_ENABLED && !k->deletion_ms, "Description",
                    k->description ? k->description : "", "KeyUsage", "ENCRYPT_DECRYPT", "KeyState",
                    state, "Origin", k->kdf_iterations ? "EXTERNAL" : "AWS_KMS", "KeyManager",
                    k->manager == KEY_AWS ? "AWS" : "CUSTOMER", "CustomerMasterKeySpec",
                    "SYMMETRIC_DEFAULT", "KeySpec", "SYMMETRIC_DEFAULT", "EncryptionAlgorithms",
                    "SYMMETRIC_DEFAULT", "MultiRegion", 0);
    if (doc && k->deletion_ms) {
        time_format_ms(k->deletion_ms, gone, sizeof gone);
        if (json_object_set_new(json_object_get(doc, "KeyMetadata"), "DeletionDate",
                                json_string(gone)) < 0) {
            json_decref(doc);
            doc = NULL;
        }
    }
    return doc_out(doc, ret_doc);
}

int json_key_list(const bsnap_store *s, const char (*ids)[KEYS_ID_TEXT], size_t n, json_t **ret_doc)
{
    json_t *arr = json_array();
    char arn[256];

    for (size_t i = 0; arr && i < n; i++) {
        snprintf(arn, sizeof arn, "arn:aws:kms:%s:%s:key/%s", s->region, s->caller, ids[i]);
        if (json_array_append_new(arr, json_pack("{s:s, s:s}", "KeyId", ids[i], "KeyArn", arn))) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return doc_out(arr ? json_pack("{s:o}", "Keys", arr) : NULL, ret_doc);
}

int json_alias_list(const bsnap_store *s, const struct key_alias *a, size_t n, json_t **ret_doc)
{
    json_t *arr = json_array();
    char arn[512], date[32];

    for (size_t i = 0; arr && i < n; i++) {
        snprintf(arn, sizeof arn, "arn:aws:kms:%s:%s:%s", s->region, s->caller, a[i].name);
        time_format_ms(a[i].created_ms, date, sizeof date);
        if (json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "AliasName", a[i].name,
                                                 "AliasArn", arn, "TargetKeyId", a[i].target,
                                                 "CreationDate", date))) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return doc_out(arr ? json_pack("{s:o}", "Aliases", arr) : NULL, ret_doc);
}

int json_key_setting(const char *name, const char *text, bool flag, json_t **ret_doc)
{
    return doc_out(text ? json_pack("{s:s}", name, text) : json_pack("{s:b}", name, flag), ret_doc);
}
