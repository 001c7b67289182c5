/* template.c - launch templates and their versions (template.h).
 *
 * Each public call is one transaction: it finds the template (by id or by
 * name, the caller's only), checks what it was given, and writes the
 * records or builds the document.  The JSON forms of the records are
 * small and private to this file; the data of a version is stored as it
 * was checked, and is what describe returns.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "error.h"
#include "owner.h"
#include "record.h"
#include "store-handle.h"
#include "template.h"
#include "util.h"

/* Keys of T_TEMPLATES (template.h). */
#define KEY_MAX 256

static size_t key_template(const char *id, char out[KEY_MAX])
{
    return (size_t)snprintf(out, KEY_MAX, "t%s", id);
}

static size_t key_version(const char *id, uint64_t n, char out[KEY_MAX])
{
    return (size_t)snprintf(out, KEY_MAX, "v%s:%010" PRIu64, id, n);
}

/* "n" owner NUL name, or "c" owner NUL token. */
static size_t key_owned(char kind, const char *owner, const char *s, char out[KEY_MAX])
{
    int n = snprintf(out, KEY_MAX, "%c%s", kind, owner);

    snprintf(out + n + 1, KEY_MAX - (size_t)n - 1, "%s", s);
    return (size_t)n + 1 + strlen(s);
}

static int put_json(meta_txn *txn, const char *key, size_t klen, const json_t *doc)
{
    _cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);

    if (!text)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    return meta_put(txn, T_TEMPLATES, key, klen, text, strlen(text));
}

/* Load the JSON record under @key: -ENOENT (not recorded) when absent,
 * -EIO (recorded) when it does not parse. */
static int get_json(meta_txn *txn, const char *key, size_t klen, json_t **ret)
{
    const void *v;
    size_t vlen;
    json_t *doc;
    int r = meta_get(txn, T_TEMPLATES, key, klen, &v, &vlen);

    if (r < 0)
        return r;
    doc = json_loadb(v, vlen, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return bsnap_fail(-EIO, "Store.Corrupt", "launch template record %.*s does not parse",
                          (int)(klen < 64 ? klen : 64), key);
    }
    *ret = doc;
    return 0;
}

static const char *rstr(const json_t *rec, const char *key)
{
    const char *s = json_string_value(json_object_get(rec, key));
    return s ? s : "";
}

static uint64_t rnum(const json_t *rec, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(rec, key));
    return v > 0 ? (uint64_t)v : 0;
}

/* ---- finding a template ---- */

static int not_found_id(const char *id)
{
    bsnap_fail(-ENOENT, "InvalidLaunchTemplateId.NotFound",
               "The specified launch template, with template ID %s, does not exist.", id);
    return error_set_parameter("LaunchTemplateId");
}

static int not_found_name(const char *name)
{
    bsnap_fail(-ENOENT, "InvalidLaunchTemplateName.NotFoundException",
               "The specified launch template, with template name %s, does not exist.", name);
    return error_set_parameter("LaunchTemplateName");
}

static int check_id(const char *id)
{
    if (id_valid(id, "lt"))
        return 0;
    bsnap_fail(-EINVAL, "InvalidLaunchTemplateId.Malformed",
               "invalid id: \"%.64s\" (expecting \"lt-...\")", id);
    return error_set_parameter("LaunchTemplateId");
}

static int check_name(const char *name)
{
    if (template_name_valid(name))
        return 0;
    bsnap_fail(-EINVAL, "InvalidLaunchTemplateName.MalformedException",
               "launch template names are 3 to 128 characters of letters, digits and ().-/_");
    return error_set_parameter("LaunchTemplateName");
}

/* Exactly one of id and name. */
static int check_ref(const bsnap_template_ref *ref)
{
    if (!ref->id && !ref->name) {
        bsnap_fail(-EINVAL, "MissingParameter",
                   "The request must contain the parameter @{LaunchTemplateId} or "
                   "@{LaunchTemplateName}");
        return error_set_parameter("LaunchTemplateId");
    }
    if (ref->id && ref->name) {
        bsnap_fail(-EINVAL, "InvalidParameterCombination",
                   "Either provide @{LaunchTemplateId} or @{LaunchTemplateName}, not both");
        return error_set_parameter("LaunchTemplateName");
    }
    return ref->id ? check_id(ref->id) : check_name(ref->name);
}

/* The record of template @id when the caller owns it. */
static int load_by_id(const bsnap_store *s, meta_txn *txn, const char *id, json_t **ret)
{
    char key[KEY_MAX];
    json_t *rec = NULL;
    int r = get_json(txn, key, key_template(id, key), &rec);

    if (r == -ENOENT)
        return not_found_id(id);
    if (r < 0)
        return r;
    if (!owner_visible(s, rstr(rec, "owner"))) {
        json_decref(rec);
        return not_found_id(id);
    }
    *ret = rec;
    return 0;
}

static int load_by_name(const bsnap_store *s, meta_txn *txn, const char *name, json_t **ret)
{
    char key[KEY_MAX], id[BSNAP_ID_MAX];
    const void *v;
    size_t vlen;
    int r = meta_get(txn, T_TEMPLATES, key, key_owned('n', s->caller, name, key), &v, &vlen);

    if (r == -ENOENT)
        return not_found_name(name);
    if (r < 0)
        return r;
    if (vlen >= sizeof id)
        return bsnap_fail(-EIO, "Store.Corrupt", "launch template name %s: bad index entry", name);
    memcpy(id, v, vlen);
    id[vlen] = '\0';
    r = load_by_id(s, txn, id, ret);
    return r == -ENOENT ? not_found_name(name) : r;
}

