/* lifecycle.c - lifecycle policies: the check of PolicyDetails, the
 * records, the schedule arithmetic, and the calls that create, read,
 * update and delete policies (lifecycle.h).  Running them is
 * lifecycle-run.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "error.h"
#include "lifecycle.h"
#include "owner.h"
#include "store-handle.h"
#include "util.h"

#define HOUR_MS INT64_C(3600000)
#define DAY_MS (24 * HOUR_MS)

/* ---- PolicyDetails ---- */

/* Fail with InvalidRequestException about field @field (a printf format
 * of the parameter's path after "PolicyDetails"). */
#define INVALID(field, ...) \
    (bsnap_fail(-EINVAL, "InvalidRequestException", __VA_ARGS__), error_set_parameter("%s", field))

/* The fields of each object blocksnap reads; another field is refused,
 * naming whether DLM has it (not supported) or not (unknown). */
static const char *const dlm_other_fields[] = {
    "Parameters",
    "EventSource",
    "Actions",
    "PolicyLanguage",
    "ResourceType",
    "CreateInterval",
    "RetainInterval",
    "CopyTags",
    "ExtendDeletion",
    "CrossRegionCopyTargets",
    "Exclusions",
    "ResourceLocations",
    "VariableTags",
    "FastRestoreRule",
    "CrossRegionCopyRules",
    "ShareRules",
    "DeprecateRule",
    "ArchiveRule",
    "CronExpression",
    "Location",
    "Scripts",
};

/* @path.@key into @out (a field of 160 bytes). */
static void join(char out[160], const char *path, const char *key)
{
    snprintf(out, 160, "%.100s.%.50s", path, key);
}

static int check_fields(const json_t *o, const char *path, const char *const *known, size_t n)
{
    const char *k;
    json_t *v;

    json_object_foreach ((json_t *)o, k, v) {
        bool ok = false, dlm = false;
        char field[160];

        for (size_t i = 0; i < n && !ok; i++)
            ok = strcmp(k, known[i]) == 0;
        if (ok)
            continue;
        for (size_t i = 0; i < sizeof dlm_other_fields / sizeof *dlm_other_fields; i++)
            dlm = dlm || strcmp(k, dlm_other_fields[i]) == 0;
        join(field, path, k);
        if (dlm)
            return INVALID(field, "%s is not supported by blocksnap", field);
        return INVALID(field, "%s is not a field of %s", field, path);
    }
    return 0;
}

/* A string of @min to @max characters at @o[@key] (optional when !need). */
static int get_string(const json_t *o, const char *key, const char *path, bool need, size_t min,
                      size_t max, const char **ret)
{
    json_t *v = json_object_get(o, key);
    char field[160];
    long n;

    join(field, path, key);
    *ret = NULL;
    if (!v) {
        if (need)
            return INVALID(field, "%s is required", field);
        return 0;
    }
    if (!json_is_string(v))
        return INVALID(field, "%s must be a string", field);
    n = utf8_length(json_string_value(v), json_string_length(v));
    if (n < 0 || (size_t)n < min || (size_t)n > max ||
        strlen(json_string_value(v)) != json_string_length(v))
        return INVALID(field, "%s must be %zu to %zu characters of UTF-8", field, min, max);
    *ret = json_string_value(v);
    return 0;
}

/* An integer from @min to @max at @o[@key]; 0 in *@ret when absent. */
static int get_int(const json_t *o, const char *key, const char *path, json_int_t min,
                   json_int_t max, json_int_t *ret)
{
    json_t *v = json_object_get(o, key);
    char field[160];

    join(field, path, key);
    *ret = 0;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return INVALID(
            field, "%s must be an integer from %" JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT,
            field, min, max);
    *ret = json_integer_value(v);
    return 0;
}

/* An array of at most @max tags {Key, Value}; keys starting with aws:
 * refused when @no_aws. */
