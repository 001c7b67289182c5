/* test-lifecycle.c - lifecycle.c and lifecycle-run.c: the check of
 * PolicyDetails (each refusal names its field), the policy records (create,
 * get, list with filters, update, delete; another account's unseen; a
 * damaged record refused), the clock's arithmetic (slots, calendar ages),
 * and a year of daily runs of the real engine on a real small volume with a
 * fake clock: exactly which snapshots survive, on chosen days and at the
 * end, with a user's snapshot and an image's never touched. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "unit-helpers.h"

#include "lifecycle.h"

#define HOUR_MS INT64_C(3600000)
#define DAY_MS (24 * HOUR_MS)

/* Days since 1970-01-01 of a civil date (the test's own calendar). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400, yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t at(int64_t y, int m, int d, int hour)
{
    return days_from_civil(y, m, d) * DAY_MS + hour * HOUR_MS;
}

static int parse(const char *text, json_t **ret)
{
    return lifecycle_details_parse(text, strlen(text), ret);
}

#define SCHEDULE(extra)                                                            \
    "{\"Name\":\"d\",\"CreateRule\":{\"Interval\":24,\"IntervalUnit\":\"HOURS\"}," \
    "\"RetainRule\":{\"Count\":3}" extra "}"

static void test_details_ok(void **state)
{
    json_t *d = NULL;
    struct lc_schedule sc[4];

    (void)state;
    assert_int_equal(parse("{\"TargetTags\":[{\"Key\":\"k\",\"Value\":\"v\"}],\"Schedules\":"
                           "[" SCHEDULE(",\"TagsToAdd\":[{\"Key\":\"a\",\"Value\":\"\"}],"
                                        "\"CopyTags\":true") ","
                                                             "{\"Name\":\"w\",\"CreateRule\":{"
                                                             "\"Interval\":12,\"IntervalUnit\":"
                                                             "\"HOURS\",\"Times\":[\"03:30\"]},"
                                                             "\"RetainRule\":{\"Interval\":2,"
                                                             "\"IntervalUnit\":\"WEEKS\"}}]}",
                           &d),
                     0);
    /* defaults filled in */
    assert_string_equal(json_string_value(json_object_get(d, "PolicyType")),
                        "EBS_SNAPSHOT_MANAGEMENT");
    assert_string_equal(json_string_value(json_array_get(json_object_get(d, "ResourceTypes"), 0)),
                        "VOLUME");
    assert_int_equal(lifecycle_schedules(d, sc, 4), 2);
    assert_string_equal(sc[0].name, "d");
    assert_int_equal(sc[0].interval_ms, DAY_MS);
    assert_int_equal(sc[0].offset_ms, 0);
    assert_int_equal(sc[0].retain_count, 3);
    assert_true(sc[0].copy_tags);
    assert_int_equal(json_array_size(sc[0].tags_to_add), 1);
    assert_int_equal(sc[1].interval_ms, 12 * HOUR_MS);
    assert_int_equal(sc[1].offset_ms, 3 * HOUR_MS + 30 * 60000);
    assert_int_equal(sc[1].retain_count, 0);
    assert_int_equal(sc[1].retain_interval, 2);
    assert_int_equal(sc[1].retain_unit, 'W');
    json_decref(d);
    /* by volume id alone */
    assert_int_equal(
        parse("{\"TargetVolumeIds\":[\"vol-0123456789abcdef0\"],\"Schedules\":[" SCHEDULE("") "]}",
              &d),
        0);
    json_decref(d);
}

/* Each bad PolicyDetails is InvalidRequestException naming @field. */
static void refused(const char *text, const char *field)
{
    json_t *d = NULL;
    int r = parse(text, &d);

    if (r != -EINVAL)
        print_error("accepted: %s\n", text);
    assert_int_equal(r, -EINVAL);
    assert_null(d);
    assert_string_equal(bsnap_last_error()->code, "InvalidRequestException");
    if (strcmp(bsnap_last_error()->parameter, field) != 0)
        print_error("%s: %s\n", text, bsnap_last_error()->message);
    assert_string_equal(bsnap_last_error()->parameter, field);
}