static int load_ref(const bsnap_store *s, meta_txn *txn, const bsnap_template_ref *ref,
                    json_t **ret)
{
    int r = check_ref(ref);

    if (r < 0)
        return r;
    return ref->id ? load_by_id(s, txn, ref->id, ret) : load_by_name(s, txn, ref->name, ret);
}

/* Check @ref, begin a write transaction (*@ret_txn) and load the template
 * it names into *@ret: what a call that changes one template starts with. */
static int begin_ref(bsnap_store *s, const bsnap_template_ref *ref, meta_txn **ret_txn,
                     json_t **ret)
{
    int r = check_ref(ref);

    if (r < 0 || (r = meta_txn_begin(s->meta, true, ret_txn)) < 0)
        return r;
    return load_ref(s, *ret_txn, ref, ret);
}

/* ---- versions ---- */

/* Walk the versions of @id in number order: @fn(version record, @ud) for
 * each, stopping at its first non-zero answer.  With @fn NULL, only count
 * them and find the highest: *@ret_latest (0 when none). */
typedef int (*version_fn)(json_t *vrec, uint64_t n, void *ud);
static int versions_walk(meta_txn *txn, const char *id, version_fn fn, void *ud,
                         uint64_t *ret_latest, size_t *ret_count)
{
    meta_cursor *cur;
    char prefix[KEY_MAX];
    size_t plen = (size_t)snprintf(prefix, sizeof prefix, "v%s:", id);
    const void *k = prefix, *v;
    size_t klen = plen, vlen, count = 0;
    uint64_t latest = 0;
    int r = meta_cursor_open(txn, T_TEMPLATES, &cur);

    if (r < 0)
        return r;
    for (r = meta_cursor_get(cur, CUR_SET_RANGE, &k, &klen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        char num[16];
        uint64_t n;

        if (klen != plen + 10 || memcmp(k, prefix, plen) != 0)
            break;
        memcpy(num, (const char *)k + plen, 10);
        num[10] = '\0';
        n = strtoull(num, NULL, 10);
        count++;
        latest = n;
        if (fn) {
            json_t *vrec = json_loadb(v, vlen, 0, NULL);
            if (!json_is_object(vrec)) {
                json_decref(vrec);
                r = bsnap_fail(-EIO, "Store.Corrupt",
                               "launch template %s version %" PRIu64 ": record does not parse", id,
                               n);
                break;
            }
            r = fn(vrec, n, ud);
            json_decref(vrec);
            if (r != 0)
                break;
        }
    }
    meta_cursor_close(cur);
    if (r == -ENOENT)
        r = 0;
    if (r < 0)
        return r;
    if (ret_latest)
        *ret_latest = latest;
    if (ret_count)
        *ret_count = count;
    return r;
}

static int latest_of(meta_txn *txn, const char *id, uint64_t *ret)
{
    return versions_walk(txn, id, NULL, NULL, ret, NULL);
}

/* Parse a version: a number (1 or more), "$Latest" or "$Default"; 0 in
 * *@ret for a word that is none of them. */
static uint64_t version_number(const char *v, uint64_t latest, uint64_t dflt)
{
    char *end;
    unsigned long long n;

    if (strcmp(v, "$Latest") == 0)
        return latest;
    if (strcmp(v, "$Default") == 0)
        return dflt;
    if (v[0] < '0' || v[0] > '9')
        return 0;
    errno = 0;
    n = strtoull(v, &end, 10);
    return *end || errno ? 0 : (uint64_t)n;
}

static int version_load(meta_txn *txn, const char *id, uint64_t n, json_t **ret)
{
    char key[KEY_MAX];

    return get_json(txn, key, key_version(id, n, key), ret);
}

static int version_not_found(const char *v, const char *id, const char *param)
{
    bsnap_fail(-ENOENT, "InvalidLaunchTemplateId.VersionNotFound",
               "Could not find the specified version %.32s for the launch template with ID %s.", v,
               id);
    return error_set_parameter("%s", param);
}

/* ---- documents ---- */

static void created_by(const bsnap_store *s, const json_t *rec, char out[64])
{
    snprintf(out, 64, "arn:aws:iam::%s:root", owner_of(s, rstr(rec, "owner")));
}

static json_t *time_json(int64_t ms)
{
    char t[32];

    time_format_ms(ms, t, sizeof t);
    return json_string(t);
}

/* The LaunchTemplate object of @rec, whose highest version is @latest. */
static json_t *template_doc(const bsnap_store *s, const json_t *rec, uint64_t latest)
{
    char by[64];
    json_t *doc, *tags = json_object_get(rec, "tags");

    created_by(s, rec, by);
    doc = json_pack("{s:s, s:s, s:o, s:s, s:I, s:I}", "LaunchTemplateId", rstr(rec, "id"),
                    "LaunchTemplateName", rstr(rec, "name"), "CreateTime",
                    time_json((int64_t)rnum(rec, "create-ms")), "CreatedBy", by,
                    "DefaultVersionNumber", (json_int_t)rnum(rec, "default"), "LatestVersionNumber",
                    (json_int_t)latest);
    if (doc && json_array_size(tags) && json_object_set(doc, "Tags", tags) < 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static json_t *version_doc(const bsnap_store *s, const json_t *rec, const json_t *vrec)
{
    char by[64];
    uint64_t n = rnum(vrec, "number");
    json_t *doc, *desc = json_object_get(vrec, "description");

    created_by(s, rec, by);
    doc = json_pack("{s:s, s:s, s:I, s:o, s:s, s:b, s:O}", "LaunchTemplateId", rstr(rec, "id"),
                    "LaunchTemplateName", rstr(rec, "name"), "VersionNumber", (json_int_t)n,
                    "CreateTime", time_json((int64_t)rnum(vrec, "create-ms")), "CreatedBy", by,
                    "DefaultVersion", n == rnum(rec, "default"), "LaunchTemplateData",
                    json_object_get(vrec, "data"));
    if (doc && desc && json_object_set(doc, "VersionDescription", desc) < 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static int wrap(const char *key, json_t *doc, json_t **ret)
{
    json_t *w = doc ? json_pack("{s:o}", key, doc) : NULL;

    if (!w)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    *ret = w;
    return 0;
}

/* ---- create ---- */

static int check_description(const char *d)
{
    long n;

    if (!d)
        return 0;
    n = utf8_length(d, strlen(d));
    if (n >= 0 && n <= TEMPLATE_DESCRIPTION_MAX)
        return 0;
    bsnap_fail(-EINVAL, "InvalidParameterValue",
               "a version description is UTF-8 of at most %d characters", TEMPLATE_DESCRIPTION_MAX);
    return error_set_parameter("VersionDescription");
}

/* The new version's data: @o's, over its source's when it has one. */
static int new_data(const bsnap_store *s, meta_txn *txn, const bsnap_template_options *o,
                    const json_t *rec, uint64_t latest, json_t **ret)
{
    json_t *given, *src = NULL, *merged;
    int r;

    if (!o->data) {
        bsnap_fail(-EINVAL, "MissingParameter",
                   "The request must contain the parameter @{LaunchTemplateData}");
        return error_set_parameter("LaunchTemplateData");
    }
    if ((r = template_data_parse(o->data, strlen(o->data), &given)) < 0)
        return r;
    if (o->source_version) {
        uint64_t n = version_number(o->source_version, latest, rnum(rec, "default"));
        r = n ? version_load(txn, rstr(rec, "id"), n, &src) : -ENOENT;
        if (r == -ENOENT)
            r = version_not_found(o->source_version, rstr(rec, "id"), "SourceVersion");
        if (r < 0) {
            json_decref(given);
            return r;
        }
        merged = template_data_merge(json_object_get(src, "data"), given);
        json_decref(src);
        json_decref(given);
        if (!merged)
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        given = merged;
    }
    if ((r = template_data_check_store(s, txn, given)) < 0) {
        json_decref(given);
        return r;
    }
    *ret = given;
    return 0;
}

static int write_version(meta_txn *txn, const char *id, uint64_t n, const char *desc, int64_t now,
                         json_t *data)
{
    char key[KEY_MAX];
    json_t *v = json_pack("{s:I, s:I, s:O}", "number", (json_int_t)n, "create-ms", (json_int_t)now,
                          "data", data);
    int r;

    if (!v || (desc && json_object_set_new(v, "description", json_string(desc)) < 0)) {
        json_decref(v);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    r = put_json(txn, key, key_version(id, n, key), v);
    json_decref(v);
    return r;
}

static json_t *tags_json(const bsnap_tag *tags, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_pack("{s:s, s:s}", "Key", tags[i].key, "Value",
                                               tags[i].value ? tags[i].value : "")) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* The template's own tags, checked as DescribeLaunchTemplates will show
 * them. */
static int check_template_tags(const bsnap_tag *tags, size_t n)
{
    _cleanup_free_ char *text = NULL;
    json_t *specs;
    json_t *data;
    int r;

    if (n > TAGS_MAX) {
        bsnap_fail(-EINVAL, "TagLimitExceeded", "at most %d tags per resource", TAGS_MAX);
        return error_set_parameter("TagSpecifications[0].Tags");
    }
    /* One checker for tags: the data's, through a tag specification. */
    specs = json_pack("{s:[{s:s, s:o}]}", "TagSpecifications", "ResourceType", "instance", "Tags",
                      tags_json(tags, n));
    text = specs ? json_dumps(specs, JSON_COMPACT) : NULL;
    json_decref(specs);
    if (!text)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    r = template_data_parse(text, strlen(text), &data);
    if (r < 0) {
        const bsnap_error *e = bsnap_last_error();
        const char *p = strstr(e->parameter, ".Tags");
        return p ? error_set_parameter("TagSpecifications[0]%s", p) : r;
    }
    json_decref(data);
    return 0;
}

/* The request a ClientToken stands for. */
static char *request_text(const bsnap_template_options *o)
{
    json_t *q =
        json_pack("{s:s, s:s?, s:s, s:o}", "name", o->ref.name, "description",
                  o->version_description, "data", o->data, "tags", tags_json(o->tags, o->ntags));
    char *t = q ? json_dumps(q, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

    json_decref(q);
    return t;
}

/* Templates the caller owns. */
static int count_owned(const bsnap_store *s, meta_txn *txn, size_t *ret)
{
    meta_cursor *cur;
    char prefix[KEY_MAX];
    size_t plen = (size_t)snprintf(prefix, sizeof prefix, "n%s", s->caller) + 1, n = 0;
    const void *k = prefix, *v;
    size_t klen = plen, vlen;
    int r = meta_cursor_open(txn, T_TEMPLATES, &cur);

    if (r < 0)
        return r;
    for (r = meta_cursor_get(cur, CUR_SET_RANGE, &k, &klen, &v, &vlen);
         r == 0 && klen >= plen && memcmp(k, prefix, plen) == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen))
        n++;
    meta_cursor_close(cur);
    if (r < 0 && r != -ENOENT)
        return r;
    *ret = n;
    return 0;
}

/* An earlier create with @o's token: 1 and its document, 0 when none. */
static int token_answer(const bsnap_store *s, meta_txn *txn, const bsnap_template_options *o,
                        const char *request, json_t **ret_doc)
{
    char key[KEY_MAX];
    json_t *tok, *rec;
    uint64_t latest;
    int r = get_json(txn, key, key_owned('c', s->caller, o->client_token, key), &tok);

    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    if (strcmp(rstr(tok, "request"), request) != 0) {
        json_decref(tok);
        bsnap_fail(-EINVAL, "IdempotentParameterMismatch",
                   "the client token %s was used with other parameters", o->client_token);
        return error_set_parameter("ClientToken");
    }
    r = load_by_id(s, txn, rstr(tok, "id"), &rec);
    json_decref(tok);
    if (r == -ENOENT) /* deleted since: the token makes a new one */
        return 0;
    if (r < 0)
        return r;
    if ((r = latest_of(txn, rstr(rec, "id"), &latest)) == 0)
        r = wrap("LaunchTemplate", template_doc(s, rec, latest), ret_doc);
    json_decref(rec);
    return r < 0 ? r : 1;
}

static int template_create(bsnap_store *s, const bsnap_template_options *o, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    _cleanup_free_ char *request = NULL;
    char id[BSNAP_ID_MAX], key[KEY_MAX];
    json_t *rec = NULL, *data = NULL, *tags;
    int64_t now = time_now_ms();
    size_t owned;
    int r;

    if (!o->ref.name) {
        bsnap_fail(-EINVAL, "MissingParameter",
                   "The request must contain the parameter @{LaunchTemplateName}");
        return error_set_parameter("LaunchTemplateName");
    }
    if (o->ref.id) {
        bsnap_fail(-EINVAL, "InvalidParameterCombination",
                   "a new launch template takes a name; its id is given to it");
        return error_set_parameter("LaunchTemplateId");
    }
    if ((r = check_name(o->ref.name)) < 0 || (r = check_description(o->version_description)) < 0 ||
        (r = check_template_tags(o->tags, o->ntags)) < 0)
        return r;
    if (o->client_token && (!o->client_token[0] || strlen(o->client_token) > TEMPLATE_TOKEN_MAX)) {
        bsnap_fail(-EINVAL, "InvalidParameterValue", "a client token is 1 to %d characters",
                   TEMPLATE_TOKEN_MAX);
        return error_set_parameter("ClientToken");
    }
    if (o->client_token && !(request = request_text(o)))
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    if ((r = id_generate("lt", id)) < 0)
        return bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
    if ((r = meta_txn_begin(s->meta, true, &txn)) < 0)
        return r;
    if (o->client_token && (r = token_answer(s, txn, o, request, ret_doc)) != 0)
        return r < 0 ? r : 0;
    if (meta_get(txn, T_TEMPLATES, key, key_owned('n', s->caller, o->ref.name, key),
                 &(const void *){0}, &(size_t){0}) == 0) {
        bsnap_fail(-EEXIST, "InvalidLaunchTemplateName.AlreadyExistsException",
                   "Launch template name already in use.");
        return error_set_parameter("LaunchTemplateName");
    }
    if ((r = count_owned(s, txn, &owned)) < 0)
        return r;
    if (owned >= TEMPLATE_LIMIT)
        return bsnap_fail(-EDQUOT, "MaxTemplateLimitExceeded",
                          "this account has %d launch templates already, the most it may have",
                          TEMPLATE_LIMIT);
    rec = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "id", id, "name", o->ref.name, "owner",
                    s->caller, "create-ms", (json_int_t)now, "default", (json_int_t)1, "next",
                    (json_int_t)2);
    tags = tags_json(o->tags, o->ntags);
    if (!rec || !tags || (o->ntags && json_object_set(rec, "tags", tags) < 0)) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    json_decref(steal_ptr(tags));
    if ((r = new_data(s, txn, o, rec, 0, &data)) < 0 ||
        (r = write_version(txn, id, 1, o->version_description, now, data)) < 0 ||
        (r = put_json(txn, key, key_template(id, key), rec)) < 0 ||
        (r = meta_put(txn, T_TEMPLATES, key, key_owned('n', s->caller, o->ref.name, key), id,
                      strlen(id))) < 0)
        goto out;
    if (o->client_token) {
        json_t *tok = json_pack("{s:s, s:s}", "id", id, "request", request);
        r = tok ? put_json(txn, key, key_owned('c', s->caller, o->client_token, key), tok)
                : bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        json_decref(tok);
        if (r < 0)
            goto out;
    }
    if ((r = meta_txn_commit(steal_ptr(txn))) < 0)
        goto out;
    r = wrap("LaunchTemplate", template_doc(s, rec, 1), ret_doc);
out:
    json_decref(tags);
    json_decref(data);
    json_decref(rec);
    return r;
}

int bsnap_template_create(bsnap_store *s, const bsnap_template_options *o, json_t **ret_doc)
{
    bsnap_error_clear();
    return template_create(s, o, ret_doc);
}

int bsnap_template_version_create(bsnap_store *s, const bsnap_template_options *o, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    char key[KEY_MAX];
    json_t *rec = NULL, *data = NULL, *vrec = NULL;
    int64_t now = time_now_ms();
    uint64_t latest, n;
    size_t count;
    int r;

    bsnap_error_clear();
    if ((r = check_ref(&o->ref)) < 0 || (r = check_description(o->version_description)) < 0)
        return r;
    if (o->ntags) {
        bsnap_fail(-EINVAL, "InvalidParameterValue", "versions of a launch template have no tags");
        return error_set_parameter("TagSpecifications");
    }
    if ((r = meta_txn_begin(s->meta, true, &txn)) < 0)
        return r;
    if ((r = load_ref(s, txn, &o->ref, &rec)) < 0)
        return r;
    const char *id = rstr(rec, "id");
    if ((r = versions_walk(txn, id, NULL, NULL, &latest, &count)) < 0)
        goto out;
    if (count >= TEMPLATE_VERSION_LIMIT) {
        r = bsnap_fail(-EDQUOT, "MaxTemplateVersionLimitExceeded",
                       "launch template %s has %d versions, the most it may have", id,
                       TEMPLATE_VERSION_LIMIT);
        goto out;
    }
    n = rnum(rec, "next");
    if ((r = new_data(s, txn, o, rec, latest, &data)) < 0 ||
        (r = write_version(txn, id, n, o->version_description, now, data)) < 0)
        goto out;
    if (json_object_set_new(rec, "next", json_integer((json_int_t)n + 1)) < 0) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    if ((r = put_json(txn, key, key_template(id, key), rec)) < 0 ||
        (r = version_load(txn, id, n, &vrec)) < 0 || (r = meta_txn_commit(steal_ptr(txn))) < 0)
        goto out;
    r = wrap("LaunchTemplateVersion", version_doc(s, rec, vrec), ret_doc);
out:
    json_decref(vrec);
    json_decref(data);
    json_decref(rec);
    return r;
}

int bsnap_template_modify(bsnap_store *s, const bsnap_template_ref *ref,
                          const char *default_version, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    char key[KEY_MAX];
    json_t *rec = NULL, *vrec = NULL;
    uint64_t latest, n;
    int r;

    bsnap_error_clear();
    if ((r = begin_ref(s, ref, &txn, &rec)) < 0)
        return r;
    const char *id = rstr(rec, "id");
    if ((r = latest_of(txn, id, &latest)) < 0)
        goto out;
    n = version_number(default_version, latest, rnum(rec, "default"));
    r = n ? version_load(txn, id, n, &vrec) : -ENOENT;
    if (r == -ENOENT) {
        bsnap_fail(-ENOENT, "InvalidLaunchTemplateId.VersionNotFound",
                   "The launch template version %.32s is not found for the specified launch "
                   "template.",
                   default_version);
        r = error_set_parameter("DefaultVersion");
        goto out;
    }
    if (r < 0)
        goto out;
    if (json_object_set_new(rec, "default", json_integer((json_int_t)n)) < 0) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    if ((r = put_json(txn, key, key_template(id, key), rec)) < 0 ||
        (r = meta_txn_commit(steal_ptr(txn))) < 0)
        goto out;
    r = wrap("LaunchTemplate", template_doc(s, rec, latest), ret_doc);
out:
    json_decref(vrec);
    json_decref(rec);
    return r;
}

/* ---- describe ---- */

static bool tags_match(const json_t *rec, const bsnap_filter *f, const char *key)
{
    size_t i;
    json_t *t;

    json_array_foreach (json_object_get(rec, "tags"), i, t) {
        const char *k = rstr(t, "Key"), *v = rstr(t, "Value");
        for (size_t j = 0; j < f->nvalues; j++) {
            if (key ? strcmp(k, key) == 0 && ec2_wildcard_match(f->values[j], v) == 1
                    : ec2_wildcard_match(f->values[j], k) == 1)
                return true;
        }
    }
    return false;
}

static bool values_match(const bsnap_filter *f, const char *v)
{
    for (size_t j = 0; v && j < f->nvalues; j++)
        if (ec2_wildcard_match(f->values[j], v) == 1)
            return true;
    return false;
}

static int bad_filter(size_t i, const char *name)
{
    bsnap_fail(-EINVAL, "InvalidParameterValue", "The filter '%.64s' is invalid", name);
    return error_set_parameter("Filters[%zu].Name", i);
}

static int template_filters_check(const bsnap_filter *f, size_t n)
{
    static const char *const names[] = {"create-time", "launch-template-name", "launch-template-id",
                                        "tag-key", NULL};

    for (size_t i = 0; i < n; i++) {
        bool ok = f[i].name && strncmp(f[i].name, "tag:", 4) == 0;
        for (size_t k = 0; !ok && f[i].name && names[k]; k++)
            ok = strcmp(f[i].name, names[k]) == 0;
        if (!ok)
            return bad_filter(i, f[i].name ? f[i].name : "");
    }
    return 0;
}

static bool template_matches(const json_t *rec, const bsnap_filter *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char t[32];
        bool ok;

        time_format_ms((int64_t)rnum(rec, "create-ms"), t, sizeof t);
        if (strcmp(f[i].name, "create-time") == 0)
            ok = values_match(&f[i], t);
        else if (strcmp(f[i].name, "launch-template-name") == 0)
            ok = values_match(&f[i], rstr(rec, "name"));
        else if (strcmp(f[i].name, "launch-template-id") == 0)
            ok = values_match(&f[i], rstr(rec, "id"));
        else if (strcmp(f[i].name, "tag-key") == 0)
            ok = tags_match(rec, &f[i], NULL);
        else
            ok = tags_match(rec, &f[i], f[i].name + 4);
        if (!ok)
            return false;
    }
    return true;
}

/* Every template of the caller, by id: @fn(rec) for each. */
typedef int (*template_fn)(const bsnap_store *s, meta_txn *txn, json_t *rec, void *ud);
static int templates_walk(const bsnap_store *s, meta_txn *txn, template_fn fn, void *ud)
{
    meta_cursor *cur;
    const void *k = "t", *v;
    size_t klen = 1, vlen;
    int r = meta_cursor_open(txn, T_TEMPLATES, &cur);

    if (r < 0)
        return r;
    for (r = meta_cursor_get(cur, CUR_SET_RANGE, &k, &klen, &v, &vlen);
         r == 0 && klen > 1 && *(const char *)k == 't';
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        json_t *rec = json_loadb(v, vlen, 0, NULL);
        if (!json_is_object(rec)) {
            json_decref(rec);
            r = bsnap_fail(-EIO, "Store.Corrupt", "launch template record %.*s does not parse",
                           (int)(klen < 40 ? klen : 40), (const char *)k);
            break;
        }
        r = owner_visible(s, rstr(rec, "owner")) ? fn(s, txn, rec, ud) : 0;
        json_decref(rec);
        if (r < 0)
            break;
    }
    meta_cursor_close(cur);
    return r == -ENOENT ? 0 : r;
}

struct list_ctx {
    const bsnap_filter *filters;
    size_t nfilters;
    const char *const *ids;
    size_t nids;
    const char *const *names;
    size_t nnames;
    json_t *list;
    bool *seen_id, *seen_name;
};

static int list_one(const bsnap_store *s, meta_txn *txn, json_t *rec, void *ud)
{
    struct list_ctx *c = ud;
    bool in = !c->nids && !c->nnames;
    uint64_t latest;
    int r;

    for (size_t i = 0; i < c->nids; i++)
        if (strcmp(c->ids[i], rstr(rec, "id")) == 0)
            in = c->seen_id[i] = true;
    for (size_t i = 0; i < c->nnames; i++)
        if (strcmp(c->names[i], rstr(rec, "name")) == 0)
            in = c->seen_name[i] = true;
    if (!in || !template_matches(rec, c->filters, c->nfilters))
        return 0;
    if ((r = latest_of(txn, rstr(rec, "id"), &latest)) < 0)
        return r;
    if (json_array_append_new(c->list, template_doc(s, rec, latest)) < 0)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    return 0;
}

int bsnap_template_describe(bsnap_store *s, const bsnap_describe_options *o,
                            const char *const *names, size_t nnames, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct list_ctx c = {0};
    int r;

    bsnap_error_clear();
    if (o) {
        c.ids = o->ids, c.nids = o->nids, c.filters = o->filters, c.nfilters = o->nfilters;
        if (o->max_results || o->next_token) {
            bsnap_fail(-EINVAL, "InvalidParameterValue",
                       "launch templates are described in one page");
            return error_set_parameter(o->max_results ? "MaxResults" : "NextToken");
        }
    }
    c.names = names, c.nnames = nnames;
    for (size_t i = 0; i < c.nids; i++)
        if ((r = check_id(c.ids[i])) < 0)
            return error_set_parameter("LaunchTemplateIds[%zu]", i);
    for (size_t i = 0; i < nnames; i++)
        if ((r = check_name(names[i])) < 0)
            return error_set_parameter("LaunchTemplateNames[%zu]", i);
    if ((r = template_filters_check(c.filters, c.nfilters)) < 0)
        return r;
    c.list = json_array();
    c.seen_id = calloc(c.nids + 1, sizeof *c.seen_id);
    c.seen_name = calloc(nnames + 1, sizeof *c.seen_name);
    if (!c.list || !c.seen_id || !c.seen_name) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0 ||
        (r = templates_walk(s, txn, list_one, &c)) < 0)
        goto out;
    for (size_t i = 0; i < c.nids; i++)
        if (!c.seen_id[i]) {
            not_found_id(c.ids[i]);
            r = error_set_parameter("LaunchTemplateIds[%zu]", i);
            goto out;
        }
    for (size_t i = 0; i < nnames; i++)
        if (!c.seen_name[i]) {
            bsnap_fail(-ENOENT, "InvalidLaunchTemplateName.NotFoundException",
                       "At least one of the launch templates specified in the request does not "
                       "exist.");
            r = error_set_parameter("LaunchTemplateNames[%zu]", i);
            goto out;
        }
    r = wrap("LaunchTemplates", steal_ptr(c.list), ret_doc);
out:
    json_decref(c.list);
    free(c.seen_id);
    free(c.seen_name);
    return r;
}

/* ---- describe versions ---- */

static const char *const version_filters[] = {
    "create-time",          "ebs-optimized", "http-endpoint",
    "http-protocol-ipv4",   "http-tokens",   "host-resource-group-arn",
    "iam-instance-profile", "image-id",      "instance-type",
    "is-default-version",   "kernel-id",     "license-configuration-arn",
    "network-card-index",   "ram-disk-id",   NULL,
};

/* The value a version filter looks at, in @buf when it is not a string of
 * the data; NULL when the version has none. */
static const char *version_value(const json_t *rec, const json_t *vrec, const char *name,
                                 char buf[40])
{
    const json_t *d = json_object_get(vrec, "data");
    const json_t *md = json_object_get(d, "MetadataOptions");
    const json_t *v = NULL;

    if (strcmp(name, "create-time") == 0) {
        time_format_ms((int64_t)rnum(vrec, "create-ms"), buf, 40);
        return buf;
    }
    if (strcmp(name, "is-default-version") == 0)
        return rnum(vrec, "number") == rnum(rec, "default") ? "true" : "false";
    if (strcmp(name, "image-id") == 0)
        v = json_object_get(d, "ImageId");
    else if (strcmp(name, "instance-type") == 0)
        v = json_object_get(d, "InstanceType");
    else if (strcmp(name, "kernel-id") == 0)
        v = json_object_get(d, "KernelId");
    else if (strcmp(name, "ram-disk-id") == 0)
        v = json_object_get(d, "RamDiskId");
    else if (strcmp(name, "ebs-optimized") == 0)
        v = json_object_get(d, "EbsOptimized");
    else if (strcmp(name, "http-endpoint") == 0)
        v = json_object_get(md, "HttpEndpoint");
    else if (strcmp(name, "http-tokens") == 0)
        v = json_object_get(md, "HttpTokens");
    else if (strcmp(name, "http-protocol-ipv4") == 0)
        v = json_object_get(md, "HttpProtocolIpv4");
    else if (strcmp(name, "iam-instance-profile") == 0) {
        const json_t *p = json_object_get(d, "IamInstanceProfile");
        v = json_object_get(p, "Arn") ? json_object_get(p, "Arn") : json_object_get(p, "Name");
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    return json_string_value(v);
}

struct versions_ctx {
    const bsnap_store *s;
    const bsnap_template_versions_options *o;
    const json_t *rec;
    uint64_t latest;
    bool latest_wanted, default_wanted;
    uint64_t *numbers; /* the numbers named, one per version given */
    bool *seen;
    json_t *list;
};

static int version_one(json_t *vrec, uint64_t n, void *ud)
{
    struct versions_ctx *c = ud;
    const bsnap_template_versions_options *o = c->o;
    bool in = !o->nversions;

    for (size_t i = 0; i < o->nversions; i++)
        if (c->numbers[i] == n)
            in = c->seen[i] = true;
    if (!in || (o->min_version && n < o->min_version) || (o->max_version && n > o->max_version))
        return 0;
    for (size_t i = 0; i < o->nfilters; i++) {
        char buf[40];
        if (!values_match(&o->filters[i], version_value(c->rec, vrec, o->filters[i].name, buf)))
            return 0;
    }
    if (json_array_append_new(c->list, version_doc(c->s, c->rec, vrec)) < 0)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    return 0;
}

/* The versions of one template that @c asks for, appended to c->list. */
static int versions_of(meta_txn *txn, struct versions_ctx *c, bool named)
{
    const bsnap_template_versions_options *o = c->o;
    const char *id = rstr(c->rec, "id");
    int r;

    if ((r = latest_of(txn, id, &c->latest)) < 0)
        return r;
    for (size_t i = 0; i < o->nversions; i++) {
        c->numbers[i] = version_number(o->versions[i], c->latest, rnum(c->rec, "default"));
        c->seen[i] = false;
    }
    if ((r = versions_walk(txn, id, version_one, c, NULL, NULL)) < 0)
        return r;
    for (size_t i = 0; named && i < o->nversions; i++)
        if (!c->seen[i])
            return version_not_found(o->versions[i], id, "Versions");
    return 0;
}

static int versions_of_template(const bsnap_store *s, meta_txn *txn, json_t *rec, void *ud)
{
    struct versions_ctx *c = ud;

    (void)s;
    c->rec = rec;
    return versions_of(txn, c, false);
}

static int check_versions(const bsnap_template_versions_options *o, bool any_template)
{
    static const char all[] =
        "To describe the launch template data for all your launch templates, give only $Latest, "
        "$Default or both as @{Versions}, and no template; to describe versions of one launch "
        "template by number, give its @{LaunchTemplateId} or @{LaunchTemplateName}.";

    if (any_template && !o->nversions) {
        bsnap_fail(-EINVAL, "MissingParameter", all);
        return error_set_parameter("Versions");
    }
    for (size_t i = 0; i < o->nversions; i++) {
        bool word =
            strcmp(o->versions[i], "$Latest") == 0 || strcmp(o->versions[i], "$Default") == 0;
        if (any_template && !word) {
            bsnap_fail(-EINVAL, "InvalidParameterValue", all);
            return error_set_parameter("Versions[%zu]", i);
        }
        if (!word && !version_number(o->versions[i], 1, 1)) {
            bsnap_fail(-EINVAL, "InvalidParameterValue",
                       "version '%.32s' is not a number, $Latest or $Default", o->versions[i]);
            return error_set_parameter("Versions[%zu]", i);
        }
    }
    for (size_t i = 0; i < o->nfilters; i++) {
        bool ok = false;
        for (size_t k = 0; !ok && o->filters[i].name && version_filters[k]; k++)
            ok = strcmp(o->filters[i].name, version_filters[k]) == 0;
        if (!ok)
            return bad_filter(i, o->filters[i].name ? o->filters[i].name : "");
    }
    return 0;
}

int bsnap_template_versions_describe(bsnap_store *s, const bsnap_template_versions_options *o,
                                     json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    bool any = !o->ref.id && !o->ref.name;
    struct versions_ctx c = {.s = s, .o = o};
    json_t *rec = NULL;
    int r;

    bsnap_error_clear();
    if ((r = check_versions(o, any)) < 0 || (!any && (r = check_ref(&o->ref)) < 0))
        return r;
    c.list = json_array();
    c.numbers = calloc(o->nversions + 1, sizeof *c.numbers);
    c.seen = calloc(o->nversions + 1, sizeof *c.seen);
    if (!c.list || !c.numbers || !c.seen) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0)
        goto out;
    if (any) {
        r = templates_walk(s, txn, versions_of_template, &c);
    } else if ((r = load_ref(s, txn, &o->ref, &rec)) == 0) {
        c.rec = rec;
        r = versions_of(txn, &c, true);
    }
    if (r < 0)
        goto out;
    r = wrap("LaunchTemplateVersions", steal_ptr(c.list), ret_doc);
out:
    json_decref(rec);
    json_decref(c.list);
    free(c.numbers);
    free(c.seen);
    return r;
}

/* ---- delete ---- */

static int delete_versions_of(meta_txn *txn, const char *id)
{
    uint64_t latest;
    char key[KEY_MAX];
    int r;

    /* Versions are dense enough to delete by number up to the highest. */
    if ((r = latest_of(txn, id, &latest)) < 0)
        return r;
    for (uint64_t n = 1; n <= latest; n++) {
        r = meta_del(txn, T_TEMPLATES, key, key_version(id, n, key));
        if (r < 0 && r != -ENOENT)
            return r;
    }
    return 0;
}

int bsnap_template_delete(bsnap_store *s, const bsnap_template_ref *ref, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    char key[KEY_MAX];
    json_t *rec = NULL;
    uint64_t latest;
    int r;

    bsnap_error_clear();
    if ((r = begin_ref(s, ref, &txn, &rec)) < 0)
        return r;
    const char *id = rstr(rec, "id");
    if ((r = latest_of(txn, id, &latest)) < 0 || (r = delete_versions_of(txn, id)) < 0 ||
        (r = meta_del(txn, T_TEMPLATES, key, key_template(id, key))) < 0 ||
        (r = meta_del(txn, T_TEMPLATES, key,
                      key_owned('n', owner_of(s, rstr(rec, "owner")), rstr(rec, "name"), key))) <
            0 ||
        (r = meta_txn_commit(steal_ptr(txn))) < 0)
        goto out;
    r = wrap("LaunchTemplate", template_doc(s, rec, latest), ret_doc);
out:
    json_decref(rec);
    return r;
}

/* One entry of DeleteLaunchTemplateVersions' answer. */
static int deleted_entry(json_t *list, const char *id, const char *name, const char *version,
                         uint64_t n, const char *code, const char *message)
{
    json_t *e = json_object();

    if (!e)
        return -ENOMEM;
    if (id)
        json_object_set_new(e, "LaunchTemplateId", json_string(id));
    if (name)
        json_object_set_new(e, "LaunchTemplateName", json_string(name));
    if (n)
        json_object_set_new(e, "VersionNumber", json_integer((json_int_t)n));
    else
        json_object_set_new(e, "VersionNumber", json_string(version));
    if (code)
        json_object_set_new(e, "ResponseError",
                            json_pack("{s:s, s:s}", "Code", code, "Message", message));
    return json_array_append_new(list, e) < 0 ? -ENOMEM : 0;
}

int bsnap_template_versions_delete(bsnap_store *s, const bsnap_template_ref *ref,
                                   const char *const *versions, size_t n, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    json_t *rec = NULL, *ok = json_array(), *bad = json_array();
    const char *code = NULL, *msg = NULL;
    char key[KEY_MAX], text[160];
    int r;

    bsnap_error_clear();
    if (!ok || !bad) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    if (!n) {
        bsnap_fail(-EINVAL, "MissingParameter",
                   "The request must contain the parameter @{Versions}");
        r = error_set_parameter("Versions");
        goto out;
    }
    if (n > TEMPLATE_DELETE_MAX) {
        bsnap_fail(-EINVAL, "InvalidParameterValue", "at most %d versions are deleted in one call",
                   TEMPLATE_DELETE_MAX);
        r = error_set_parameter("Versions");
        goto out;
    }
    if ((r = meta_txn_begin(s->meta, true, &txn)) < 0)
        goto out;
    /* A template that cannot be found fails each version, as EC2 lists it. */
    r = load_ref(s, txn, ref, &rec);
    if (r < 0) {
        const bsnap_error *e = bsnap_last_error();
        bool by_id = ref->id != NULL;
        if (strcmp(e->code, "MissingParameter") == 0 ||
            strcmp(e->code, "InvalidParameterCombination") == 0 || r == -EIO || r == -ENOMEM)
            goto out;
        code = strstr(e->code, "Malformed")
                   ? (by_id ? "launchTemplateIdMalformed" : "launchTemplateNameMalformed")
                   : (by_id ? "launchTemplateIdDoesNotExist" : "launchTemplateNameDoesNotExist");
        msg = by_id ? "The launch template ID is not valid or does not exist"
                    : "The launch template name is not valid or does not exist";
    }
    for (size_t i = 0; i < n; i++) {
        const char *id = rec ? rstr(rec, "id") : ref->id;
        const char *name = rec ? rstr(rec, "name") : ref->name;
        uint64_t v = version_number(versions[i], 0, 0);
        const char *c = code, *m = msg;

        if (!c && (!v || versions[i][0] == '$')) {
            c = "launchTemplateVersionDoesNotExist";
            m = "version numbers are deleted, not $Latest or $Default";
        } else if (!c && v == rnum(rec, "default")) {
            c = "unexpectedError";
            m = "Cannot delete the default version of a launch template";
        } else if (!c) {
            r = meta_del(txn, T_TEMPLATES, key, key_version(id, v, key));
            if (r == -ENOENT) {
                snprintf(text, sizeof text, "Could not find launch template version %" PRIu64, v);
                c = "launchTemplateVersionDoesNotExist", m = text;
            } else if (r < 0) {
                goto out;
            }
        }
        r = deleted_entry(c ? bad : ok, id, name, versions[i], c && !v ? 0 : v, c, m);
        if (r < 0) {
            r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            goto out;
        }
    }
    bsnap_error_clear();
    if ((r = meta_txn_commit(steal_ptr(txn))) < 0)
        goto out;
    json_t *doc =
        json_pack("{s:o, s:o}", "SuccessfullyDeletedLaunchTemplateVersions", steal_ptr(ok),
                  "UnsuccessfullyDeletedLaunchTemplateVersions", steal_ptr(bad));
    if (!doc) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    *ret_doc = doc;
out:
    json_decref(rec);
    json_decref(ok);
    json_decref(bad);
    return r;
}