static int check_tags(const json_t *a, const char *path, size_t max, bool no_aws)
{
    static const char *const fields[] = {"Key", "Value"};
    size_t i;
    json_t *t;

    if (!json_is_array(a))
        return INVALID(path, "%s must be a list of {Key, Value}", path);
    if (json_array_size(a) > max)
        return INVALID(path, "%s holds more than %zu tags", path, max);
    json_array_foreach ((json_t *)a, i, t) {
        char field[96];
        const char *key, *value;
        int r;

        snprintf(field, sizeof field, "%s[%zu]", path, i);
        if (!json_is_object(t))
            return INVALID(field, "%s must be {Key, Value}", field);
        if ((r = check_fields(t, field, fields, 2)) < 0 ||
            (r = get_string(t, "Key", field, true, 1, 128, &key)) < 0 ||
            (r = get_string(t, "Value", field, true, 0, 256, &value)) < 0)
            return r;
        if (no_aws && strncmp(key, "aws:", 4) == 0)
            return INVALID(field, "%s: tag keys starting with aws: are reserved", field);
    }
    return 0;
}

static int parse_time_of_day(const char *s, int64_t *ret)
{
    if (strlen(s) != 5 || s[2] != ':' || s[0] < '0' || s[0] > '2' || s[1] < '0' || s[1] > '9' ||
        s[3] < '0' || s[3] > '5' || s[4] < '0' || s[4] > '9')
        return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 23)
        return -1;
    *ret = h * HOUR_MS + m * INT64_C(60000);
    return 0;
}

static int check_create_rule(const json_t *c, const char *path)
{
    static const char *const fields[] = {"Interval", "IntervalUnit", "Times"};
    json_int_t interval;
    const char *unit;
    json_t *times;
    char field[160];
    int r;

    if (!json_is_object(c))
        return INVALID(path, "%s must be an object", path);
    if (json_object_get(c, "CronExpression")) {
        join(field, path, "CronExpression");
        return INVALID(field,
                       "%s is not supported by blocksnap: give Interval and IntervalUnit HOURS "
                       "(and Times for the time of day)",
                       field);
    }
    if ((r = check_fields(c, path, fields, 3)) < 0 ||
        (r = get_int(c, "Interval", path, 1, 24, &interval)) < 0 ||
        (r = get_string(c, "IntervalUnit", path, true, 1, 16, &unit)) < 0)
        return r;
    join(field, path, "Interval");
    if (!interval)
        return INVALID(field, "%s is required", field);
    if (24 % interval != 0)
        return INVALID(field, "%s must be 1, 2, 3, 4, 6, 8, 12 or 24", field);
    join(field, path, "IntervalUnit");
    if (strcmp(unit, "HOURS") != 0)
        return INVALID(field, "%s must be HOURS", field);
    times = json_object_get(c, "Times");
    join(field, path, "Times");
    if (times) {
        int64_t ms;
        if (!json_is_array(times) || json_array_size(times) != 1)
            return INVALID(field, "%s must be a list of one time of day, \"hh:mm\" (UTC)", field);
        if (!json_is_string(json_array_get(times, 0)) ||
            parse_time_of_day(json_string_value(json_array_get(times, 0)), &ms) < 0)
            return INVALID(field, "%s[0] must be a time of day \"hh:mm\" (UTC), 00:00 to 23:59",
                           field);
    }
    return 0;
}

static int check_retain_rule(const json_t *c, const char *path)
{
    static const char *const fields[] = {"Count", "Interval", "IntervalUnit"};
    json_int_t count, interval;
    const char *unit;
    char field[160];
    int r;

    if (!json_is_object(c))
        return INVALID(path, "%s must be an object", path);
    if ((r = check_fields(c, path, fields, 3)) < 0 ||
        (r = get_int(c, "Count", path, 1, LIFECYCLE_RETAIN_MAX, &count)) < 0 ||
        (r = get_int(c, "Interval", path, 1, LIFECYCLE_RETAIN_MAX, &interval)) < 0 ||
        (r = get_string(c, "IntervalUnit", path, false, 1, 16, &unit)) < 0)
        return r;
    if (count && (interval || unit))
        return INVALID(path, "%s: give Count, or Interval and IntervalUnit, not both", path);
    if (!count && !interval)
        return INVALID(path, "%s: give Count, or Interval and IntervalUnit", path);
    join(field, path, "IntervalUnit");
    if (interval && !unit)
        return INVALID(field, "%s is required with Interval", field);
    if (interval && strcmp(unit, "DAYS") != 0 && strcmp(unit, "WEEKS") != 0 &&
        strcmp(unit, "MONTHS") != 0 && strcmp(unit, "YEARS") != 0)
        return INVALID(field, "%s must be DAYS, WEEKS, MONTHS or YEARS", field);
    return 0;
}

