/* retention.c - prune: which snapshots of a volume keep rules keep (a pure
 * plan over (id, time, in use) tuples), and the call that applies it.
 *
 * The rules are restic's and borg's: walking a volume's snapshots newest
 * first, a bucket rule (hourly ... yearly) keeps a snapshot when its UTC
 * bucket differs from that of the last snapshot the walk saw and the rule
 * has kept fewer than its count; so each rule keeps the newest snapshot of
 * each of its N newest buckets that hold one.  An image's snapshot is
 * always kept, and counts in its bucket like any other. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "cow-files.h"
#include "error.h"
#include "image.h"
#include "store.h"
#include "util.h"
#include "xref.h"

#define HOUR_MS INT64_C(3600000)
#define DAY_MS (24 * HOUR_MS)

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The civil year and month (1-12) of day @days since 1970-01-01 (Howard
 * Hinnant's days-to-civil). */
static void civil(int64_t days, int64_t *ret_year, int *ret_month)
{
    int64_t z = days + 719468, era = floor_div(z, 146097), doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);

    *ret_year = yoe + era * 400 + (m <= 2);
    *ret_month = m;
}

enum { R_HOURLY, R_DAILY, R_WEEKLY, R_MONTHLY, R_YEARLY, R_N };

/* The bucket of @ms under bucket rule @rule. */
static int64_t bucket(int rule, int64_t ms)
{
    int64_t days = floor_div(ms, DAY_MS), year;
    int month;

    switch (rule) {
    case R_HOURLY:
        return floor_div(ms, HOUR_MS);
    case R_DAILY:
        return days;
    case R_WEEKLY:
        return floor_div(days + 3, 7); /* 1970-01-01 was a Thursday: weeks start Monday */
    case R_MONTHLY:
        civil(days, &year, &month);
        return year * 12 + month - 1;
    default:
        civil(days, &year, &month);
        return year;
    }
}

static int newest_first(const void *a, const void *b)
{
    const bsnap_retention_item *x = a, *y = b;

    if (x->time_ms != y->time_ms)
        return x->time_ms > y->time_ms ? -1 : 1;
    return -strcmp(x->id, y->id);
}

int bsnap_retention_plan(const bsnap_retention *rules, bsnap_retention_item *items, size_t n)
{
    const uint32_t counts[R_N] = {rules->hourly, rules->daily, rules->weekly, rules->monthly,
                                  rules->yearly};
    const uint32_t bits[R_N] = {BSNAP_KEEP_HOURLY, BSNAP_KEEP_DAILY, BSNAP_KEEP_WEEKLY,
                                BSNAP_KEEP_MONTHLY, BSNAP_KEEP_YEARLY};
    uint32_t kept[R_N] = {0};
    int64_t last[R_N];
    bool seen[R_N] = {false};

    bsnap_error_clear();
    if (rules->within_ms < 0) {
        bsnap_fail(-EINVAL, "InvalidParameterValue", "the keep-within duration is negative");
        return error_set_parameter("KeepWithin");
    }
    if (!rules->last && !rules->hourly && !rules->daily && !rules->weekly && !rules->monthly &&
        !rules->yearly && !rules->within_ms) {
        bsnap_fail(-EINVAL, "InvalidParameterValue",
                   "at least one keep rule is required (a count above 0 or a duration)");
        return error_set_parameter("RetainRule");
    }
    if (n == 0)
        return 0;
    qsort(items, n, sizeof *items, newest_first);
    for (size_t i = 0; i < n; i++) {
        bsnap_retention_item *it = &items[i];

        it->keep = it->in_use ? BSNAP_KEEP_IN_USE : 0;
        if (i < rules->last)
            it->keep |= BSNAP_KEEP_LAST;
        if (rules->within_ms &&
            (rules->now_ms ? rules->now_ms : items[0].time_ms) - it->time_ms < rules->within_ms)
            it->keep |= BSNAP_KEEP_WITHIN;
        for (int r = 0; r < R_N; r++) {
            int64_t b = bucket(r, it->time_ms);
            if (kept[r] < counts[r] && (!seen[r] || b != last[r])) {
                it->keep |= bits[r];
                kept[r]++;
            }
            seen[r] = true;
            last[r] = b;
        }
    }
    return 0;
}

/* ---- applying a plan ---- */

static const char *const reason_names[] = {"last",    "hourly", "daily", "weekly",
                                           "monthly", "yearly", "within"};

