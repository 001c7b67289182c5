/* test-recycle.c - recycle.c: Recycle Bin rules (checks, get, list, update,
 * delete, another account's unseen), which rules keep a snapshot and for
 * how long, and the bin itself on a real store: a deleted snapshot moves
 * there whole (verify counts its root, gc frees nothing of it), comes back
 * byte for byte, expires at the store's clock (gc then frees what it
 * alone held, as a delete would have), and verify --repair brings a binned
 * snapshot back as a snapshot. */
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

#include "recycle.h"

#define DAY_MS INT64_C(86400000)
#define T0 INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */

static const char *rule(struct fixture *f, uint32_t days, const bsnap_tag *tags, size_t ntags,
                        char id[16])
{
    bsnap_rbin_rule_options o = {.resource_type = "EBS_SNAPSHOT",
                                 .retention_days = days,
                                 .resource_tags = tags,
                                 .nresource_tags = ntags};
    json_t *doc = NULL;
    int r = bsnap_rbin_rule_create(f->s, &o, &doc);

    if (r < 0)
        print_error("create-rule: %s\n", bsnap_last_error()->message);
    assert_int_equal(r, 0);
    snprintf(id, 16, "%s", json_string_value(json_object_get(doc, "Identifier")));
    assert_int_equal(strlen(id), 11);
    assert_string_equal(json_string_value(json_object_get(doc, "Status")), "available");
    json_decref(doc);
    return id;
}

static void test_rules(void **state)
{
    struct fixture *f = *state;
    bsnap_tag tag = {"keep", "yes"};
    char a[16], b[16], me[13], *json = NULL;
    json_t *doc = NULL;
    bsnap_rbin_rule_options o = {0};

    rule(f, 7, NULL, 0, a);
    rule(f, 30, &tag, 1, b);
    assert_int_equal(AS_JSON(json, bsnap_rbin_rule_get, f->s, b), 0);
    assert_non_null(strstr(json, "\"RetentionPeriodValue\":30"));
    assert_non_null(strstr(json, "\"ResourceTagKey\":\"keep\""));
    assert_non_null(strstr(json, "\"RuleArn\":\"arn:aws:rbin:test-1:"));
    free(json);
    assert_int_equal(bsnap_rbin_rules_list(f->s, "EBS_SNAPSHOT", NULL, 0, &doc), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "Rules")), 2);
    json_decref(doc);
    assert_int_equal(bsnap_rbin_rules_list(f->s, "EBS_SNAPSHOT", &tag, 1, &doc), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "Rules")), 1);
    json_decref(doc);
    assert_int_equal(bsnap_rbin_rules_list(f->s, "EC2_IMAGE", NULL, 0, &doc), -EINVAL);
    /* checks */
    o = (bsnap_rbin_rule_options){.resource_type = "EBS_SNAPSHOT"};
    assert_int_equal(bsnap_rbin_rule_create(f->s, &o, &doc), -EINVAL);
    assert_string_equal(bsnap_last_error()->code, "ValidationException");
    o.retention_days = 366;
    assert_int_equal(bsnap_rbin_rule_create(f->s, &o, &doc), -EINVAL);
    assert_string_equal(bsnap_last_error()->parameter, "RetentionPeriod.RetentionPeriodValue");
    o.retention_days = 1;
    o.retention_unit = "WEEKS";
    assert_int_equal(bsnap_rbin_rule_create(f->s, &o, &doc), -EINVAL);
    o.retention_unit = NULL;
    o.description = "semi;colon";
    assert_int_equal(bsnap_rbin_rule_create(f->s, &o, &doc), -EINVAL);
    assert_string_equal(bsnap_last_error()->parameter, "Description");
    /* update: only what is given */
    o = (bsnap_rbin_rule_options){.description = "longer"};
    assert_int_equal(bsnap_rbin_rule_update(f->s, a, &o, &doc), 0);
    json_decref(doc);
    assert_int_equal(AS_JSON(json, bsnap_rbin_rule_get, f->s, a), 0);
    assert_non_null(strstr(json, "\"Description\":\"longer\""));
    assert_non_null(strstr(json, "\"RetentionPeriodValue\":7"));
    free(json);
    /* ids, and another account */
    assert_int_equal(bsnap_rbin_rule_get(f->s, "short", &doc), -EINVAL);
    assert_int_equal(bsnap_rbin_rule_get(f->s, "0123456789a", &doc), -ENOENT);
    assert_string_equal(bsnap_last_error()->code, "ResourceNotFoundException");
    snprintf(me, sizeof me, "%s", bsnap_store_account(f->s));
    assert_int_equal(bsnap_store_set_account(f->s, "210987654321"), 0);
    assert_int_equal(bsnap_rbin_rule_get(f->s, a, &doc), -ENOENT);
    assert_int_equal(bsnap_rbin_rules_list(f->s, "EBS_SNAPSHOT", NULL, 0, &doc), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "Rules")), 0);
    json_decref(doc);
    assert_int_equal(bsnap_store_set_account(f->s, me), 0);
    assert_int_equal(bsnap_rbin_rule_delete(f->s, a, &doc), 0);
    json_decref(doc);
    assert_int_equal(bsnap_rbin_rule_get(f->s, a, &doc), -ENOENT);
}