static int check_schedule(const json_t *sc, const char *path)
{
    static const char *const fields[] = {"Name", "CreateRule", "RetainRule", "TagsToAdd",
                                         "CopyTags"};
    const char *name;
    json_t *v;
    char field[160];
    int r;

    if (!json_is_object(sc))
        return INVALID(path, "%s must be an object", path);
    if ((r = check_fields(sc, path, fields, 5)) < 0 ||
        (r = get_string(sc, "Name", path, true, 1, LIFECYCLE_SCHEDULE_NAME_MAX, &name)) < 0)
        return r;
    join(field, path, "CreateRule");
    if (!(v = json_object_get(sc, "CreateRule")))
        return INVALID(field, "%s is required", field);
    if ((r = check_create_rule(v, field)) < 0)
        return r;
    join(field, path, "RetainRule");
    if (!(v = json_object_get(sc, "RetainRule")))
        return INVALID(field, "%s is required", field);
    if ((r = check_retain_rule(v, field)) < 0)
        return r;
    join(field, path, "TagsToAdd");
    if ((v = json_object_get(sc, "TagsToAdd")) &&
        (r = check_tags(v, field, LIFECYCLE_TAGS_TO_ADD_MAX, true)) < 0)
        return r;
    join(field, path, "CopyTags");
    if ((v = json_object_get(sc, "CopyTags")) && !json_is_boolean(v))
        return INVALID(field, "%s must be true or false", field);
    return 0;
}

static int check_details(json_t *d)
{
    static const char *const fields[] = {"PolicyType", "ResourceTypes", "TargetTags",
                                         "TargetVolumeIds", "Schedules"};
    const char *type;
    json_t *v, *x;
    size_t i;
    int r;

    if ((r = check_fields(d, "PolicyDetails", fields, 5)) < 0 ||
        (r = get_string(d, "PolicyType", "PolicyDetails", false, 1, 64, &type)) < 0)
        return r;
    if (type && strcmp(type, "EBS_SNAPSHOT_MANAGEMENT") != 0)
        return INVALID("PolicyDetails.PolicyType",
                       "PolicyDetails.PolicyType must be EBS_SNAPSHOT_MANAGEMENT (policies of "
                       "images and events are not supported by blocksnap)");
    if ((v = json_object_get(d, "ResourceTypes"))) {
        if (!json_is_array(v) || json_array_size(v) != 1 || !json_is_string(json_array_get(v, 0)) ||
            strcmp(json_string_value(json_array_get(v, 0)), "VOLUME") != 0)
            return INVALID("PolicyDetails.ResourceTypes",
                           "PolicyDetails.ResourceTypes must be [\"VOLUME\"]");
    }
    if ((v = json_object_get(d, "TargetTags")) &&
        (r = check_tags(v, "PolicyDetails.TargetTags", 50, false)) < 0)
        return r;
    if ((x = json_object_get(d, "TargetVolumeIds"))) {
        if (!json_is_array(x) || json_array_size(x) > LIFECYCLE_TARGETS_MAX)
            return INVALID("PolicyDetails.TargetVolumeIds",
                           "PolicyDetails.TargetVolumeIds must be a list of at most %d volume ids",
                           LIFECYCLE_TARGETS_MAX);
        json_array_foreach (x, i, v)
            if (!json_is_string(v) || !id_valid(json_string_value(v), "vol")) {
                char field[64];
                snprintf(field, sizeof field, "PolicyDetails.TargetVolumeIds[%zu]", i);
                return INVALID(field, "%s is not a volume id (vol-...)", field);
            }
    }
    if (json_array_size(json_object_get(d, "TargetTags")) == 0 && json_array_size(x) == 0)
        return INVALID("PolicyDetails.TargetTags",
                       "PolicyDetails needs TargetTags or TargetVolumeIds: the volumes it manages");
    v = json_object_get(d, "Schedules");
    if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > LIFECYCLE_SCHEDULES_MAX)
        return INVALID("PolicyDetails.Schedules",
                       "PolicyDetails.Schedules must be a list of 1 to %d schedules",
                       LIFECYCLE_SCHEDULES_MAX);
    json_array_foreach (v, i, x) {
        char field[64];
        snprintf(field, sizeof field, "PolicyDetails.Schedules[%zu]", i);
        if ((r = check_schedule(x, field)) < 0)
            return r;
        for (size_t j = 0; j < i; j++)
            if (strcmp(json_string_value(json_object_get(x, "Name")),
                       json_string_value(json_object_get(json_array_get(v, j), "Name"))) == 0) {
                snprintf(field, sizeof field, "PolicyDetails.Schedules[%zu].Name", i);
                return INVALID(field, "%s: two schedules have the name '%s'", field,
                               json_string_value(json_object_get(x, "Name")));
            }
    }
    return 0;
}

