/* recycle.c - the Recycle Bin: retention rules (Amazon rbin's CreateRule,
 * GetRule, ListRules, UpdateRule, DeleteRule) and the snapshots a delete
 * put in the bin (EC2's ListSnapshotsInRecycleBin and
 * RestoreSnapshotFromRecycleBin), with their expiry (recycle.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "cleanup.h"
#include "error.h"
#include "index.h"
#include "lineage.h"
#include "keys.h"
#include "owner.h"
#include "recycle.h"
#include "store-handle.h"
#include "util.h"

#define DAY_MS INT64_C(86400000)
#define RULE_ID_LEN 11
#define KEY_MAX (BSNAP_ID_MAX + 2)

int64_t store_now_ms(const bsnap_store *s)
{
    return s->clock_ms ? s->clock_ms : time_now_ms();
}

void bsnap_store_set_clock(bsnap_store *s, int64_t now_ms)
{
    s->clock_ms = now_ms > 0 ? now_ms : 0;
}

static size_t key_of(char kind, const char *id, char out[KEY_MAX])
{
    return (size_t)snprintf(out, KEY_MAX, "%c%s", kind, id);
}

static int put_json(meta_txn *txn, char kind, const char *id, const json_t *doc)
{
    _cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    char key[KEY_MAX];

    if (!text)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    return meta_put(txn, T_LIFECYCLE, key, key_of(kind, id, key), text, strlen(text));
}

/* Every entry of kind @kind, as (id, JSON object) to @fn; a value that
 * does not parse is -EIO. */
static int foreach_json(meta_txn *txn, char kind, int (*fn)(void *, const char *, json_t *),
                        void *ud)
{
    meta_cursor *cur;
    char prefix[2] = {kind, 0};
    const void *k = prefix, *v;
    size_t klen = 1, vlen;
    int r = meta_cursor_open(txn, T_LIFECYCLE, &cur);

    if (r < 0)
        return r;
    for (r = meta_cursor_get(cur, CUR_SET_RANGE, &k, &klen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        char id[BSNAP_ID_MAX];
        json_t *doc;

        if (klen < 2 || ((const char *)k)[0] != kind || klen - 1 >= sizeof id)
            break;
        memcpy(id, (const char *)k + 1, klen - 1);
        id[klen - 1] = '\0';
        doc = json_loadb(v, vlen, 0, NULL);
        if (!json_is_object(doc)) {
            json_decref(doc);
            r = bsnap_fail(-EIO, "Store.Corrupt", "recycle bin %s %s: record does not parse",
                           kind == 'r' ? "rule" : "entry", id);
            break;
        }
        r = fn(ud, id, doc);
        json_decref(doc);
        if (r != 0)
            break;
    }
    meta_cursor_close(cur);
    return r == -ENOENT || r > 0 ? 0 : r;
}

/* ---- rules ---- */

static int invalid(const char *param, const char *fmt, const char *arg)
{
    bsnap_fail(-EINVAL, "ValidationException", fmt, arg);
    return error_set_parameter("%s", param);
}

static int rule_not_found(const char *id)
{
    bsnap_fail(-ENOENT, "ResourceNotFoundException", "recycle bin rule %.32s not found", id);
    return error_set_parameter("Identifier");
}

static bool rule_id_valid(const char *id)
{
    if (strlen(id) != RULE_ID_LEN)
        return false;
    for (size_t i = 0; i < RULE_ID_LEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z') ||
              (id[i] >= 'A' && id[i] <= 'Z')))
            return false;
    return true;
}

static int rule_load(const bsnap_store *s, meta_txn *txn, const char *id, json_t **ret)
{
    char key[KEY_MAX];
    const void *v;
    size_t vlen;
    json_t *doc;
    int r;

    *ret = NULL;
    if (!rule_id_valid(id))
        return invalid("Identifier", "rule identifier '%.32s' is malformed: 11 letters or digits",
                       id);
    r = meta_get(txn, T_LIFECYCLE, key, key_of('r', id, key), &v, &vlen);
    if (r == -ENOENT)
        return rule_not_found(id);
    if (r < 0)
        return r;
    doc = json_loadb(v, vlen, 0, NULL);
    if (!json_is_object(doc) || !json_is_string(json_object_get(doc, "owner"))) {
        json_decref(doc);
        return bsnap_fail(-EIO, "Store.Corrupt", "recycle bin rule %s: record is damaged", id);
    }
    if (strcmp(json_string_value(json_object_get(doc, "owner")), s->caller) != 0) {
        json_decref(doc);
        return rule_not_found(id);
    }
    *ret = doc;
    return 0;
}