struct prune_snap {
    char volume_id[BSNAP_ID_MAX];
    char image[BSNAP_ID_MAX];
    bsnap_retention_item item;
};

static int by_volume_then_plan(const void *a, const void *b)
{
    const struct prune_snap *x = a, *y = b;
    int c = strcmp(x->volume_id, y->volume_id);

    return c ? c : newest_first(&x->item, &y->item);
}

/* The first live image (in id order) of @images that maps snapshot @id
 * into @ret: 1, or 0 when none does. */
static int scan_user(const struct image_rec *images, size_t nimages, const char *id,
                     char ret[BSNAP_ID_MAX])
{
    for (size_t i = 0; i < nimages; i++)
        for (size_t b = 0; images[i].state != BSNAP_IMAGE_DEREGISTERED && b < images[i].nbdm; b++)
            if (images[i].bdm[b].kind == BDM_EBS && strcmp(images[i].bdm[b].snapshot_id, id) == 0) {
                snprintf(ret, BSNAP_ID_MAX, "%s", images[i].id);
                return 1;
            }
    return 0;
}

/* The caller's completed snapshots (of @volume_id, or all), with the image
 * that uses each, read in one read transaction.  The index of images by
 * snapshot is used when it is built; a store that has none yet (it is
 * built by the first write that needs it) is scanned image by image
 * instead, since a read must not write it (a dry run leaves the store as
 * it was, byte for byte). */
static int load_snaps(bsnap_store *s, const char *volume_id, struct prune_snap **ret, size_t *ret_n)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec *recs = NULL;
    struct prune_snap *v = NULL;
    struct image_rec *images = NULL;
    size_t nimages = 0;
    int ready;
    const char *account = bsnap_store_account(s);
    size_t nrecs = 0, n = 0;
    int r;

    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    r = catalog_snapshot_all(txn, &recs, &nrecs);
    if (r < 0)
        return r;
    ready = xref_ready(txn, XREF_IMAGES);
    if (ready == 0)
        ready = image_all(txn, &images, &nimages);
    if (ready < 0) {
        r = ready;
        goto out;
    }
    v = calloc(nrecs + 1, sizeof *v);
    if (!v) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nrecs; i++) {
        const struct snapshot_rec *rec = &recs[i];
        struct prune_snap *p = &v[n];

        if (rec->state != BSNAP_SNAPSHOT_COMPLETED ||
            (volume_id && strcmp(rec->volume_id, volume_id) != 0) ||
            (rec->owner[0] && strcmp(rec->owner, account) != 0))
            continue;
        r = ready == 1 ? image_snapshot_user(txn, rec->id, p->image)
                       : scan_user(images, nimages, rec->id, p->image);
        /* a writable volume's base or last snapshot stays too ("used by
         * vol-…"): delete-snapshot would refuse it */
        if (r == 0)
            r = cow_snapshot_user(txn, rec->id, p->image);
        if (r < 0)
            goto out;
        if (r == 0)
            p->image[0] = '\0';
        snprintf(p->volume_id, sizeof p->volume_id, "%s", rec->volume_id);
        snprintf(p->item.id, sizeof p->item.id, "%s", rec->id);
        p->item.time_ms = rec->start_ms;
        p->item.in_use = r > 0;
        n++;
    }
    r = 0;
    *ret = steal_ptr(v);
    *ret_n = n;
out:
    free(v);
    image_recs_free(images, nimages);
    snapshot_recs_free(recs, nrecs);
    return r;
}

static json_t *snap_json(const struct prune_snap *p, const char *action)
{
    char when[40];
    json_t *o, *why = json_array();

    time_format_ms(p->item.time_ms, when, sizeof when);
    for (size_t b = 0; b < sizeof reason_names / sizeof *reason_names; b++)
        if (p->item.keep & (1u << b))
            json_array_append_new(why, json_string(reason_names[b]));
    if (p->item.keep & BSNAP_KEEP_IN_USE) {
        char used[BSNAP_ID_MAX + 16];
        snprintf(used, sizeof used, "used by %s", p->image);
        json_array_append_new(why, json_string(used));
    }
    o = json_pack("{s:s, s:s, s:s, s:s, s:o}", "SnapshotId", p->item.id, "VolumeId", p->volume_id,
                  "StartTime", when, "Action", action, "KeptBy", why);
    return o;
}