int lifecycle_details_parse(const char *text, size_t len, json_t **ret)
{
    json_error_t jerr;
    json_t *d;
    int r;

    *ret = NULL;
    if (len > LIFECYCLE_DETAILS_MAX)
        return INVALID("PolicyDetails", "PolicyDetails is larger than %u bytes",
                       LIFECYCLE_DETAILS_MAX);
    d = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!d)
        return INVALID("PolicyDetails", "PolicyDetails is not JSON: %s (at character %d)",
                       jerr.text, jerr.position);
    if (!json_is_object(d)) {
        json_decref(d);
        return INVALID("PolicyDetails", "PolicyDetails must be a JSON object");
    }
    r = check_details(d);
    if (r == 0 && !json_object_get(d, "PolicyType"))
        r = json_object_set_new(d, "PolicyType", json_string("EBS_SNAPSHOT_MANAGEMENT"));
    if (r == 0 && !json_object_get(d, "ResourceTypes"))
        r = json_object_set_new(d, "ResourceTypes", json_pack("[s]", "VOLUME"));
    if (r < 0) {
        json_decref(d);
        return r == -1 ? bsnap_fail(-ENOMEM, "InternalError", "out of memory") : r;
    }
    *ret = d;
    return 0;
}

size_t lifecycle_schedules(const json_t *d, struct lc_schedule *ret, size_t cap)
{
    json_t *all = json_object_get(d, "Schedules"), *sc;
    size_t i;

    json_array_foreach (all, i, sc) {
        json_t *c = json_object_get(sc, "CreateRule"), *k = json_object_get(sc, "RetainRule");
        json_t *times = json_object_get(c, "Times");
        const char *unit = json_string_value(json_object_get(k, "IntervalUnit"));
        struct lc_schedule *s;

        if (i >= cap)
            break;
        s = &ret[i];
        memset(s, 0, sizeof *s);
        s->name = json_string_value(json_object_get(sc, "Name"));
        s->interval_ms = json_integer_value(json_object_get(c, "Interval")) * HOUR_MS;
        if (times &&
            parse_time_of_day(json_string_value(json_array_get(times, 0)), &s->offset_ms) < 0)
            s->offset_ms = 0;
        s->retain_count = (uint32_t)json_integer_value(json_object_get(k, "Count"));
        s->retain_interval = (uint32_t)json_integer_value(json_object_get(k, "Interval"));
        s->retain_unit = unit ? unit[0] : 0;
        s->tags_to_add = json_object_get(sc, "TagsToAdd");
        s->copy_tags = json_is_true(json_object_get(sc, "CopyTags"));
    }
    return json_array_size(all);
}

/* ---- the clock's arithmetic ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t lifecycle_slot_start(const struct lc_schedule *sc, int64_t now_ms)
{
    return floor_div(now_ms - sc->offset_ms, sc->interval_ms) * sc->interval_ms + sc->offset_ms;
}

/* Howard Hinnant's civil-from-days and days-from-civil. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097), doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;

    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400), yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}

static int month_days(int64_t y, int m)
{
    static const int n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : n[m - 1];
}

/* @ms less @months calendar months (the day clamped to the month's end). */
static int64_t minus_months(int64_t ms, int64_t months)
{
    int64_t days = floor_div(ms, DAY_MS), y;
    int m, d;

    civil_from_days(days, &y, &m, &d);
    int64_t total = y * 12 + (m - 1) - months;
    y = floor_div(total, 12);
    m = (int)(total - y * 12) + 1;
    if (d > month_days(y, m))
        d = month_days(y, m);
    return days_from_civil(y, m, d) * DAY_MS + (ms - days * DAY_MS);
}