/* Check @o's fields and set the given ones in @rec. */
static int rule_apply(json_t *rec, const bsnap_rbin_rule_options *o)
{
    json_t *tags;

    if (o->resource_type && strcmp(o->resource_type, "EBS_SNAPSHOT") != 0)
        return invalid("ResourceType",
                       "the resource type must be EBS_SNAPSHOT (images are not kept in the "
                       "Recycle Bin by blocksnap), not '%.32s'",
                       o->resource_type);
    if (o->description) {
        size_t n = strlen(o->description);
        if (n > 500)
            return invalid("Description", "the description is longer than 500 characters%s", "");
        for (size_t i = 0; i < n; i++) {
            char c = o->description[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == ' ' || c == '_' || c == '-'))
                return invalid("Description",
                               "the description may hold only letters, digits, spaces, _ and -%s",
                               "");
        }
    }
    if (o->retention_unit && strcmp(o->retention_unit, "DAYS") != 0)
        return invalid("RetentionPeriod.RetentionPeriodUnit",
                       "the retention period's unit must be DAYS, not '%.32s'", o->retention_unit);
    if (o->retention_days > RECYCLE_DAYS_MAX)
        return invalid("RetentionPeriod.RetentionPeriodValue",
                       "the retention period must be 1 to 365 days%s", "");
    if (o->nresource_tags > RECYCLE_TAGS_MAX)
        return invalid("ResourceTags", "at most 50 resource tags%s", "");
    tags = json_array();
    for (size_t i = 0; tags && i < o->nresource_tags; i++) {
        const bsnap_tag *t = &o->resource_tags[i];
        if (!t->key || !t->key[0] || strlen(t->key) > 128 || (t->value && strlen(t->value) > 256)) {
            json_decref(tags);
            return invalid("ResourceTags",
                           "a resource tag's key is 1 to 128 characters, its value at most "
                           "256%s",
                           "");
        }
        json_array_append_new(tags, t->value ? json_pack("{s:s, s:s}", "ResourceTagKey", t->key,
                                                         "ResourceTagValue", t->value)
                                             : json_pack("{s:s}", "ResourceTagKey", t->key));
    }
    if (!tags)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    if ((o->resource_type &&
         json_object_set_new(rec, "ResourceType", json_string(o->resource_type))) ||
        (o->description && json_object_set_new(rec, "Description", json_string(o->description))) ||
        (o->retention_days &&
         json_object_set_new(rec, "RetentionPeriod",
                             json_pack("{s:i, s:s}", "RetentionPeriodValue", (int)o->retention_days,
                                       "RetentionPeriodUnit", "DAYS"))) ||
        ((o->nresource_tags || o->resource_tags_set) &&
         json_object_set(rec, "ResourceTags", tags))) {
        json_decref(tags);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    json_decref(tags);
    return 0;
}

/* The rule @rec as rbin's GetRule answer. */
static json_t *rule_json(const bsnap_store *s, const json_t *rec, bool brief)
{
    const char *id = json_string_value(json_object_get(rec, "Identifier"));
    char arn[128];
    json_t *o;

    snprintf(arn, sizeof arn, "arn:aws:rbin:%s:%s:rule/%s", s->region, s->caller, id);
    o = json_pack("{s:s, s:O, s:O, s:s, s:s}", "Identifier", id, "Description",
                  json_object_get(rec, "Description"), "RetentionPeriod",
                  json_object_get(rec, "RetentionPeriod"), "LockState", "unlocked", "RuleArn", arn);
    if (o && !brief) {
        json_object_set(o, "ResourceType", json_object_get(rec, "ResourceType"));
        json_object_set(o, "ResourceTags", json_object_get(rec, "ResourceTags"));
        json_object_set_new(o, "Status", json_string("available"));
    }
    return o;
}