#define TT "\"TargetTags\":[{\"Key\":\"k\",\"Value\":\"v\"}]"

static void test_details_refused(void **state)
{
    (void)state;
    refused("", "PolicyDetails");
    refused("[1]", "PolicyDetails");
    refused("{\"TargetTags\":[],\"TargetTags\":[]}", "PolicyDetails");
    refused("{\"Schedules\":[" SCHEDULE("") "]}", "PolicyDetails.TargetTags");
    refused("{" TT "}", "PolicyDetails.Schedules");
    refused("{" TT ",\"Schedules\":[]}", "PolicyDetails.Schedules");
    refused("{" TT ",\"PolicyType\":\"IMAGE_MANAGEMENT\",\"Schedules\":[" SCHEDULE("") "]}",
            "PolicyDetails.PolicyType");
    refused("{" TT ",\"ResourceTypes\":[\"INSTANCE\"],\"Schedules\":[" SCHEDULE("") "]}",
            "PolicyDetails.ResourceTypes");
    refused("{" TT ",\"Parameters\":{},\"Schedules\":[" SCHEDULE("") "]}",
            "PolicyDetails.Parameters");
    refused("{" TT ",\"Bogus\":1,\"Schedules\":[" SCHEDULE("") "]}", "PolicyDetails.Bogus");
    refused("{\"TargetVolumeIds\":[\"vol-xyz\"],\"Schedules\":[" SCHEDULE("") "]}",
            "PolicyDetails.TargetVolumeIds[0]");
    refused("{\"TargetTags\":[{\"Key\":\"\",\"Value\":\"v\"}],\"Schedules\":[" SCHEDULE("") "]}",
            "PolicyDetails.TargetTags[0].Key");
    refused("{" TT ",\"Schedules\":[" SCHEDULE("") "," SCHEDULE("") "]}",
            "PolicyDetails.Schedules[1].Name");
    refused("{" TT ",\"Schedules\":[{\"Name\":\"c\",\"CreateRule\":{\"CronExpression\":"
            "\"cron(0 3 * * ? *)\"},\"RetainRule\":{\"Count\":1}}]}",
            "PolicyDetails.Schedules[0].CreateRule.CronExpression");
    refused("{" TT ",\"Schedules\":[{\"Name\":\"c\",\"CreateRule\":{\"Interval\":5,"
            "\"IntervalUnit\":\"HOURS\"},\"RetainRule\":{\"Count\":1}}]}",
            "PolicyDetails.Schedules[0].CreateRule.Interval");
    refused("{" TT ",\"Schedules\":[{\"Name\":\"c\",\"CreateRule\":{\"Interval\":24,"
            "\"IntervalUnit\":\"DAYS\"},\"RetainRule\":{\"Count\":1}}]}",
            "PolicyDetails.Schedules[0].CreateRule.IntervalUnit");
    refused("{" TT ",\"Schedules\":[{\"Name\":\"c\",\"CreateRule\":{\"Interval\":24,"
            "\"IntervalUnit\":\"HOURS\",\"Times\":[\"24:00\"]},\"RetainRule\":{\"Count\":1}}]}",
            "PolicyDetails.Schedules[0].CreateRule.Times");
    refused("{" TT ",\"Schedules\":[{\"Name\":\"c\",\"CreateRule\":{\"Interval\":24,"
            "\"IntervalUnit\":\"HOURS\"},\"RetainRule\":{\"Count\":1,\"Interval\":2,"
            "\"IntervalUnit\":\"DAYS\"}}]}",
            "PolicyDetails.Schedules[0].RetainRule");
    refused("{" TT ",\"Schedules\":[{\"Name\":\"c\",\"CreateRule\":{\"Interval\":24,"
            "\"IntervalUnit\":\"HOURS\"},\"RetainRule\":{\"Count\":1001}}]}",
            "PolicyDetails.Schedules[0].RetainRule.Count");
    refused("{" TT ",\"Schedules\":[{\"Name\":\"c\",\"CreateRule\":{\"Interval\":24,"
            "\"IntervalUnit\":\"HOURS\"},\"RetainRule\":{\"Interval\":2}}]}",
            "PolicyDetails.Schedules[0].RetainRule.IntervalUnit");
    refused("{" TT ",\"Schedules\":[{\"Name\":\"c\",\"CreateRule\":{\"Interval\":24,"
            "\"IntervalUnit\":\"HOURS\"}}]}",
            "PolicyDetails.Schedules[0].RetainRule");
    refused("{" TT
            ",\"Schedules\":[" SCHEDULE(",\"TagsToAdd\":[{\"Key\":\"aws:x\",\"Value\":\"\"}]") "]}",
            "PolicyDetails.Schedules[0].TagsToAdd[0]");
    refused("{" TT ",\"Schedules\":[" SCHEDULE(",\"CopyTags\":\"yes\"") "]}",
            "PolicyDetails.Schedules[0].CopyTags");
    refused("{" TT ",\"Schedules\":[" SCHEDULE(",\"ShareRules\":[]") "]}",
            "PolicyDetails.Schedules[0].ShareRules");
}