void lifecycle_retention(const struct lc_schedule *sc, int64_t now_ms, bsnap_retention *ret)
{
    int64_t n = sc->retain_interval;

    memset(ret, 0, sizeof *ret);
    if (sc->retain_count) {
        ret->last = sc->retain_count;
        return;
    }
    ret->now_ms = now_ms;
    switch (sc->retain_unit) {
    case 'D':
        ret->within_ms = n * DAY_MS;
        break;
    case 'W':
        ret->within_ms = n * 7 * DAY_MS;
        break;
    case 'M':
        ret->within_ms = now_ms - minus_months(now_ms, n);
        break;
    default:
        ret->within_ms = now_ms - minus_months(now_ms, 12 * n);
        break;
    }
}

/* ---- records ---- */

bool lifecycle_id_valid(const char *id)
{
    return strlen(id) == 24 && id_valid(id, "policy");
}

static size_t key_policy(const char *id, char out[BSNAP_ID_MAX + 2])
{
    return (size_t)snprintf(out, BSNAP_ID_MAX + 2, "p%s", id);
}

static int check_id(const char *id)
{
    if (!lifecycle_id_valid(id))
        return INVALID("PolicyId", "policy id '%.64s' is malformed: policy- and 17 hex digits", id);
    return 0;
}

static int not_found(const char *id)
{
    bsnap_fail(-ENOENT, "ResourceNotFoundException", "lifecycle policy %s not found", id);
    return error_set_parameter("PolicyId");
}

/* Decode the record @v (@vlen bytes) of policy @id, its details checked
 * again; NULL in *@ret for another account's. */
static int decode(const bsnap_store *s, const char *id, const void *v, size_t vlen, json_t **ret)
{
    json_t *rec = json_loadb(v, vlen, 0, NULL), *details = NULL;
    const char *owner = json_string_value(json_object_get(rec, "owner"));
    char *text = NULL;
    int r = -EIO;

    *ret = NULL;
    if (json_is_object(rec) && owner && json_is_object(json_object_get(rec, "PolicyDetails")) &&
        json_is_string(json_object_get(rec, "State")) &&
        json_is_integer(json_object_get(rec, "DateCreated")) &&
        json_is_integer(json_object_get(rec, "DateModified"))) {
        text = json_dumps(json_object_get(rec, "PolicyDetails"), JSON_COMPACT);
        if (text && lifecycle_details_parse(text, strlen(text), &details) == 0)
            r = 0;
    }
    free(text);
    json_decref(details);
    if (r < 0) {
        json_decref(rec);
        return bsnap_fail(-EIO, "Store.Corrupt", "lifecycle policy %s: record is damaged", id);
    }
    if (strcmp(owner, s->caller) != 0) {
        json_decref(rec);
        return 0;
    }
    *ret = rec;
    return 0;
}

int lifecycle_policy_load(const bsnap_store *s, meta_txn *txn, const char *id, json_t **ret)
{
    char key[BSNAP_ID_MAX + 2];
    const void *v;
    size_t vlen;
    int r;

    *ret = NULL;
    if ((r = check_id(id)) < 0)
        return r;
    r = meta_get(txn, T_LIFECYCLE, key, key_policy(id, key), &v, &vlen);
    if (r == -ENOENT)
        return not_found(id);
    if (r < 0 || (r = decode(s, id, v, vlen, ret)) < 0)
        return r;
    return *ret ? 0 : not_found(id);
}