/* The days the rules keep snapshot @id for. */
static uint32_t days_of(struct fixture *f, const char *id)
{
    meta_txn *txn;
    struct snapshot_rec rec = {0};
    uint32_t days = 99;

    assert_int_equal(meta_txn_begin(f->s->meta, false, &txn), 0);
    assert_int_equal(catalog_snapshot_load(txn, id, &rec), 0);
    assert_int_equal(recycle_days(txn, &rec, &days), 0);
    meta_txn_abort(txn);
    snapshot_rec_clear(&rec);
    return days;
}

static void test_matching(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "m.img", 64 * KiB), s1[BSNAP_ID_MAX], r1[16], r2[16], r3[16];
    bsnap_tag keep = {"keep", "yes"}, any = {"team", NULL};
    const char *res[1] = {s1};
    json_t *doc = NULL;

    volume_write(vol, 0, 4096, 1);
    snap_path(f, vol, s1);
    assert_int_equal(days_of(f, s1), 0);
    rule(f, 10, &keep, 1, r1);
    assert_int_equal(days_of(f, s1), 0);
    assert_int_equal(bsnap_tags_create(f->s, res, 1, &keep, 1), 0);
    assert_int_equal(days_of(f, s1), 10);
    rule(f, 20, &any, 1, r2); /* any value of team */
    assert_int_equal(days_of(f, s1), 10);
    {
        bsnap_tag team = {"team", "db"};
        assert_int_equal(bsnap_tags_create(f->s, res, 1, &team, 1), 0);
    }
    assert_int_equal(days_of(f, s1), 20);
    rule(f, 5, NULL, 0, r3); /* region-level: every snapshot, but the longest wins */
    assert_int_equal(days_of(f, s1), 20);
    assert_int_equal(bsnap_rbin_rule_delete(f->s, r2, &doc), 0);
    json_decref(doc);
    assert_int_equal(days_of(f, s1), 10);
    /* another account's rules do not keep this account's snapshots */
    free(vol);
}

static void read_all(struct fixture *f, const char *id, uint8_t *buf, size_t n)
{
    bsnap_reader *rd = NULL;

    assert_int_equal(bsnap_reader_open(f->s, id, &rd), 0);
    assert_int_equal(bsnap_reader_pread(rd, buf, n, 0), (long)n);
    bsnap_reader_close(rd);
}

static void verify_clean(struct fixture *f)
{
    bsnap_verify_stats st;

    assert_int_equal(bsnap_verify(f->s, NULL, NULL, NULL, NULL, &st), 0);
    assert_int_equal(st.problems, 0);
}

static uint64_t live_chunks(struct fixture *f)
{
    bsnap_store_info info;

    assert_int_equal(bsnap_store_get_info(f->s, &info), 0);
    return info.chunk_count;
}