static void test_clock(void **state)
{
    struct lc_schedule sc = {.interval_ms = DAY_MS, .offset_ms = 3 * HOUR_MS};
    bsnap_retention k;

    (void)state;
    assert_int_equal(lifecycle_slot_start(&sc, at(2026, 3, 1, 2)), at(2026, 2, 28, 3));
    assert_int_equal(lifecycle_slot_start(&sc, at(2026, 3, 1, 3)), at(2026, 3, 1, 3));
    sc.interval_ms = 8 * HOUR_MS;
    assert_int_equal(lifecycle_slot_start(&sc, at(2026, 3, 1, 2)), at(2026, 2, 28, 19));
    assert_int_equal(lifecycle_slot_start(&sc, at(2026, 3, 1, 12)), at(2026, 3, 1, 11));
    /* calendar ages: 31 March less a month is 28 February (29 in 2028) */
    sc.retain_unit = 'M';
    sc.retain_interval = 1;
    lifecycle_retention(&sc, at(2026, 3, 31, 12), &k);
    assert_int_equal(k.now_ms, at(2026, 3, 31, 12));
    assert_int_equal(k.within_ms, at(2026, 3, 31, 12) - at(2026, 2, 28, 12));
    lifecycle_retention(&sc, at(2028, 3, 31, 12), &k);
    assert_int_equal(k.within_ms, at(2028, 3, 31, 12) - at(2028, 2, 29, 12));
    sc.retain_unit = 'Y';
    lifecycle_retention(&sc, at(2028, 2, 29, 0), &k);
    assert_int_equal(k.within_ms, at(2028, 2, 29, 0) - at(2027, 2, 28, 0));
    sc.retain_unit = 'W';
    sc.retain_interval = 2;
    lifecycle_retention(&sc, at(2026, 1, 1, 0), &k);
    assert_int_equal(k.within_ms, 14 * DAY_MS);
    sc.retain_count = 7;
    lifecycle_retention(&sc, at(2026, 1, 1, 0), &k);
    assert_int_equal(k.last, 7);
    assert_int_equal(k.within_ms, 0);
}

static const char *create(struct fixture *f, const char *details, const char *state,
                          char id[BSNAP_ID_MAX])
{
    bsnap_lifecycle_policy_options o = {
        .description = "test policy", .state = state, .policy_details = details};
    json_t *doc = NULL;
    int r = bsnap_lifecycle_policy_create(f->s, &o, &doc);

    if (r < 0)
        print_error("create: %s (%s)\n", bsnap_last_error()->message, bsnap_last_error()->code);
    assert_int_equal(r, 0);
    snprintf(id, BSNAP_ID_MAX, "%s", json_string_value(json_object_get(doc, "PolicyId")));
    json_decref(doc);
    assert_true(lifecycle_id_valid(id));
    return id;
}