int lifecycle_policy_all(const bsnap_store *s, meta_txn *txn, json_t **ret)
{
    meta_cursor *cur;
    json_t *all = json_array();
    const void *k = "p", *v;
    size_t klen = 1, vlen;
    int r;

    *ret = NULL;
    if (!all)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    if ((r = meta_cursor_open(txn, T_LIFECYCLE, &cur)) < 0) {
        json_decref(all);
        return r;
    }
    for (r = meta_cursor_get(cur, CUR_SET_RANGE, &k, &klen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        char id[BSNAP_ID_MAX];
        json_t *rec;

        if (klen < 2 || ((const char *)k)[0] != 'p' || klen - 1 >= sizeof id)
            break;
        memcpy(id, (const char *)k + 1, klen - 1);
        id[klen - 1] = '\0';
        if ((r = decode(s, id, v, vlen, &rec)) < 0)
            break;
        if (rec && json_array_append_new(all, rec) < 0) {
            r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            break;
        }
    }
    meta_cursor_close(cur);
    if (r < 0 && r != -ENOENT) {
        json_decref(all);
        return r;
    }
    *ret = all;
    return 0;
}

static int save(meta_txn *txn, const char *id, const json_t *rec)
{
    _cleanup_free_ char *text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
    char key[BSNAP_ID_MAX + 2];

    if (!text)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    return meta_put(txn, T_LIFECYCLE, key, key_policy(id, key), text, strlen(text));
}

/* ---- the calls ---- */

static int check_description(const char *d)
{
    size_t n = strlen(d);

    if (n > LIFECYCLE_DESCRIPTION_MAX)
        return INVALID("Description", "the description is longer than %d characters",
                       LIFECYCLE_DESCRIPTION_MAX);
    for (size_t i = 0; i < n; i++)
        if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'z') ||
              (d[i] >= 'A' && d[i] <= 'Z') || d[i] == ' ' || d[i] == '_' || d[i] == '-'))
            return INVALID("Description",
                           "the description may hold only letters, digits, spaces, _ and -");
    return 0;
}

static int check_state(const char *st)
{
    if (strcmp(st, "ENABLED") != 0 && strcmp(st, "DISABLED") != 0)
        return INVALID("State", "the state must be ENABLED or DISABLED, not '%.32s'", st);
    return 0;
}