int bsnap_snapshot_prune(bsnap_store *s, const char *volume_id, const bsnap_retention *rules,
                         bool dry_run, json_t **ret_doc, size_t *ret_failed)
{
    struct prune_snap *snaps = NULL;
    json_t *doc = NULL, *list;
    size_t n = 0, failed = 0;
    int r;

    bsnap_error_clear();
    *ret_doc = NULL;
    *ret_failed = 0;
    if (volume_id && check_volume_id(volume_id) < 0)
        return error_set_parameter("VolumeId");
    r = bsnap_retention_plan(rules, NULL, 0);
    if (r < 0)
        return r;
    r = load_snaps(s, volume_id, &snaps, &n);
    if (r < 0)
        return r;
    if (volume_id && n == 0) {
        struct volume_rec vol = {0};
        r = catalog_volume_get(s, volume_id, &vol);
        volume_rec_clear(&vol);
        if (r < 0)
            goto out;
    }
    /* Plan each volume's run of snapshots on its own. */
    qsort(snaps, n, sizeof *snaps, by_volume_then_plan);
    for (size_t i = 0, j; i < n; i = j) {
        bsnap_retention_item *items;
        for (j = i; j < n && strcmp(snaps[j].volume_id, snaps[i].volume_id) == 0; j++)
            ;
        items = calloc(j - i, sizeof *items);
        if (!items) {
            r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            goto out;
        }
        for (size_t k = i; k < j; k++)
            items[k - i] = snaps[k].item;
        r = bsnap_retention_plan(rules, items, j - i);
        /* The order is the same (sorted alike): copy the bits back. */
        for (size_t k = i; r == 0 && k < j; k++)
            snaps[k].item.keep = items[k - i].keep;
        free(items);
        if (r < 0)
            goto out;
    }

    doc = json_object();
    list = json_array();
    if (!doc || !list || json_object_set_new(doc, "DryRun", json_boolean(dry_run)) < 0 ||
        json_object_set_new(doc, "PruneSnapshotResults", list) < 0) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct prune_snap *p = &snaps[i];
        const char *action = p->item.keep ? "keep" : dry_run ? "delete" : "deleted";
        json_t *o;
        int d = 0;

        if (!p->item.keep && !dry_run)
            d = bsnap_snapshot_delete(s, p->item.id);
        o = snap_json(p, d < 0 ? "failed" : action);
        if (!o) {
            r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            goto out;
        }
        if (d < 0) {
            const bsnap_error *e = bsnap_last_error();
            failed++;
            json_object_set_new(o, "Error",
                                json_pack("{s:s, s:s}", "Code", e->code ? e->code : "InternalError",
                                          "Message", e->message ? e->message : ""));
        }
        json_array_append_new(list, o);
    }
    bsnap_error_clear();
    r = 0;
    *ret_doc = steal_ptr(doc);
    *ret_failed = failed;
out:
    json_decref(doc);
    free(snaps);
    return error_param(r, "VolumeId");
}

/* ---- several deletes ---- */

int bsnap_snapshot_delete_many(bsnap_store *s, const char *const *ids, size_t n, json_t **ret_doc,
                               size_t *ret_failed)
{
    json_t *doc, *list;
    size_t failed = 0;

    bsnap_error_clear();
    *ret_doc = NULL;
    *ret_failed = 0;
    if (n == 0 || !ids) {
        bsnap_fail(-EINVAL, "MissingParameter", "no snapshot id given");
        return error_set_parameter("SnapshotIds");
    }
    doc = json_object();
    list = json_array();
    if (!doc || !list || json_object_set_new(doc, "DeleteSnapshotResults", list) < 0) {
        json_decref(doc);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        int d = bsnap_snapshot_delete(s, ids[i]);
        const bsnap_error *e = bsnap_last_error();
        const char *code = d == 0        ? "success"
                           : d == -EBUSY ? "skipped"
                           : d == -ENOENT && e->code && strstr(e->code, "NotFound")
                               ? "missing"
                               : "client-error";
        json_t *o = json_pack("{s:s, s:s}", "SnapshotId", ids[i], "ReturnCode", code);

        if (o && d < 0) {
            failed++;
            json_object_set_new(o, "Error",
                                json_pack("{s:s, s:s}", "Code", e->code ? e->code : "InternalError",
                                          "Message", e->message ? e->message : ""));
        }
        if (!o || json_array_append_new(list, o) < 0) {
            json_decref(doc);
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        }
    }
    bsnap_error_clear();
    *ret_doc = doc;
    *ret_failed = failed;
    return 0;
}