static void test_records(void **state)
{
    struct fixture *f = *state;
    char a[BSNAP_ID_MAX], b[BSNAP_ID_MAX];
    char *json = NULL;
    json_t *doc = NULL;
    const char *only_b[] = {b}, *tag[] = {"k=v"}, *other[] = {"k=w"};
    bsnap_lifecycle_filter flt = {0};
    bsnap_lifecycle_policy_options up = {0};

    create(f, "{" TT ",\"Schedules\":[" SCHEDULE("") "]}", "ENABLED", a);
    create(f,
           "{\"TargetVolumeIds\":[\"vol-0123456789abcdef0\"],\"Schedules\":[" SCHEDULE(
               ",\"TagsToAdd\":[{\"Key\":\"who\",\"Value\":\"dlm\"}]") "]}",
           "DISABLED", b);
    assert_int_equal(AS_JSON(json, bsnap_lifecycle_policy_get, f->s, a), 0);
    assert_non_null(strstr(json, "\"State\":\"ENABLED\""));
    assert_non_null(strstr(json, "\"PolicyType\":\"EBS_SNAPSHOT_MANAGEMENT\""));
    assert_non_null(strstr(json, "\"PolicyArn\":\"arn:aws:dlm:test-1:"));
    free(json);
    /* filters */
    assert_int_equal(bsnap_lifecycle_policies_get(f->s, NULL, &doc), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "Policies")), 2);
    json_decref(doc);
    flt.state = "DISABLED";
    assert_int_equal(bsnap_lifecycle_policies_get(f->s, &flt, &doc), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "Policies")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(doc, "Policies"), 0), "PolicyId")),
                        b);
    json_decref(doc);
    flt = (bsnap_lifecycle_filter){.target_tags = tag, .ntarget_tags = 1};
    assert_int_equal(bsnap_lifecycle_policies_get(f->s, &flt, &doc), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "Policies")), 1);
    json_decref(doc);
    flt = (bsnap_lifecycle_filter){.target_tags = other, .ntarget_tags = 1};
    assert_int_equal(bsnap_lifecycle_policies_get(f->s, &flt, &doc), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "Policies")), 0);
    json_decref(doc);
    flt = (bsnap_lifecycle_filter){.policy_ids = only_b, .npolicy_ids = 1};
    assert_int_equal(bsnap_lifecycle_policies_get(f->s, &flt, &doc), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "Policies")), 1);
    json_decref(doc);
    /* update: only what is given changes; bad details change nothing */
    up.state = "ENABLED";
    assert_int_equal(bsnap_lifecycle_policy_update(f->s, b, &up, &doc), 0);
    json_decref(doc);
    up = (bsnap_lifecycle_policy_options){.policy_details = "{}"};
    assert_int_equal(bsnap_lifecycle_policy_update(f->s, b, &up, &doc), -EINVAL);
    assert_int_equal(AS_JSON(json, bsnap_lifecycle_policy_get, f->s, b), 0);
    assert_non_null(strstr(json, "\"State\":\"ENABLED\""));
    assert_non_null(strstr(json, "vol-0123456789abcdef0"));
    free(json);
    up = (bsnap_lifecycle_policy_options){.description = "bad; chars"};
    assert_int_equal(bsnap_lifecycle_policy_update(f->s, b, &up, &doc), -EINVAL);
    assert_string_equal(bsnap_last_error()->parameter, "Description");
    up = (bsnap_lifecycle_policy_options){.state = "ERROR"};
    assert_int_equal(bsnap_lifecycle_policy_update(f->s, b, &up, &doc), -EINVAL);
    /* ids */
    assert_int_equal(bsnap_lifecycle_policy_get(f->s, "policy-12", &doc), -EINVAL);
    assert_string_equal(bsnap_last_error()->code, "InvalidRequestException");
    assert_int_equal(bsnap_lifecycle_policy_get(f->s, "policy-0123456789abcdef0", &doc), -ENOENT);
    assert_string_equal(bsnap_last_error()->code, "ResourceNotFoundException");
    /* another account sees none of them */
    char me[13];
    snprintf(me, sizeof me, "%s", bsnap_store_account(f->s));
    assert_int_equal(bsnap_store_set_account(f->s, "210987654321"), 0);
    assert_int_equal(bsnap_lifecycle_policy_get(f->s, a, &doc), -ENOENT);
    assert_int_equal(bsnap_lifecycle_policy_delete(f->s, a, &doc), -ENOENT);
    assert_int_equal(bsnap_lifecycle_policies_get(f->s, NULL, &doc), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "Policies")), 0);
    json_decref(doc);
    assert_int_equal(bsnap_store_set_account(f->s, me), 0);
    /* delete */
    assert_int_equal(bsnap_lifecycle_policy_delete(f->s, a, &doc), 0);
    json_decref(doc);
    assert_int_equal(bsnap_lifecycle_policy_get(f->s, a, &doc), -ENOENT);
    assert_int_equal(bsnap_lifecycle_policy_delete(f->s, a, &doc), -ENOENT);
    /* a damaged record is refused, not run */
    {
        meta_txn *txn;
        char key[40];
        snprintf(key, sizeof key, "p%s", b);
        assert_int_equal(meta_txn_begin(f->s->meta, true, &txn), 0);
        assert_int_equal(meta_put(txn, T_LIFECYCLE, key, strlen(key), "{\"owner\":1}", 11), 0);
        assert_int_equal(meta_txn_commit(txn), 0);
    }
    assert_int_equal(bsnap_lifecycle_policy_get(f->s, b, &doc), -EIO);
    assert_int_equal(bsnap_lifecycle_policies_get(f->s, NULL, &doc), -EIO);
    {
        size_t failed;
        assert_int_equal(bsnap_lifecycle_run(f->s, NULL, 0, at(2026, 1, 1, 0), &doc, &failed),
                         -EIO);
    }
}