/* Check @o's given fields and set them in @rec. */
static int apply(json_t *rec, const bsnap_lifecycle_policy_options *o)
{
    json_t *details = NULL;
    int r;

    if (o->description && (r = check_description(o->description)) < 0)
        return r;
    if (o->state && (r = check_state(o->state)) < 0)
        return r;
    if (o->execution_role_arn &&
        (strlen(o->execution_role_arn) > 2048 || strlen(o->execution_role_arn) == 0))
        return INVALID("ExecutionRoleArn", "the execution role ARN must be 1 to 2048 characters");
    if (o->policy_details &&
        (r = lifecycle_details_parse(o->policy_details, strlen(o->policy_details), &details)) < 0)
        return r;
    if ((o->description && json_object_set_new(rec, "Description", json_string(o->description))) ||
        (o->state && json_object_set_new(rec, "State", json_string(o->state))) ||
        (o->execution_role_arn &&
         json_object_set_new(rec, "ExecutionRoleArn", json_string(o->execution_role_arn))) ||
        (details && json_object_set_new(rec, "PolicyDetails", details))) {
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    return 0;
}

static json_t *empty_answer(void)
{
    json_t *doc = json_object();

    if (!doc)
        bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    return doc;
}

int bsnap_lifecycle_policy_create(bsnap_store *s, const bsnap_lifecycle_policy_options *o,
                                  json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    json_t *rec = NULL, *all = NULL, *doc = NULL;
    char id[BSNAP_ID_MAX];
    int64_t now = time_now_ms();
    int r;

    bsnap_error_clear();
    *ret_doc = NULL;
    if (!o->description)
        return INVALID("Description", "a description is required");
    if (!o->state)
        return INVALID("State", "a state is required: ENABLED or DISABLED");
    if (!o->policy_details)
        return INVALID("PolicyDetails", "PolicyDetails is required");
    rec = json_object();
    if (!rec)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    if ((r = apply(rec, o)) < 0)
        goto out;
    if ((r = id_generate("policy", id)) < 0) {
        r = bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
        goto out;
    }
    if (json_object_set_new(rec, "PolicyId", json_string(id)) ||
        json_object_set_new(rec, "owner", json_string(s->caller)) ||
        json_object_set_new(rec, "DateCreated", json_integer(now)) ||
        json_object_set_new(rec, "DateModified", json_integer(now)) ||
        (!o->execution_role_arn && json_object_set_new(rec, "ExecutionRoleArn", json_string(""))) ||
        !(doc = json_pack("{s:s}", "PolicyId", id))) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    if ((r = meta_txn_begin(s->meta, true, &txn)) < 0 ||
        (r = lifecycle_policy_all(s, txn, &all)) < 0)
        goto out;
    if (json_array_size(all) >= LIFECYCLE_POLICY_LIMIT) {
        r = bsnap_fail(-EDQUOT, "LimitExceededException",
                       "an account has at most %d lifecycle policies", LIFECYCLE_POLICY_LIMIT);
        goto out;
    }
    if ((r = save(txn, id, rec)) < 0 || (r = meta_txn_commit(steal_ptr(txn))) < 0)
        goto out;
    *ret_doc = steal_ptr(doc);
out:
    json_decref(doc);
    json_decref(all);
    json_decref(rec);
    return r;
}

int bsnap_lifecycle_policy_update(bsnap_store *s, const char *id,
                                  const bsnap_lifecycle_policy_options *o, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    json_t *rec = NULL, *doc = NULL;
    int r;

    bsnap_error_clear();
    *ret_doc = NULL;
    if ((r = check_id(id)) < 0)
        return r;
    if ((r = meta_txn_begin(s->meta, true, &txn)) < 0 ||
        (r = lifecycle_policy_load(s, txn, id, &rec)) < 0 || (r = apply(rec, o)) < 0)
        goto out;
    if (json_object_set_new(rec, "DateModified", json_integer(time_now_ms())) ||
        !(doc = empty_answer())) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    if ((r = save(txn, id, rec)) < 0 || (r = meta_txn_commit(steal_ptr(txn))) < 0)
        goto out;
    *ret_doc = steal_ptr(doc);
out:
    json_decref(doc);
    json_decref(rec);
    return r;
}

int bsnap_lifecycle_policy_delete(bsnap_store *s, const char *id, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    json_t *rec = NULL, *doc = NULL;
    char key[BSNAP_ID_MAX + 2];
    int r;

    bsnap_error_clear();
    *ret_doc = NULL;
    if ((r = check_id(id)) < 0)
        return r;
    if (!(doc = empty_answer()))
        return -ENOMEM;
    if ((r = meta_txn_begin(s->meta, true, &txn)) < 0 ||
        (r = lifecycle_policy_load(s, txn, id, &rec)) < 0 ||
        (r = meta_del(txn, T_LIFECYCLE, key, key_policy(id, key))) < 0 ||
        (r = meta_txn_commit(steal_ptr(txn))) < 0)
        goto out;
    *ret_doc = steal_ptr(doc);
out:
    json_decref(doc);
    json_decref(rec);
    return r;
}

/* The record @rec as GetLifecyclePolicy's Policy. */
static json_t *policy_json(const bsnap_store *s, const json_t *rec)
{
    char created[40], modified[40], arn[160];
    const char *id = json_string_value(json_object_get(rec, "PolicyId"));

    time_format_ms(json_integer_value(json_object_get(rec, "DateCreated")), created,
                   sizeof created);
    time_format_ms(json_integer_value(json_object_get(rec, "DateModified")), modified,
                   sizeof modified);
    snprintf(arn, sizeof arn, "arn:aws:dlm:%s:%s:policy/%s", s->region, s->caller, id);
    return json_pack("{s:s, s:O, s:O, s:s, s:O, s:s, s:s, s:O, s:{}, s:s}", "PolicyId", id,
                     "Description", json_object_get(rec, "Description"), "State",
                     json_object_get(rec, "State"), "StatusMessage",
                     strcmp(json_string_value(json_object_get(rec, "State")), "ENABLED") == 0
                         ? "ENABLED"
                         : "DISABLED",
                     "ExecutionRoleArn", json_object_get(rec, "ExecutionRoleArn"), "DateCreated",
                     created, "DateModified", modified, "PolicyDetails",
                     json_object_get(rec, "PolicyDetails"), "Tags", "PolicyArn", arn);
}

int bsnap_lifecycle_policy_get(bsnap_store *s, const char *id, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    json_t *rec = NULL, *p;
    int r;

    bsnap_error_clear();
    *ret_doc = NULL;
    if ((r = check_id(id)) < 0)
        return r;
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0 ||
        (r = lifecycle_policy_load(s, txn, id, &rec)) < 0)
        return r;
    p = policy_json(s, rec);
    json_decref(rec);
    if (!p || !(*ret_doc = json_pack("{s:o}", "Policy", p)))
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    return 0;
}

