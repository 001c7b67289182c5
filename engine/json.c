/* json.c - records as JSON, EC2 describe shapes and filters; see record.h. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
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

void snapshot_rec_clear(struct snapshot_rec *r)
{
    free(r->description);
    tags_clear(&r->tags);
    memset(r, 0, sizeof *r);
}

void volume_rec_clear(struct volume_rec *r)
{
    free(r->path);
    tags_clear(&r->tags);
    memset(r, 0, sizeof *r);
}

static const char *const state_names[] = {"pending", "completed", "error"};

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
    if (o && r->tags.n)
        json_object_set_new(o, "tags", tags_to_json(&r->tags));
    return dump(o, ret_json, ret_len);
}

static int copy_id(char *dst, const char *src)
{
    if (!src || strlen(src) >= BSNAP_ID_MAX)
        return -EIO;
    strcpy(dst, src);
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
    r.description = strdup(desc);
    if (!r.description || tags_from_json(json_object_get(o, "tags"), &r.tags) < 0) {
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
    return dump(o, ret_json, ret_len);
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
    if (!r.path || tags_from_json(json_object_get(o, "tags"), &r.tags) < 0)
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
                  s->account, "Description", r->description ? r->description : "", "VolumeSize",
                  (json_int_t)gib_ceil(r->size), "Encrypted", 0, "StorageTier", "standard");
    if (!o)
        return NULL;
    if (r->state == BSNAP_SNAPSHOT_COMPLETED) {
        time_format_ms(r->completion_ms, done, sizeof done);
        json_object_set_new(o, "CompletionTime", json_string(done));
    }
    if (r->tags.n)
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
                  "AvailabilityZone", az, "State", "available", "CreateTime", created, "VolumeType",
                  "standard", "Encrypted", 0, "MultiAttachEnabled", 0);
    if (!o)
        return NULL;
    if (r->tags.n)
        json_object_set_new(o, "Tags", tags_to_json(&r->tags));
    json_object_set_new(o, "Path", json_string(r->path ? r->path : ""));
    json_object_set_new(o, "SizeBytes", json_integer((json_int_t)r->size));
    json_object_set_new(o, "LastSnapshotId", json_string(r->last_snapshot));
    return o;
}

/* ---- filters ---- */

bool ec2_wildcard_match(const char *p, const char *s)
{
    for (;;) {
        switch (*p) {
        case '\0':
            return *s == '\0';
        case '*':
            for (const char *t = s;; t++) {
                if (ec2_wildcard_match(p + 1, t))
                    return true;
                if (!*t)
                    return false;
            }
        case '?': /* zero or one character */
            if (ec2_wildcard_match(p + 1, s))
                return true;
            if (!*s)
                return false;
            p++;
            s++;
            continue;
        case '\\':
            if (p[1])
                p++;
            /* fall through */
        default:
            if (*p != *s)
                return false;
            p++;
            s++;
        }
    }
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
        if (!known)
            return bsnap_fail(-EINVAL, "InvalidParameterValue",
                              "the filter '%s' is invalid for this operation", f[i].name);
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

static bool any_value_matches(const bsnap_filter *f, const char *text)
{
    for (size_t j = 0; text && j < f->nvalues; j++)
        if (ec2_wildcard_match(f->values[j], text))
            return true;
    return false;
}

static bool filters_match(const struct filter_field *fields, json_t *o, const bsnap_filter *f,
                          size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool ok = false;
        json_t *tags = json_object_get(o, "Tags"), *t;
        size_t k;

        if (strncmp(f[i].name, "tag:", 4) == 0 || strcmp(f[i].name, "tag-key") == 0) {
            bool by_key = f[i].name[3] == '-';
            json_array_foreach (tags, k, t) {
                const char *key = json_string_value(json_object_get(t, "Key"));
                const char *val = json_string_value(json_object_get(t, "Value"));
                if (by_key
                        ? any_value_matches(&f[i], key)
                        : (key && strcmp(key, f[i].name + 4) == 0 && any_value_matches(&f[i], val)))
                    ok = true;
            }
        } else {
            char buf[32];
            for (const struct filter_field *ff = fields; ff->name; ff++)
                if (strcmp(ff->name, f[i].name) == 0)
                    ok = any_value_matches(&f[i], field_text(o, ff->field, buf, sizeof buf));
        }
        if (!ok)
            return false;
    }
    return true;
}

typedef json_t *(*ec2_func)(const bsnap_store *s, const void *rec);

static int describe(const bsnap_store *s, const void *recs, size_t size, size_t n, ec2_func fn,
                    const struct filter_field *fields, const char *list,
                    const bsnap_filter *filters, size_t nfilters, bool one, char **ret_json)
{
    json_t *arr;
    int r = check_filters(fields, filters, nfilters);

    if (r < 0)
        return r;
    if (one) {
        if (n != 1)
            return bsnap_fail(-EINVAL, "InternalError", "describe one of %zu", n);
        return dump(fn(s, recs), ret_json, NULL);
    }
    arr = json_array();
    if (!arr)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *o = fn(s, (const char *)recs + i * size);
        if (!o) {
            json_decref(arr);
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        }
        if (filters_match(fields, o, filters, nfilters))
            json_array_append_new(arr, o);
        else
            json_decref(o);
    }
    return dump(json_pack("{s:o}", list, arr), ret_json, NULL);
}

static json_t *snapshot_ec2_v(const bsnap_store *s, const void *r)
{
    return snapshot_ec2(s, r);
}

static json_t *volume_ec2_v(const bsnap_store *s, const void *r)
{
    return volume_ec2(s, r);
}

int json_describe_snapshots(const bsnap_store *s, const struct snapshot_rec *recs, size_t n,
                            const bsnap_filter *filters, size_t nfilters, bool one, char **ret_json)
{
    return describe(s, recs, sizeof *recs, n, snapshot_ec2_v, snapshot_fields, "Snapshots", filters,
                    nfilters, one, ret_json);
}

int json_describe_volumes(const bsnap_store *s, const struct volume_rec *recs, size_t n,
                          const bsnap_filter *filters, size_t nfilters, bool one, char **ret_json)
{
    return describe(s, recs, sizeof *recs, n, volume_ec2_v, volume_fields, "Volumes", filters,
                    nfilters, one, ret_json);
}

int json_changed_blocks(const struct changed_block *b, size_t n, uint64_t volume_size,
                        uint32_t block_size, char **ret_json)
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
    return dump(json_pack("{s:o, s:I, s:I, s:I}", "ChangedBlocks", arr, "VolumeSize",
                          (json_int_t)gib_ceil(volume_size), "VolumeSizeBytes",
                          (json_int_t)volume_size, "BlockSize", (json_int_t)block_size),
                ret_json, NULL);
}