int bsnap_rbin_rule_create(bsnap_store *s, const bsnap_rbin_rule_options *o, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    json_t *rec = NULL;
    uint8_t raw[6];
    char id[16], hex[16];
    size_t count = 0;
    int r;

    bsnap_error_clear();
    *ret_doc = NULL;
    if (!o->resource_type)
        return invalid("ResourceType", "the resource type is required: EBS_SNAPSHOT%s", "");
    if (!o->retention_days)
        return invalid("RetentionPeriod",
                       "the retention period is required: 1 to 365 days (RetentionPeriodValue=N,"
                       "RetentionPeriodUnit=DAYS)%s",
                       "");
    if (!(rec = json_pack("{s:s, s:[]}", "Description", "", "ResourceTags")))
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    if ((r = rule_apply(rec, o)) < 0)
        goto out;
    if ((r = random_bytes(raw, sizeof raw)) < 0) {
        r = bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
        goto out;
    }
    hex_encode(raw, sizeof raw, hex);
    snprintf(id, sizeof id, "%.11s", hex);
    json_object_set_new(rec, "Identifier", json_string(id));
    json_object_set_new(rec, "owner", json_string(s->caller));
    if ((r = meta_txn_begin(s->meta, true, &txn)) < 0)
        goto out;
    {
        meta_cursor *cur;
        const void *k = "r", *v;
        size_t klen = 1, vlen;
        if ((r = meta_cursor_open(txn, T_LIFECYCLE, &cur)) < 0)
            goto out;
        for (r = meta_cursor_get(cur, CUR_SET_RANGE, &k, &klen, &v, &vlen);
             r == 0 && klen > 0 && ((const char *)k)[0] == 'r';
             r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen))
            count++;
        meta_cursor_close(cur);
    }
    if (count >= RECYCLE_RULE_LIMIT) {
        r = bsnap_fail(-EDQUOT, "ServiceQuotaExceededException",
                       "a store has at most %d recycle bin rules", RECYCLE_RULE_LIMIT);
        goto out;
    }
    if ((r = put_json(txn, 'r', id, rec)) < 0 || (r = meta_txn_commit(steal_ptr(txn))) < 0)
        goto out;
    *ret_doc = rule_json(s, rec, false);
    if (*ret_doc)
        json_object_set_new(*ret_doc, "Tags", json_array());
    r = *ret_doc ? 0 : bsnap_fail(-ENOMEM, "InternalError", "out of memory");
out:
    json_decref(rec);
    return r;
}

int bsnap_rbin_rule_update(bsnap_store *s, const char *id, const bsnap_rbin_rule_options *o,
                           json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    json_t *rec = NULL;
    int r;

    bsnap_error_clear();
    *ret_doc = NULL;
    if ((r = meta_txn_begin(s->meta, true, &txn)) < 0 || (r = rule_load(s, txn, id, &rec)) < 0 ||
        (r = rule_apply(rec, o)) < 0 || (r = put_json(txn, 'r', id, rec)) < 0 ||
        (r = meta_txn_commit(steal_ptr(txn))) < 0)
        goto out;
    *ret_doc = rule_json(s, rec, false);
    r = *ret_doc ? 0 : bsnap_fail(-ENOMEM, "InternalError", "out of memory");
out:
    json_decref(rec);
    return r;
}

int bsnap_rbin_rule_get(bsnap_store *s, const char *id, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    json_t *rec = NULL;
    int r;

    bsnap_error_clear();
    *ret_doc = NULL;
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0 || (r = rule_load(s, txn, id, &rec)) < 0)
        return r;
    *ret_doc = rule_json(s, rec, false);
    json_decref(rec);
    return *ret_doc ? 0 : bsnap_fail(-ENOMEM, "InternalError", "out of memory");
}

int bsnap_rbin_rule_delete(bsnap_store *s, const char *id, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    json_t *rec = NULL;
    char key[KEY_MAX];
    int r;

    bsnap_error_clear();
    *ret_doc = NULL;
    if ((r = meta_txn_begin(s->meta, true, &txn)) < 0 || (r = rule_load(s, txn, id, &rec)) < 0 ||
        (r = meta_del(txn, T_LIFECYCLE, key, key_of('r', id, key))) < 0 ||
        (r = meta_txn_commit(steal_ptr(txn))) < 0)
        goto out;
    *ret_doc = json_object();
    r = *ret_doc ? 0 : bsnap_fail(-ENOMEM, "InternalError", "out of memory");
out:
    json_decref(rec);
    return r;
}

/* Whether the tags list @rtags (ResourceTags) names one of @t's tags. */
static bool tags_match(const json_t *rtags, const struct tags *t)
{
    size_t i;
    json_t *x;

    json_array_foreach ((json_t *)rtags, i, x) {
        const char *k = json_string_value(json_object_get(x, "ResourceTagKey"));
        const char *v = json_string_value(json_object_get(x, "ResourceTagValue"));
        for (size_t j = 0; k && j < t->n; j++)
            if (strcmp(t->v[j].key, k) == 0 && (!v || strcmp(t->v[j].value, v) == 0))
                return true;
    }
    return false;
}