/* The StartTimes ("MM-DD" of 2026, oldest first) of the snapshots of
 * schedule @name, compared with @want. */
static void assert_schedule(struct fixture *f, const char *name, const char *want)
{
    bsnap_filter flt = {.name = "tag:aws:dlm:lifecycle-schedule-name",
                        .values = (const char *[]){name},
                        .nvalues = 1};
    bsnap_describe_options o = {.filters = &flt, .nfilters = 1};
    json_t *doc = NULL, *s;
    char got[4096] = "", *times[400];
    size_t i, n = 0;

    assert_int_equal(bsnap_snapshot_describe(f->s, &o, &doc), 0);
    json_array_foreach (json_object_get(doc, "Snapshots"), i, s)
        if (n < 400)
            times[n++] = strdup(json_string_value(json_object_get(s, "StartTime")) + 5);
    /* sort by time (ids are random) */
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n; b++)
            if (strcmp(times[b], times[a]) < 0) {
                char *t = times[a];
                times[a] = times[b];
                times[b] = t;
            }
    for (i = 0; i < n; i++) {
        times[i][5] = '\0';
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? " " : "", times[i]);
        free(times[i]);
    }
    json_decref(doc);
    if (strcmp(got, want) != 0)
        print_error("schedule %s:\n got %s\nwant %s\n", name, got, want);
    assert_string_equal(got, want);
}

/* One run at @now: the number of snapshots it created and deleted. */
static void run_at(struct fixture *f, int64_t now, size_t want_created, size_t want_deleted)
{
    json_t *doc = NULL, *x;
    size_t failed = 9, created = 0, deleted = 0, i;
    int r = bsnap_lifecycle_run(f->s, NULL, 0, now, &doc, &failed);

    if (r < 0)
        print_error("run: %s (%s)\n", bsnap_last_error()->message, bsnap_last_error()->code);
    assert_int_equal(r, 0);
    assert_int_equal(failed, 0);
    json_array_foreach (json_object_get(doc, "LifecyclePolicyResults"), i, x) {
        const char *a = json_string_value(json_object_get(x, "Action"));
        created += strcmp(a, "created") == 0;
        deleted += strcmp(a, "deleted") == 0;
    }
    json_decref(doc);
    if (created != want_created || deleted != want_deleted)
        print_error("run at day %lld: created %zu deleted %zu\n", (long long)(now / DAY_MS),
                    created, deleted);
    assert_int_equal(created, want_created);
    assert_int_equal(deleted, want_deleted);
}

/* A year of daily runs at 12:00 UTC: schedule "seven" (24 h from 03:00,
 * keep 7 by count) and "month" (24 h from 06:00, keep one calendar month
 * by age) on a tagged volume; three days without runs in May (no catch-up:
 * one snapshot per slot, taken when the run comes).  A user's snapshot and
 * the image's snapshot of "seven" survive every run. */