static void test_bin(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "v.img", 256 * KiB), id[BSNAP_ID_MAX], r1[16];
    uint8_t *want = malloc(256 * KiB), *got = malloc(256 * KiB);
    bsnap_snapshot_info info;
    bsnap_gc_stats gs;
    json_t *doc = NULL;
    uint64_t before;
    char *json = NULL;

    volume_write(vol, 0, 256 * KiB, 42);
    snap_path(f, vol, id);
    read_all(f, id, want, 256 * KiB);
    before = live_chunks(f);
    rule(f, 3, NULL, 0, r1);
    bsnap_store_set_clock(f->s, T0);
    assert_int_equal(bsnap_snapshot_delete(f->s, id), 0);
    /* gone everywhere else */
    assert_int_equal(bsnap_snapshot_get(f->s, id, &info), -ENOENT);
    assert_int_equal(AS_JSON(json, bsnap_rbin_snapshots_list, f->s, NULL, 0), 0);
    assert_non_null(strstr(json, id));
    assert_non_null(strstr(json, "\"RecycleBinEnterTime\":\"2026-01-01T00:00:00.000Z\""));
    assert_non_null(strstr(json, "\"RecycleBinExitTime\":\"2026-01-04T00:00:00.000Z\""));
    free(json);
    /* its data stays through gc, and verify counts its root */
    assert_int_equal(bsnap_gc(f->s, NULL, &gs), 0);
    assert_int_equal(live_chunks(f), before);
    verify_clean(f);
    /* back, whole */
    assert_int_equal(bsnap_rbin_snapshot_restore(f->s, id, &doc), 0);
    assert_string_equal(json_string_value(json_object_get(doc, "SnapshotId")), id);
    json_decref(doc);
    read_all(f, id, got, 256 * KiB);
    assert_memory_equal(want, got, 256 * KiB);
    assert_int_equal(bsnap_rbin_snapshot_restore(f->s, id, &doc), -ENOENT);
    verify_clean(f);
    /* in again; a second before its exit it stays, at its exit it goes */
    assert_int_equal(bsnap_snapshot_delete(f->s, id), 0);
    bsnap_store_set_clock(f->s, T0 + 3 * DAY_MS - 1000);
    assert_int_equal(bsnap_gc(f->s, NULL, &gs), 0);
    assert_int_equal(live_chunks(f), before);
    bsnap_store_set_clock(f->s, T0 + 3 * DAY_MS);
    assert_int_equal(AS_JSON(json, bsnap_rbin_snapshots_list, f->s, NULL, 0), 0);
    assert_string_equal(json, "{\"Snapshots\":[]}");
    free(json);
    assert_int_equal(bsnap_rbin_snapshot_restore(f->s, id, &doc), -ENOENT);
    assert_int_equal(bsnap_gc(f->s, NULL, &gs), 0);
    assert_int_equal(live_chunks(f), 0);
    verify_clean(f);
    /* malformed ids */
    assert_int_equal(bsnap_rbin_snapshot_restore(f->s, "snap-x", &doc), -EINVAL);
    free(want);
    free(got);
    free(vol);
}

static void test_repair_brings_back(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "r.img", 128 * KiB), id[BSNAP_ID_MAX], r1[16];
    uint8_t *want = malloc(128 * KiB), *got = malloc(128 * KiB);
    bsnap_repair_stats rs;
    bsnap_snapshot_info info;

    volume_write(vol, 0, 128 * KiB, 9);
    snap_path(f, vol, id);
    read_all(f, id, want, 128 * KiB);
    rule(f, 30, NULL, 0, r1);
    assert_int_equal(bsnap_snapshot_delete(f->s, id), 0);
    assert_int_equal(bsnap_snapshot_get(f->s, id, &info), -ENOENT);
    bsnap_store_close(f->s);
    f->s = NULL;
    assert_int_equal(bsnap_store_repair(f->store_path, NULL, NULL, NULL, &rs), 0);
    fixture_reopen(f);
    assert_int_equal(bsnap_snapshot_get(f->s, id, &info), 0);
    read_all(f, id, got, 128 * KiB);
    assert_memory_equal(want, got, 128 * KiB);
    verify_clean(f);
    free(want);
    free(got);
    free(vol);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rules, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_matching, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_bin, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_repair_brings_back, setup_4k, teardown_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