struct list_ctx {
    const bsnap_store *s;
    const bsnap_tag *tags;
    size_t ntags;
    json_t *list;
    /* recycle_days() */
    const struct snapshot_rec *rec;
    const char *owner;
    uint32_t days;
};

static int list_rule(void *ud, const char *id, json_t *rec)
{
    struct list_ctx *c = ud;
    const json_t *rt = json_object_get(rec, "ResourceTags");
    bool ok = c->ntags == 0;

    (void)id;
    if (strcmp(json_string_value(json_object_get(rec, "owner")) ?: "", c->s->caller) != 0)
        return 0;
    /* rbin's filter: the rules whose resource tags are exactly these */
    if (c->ntags && json_array_size(rt) == c->ntags) {
        ok = true;
        for (size_t i = 0; i < c->ntags && ok; i++) {
            struct tag one = {(char *)c->tags[i].key, (char *)(c->tags[i].value ?: "")};
            struct tags t = {&one, 1};
            ok = tags_match(rt, &t);
        }
    }
    if (ok && json_array_append_new(c->list, rule_json(c->s, rec, true)) < 0)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    return 0;
}

int bsnap_rbin_rules_list(bsnap_store *s, const char *resource_type, const bsnap_tag *tags,
                          size_t ntags, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct list_ctx c = {.s = s, .tags = tags, .ntags = ntags, .list = json_array()};
    int r;

    bsnap_error_clear();
    *ret_doc = NULL;
    if (!c.list)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    if (!resource_type || strcmp(resource_type, "EBS_SNAPSHOT") != 0) {
        json_decref(c.list);
        return invalid("ResourceType", "the resource type must be EBS_SNAPSHOT, not '%.32s'",
                       resource_type ? resource_type : "");
    }
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0 ||
        (r = foreach_json(txn, 'r', list_rule, &c)) < 0) {
        json_decref(c.list);
        return r;
    }
    *ret_doc = json_pack("{s:o}", "Rules", c.list);
    return *ret_doc ? 0 : bsnap_fail(-ENOMEM, "InternalError", "out of memory");
}

static int match_rule(void *ud, const char *id, json_t *rec)
{
    struct list_ctx *c = ud;
    const json_t *rt = json_object_get(rec, "ResourceTags");
    json_int_t days = json_integer_value(
        json_object_get(json_object_get(rec, "RetentionPeriod"), "RetentionPeriodValue"));

    (void)id;
    if (strcmp(json_string_value(json_object_get(rec, "owner")) ?: "", c->owner) != 0)
        return 0;
    if ((json_array_size(rt) == 0 || tags_match(rt, &c->rec->tags)) && days > 0 &&
        days <= RECYCLE_DAYS_MAX && (uint32_t)days > c->days)
        c->days = (uint32_t)days;
    return 0;
}

int recycle_days(meta_txn *txn, const struct snapshot_rec *rec, uint32_t *ret_days)
{
    struct list_ctx c = {.rec = rec};
    char owner[13];
    int r;

    /* an owner of "" is the store's account: rules name accounts */
    snprintf(owner, sizeof owner, "%s", rec->owner);
    c.owner = owner;
    r = foreach_json(txn, 'r', match_rule, &c);
    *ret_days = r < 0 ? 0 : c.days;
    return r;
}

/* ---- the bin ---- */

int recycle_put(meta_txn *txn, const struct snapshot_rec *rec, int64_t now_ms, uint32_t days)
{
    _cleanup_free_ char *text = NULL;
    size_t len;
    json_t *e;
    int r = snapshot_rec_encode(rec, &text, &len);

    if (r < 0)
        return r;
    e = json_pack("{s:s, s:I, s:I, s:s%}", "owner", rec->owner, "enter", (json_int_t)now_ms, "exit",
                  (json_int_t)(now_ms + (int64_t)days * DAY_MS), "record", text, len);
    if (!e)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    r = put_json(txn, 'b', rec->id, e);
    json_decref(e);
    return r;
}

/* Decode entry @e of snapshot @id into @ret. */
static int entry_record(const char *id, const json_t *e, struct snapshot_rec *ret)
{
    const json_t *t = json_object_get(e, "record");

    if (!json_is_string(t) || !json_is_integer(json_object_get(e, "exit")) ||
        !json_is_integer(json_object_get(e, "enter")))
        return bsnap_fail(-EIO, "Store.Corrupt", "recycle bin entry %s is damaged", id);
    return snapshot_rec_decode(json_string_value(t), json_string_length(t), ret);
}