/* Whether one of the tags of list @a is "KEY=VALUE" @kv. */
static bool has_tag(const json_t *a, const char *kv)
{
    const char *eq = strchr(kv, '=');
    size_t i;
    json_t *t;

    json_array_foreach ((json_t *)a, i, t) {
        const char *k = json_string_value(json_object_get(t, "Key"));
        const char *v = json_string_value(json_object_get(t, "Value"));
        if (eq ? strlen(k) == (size_t)(eq - kv) && strncmp(k, kv, (size_t)(eq - kv)) == 0 &&
                     strcmp(v, eq + 1) == 0
               : strcmp(k, kv) == 0)
            return true;
    }
    return false;
}

static bool matches(const json_t *rec, const bsnap_lifecycle_filter *f)
{
    const json_t *d = json_object_get(rec, "PolicyDetails");
    bool ok;

    if (!f)
        return true;
    if (f->state && strcmp(f->state, json_string_value(json_object_get(rec, "State"))) != 0)
        return false;
    ok = f->npolicy_ids == 0;
    for (size_t i = 0; i < f->npolicy_ids && !ok; i++)
        ok = strcmp(f->policy_ids[i], json_string_value(json_object_get(rec, "PolicyId"))) == 0;
    if (!ok)
        return false;
    ok = f->nresource_types == 0;
    for (size_t i = 0; i < f->nresource_types && !ok; i++)
        ok = strcmp(f->resource_types[i], "VOLUME") == 0;
    if (!ok)
        return false;
    ok = f->ntarget_tags == 0;
    for (size_t i = 0; i < f->ntarget_tags && !ok; i++)
        ok = has_tag(json_object_get(d, "TargetTags"), f->target_tags[i]);
    if (!ok)
        return false;
    ok = f->ntags_to_add == 0;
    for (size_t i = 0; i < f->ntags_to_add && !ok; i++) {
        size_t k;
        json_t *sc;
        json_array_foreach (json_object_get(d, "Schedules"), k, sc)
            ok = ok || has_tag(json_object_get(sc, "TagsToAdd"), f->tags_to_add[i]);
    }
    return ok;
}

int bsnap_lifecycle_policies_get(bsnap_store *s, const bsnap_lifecycle_filter *f, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    json_t *all = NULL, *list = NULL, *rec;
    size_t i;
    int r;

    bsnap_error_clear();
    *ret_doc = NULL;
    for (size_t k = 0; f && k < f->npolicy_ids; k++)
        if ((r = check_id(f->policy_ids[k])) < 0)
            return error_set_parameter("PolicyIds[%zu]", k);
    if (f && f->state && strcmp(f->state, "ENABLED") != 0 && strcmp(f->state, "DISABLED") != 0 &&
        strcmp(f->state, "ERROR") != 0)
        return INVALID("State", "the state must be ENABLED, DISABLED or ERROR, not '%.32s'",
                       f->state);
    for (size_t k = 0; f && k < f->nresource_types; k++)
        if (strcmp(f->resource_types[k], "VOLUME") != 0 &&
            strcmp(f->resource_types[k], "INSTANCE") != 0)
            return INVALID("ResourceTypes", "a resource type is VOLUME or INSTANCE, not '%.32s'",
                           f->resource_types[k]);
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0 ||
        (r = lifecycle_policy_all(s, txn, &all)) < 0)
        return r;
    list = json_array();
    json_array_foreach (all, i, rec) {
        json_t *d = json_object_get(rec, "PolicyDetails");
        if (!matches(rec, f))
            continue;
        if (!list || json_array_append_new(
                         list, json_pack("{s:O, s:O, s:O, s:{}, s:O}", "PolicyId",
                                         json_object_get(rec, "PolicyId"), "Description",
                                         json_object_get(rec, "Description"), "State",
                                         json_object_get(rec, "State"), "Tags", "PolicyType",
                                         json_object_get(d, "PolicyType"))) < 0) {
            json_decref(all);
            json_decref(list);
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        }
    }
    json_decref(all);
    if (!(*ret_doc = json_pack("{s:o}", "Policies", list)))
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    return 0;
}