static void test_year(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "vm.img", 64 * KiB), user[BSNAP_ID_MAX], first[BSNAP_ID_MAX],
         pid[BSNAP_ID_MAX], ami[BSNAP_ID_MAX];
    bsnap_snapshot_info info;
    bsnap_tag tag = {"backup", "yes"};
    const char *res[1];
    json_t *doc = NULL;
    int64_t day0 = days_from_civil(2026, 1, 1), end = days_from_civil(2027, 1, 1);
    size_t n = 0;

    volume_write(vol, 0, 4096, 1);
    snap_path(f, vol, user);
    assert_int_equal(bsnap_snapshot_get(f->s, user, &info), 0);
    res[0] = info.volume_id;
    assert_int_equal(bsnap_tags_create(f->s, res, 1, &tag, 1), 0);
    create(f,
           "{\"TargetTags\":[{\"Key\":\"backup\",\"Value\":\"yes\"}],\"Schedules\":["
           "{\"Name\":\"seven\",\"CreateRule\":{\"Interval\":24,\"IntervalUnit\":\"HOURS\","
           "\"Times\":[\"03:00\"]},\"RetainRule\":{\"Count\":7}},"
           "{\"Name\":\"month\",\"CreateRule\":{\"Interval\":24,\"IntervalUnit\":\"HOURS\","
           "\"Times\":[\"06:00\"]},\"RetainRule\":{\"Interval\":1,\"IntervalUnit\":\"MONTHS\"}}]}",
           "ENABLED", pid);
    /* The first run takes one of each; an image then maps "seven"'s. */
    run_at(f, at(2026, 1, 1, 12), 2, 0);
    run_at(f, at(2026, 1, 1, 12), 0, 0); /* idempotent */
    {
        bsnap_filter flt = {.name = "tag:aws:dlm:lifecycle-schedule-name",
                            .values = (const char *[]){"seven"},
                            .nvalues = 1};
        bsnap_describe_options o = {.filters = &flt, .nfilters = 1};
        assert_int_equal(bsnap_snapshot_describe(f->s, &o, &doc), 0);
        snprintf(first, sizeof first, "%s",
                 json_string_value(json_object_get(
                     json_array_get(json_object_get(doc, "Snapshots"), 0), "SnapshotId")));
        json_decref(doc);
        bsnap_block_device_mapping m = {
            .device_name = "/dev/xvda", .kind = BSNAP_MAPPING_EBS, .snapshot_id = first};
        bsnap_image_options io = {.name = "pinned",
                                  .root_device_name = "/dev/xvda",
                                  .mappings = &m,
                                  .nmappings = 1,
                                  .no_boot_check = true};
        assert_int_equal(bsnap_image_register(f->s, &io, ami), 0);
    }
    for (int64_t d = day0 + 1; d < end; d++) {
        int64_t now = d * DAY_MS + 12 * HOUR_MS;
        bool skipped = d >= days_from_civil(2026, 5, 10) && d < days_from_civil(2026, 5, 13);

        if (skipped)
            continue;
        /* change a block now and then: incremental snapshots of a live volume */
        if (d % 10 == 0)
            volume_write(vol, (uint64_t)(d % 16) * 4096, 4096, (uint64_t)d);
        {
            json_t *rdoc = NULL, *x;
            size_t failed = 9, created = 0, i;
            assert_int_equal(bsnap_lifecycle_run(f->s, NULL, 0, now, &rdoc, &failed), 0);
            assert_int_equal(failed, 0);
            json_array_foreach (json_object_get(rdoc, "LifecyclePolicyResults"), i, x)
                created += strcmp(json_string_value(json_object_get(x, "Action")), "created") == 0;
            json_decref(rdoc);
            assert_int_equal(created, 2);
        }
        n++;
        if (d == days_from_civil(2026, 3, 1)) {
            /* a month back from 1 March is 1 February: 2 Feb to 1 Mar */
            assert_schedule(f, "month",
                            "02-02 02-03 02-04 02-05 02-06 02-07 02-08 02-09 02-10 02-11 02-12 "
                            "02-13 02-14 02-15 02-16 02-17 02-18 02-19 02-20 02-21 02-22 02-23 "
                            "02-24 02-25 02-26 02-27 02-28 03-01");
            assert_schedule(f, "seven", "01-01 02-23 02-24 02-25 02-26 02-27 02-28 03-01");
        }
        if (d == days_from_civil(2026, 5, 14)) {
            /* after the gap: seven are kept by count across it (and the
             * image's), and the month's has no snapshots of 10-12 May */
            assert_schedule(f, "seven", "01-01 05-05 05-06 05-07 05-08 05-09 05-13 05-14");
            assert_schedule(f, "month",
                            "04-15 04-16 04-17 04-18 04-19 04-20 04-21 04-22 04-23 04-24 04-25 "
                            "04-26 04-27 04-28 04-29 04-30 05-01 05-02 05-03 05-04 05-05 05-06 "
                            "05-07 05-08 05-09 05-13 05-14");
        }
    }
    assert_int_equal(n, 364 - 3);
    run_at(f, at(2026, 12, 31, 12), 0, 0); /* the same time again: nothing */
    /* seven by count (and the image's, kept), a calendar month by age */
    assert_schedule(f, "seven", "01-01 12-25 12-26 12-27 12-28 12-29 12-30 12-31");
    assert_schedule(f, "month",
                    "12-01 12-02 12-03 12-04 12-05 12-06 12-07 12-08 12-09 12-10 12-11 12-12 "
                    "12-13 12-14 12-15 12-16 12-17 12-18 12-19 12-20 12-21 12-22 12-23 12-24 "
                    "12-25 12-26 12-27 12-28 12-29 12-30 12-31");
    /* the user's snapshot is untouched, and every survivor reads back */
    assert_int_equal(bsnap_snapshot_get(f->s, user, &info), 0);
    assert_int_equal(bsnap_snapshot_get(f->s, first, &info), 0);
    /* disabled: nothing more happens */
    {
        bsnap_lifecycle_policy_options up = {.state = "DISABLED"};
        assert_int_equal(bsnap_lifecycle_policy_update(f->s, pid, &up, &doc), 0);
        json_decref(doc);
        run_at(f, at(2027, 3, 1, 12), 0, 0);
    }
    free(vol);
}