int recycle_entry_decode(const char *id, const void *buf, size_t len, struct snapshot_rec *ret,
                         int64_t *ret_enter_ms, int64_t *ret_exit_ms)
{
    json_t *e = json_loadb(buf, len, 0, NULL);
    int r;

    if (!json_is_object(e)) {
        json_decref(e);
        return bsnap_fail(-EIO, "Store.Corrupt", "recycle bin entry %s is damaged", id);
    }
    r = entry_record(id, e, ret);
    if (r == 0) {
        *ret_enter_ms = json_integer_value(json_object_get(e, "enter"));
        *ret_exit_ms = json_integer_value(json_object_get(e, "exit"));
    }
    json_decref(e);
    return r;
}

struct each_ctx {
    int (*fn)(void *, const struct snapshot_rec *);
    void *ud;
};

static int each_entry(void *ud, const char *id, json_t *e)
{
    struct each_ctx *c = ud;
    struct snapshot_rec rec = {0};
    int r = entry_record(id, e, &rec);

    if (r == 0)
        r = c->fn(c->ud, &rec);
    snapshot_rec_clear(&rec);
    return r;
}

int recycle_foreach(meta_txn *txn, int (*fn)(void *ud, const struct snapshot_rec *rec), void *ud)
{
    struct each_ctx c = {fn, ud};

    return foreach_json(txn, 'b', each_entry, &c);
}

struct bin_list {
    const bsnap_store *s;
    const char *const *ids;
    size_t nids;
    int64_t now;
    json_t *list;
    /* expiry */
    char (*due)[BSNAP_ID_MAX];
    size_t ndue, capdue;
};

static int list_entry(void *ud, const char *id, json_t *e)
{
    struct bin_list *c = ud;
    struct snapshot_rec rec = {0};
    char enter[40], exit_[40];
    bool want = c->nids == 0;
    int r;

    if (!owner_visible(c->s, json_string_value(json_object_get(e, "owner")) ?: ""))
        return 0;
    if (json_integer_value(json_object_get(e, "exit")) <= c->now)
        return 0; /* expired: gc frees it */
    for (size_t i = 0; i < c->nids && !want; i++)
        want = strcmp(c->ids[i], id) == 0;
    if (!want)
        return 0;
    if ((r = entry_record(id, e, &rec)) < 0)
        return r;
    time_format_ms(json_integer_value(json_object_get(e, "enter")), enter, sizeof enter);
    time_format_ms(json_integer_value(json_object_get(e, "exit")), exit_, sizeof exit_);
    r = json_array_append_new(
        c->list, json_pack("{s:s, s:s, s:s, s:s, s:s}", "SnapshotId", id, "RecycleBinEnterTime",
                           enter, "RecycleBinExitTime", exit_, "Description",
                           rec.description ? rec.description : "", "VolumeId", rec.volume_id));
    snapshot_rec_clear(&rec);
    return r < 0 ? bsnap_fail(-ENOMEM, "InternalError", "out of memory") : 0;
}

int bsnap_rbin_snapshots_list(bsnap_store *s, const char *const *ids, size_t n, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct bin_list c = {.s = s, .ids = ids, .nids = n, .now = store_now_ms(s)};
    int r;

    bsnap_error_clear();
    *ret_doc = NULL;
    for (size_t i = 0; i < n; i++)
        if ((r = check_snapshot_id(ids[i])) < 0)
            return error_set_parameter("SnapshotIds[%zu]", i);
    if (!(c.list = json_array()))
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0 ||
        (r = foreach_json(txn, 'b', list_entry, &c)) < 0) {
        json_decref(c.list);
        return r;
    }
    *ret_doc = json_pack("{s:o}", "Snapshots", c.list);
    return *ret_doc ? 0 : bsnap_fail(-ENOMEM, "InternalError", "out of memory");
}

static int bin_not_found(const char *id)
{
    bsnap_fail(-ENOENT, "InvalidSnapshot.NotFound", "the snapshot '%s' is not in the Recycle Bin",
               id);
    return error_set_parameter("SnapshotId");
}

int bsnap_rbin_snapshot_restore(bsnap_store *s, const char *id, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec rec = {0}, parent = {0};
    char key[KEY_MAX];
    const void *v;
    size_t vlen;
    json_t *e = NULL;
    int r;

    bsnap_error_clear();
    *ret_doc = NULL;
    if ((r = check_snapshot_id(id)) < 0)
        return error_set_parameter("SnapshotId");
    if ((r = meta_txn_begin(s->meta, true, &txn)) < 0)
        return r;
    r = meta_get(txn, T_LIFECYCLE, key, key_of('b', id, key), &v, &vlen);
    if (r == -ENOENT) {
        r = bin_not_found(id);
        goto out;
    }
    if (r < 0)
        goto out;
    e = json_loadb(v, vlen, 0, NULL);
    if (!json_is_object(e)) {
        r = bsnap_fail(-EIO, "Store.Corrupt", "recycle bin entry %s is damaged", id);
        goto out;
    }
    if (!owner_visible(s, json_string_value(json_object_get(e, "owner")) ?: "") ||
        json_integer_value(json_object_get(e, "exit")) <= store_now_ms(s)) {
        r = bin_not_found(id);
        goto out;
    }
    if ((r = entry_record(id, e, &rec)) < 0)
        goto out;
    /* A parent deleted meanwhile is no parent any more (as delete
     * re-parents the children of what it deletes, to nothing here). */
    if (rec.parent_id[0] && catalog_snapshot_load(txn, rec.parent_id, &parent) == -ENOENT)
        rec.parent_id[0] = '\0';
    bsnap_error_clear();
    if ((r = catalog_snapshot_save(txn, &rec)) < 0 ||
        (r = meta_del(txn, T_LIFECYCLE, key, key_of('b', id, key))) < 0 ||
        (r = meta_txn_commit(steal_ptr(txn))) < 0)
        goto out;
    r = bsnap_snapshot_describe_one(s, id, ret_doc);
out:
    json_decref(e);
    snapshot_rec_clear(&rec);
    snapshot_rec_clear(&parent);
    return r;
}

static int due_entry(void *ud, const char *id, json_t *e)
{
    struct bin_list *c = ud;

    if (json_integer_value(json_object_get(e, "exit")) > c->now)
        return 0;
    if (c->ndue == c->capdue) {
        void *p = array_grow(c->due, c->ndue, &c->capdue, sizeof *c->due, 16);
        if (!p)
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        c->due = p;
    }
    snprintf(c->due[c->ndue++], BSNAP_ID_MAX, "%s", id);
    return 0;
}

/* Free entry @id: drop its root's reference (the cascade frees what only
 * it named) and the entry, in one transaction. */
static int expire_one(bsnap_store *s, const char *id)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec rec = {0};
    char key[KEY_MAX];
    const void *v;
    size_t vlen;
    json_t *e = NULL;
    int r;

    if ((r = meta_txn_begin(s->meta, true, &txn)) < 0)
        return r;
    r = meta_get(txn, T_LIFECYCLE, key, key_of('b', id, key), &v, &vlen);
    if (r == -ENOENT)
        return 0; /* restored or freed meanwhile */
    if (r < 0)
        return r;
    e = json_loadb(v, vlen, 0, NULL);
    r = json_is_object(e)
            ? entry_record(id, e, &rec)
            : bsnap_fail(-EIO, "Store.Corrupt", "recycle bin entry %s is damaged", id);
    if (r == 0 && rec.state == BSNAP_SNAPSHOT_COMPLETED && !chunk_id_is_zero(&rec.root) &&
        (r = lineage_open_flags(s, &rec, KEYS_OPEN_STORE, NULL)) == 0)
        r = index_decref(s, txn, &rec.root);
    if (r == 0 && (r = meta_del(txn, T_LIFECYCLE, key, key_of('b', id, key))) == 0)
        r = meta_txn_commit(steal_ptr(txn));
    json_decref(e);
    snapshot_rec_clear(&rec);
    return r < 0 ? r : 1;
}

int recycle_expire(bsnap_store *s)
{
    struct bin_list c = {.s = s, .now = store_now_ms(s)};
    int freed = 0, r;

    {
        _cleanup_txn_abort_ meta_txn *txn = NULL;
        if ((r = meta_txn_begin(s->meta, false, &txn)) < 0 ||
            (r = foreach_json(txn, 'b', due_entry, &c)) < 0) {
            free(c.due);
            return r;
        }
    }
    for (size_t i = 0; i < c.ndue; i++) {
        r = expire_one(s, c.due[i]);
        if (r < 0) {
            bsnap_log(BSNAP_LOG_WARNING, "recycle",
                      "recycle bin: snapshot %s stays past its time: %s", c.due[i],
                      bsnap_last_error()->message ? bsnap_last_error()->message : "");
            bsnap_error_clear();
        } else {
            freed += r;
        }
    }
    free(c.due);
    return freed;
}