/* A volume named by id that is gone is one failed result; the tagged one
 * is still snapshotted. */
static void test_failure_isolated(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "a.img", 64 * KiB), id[BSNAP_ID_MAX], pid[BSNAP_ID_MAX];
    char details[512];
    bsnap_snapshot_info info;
    json_t *doc = NULL;
    size_t failed = 0;

    volume_write(vol, 0, 4096, 7);
    snap_path(f, vol, id);
    assert_int_equal(bsnap_snapshot_get(f->s, id, &info), 0);
    snprintf(
        details, sizeof details,
        "{\"TargetVolumeIds\":[\"vol-0123456789abcdef0\",\"%s\"],\"Schedules\":[" SCHEDULE("") "]}",
        info.volume_id);
    create(f, details, "ENABLED", pid);
    assert_int_equal(bsnap_lifecycle_run(f->s, NULL, 0, at(2026, 1, 1, 0), &doc, &failed), 0);
    assert_int_equal(failed, 1);
    {
        char *text = json_dumps(doc, JSON_COMPACT);
        assert_non_null(strstr(text, "\"Action\":\"created\",\"SnapshotId\":\"snap-"));
        assert_non_null(strstr(text, "InvalidVolume.NotFound"));
        free(text);
    }
    json_decref(doc);
    /* malformed and unknown ids fail the call before anything runs */
    {
        const char *bad[] = {"policy-xyz"}, *unknown[] = {"policy-0123456789abcdef0"};
        assert_int_equal(bsnap_lifecycle_run(f->s, bad, 1, 0, &doc, &failed), -EINVAL);
        assert_int_equal(bsnap_lifecycle_run(f->s, unknown, 1, 0, &doc, &failed), -ENOENT);
        assert_string_equal(bsnap_last_error()->code, "ResourceNotFoundException");
    }
    free(vol);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_details_ok),
        cmocka_unit_test(test_details_refused),
        cmocka_unit_test(test_clock),
        cmocka_unit_test_setup_teardown(test_records, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_failure_isolated, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_year, setup_4k, teardown_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
