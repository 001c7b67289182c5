/* test-catalog.c - catalog.c: records in LMDB and the public describe,
 * tag, delete, list and info calls on a real store. */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "catalog.h"
#include "xref.h"
#include "util.h"
#include "unit-helpers.h"

#define CS 4096u
#define NOID "snap-0123456789abcdef0"
#define NOVOL "vol-0123456789abcdef0"

struct world {
    char *va, *vb;
    char a1[BSNAP_ID_MAX], a2[BSNAP_ID_MAX], b1[BSNAP_ID_MAX];
    char vol_a[BSNAP_ID_MAX], vol_b[BSNAP_ID_MAX];
};

/* Two volumes: a with snapshots a1 <- a2, b with b1. */
static void make_world(struct fixture *f, struct world *w)
{
    bsnap_snapshot_info info;

    w->va = volume_create(f, "a.img", 10 * CS);
    w->vb = volume_create(f, "b.img", 20 * CS);
    chunk_write(w->va, CS, 1, 1);
    chunk_write(w->vb, CS, 2, 2);
    snap_path(f, w->va, w->a1);
    chunk_write(w->va, CS, 3, 3);
    snap_path(f, w->va, w->a2);
    snap_path(f, w->vb, w->b1);
    assert_int_equal(bsnap_snapshot_get(f->s, w->a1, &info), 0);
    snprintf(w->vol_a, sizeof w->vol_a, "%s", info.volume_id);
    assert_int_equal(bsnap_snapshot_get(f->s, w->b1, &info), 0);
    snprintf(w->vol_b, sizeof w->vol_b, "%s", info.volume_id);
}

static void free_world(struct world *w)
{
    free(w->va);
    free(w->vb);
}

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);

    assert_non_null(o);
    return o;
}

/* The list-describe calls with ids and filters, the document as JSON text
 * (what the CLI prints with --output json) in *@ret_json. */
static int snapshots_json(struct fixture *f, const char *const *ids, size_t nids,
                          const bsnap_filter *flt, size_t nflt, char **ret_json)
{
    bsnap_describe_options o = {.ids = ids, .nids = nids, .filters = flt, .nfilters = nflt};
    json_t *doc = NULL;
    int r = bsnap_snapshot_describe(f->s, &o, &doc);

    if (r == 0) {
        *ret_json = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(doc);
        assert_non_null(*ret_json);
    }
    return r;
}

static int volumes_json(struct fixture *f, const char *const *ids, size_t nids,
                        const bsnap_filter *flt, size_t nflt, char **ret_json)
{
    bsnap_describe_options o = {.ids = ids, .nids = nids, .filters = flt, .nfilters = nflt};
    json_t *doc = NULL;
    int r = bsnap_volume_describe(f->s, &o, &doc);

    if (r == 0) {
        *ret_json = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(doc);
        assert_non_null(*ret_json);
    }
    return r;
}

static size_t describe_snapshots(struct fixture *f, const char *const *ids, size_t nids,
                                 const bsnap_filter *flt, size_t nflt)
{
    char *json = NULL;
    json_t *o;
    size_t n;
    int r = snapshots_json(f, ids, nids, flt, nflt, &json);

    if (r < 0)
        print_error("describe: %s\n", bsnap_last_error()->message);
    assert_int_equal(r, 0);
    o = parse(json);
    n = json_array_size(json_object_get(o, "Snapshots"));
    json_decref(o);
    free(json);
    return n;
}

static void test_describe(void **state)
{
    struct fixture *f = *state;
    struct world w;
    char *json = NULL;

    make_world(f, &w);
    assert_int_equal(describe_snapshots(f, NULL, 0, NULL, 0), 3);
    {
        const char *ids[] = {w.a2, w.b1};
        assert_int_equal(describe_snapshots(f, ids, 2, NULL, 0), 2);
    }
    {
        const char *vals[] = {w.vol_a};
        bsnap_filter flt = {"volume-id", vals, 1};
        const char *ids[] = {w.a2, w.b1};
        assert_int_equal(describe_snapshots(f, NULL, 0, &flt, 1), 2);
        assert_int_equal(describe_snapshots(f, ids, 2, &flt, 1), 1); /* ids AND filters */
    }
    /* An unknown id is an error, as in EC2; so is a malformed one. */
    {
        const char *ids[] = {w.a1, NOID};
        assert_error(snapshots_json(f, ids, 2, NULL, 0, &json), -ENOENT,
                     "InvalidSnapshot.NotFound");
        assert_message_has(NOID);
        ids[1] = "snap-01";
        assert_error(snapshots_json(f, ids, 2, NULL, 0, &json), -EINVAL,
                     "InvalidSnapshotID.Malformed");
        ids[1] = w.vol_a;
        assert_error(snapshots_json(f, ids, 2, NULL, 0, &json), -EINVAL,
                     "InvalidSnapshotID.Malformed");
    }
    {
        const char *vals[] = {"x"};
        bsnap_filter flt = {"colour", vals, 1};
        assert_error(snapshots_json(f, NULL, 0, &flt, 1, &json), -EINVAL, "InvalidParameterValue");
    }
    assert_null(json);
    /* describe_one: the object, with the parent link */
    assert_int_equal(AS_JSON(json, bsnap_snapshot_describe_one, f->s, w.a2), 0);
    {
        json_t *o = parse(json);
        assert_string_equal(json_string_value(json_object_get(o, "SnapshotId")), w.a2);
        assert_string_equal(json_string_value(json_object_get(o, "ParentSnapshotId")), w.a1);
        assert_string_equal(json_string_value(json_object_get(o, "State")), "completed");
        json_decref(o);
    }
    free(json);
    assert_error(AS_JSON(json, bsnap_snapshot_describe_one, f->s, NOID), -ENOENT,
                 "InvalidSnapshot.NotFound");
    free_world(&w);
}

static void test_volumes(void **state)
{
    struct fixture *f = *state;
    struct world w;
    char *json = NULL;
    json_t *o, *arr;

    make_world(f, &w);
    assert_int_equal(volumes_json(f, NULL, 0, NULL, 0, &json), 0);
    o = parse(json);
    arr = json_object_get(o, "Volumes");
    assert_int_equal(json_array_size(arr), 2);
    json_decref(o);
    free(json);
    {
        const char *ids[] = {w.vol_b};
        assert_int_equal(volumes_json(f, ids, 1, NULL, 0, &json), 0);
        o = parse(json);
        arr = json_object_get(o, "Volumes");
        assert_int_equal(json_array_size(arr), 1);
        {
            char *canon = realpath(w.vb, NULL); /* volumes are known by canonical path */
            assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "Path")),
                                canon);
            free(canon);
        }
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(arr, 0), "LastSnapshotId")), w.b1);
        json_decref(o);
        free(json);
        ids[0] = NOVOL;
        assert_error(volumes_json(f, ids, 1, NULL, 0, &json), -ENOENT, "InvalidVolume.NotFound");
        ids[0] = "vol-zz";
        assert_error(volumes_json(f, ids, 1, NULL, 0, &json), -EINVAL, "InvalidVolumeID.Malformed");
    }
    {
        const char *vals[] = {"*b.img"};
        bsnap_filter flt = {"path", vals, 1};
        assert_int_equal(volumes_json(f, NULL, 0, &flt, 1, &json), 0);
        assert_non_null(strstr(json, w.vol_b));
        assert_null(strstr(json, w.vol_a));
        free(json);
    }
    assert_int_equal(AS_JSON(json, bsnap_volume_describe_one, f->s, w.vol_a), 0);
    o = parse(json);
    assert_string_equal(json_string_value(json_object_get(o, "VolumeId")), w.vol_a);
    assert_string_equal(json_string_value(json_object_get(o, "LastSnapshotId")), w.a2);
    json_decref(o);
    free(json);
    assert_error(AS_JSON(json, bsnap_volume_describe_one, f->s, NOVOL), -ENOENT,
                 "InvalidVolume.NotFound");
    assert_error(AS_JSON(json, bsnap_volume_describe_one, f->s, NOID), -EINVAL,
                 "InvalidVolumeID.Malformed");

    /* the path index finds the record */
    {
        meta_txn *txn = NULL;
        struct volume_rec v = {0};
        char *canon = realpath(w.va, NULL);
        assert_int_equal(meta_txn_begin(f->s->meta, false, &txn), 0);
        assert_int_equal(catalog_volume_by_path(txn, canon, &v), 0);
        assert_string_equal(v.id, w.vol_a);
        volume_rec_clear(&v);
        bsnap_error_clear();
        assert_int_equal(catalog_volume_by_path(txn, "/no/such", &v), -ENOENT);
        assert_int_equal(bsnap_last_error()->err, 0);
        meta_txn_abort(txn);
        free(canon);
    }
    free_world(&w);
}

static void tags_of(struct fixture *f, const char *id, struct tags *ret)
{
    struct snapshot_rec rec = {0};

    snap_record(f, id, &rec);
    *ret = rec.tags;
    rec.tags = (struct tags){0};
    snapshot_rec_clear(&rec);
}

static void test_tags(void **state)
{
    struct fixture *f = *state;
    struct world w;
    struct tags t;
    bsnap_tag tg[2] = {{"Name", "db"}, {"env", "prod"}};

    make_world(f, &w);
    {
        const char *res[] = {w.a1, w.vol_a};
        assert_int_equal(bsnap_tags_create(f->s, res, 2, tg, 2), 0);
    }
    tags_of(f, w.a1, &t);
    assert_int_equal(t.n, 2);
    assert_string_equal(t.v[0].value, "db");
    tags_clear(&t);
    {
        const char *vals[] = {"db"};
        bsnap_filter flt = {"tag:Name", vals, 1};
        assert_int_equal(describe_snapshots(f, NULL, 0, &flt, 1), 1);
    }
    {
        char *json = NULL;
        const char *vals[] = {"env"};
        bsnap_filter flt = {"tag-key", vals, 1};
        assert_int_equal(volumes_json(f, NULL, 0, &flt, 1, &json), 0);
        assert_non_null(strstr(json, w.vol_a));
        assert_null(strstr(json, w.vol_b));
        free(json);
    }
    /* overwrite one value */
    {
        const char *res[] = {w.a1};
        bsnap_tag nt = {"Name", "db-2"};
        assert_int_equal(bsnap_tags_create(f->s, res, 1, &nt, 1), 0);
        tags_of(f, w.a1, &t);
        assert_int_equal(t.n, 2);
        assert_string_equal(t.v[0].value, "db-2");
        tags_clear(&t);
    }
    /* all or nothing: one missing resource changes nothing */
    {
        const char *res[] = {w.b1, NOID};
        bsnap_tag nt = {"x", "y"};
        assert_error(bsnap_tags_create(f->s, res, 2, &nt, 1), -ENOENT, "InvalidSnapshot.NotFound");
        tags_of(f, w.b1, &t);
        assert_int_equal(t.n, 0);
        res[1] = "i-0123456789abcdef0"; /* not a kind of resource a store has */
        assert_error(bsnap_tags_create(f->s, res, 2, &nt, 1), -EINVAL, "InvalidID");
        res[1] = "ami-0123456789abcdef0";
        assert_error(bsnap_tags_create(f->s, res, 2, &nt, 1), -ENOENT, "InvalidAMIID.NotFound");
        tags_of(f, w.b1, &t);
        assert_int_equal(t.n, 0);
        res[1] = "vol-0";
        assert_error(bsnap_tags_create(f->s, res, 2, &nt, 1), -EINVAL, "InvalidVolumeID.Malformed");
        assert_error(bsnap_tags_create(f->s, res, 0, &nt, 1), -EINVAL, "MissingParameter");
        assert_error(bsnap_tags_create(f->s, res, 1, &nt, 0), -EINVAL, "MissingParameter");
    }
    /* bad tags */
    {
        const char *res[] = {w.b1};
        char longkey[200], longval[300];
        bsnap_tag bad[] = {{"aws:owner", "x"}, {"", "x"}, {longkey, "x"}, {"k", longval}};
        memset(longkey, 'k', sizeof longkey);
        longkey[128] = '\0';
        memset(longval, 'v', sizeof longval);
        longval[257] = '\0';
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
            assert_error(bsnap_tags_create(f->s, res, 1, &bad[i], 1), -EINVAL,
                         "InvalidParameterValue");
        longkey[127] = '\0';
        longval[256] = '\0';
        bad[0] = (bsnap_tag){longkey, longval}; /* the longest allowed */
        assert_int_equal(bsnap_tags_create(f->s, res, 1, bad, 1), 0);
        /* Characters, not bytes: a 127-"é" key (254 bytes) and a 256-"é"
         * value are allowed, as the CLI's parser allows them; text that is
         * not UTF-8 is not. */
        char ekey[2 * 128 + 1], eval[2 * 257 + 1];
        for (int i = 0; i < 128; i++)
            memcpy(ekey + 2 * i, "\xc3\xa9", 2);
        for (int i = 0; i < 257; i++)
            memcpy(eval + 2 * i, "\xc3\xa9", 2);
        ekey[2 * 127] = eval[2 * 256] = '\0';
        bad[0] = (bsnap_tag){ekey, eval};
        assert_int_equal(bsnap_tags_create(f->s, res, 1, bad, 1), 0);
        ekey[2 * 127] = eval[2 * 256] = '\xc3';
        ekey[2 * 128] = '\0';
        bad[0] = (bsnap_tag){ekey, "v"};
        assert_error(bsnap_tags_create(f->s, res, 1, bad, 1), -EINVAL, "InvalidParameterValue");
        eval[2 * 257] = '\0';
        bad[0] = (bsnap_tag){"k", eval};
        assert_error(bsnap_tags_create(f->s, res, 1, bad, 1), -EINVAL, "InvalidParameterValue");
        bad[0] = (bsnap_tag){"k\xff", "v"};
        assert_error(bsnap_tags_create(f->s, res, 1, bad, 1), -EINVAL, "InvalidParameterValue");
        bad[0] = (bsnap_tag){"k", "\xc3"};
        assert_error(bsnap_tags_create(f->s, res, 1, bad, 1), -EINVAL, "InvalidParameterValue");
    }
    /* 50 tags per resource at most, counting those it has */
    {
        const char *res[] = {w.a2};
        bsnap_tag many[50];
        char keys[50][8];
        for (int i = 0; i < 50; i++) {
            snprintf(keys[i], sizeof keys[i], "k%d", i);
            many[i] = (bsnap_tag){keys[i], "v"};
        }
        assert_int_equal(bsnap_tags_create(f->s, res, 1, many, 50), 0);
        many[0] = (bsnap_tag){"one-more", "v"};
        assert_error(bsnap_tags_create(f->s, res, 1, many, 1), -EINVAL, "TagLimitExceeded");
        tags_of(f, w.a2, &t);
        assert_int_equal(t.n, 50);
        tags_clear(&t);
    }
    /* delete: by key whatever the value, by key and value, everything */
    {
        const char *res[] = {w.a1};
        bsnap_tag by_value = {"env", "dev"}, by_key = {"env", NULL};
        assert_int_equal(bsnap_tags_delete(f->s, res, 1, &by_value, 1), 0);
        tags_of(f, w.a1, &t);
        assert_int_equal(t.n, 2); /* value did not match */
        tags_clear(&t);
        assert_int_equal(bsnap_tags_delete(f->s, res, 1, &by_key, 1), 0);
        tags_of(f, w.a1, &t);
        assert_int_equal(t.n, 1);
        assert_string_equal(t.v[0].key, "Name");
        tags_clear(&t);
        assert_int_equal(bsnap_tags_delete(f->s, res, 1, NULL, 0), 0);
        tags_of(f, w.a1, &t);
        assert_int_equal(t.n, 0);
        assert_error(bsnap_tags_delete(f->s, res, 0, NULL, 0), -EINVAL, "MissingParameter");
    }
    free_world(&w);
}

static void test_delete(void **state)
{
    struct fixture *f = *state;
    struct world w;
    bsnap_snapshot_info *infos = NULL, info;
    size_t n = 0;
    char id[BSNAP_ID_MAX];

    make_world(f, &w);
    assert_error(bsnap_snapshot_delete(f->s, "snap-x"), -EINVAL, "InvalidSnapshotID.Malformed");
    assert_error(bsnap_snapshot_delete(f->s, NOID), -ENOENT, "InvalidSnapshot.NotFound");
    /* deleting the last snapshot of a: its next snapshot diffs against a1 */
    assert_int_equal(bsnap_snapshot_delete(f->s, w.a2), 0);
    assert_error(bsnap_snapshot_get(f->s, w.a2, &info), -ENOENT, "InvalidSnapshot.NotFound");
    assert_error(bsnap_snapshot_delete(f->s, w.a2), -ENOENT, "InvalidSnapshot.NotFound");
    {
        char *json = NULL;
        assert_int_equal(AS_JSON(json, bsnap_volume_describe_one, f->s, w.vol_a), 0);
        assert_non_null(strstr(json, w.a1));
        free(json);
    }
    snap_path(f, w.va, id);
    assert_int_equal(bsnap_snapshot_get(f->s, id, &info), 0);
    assert_string_equal(info.parent_id, w.a1);
    /* deleting a1 (the middle now) reparents id to a1's parent, "" */
    assert_int_equal(bsnap_snapshot_delete(f->s, w.a1), 0);
    assert_int_equal(bsnap_snapshot_get(f->s, id, &info), 0);
    assert_string_equal(info.parent_id, "");
    assert_int_equal(bsnap_snapshot_list(f->s, &infos, &n), 0);
    assert_int_equal(n, 2);
    assert_true(strcmp(infos[0].id, infos[1].id) < 0); /* sorted by id */
    free(infos);
    assert_verify_clean(f);
    assert_restores_to(f, id, w.va);
    free_world(&w);
}

static size_t volume_count(struct fixture *f)
{
    char *json = NULL;
    json_t *o;
    size_t n;

    assert_int_equal(volumes_json(f, NULL, 0, NULL, 0, &json), 0);
    o = parse(json);
    n = json_array_size(json_object_get(o, "Volumes"));
    json_decref(o);
    free(json);
    return n;
}

/* A restore over a recorded volume's file replaces that volume: one record
 * per path, however often it is restored (they piled up, each old one with
 * an empty Path). */
static void test_restore_replaces_volume(void **state)
{
    struct fixture *f = *state;
    struct world w;
    char *target = path_in(f->dir, "r.img"), first[BSNAP_ID_MAX], second[BSNAP_ID_MAX];
    bsnap_volume_options force = {.force = true};
    bsnap_snapshot_info info;

    make_world(f, &w);
    assert_int_equal(volume_count(f), 2);
    assert_int_equal(bsnap_volume_create(f->s, w.a1, target, NULL, first), 0);
    assert_int_equal(volume_count(f), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(bsnap_volume_create(f->s, i % 2 ? w.a1 : w.b1, target, &force, second), 0);
        assert_string_not_equal(second, first);
        assert_int_equal(volume_count(f), 3);
        assert_error(bsnap_volume_describe_one(f->s, first, &(json_t *){NULL}), -ENOENT,
                     "InvalidVolume.NotFound");
        snprintf(first, sizeof first, "%s", second);
    }
    /* the record names the file, whose next snapshot is incremental */
    {
        char id[BSNAP_ID_MAX];
        snap_path(f, target, id);
        assert_int_equal(bsnap_snapshot_get(f->s, id, &info), 0);
        assert_string_equal(info.volume_id, second);
        assert_string_equal(info.parent_id, w.b1); /* the last restore's */
    }
    assert_verify_clean(f);
    free(target);
    free_world(&w);
}

/* delete-volume forgets the record; the snapshots keep its id, the file
 * stays, and its next snapshot records a new volume, full. */
static void test_volume_delete(void **state)
{
    struct fixture *f = *state;
    struct world w;
    struct snapshot_rec rec = {0};
    bsnap_snapshot_info info;
    meta_txn *txn = NULL;
    char id[BSNAP_ID_MAX];

    make_world(f, &w);
    assert_error(bsnap_volume_delete(f->s, "vol-zz"), -EINVAL, "InvalidVolumeID.Malformed");
    assert_error(bsnap_volume_delete(f->s, NOVOL), -ENOENT, "InvalidVolume.NotFound");
    assert_int_equal(bsnap_volume_delete(f->s, w.vol_a), 0);
    assert_int_equal(volume_count(f), 1);
    assert_error(bsnap_volume_delete(f->s, w.vol_a), -ENOENT, "InvalidVolume.NotFound");
    assert_int_equal(bsnap_snapshot_get(f->s, w.a2, &info), 0);
    assert_string_equal(info.volume_id, w.vol_a); /* as EC2's */
    assert_int_equal(describe_snapshots(f, NULL, 0, NULL, 0), 3);

    snap_path(f, w.va, id);
    assert_int_equal(bsnap_snapshot_get(f->s, id, &info), 0);
    assert_string_not_equal(info.volume_id, w.vol_a);
    assert_string_equal(info.parent_id, ""); /* a new volume: read whole */
    assert_int_equal(volume_count(f), 2);
    assert_restores_to(f, w.a2, w.va); /* (records the restored file: 3) */
    assert_verify_clean(f);

    /* a snapshot being taken of a volume: VolumeInUse, nothing changes */
    snprintf(rec.id, sizeof rec.id, "snap-0000000000000000a");
    snprintf(rec.volume_id, sizeof rec.volume_id, "%s", w.vol_b);
    rec.chunk_size = CS;
    rec.state = BSNAP_SNAPSHOT_PENDING;
    assert_int_equal(meta_txn_begin(f->s->meta, true, &txn), 0);
    assert_int_equal(catalog_snapshot_save(txn, &rec), 0);
    assert_int_equal(meta_txn_commit(txn), 0);
    assert_error(bsnap_volume_delete(f->s, w.vol_b), -EBUSY, "VolumeInUse");
    assert_message_has(rec.id);
    assert_int_equal(volume_count(f), 3);
    free_world(&w);
}

static void test_store_info(void **state)
{
    struct fixture *f = *state;
    struct world w;
    bsnap_store_info si;
    struct index_counts ic;

    make_world(f, &w);
    assert_int_equal(bsnap_store_get_info(f->s, &si), 0);
    ic = index_count(f);
    assert_int_equal(si.snapshot_count, 3);
    assert_int_equal(si.volume_count, 2);
    assert_int_equal(si.chunk_count, ic.entries);
    assert_int_equal(si.chunk_size, CS);
    assert_int_equal(si.pack_count, 1);
    assert_true(si.pack_bytes >= 32 + si.stored_bytes + 48 * si.chunk_count);
    /* 3 data chunks and 3 pages (two leaves of a, one of b) */
    assert_int_equal(si.chunk_count, 6);
    assert_true(si.logical_bytes == 3 * CS + 3 * 65536);
    assert_true(si.stored_bytes < si.logical_bytes);
    assert_string_equal(si.region, "test-1");
    free_world(&w);
}

/* ---- pages: MaxResults and NextToken ---- */

/* One page of snapshots: its ids appended to @seen (and counted in *@nseen),
 * its NextToken copied to @token ("" when none).  Returns the page size. */
static size_t snapshot_page(struct fixture *f, const bsnap_filter *flt, size_t nflt, uint32_t max,
                            char *token, char (*seen)[BSNAP_ID_MAX], size_t *nseen)
{
    bsnap_describe_options o = {.filters = flt,
                                .nfilters = nflt,
                                .max_results = max,
                                .next_token = token[0] ? token : NULL};
    json_t *doc = NULL, *arr, *t, *s;
    size_t i, n;
    int r = bsnap_snapshot_describe(f->s, &o, &doc);

    if (r < 0)
        print_error("describe: %s\n", bsnap_last_error()->message);
    assert_int_equal(r, 0);
    arr = json_object_get(doc, "Snapshots");
    n = json_array_size(arr);
    json_array_foreach (arr, i, s)
        snprintf(seen[(*nseen)++], BSNAP_ID_MAX, "%s",
                 json_string_value(json_object_get(s, "SnapshotId")));
    t = json_object_get(doc, "NextToken");
    assert_true(!t || json_is_string(t));
    assert_true(!t || strlen(json_string_value(t)) <= BSNAP_NEXT_TOKEN_MAX);
    snprintf(token, BSNAP_NEXT_TOKEN_MAX + 1, "%s", t ? json_string_value(t) : "");
    json_decref(doc);
    return n;
}

static void assert_same_ids(char (*a)[BSNAP_ID_MAX], size_t na, char (*b)[BSNAP_ID_MAX], size_t nb)
{
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++)
        assert_string_equal(a[i], b[i]);
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Volume v0 with 10 snapshots, v1..v5 with one each: 15 snapshots, 6
 * volumes.  The ids of the snapshots go to @ids (sorted), of v0 to @v0. */
static void make_many(struct fixture *f, char (*ids)[BSNAP_ID_MAX], char *v0)
{
    bsnap_snapshot_info info;
    size_t n = 0;

    for (int v = 0; v < 6; v++) {
        char name[16];
        snprintf(name, sizeof name, "v%d.img", v);
        char *path = volume_create(f, name, 4 * CS);
        for (int k = 0; k < (v == 0 ? 10 : 1); k++) {
            chunk_write(path, CS, (uint64_t)k % 4, (uint64_t)(v * 100 + k + 1));
            snap_path(f, path, ids[n++]);
        }
        free(path);
    }
    assert_int_equal(bsnap_snapshot_get(f->s, ids[0], &info), 0);
    snprintf(v0, BSNAP_ID_MAX, "%s", info.volume_id);
    qsort(ids, n, BSNAP_ID_MAX, cmp_id);
}

static void test_pages(void **state)
{
    struct fixture *f = *state;
    char ids[15][BSNAP_ID_MAX], v0[BSNAP_ID_MAX], token[BSNAP_NEXT_TOKEN_MAX + 1] = "";
    char seen[32][BSNAP_ID_MAX];
    const char *vals[1] = {v0};
    bsnap_filter by_vol = {"volume-id", vals, 1};
    size_t nseen = 0;

    make_many(f, ids, v0);
    /* Pages of 6: 6, 6, 3, in id order, every snapshot once. */
    assert_int_equal(snapshot_page(f, NULL, 0, 6, token, seen, &nseen), 6);
    assert_true(token[0]);
    assert_int_equal(snapshot_page(f, NULL, 0, 6, token, seen, &nseen), 6);
    assert_true(token[0]);
    assert_int_equal(snapshot_page(f, NULL, 0, 6, token, seen, &nseen), 3);
    assert_string_equal(token, "");
    assert_same_ids(seen, nseen, ids, 15);
    /* A last page that ends exactly at the end has no NextToken: 15 in
     * pages of 5, and v0's 10 with a filter. */
    nseen = 0;
    for (int p = 0; p < 3; p++) {
        assert_int_equal(snapshot_page(f, NULL, 0, 5, token, seen, &nseen), 5);
        assert_true(p == 2 ? !token[0] : token[0] != 0);
    }
    assert_same_ids(seen, nseen, ids, 15);
    nseen = 0;
    assert_int_equal(snapshot_page(f, &by_vol, 1, 5, token, seen, &nseen), 5);
    assert_true(token[0]);
    assert_int_equal(snapshot_page(f, &by_vol, 1, 5, token, seen, &nseen), 5);
    assert_string_equal(token, "");
    /* The token may be given with another MaxResults (EC2 allows it) and
     * without one (the rest). */
    nseen = 0;
    assert_int_equal(snapshot_page(f, NULL, 0, 5, token, seen, &nseen), 5);
    assert_int_equal(snapshot_page(f, NULL, 0, 0, token, seen, &nseen), 10);
    assert_string_equal(token, "");
    /* Above 1000: 1000 (all of them here); no limit: all. */
    nseen = 0;
    assert_int_equal(snapshot_page(f, NULL, 0, 5000, token, seen, &nseen), 15);
    assert_string_equal(token, "");
}

/* MaxResults below 5, ids with paging, and every altered token are
 * refused with the EC2 codes; nothing crashes or reads past a buffer. */
static void test_page_errors(void **state)
{
    struct fixture *f = *state;
    char ids[15][BSNAP_ID_MAX], v0[BSNAP_ID_MAX], token[BSNAP_NEXT_TOKEN_MAX + 1] = "";
    char seen[32][BSNAP_ID_MAX], good[BSNAP_NEXT_TOKEN_MAX + 1], bad[2 * BSNAP_NEXT_TOKEN_MAX];
    const char *vals[1] = {v0};
    bsnap_filter by_vol = {"volume-id", vals, 1};
    bsnap_describe_options o = {.max_results = 4};
    json_t *doc = NULL;
    size_t nseen = 0;

    make_many(f, ids, v0);
    assert_error(bsnap_snapshot_describe(f->s, &o, &doc), -EINVAL, "InvalidParameterValue");
    assert_message_has("MaxResults");
    assert_error(bsnap_volume_describe(f->s, &o, &doc), -EINVAL, "InvalidParameterValue");
    assert_error(bsnap_image_describe(f->s, &o, NULL, 0, &doc), -EINVAL, "InvalidParameterValue");
    {
        const char *one[] = {ids[0]};
        bsnap_describe_options w = {.ids = one, .nids = 1, .max_results = 5};
        assert_error(bsnap_snapshot_describe(f->s, &w, &doc), -EINVAL,
                     "InvalidParameterCombination");
        assert_message_has("SnapshotIds");
        w.max_results = 0;
        w.next_token = "00";
        assert_error(bsnap_snapshot_describe(f->s, &w, &doc), -EINVAL,
                     "InvalidParameterCombination");
    }
    assert_null(doc);

    assert_int_equal(snapshot_page(f, NULL, 0, 5, token, seen, &nseen), 5);
    snprintf(good, sizeof good, "%s", token);
    /* Every digit changed, one at a time, to every other hex digit or a
     * non-hex byte: refused.  (An upper-case digit is the same digit.) */
    for (size_t i = 0; good[i]; i++) {
        for (const char *c = "0123456789abcdefZ-g "; *c; c++) {
            if (*c == good[i])
                continue;
            snprintf(bad, sizeof bad, "%s", good);
            bad[i] = *c;
            o = (bsnap_describe_options){.max_results = 5, .next_token = bad};
            assert_error(bsnap_snapshot_describe(f->s, &o, &doc), -EINVAL, "InvalidParameterValue");
            assert_message_has("NextToken");
        }
    }
    /* Truncated, extended, empty, huge, odd lengths. */
    {
        size_t len = strlen(good);
        const char *fixed[] = {"", "0", "00", "zz", "010000000000000000000000"};
        for (size_t cut = 0; cut < len; cut++) {
            snprintf(bad, sizeof bad, "%.*s", (int)cut, good);
            o = (bsnap_describe_options){.next_token = bad};
            assert_error(bsnap_snapshot_describe(f->s, &o, &doc), -EINVAL, "InvalidParameterValue");
        }
        snprintf(bad, sizeof bad, "%s00", good);
        o.next_token = bad;
        assert_error(bsnap_snapshot_describe(f->s, &o, &doc), -EINVAL, "InvalidParameterValue");
        memset(bad, 'a', sizeof bad - 1);
        bad[sizeof bad - 1] = '\0';
        assert_error(bsnap_snapshot_describe(f->s, &o, &doc), -EINVAL, "InvalidParameterValue");
        for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
            o.next_token = fixed[i];
            assert_error(bsnap_snapshot_describe(f->s, &o, &doc), -EINVAL, "InvalidParameterValue");
        }
    }
    /* A good token with other filters, or for another kind, is refused. */
    o = (bsnap_describe_options){.filters = &by_vol, .nfilters = 1, .next_token = good};
    assert_error(bsnap_snapshot_describe(f->s, &o, &doc), -EINVAL, "InvalidParameterValue");
    o = (bsnap_describe_options){.next_token = good};
    assert_error(bsnap_volume_describe(f->s, &o, &doc), -EINVAL, "InvalidParameterValue");
    assert_error(bsnap_image_describe(f->s, &o, NULL, 0, &doc), -EINVAL, "InvalidParameterValue");
    assert_null(doc);
    /* ... and the good one still works. */
    assert_int_equal(snapshot_page(f, NULL, 0, 5, good, seen, &nseen), 5);
}

/* Volumes page the same way: 6 in pages of 5. */
static void test_volume_pages(void **state)
{
    struct fixture *f = *state;
    char ids[15][BSNAP_ID_MAX], v0[BSNAP_ID_MAX];
    bsnap_describe_options o = {.max_results = 5};
    json_t *doc = NULL;
    const char *token;

    make_many(f, ids, v0);
    assert_int_equal(bsnap_volume_describe(f->s, &o, &doc), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "Volumes")), 5);
    token = json_string_value(json_object_get(doc, "NextToken"));
    assert_non_null(token);
    o.next_token = token;
    {
        json_t *next = NULL;
        assert_int_equal(bsnap_volume_describe(f->s, &o, &next), 0);
        assert_int_equal(json_array_size(json_object_get(next, "Volumes")), 1);
        assert_null(json_object_get(next, "NextToken"));
        assert_true(strcmp(json_string_value(json_object_get(
                               json_array_get(json_object_get(next, "Volumes"), 0), "VolumeId")),
                           json_string_value(json_object_get(
                               json_array_get(json_object_get(doc, "Volumes"), 4), "VolumeId"))) >
                    0);
        json_decref(next);
    }
    json_decref(doc);
}

/* ---- cross-reference tables ---- */

/* The ids of the snapshots that pass one filter @name=@value, joined by
 * spaces in id order, into @out. */
static const char *ids_by(struct fixture *f, const char *name, const char *value, char *out,
                          size_t cap)
{
    const char *vals[1] = {value};
    bsnap_filter flt = {name, vals, 1};
    bsnap_describe_options o = {.filters = &flt, .nfilters = 1};
    json_t *doc = NULL, *s;
    size_t i, used = 0;

    assert_int_equal(bsnap_snapshot_describe(f->s, &o, &doc), 0);
    out[0] = '\0';
    json_array_foreach (json_object_get(doc, "Snapshots"), i, s)
        used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? " " : "",
                                 json_string_value(json_object_get(s, "SnapshotId")));
    json_decref(doc);
    return out;
}

/* Entries of table @t (all keys). */
static size_t table_entries(struct fixture *f, meta_table t)
{
    meta_txn *txn = NULL;
    meta_cursor *cur = NULL;
    const void *k, *v;
    size_t klen, vlen, n = 0;

    assert_int_equal(meta_txn_begin(f->s->meta, false, &txn), 0);
    assert_int_equal(meta_cursor_open(txn, t, &cur), 0);
    for (int r = meta_cursor_get(cur, CUR_FIRST, &k, &klen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen))
        n++;
    meta_cursor_close(cur);
    meta_txn_abort(txn);
    return n;
}

/* After snapshots, tags, a delete that re-parents and an untag, the
 * lookups by volume, parent and tag answer from the tables, and verify
 * finds the tables matching the records. */
static void test_xref_changes(void **state)
{
    struct fixture *f = *state;
    struct world w;
    char got[512], want[512];
    const bsnap_tag tg[] = {{"env", "prod"}, {"Name", "db"}};

    make_world(f, &w);
    assert_string_equal(ids_by(f, "volume-id", w.vol_a, got, sizeof got),
                        strcmp(w.a1, w.a2) < 0
                            ? (snprintf(want, sizeof want, "%s %s", w.a1, w.a2), want)
                            : (snprintf(want, sizeof want, "%s %s", w.a2, w.a1), want));
    assert_string_equal(ids_by(f, "parent-snapshot-id", w.a1, got, sizeof got), w.a2);
    assert_string_equal(ids_by(f, "volume-id", w.vol_b, got, sizeof got), w.b1);
    {
        const char *res[] = {w.a1, w.b1, w.vol_a};
        assert_int_equal(bsnap_tags_create(f->s, res, 3, tg, 2), 0);
    }
    assert_int_equal(table_entries(f, T_SNAP_TAGS), 4);
    assert_int_equal(table_entries(f, T_VOL_TAGS), 2);
    assert_string_equal(ids_by(f, "tag:Name", "db", got, sizeof got),
                        strcmp(w.a1, w.b1) < 0
                            ? (snprintf(want, sizeof want, "%s %s", w.a1, w.b1), want)
                            : (snprintf(want, sizeof want, "%s %s", w.b1, w.a1), want));
    assert_string_equal(ids_by(f, "tag-key", "env", got, sizeof got), want);
    assert_string_equal(ids_by(f, "tag:env", "staging", got, sizeof got), "");
    assert_string_equal(ids_by(f, "tag:Name", "d?", got, sizeof got),
                        want); /* values in the table */
    assert_string_equal(ids_by(f, "tag:Name", "x*", got, sizeof got), "");
    /* delete a1: a2 becomes a full snapshot's child of nothing */
    assert_int_equal(bsnap_snapshot_delete(f->s, w.a1), 0);
    assert_string_equal(ids_by(f, "parent-snapshot-id", w.a1, got, sizeof got), "");
    assert_string_equal(ids_by(f, "volume-id", w.vol_a, got, sizeof got), w.a2);
    assert_string_equal(ids_by(f, "tag:Name", "db", got, sizeof got), w.b1);
    assert_int_equal(table_entries(f, T_SNAP_BY_PARENT), 0);
    assert_int_equal(table_entries(f, T_SNAP_TAGS), 2);
    {
        const char *res[] = {w.b1};
        bsnap_tag env = {"env", NULL};
        assert_int_equal(bsnap_tags_delete(f->s, res, 1, &env, 1), 0);
    }
    assert_string_equal(ids_by(f, "tag-key", "env", got, sizeof got), "");
    assert_int_equal(table_entries(f, T_SNAP_TAGS), 1);
    /* deleting the volume takes its tags' entries */
    assert_int_equal(bsnap_volume_delete(f->s, w.vol_a), 0);
    assert_int_equal(table_entries(f, T_VOL_TAGS), 0);
    assert_verify_clean(f);
    free_world(&w);
}

/* A store written before the tables existed (no marker, empty tables):
 * describe answers from the records; the first write builds the tables in
 * its own transaction; verify then checks them. */
static void test_xref_upgrade(void **state)
{
    struct fixture *f = *state;
    struct world w;
    meta_txn *txn = NULL;
    char got[512];
    const meta_table tables[] = {T_SNAP_BY_VOLUME, T_SNAP_BY_PARENT, T_SNAP_TAGS, T_VOL_TAGS};

    make_world(f, &w);
    assert_int_equal(meta_txn_begin(f->s->meta, true, &txn), 0);
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++)
        assert_int_equal(xref_clear(txn, tables[i]), 0);
    assert_int_equal(meta_del(txn, T_INFO, "xref-catalog", 12), 0);
    assert_int_equal(meta_txn_commit(txn), 0);
    assert_int_equal(table_entries(f, T_SNAP_BY_VOLUME), 0);
    assert_verify_clean(f); /* tables not in use yet: nothing to compare */
    assert_string_equal(ids_by(f, "volume-id", w.vol_b, got, sizeof got), w.b1);
    assert_string_equal(ids_by(f, "parent-snapshot-id", w.a1, got, sizeof got), w.a2);
    {
        const char *res[] = {w.b1};
        bsnap_tag t = {"k", "v"};
        assert_int_equal(bsnap_tags_create(f->s, res, 1, &t, 1), 0);
    }
    assert_int_equal(table_entries(f, T_SNAP_BY_VOLUME), 3);
    assert_int_equal(table_entries(f, T_SNAP_BY_PARENT), 1);
    assert_int_equal(table_entries(f, T_SNAP_TAGS), 1);
    assert_string_equal(ids_by(f, "tag:k", "v", got, sizeof got), w.b1);
    assert_verify_clean(f);
    free_world(&w);
}

/* A missing and a stale entry: verify names both; verify --repair rebuilds
 * the tables from the records. */
static void test_xref_verify_repair(void **state)
{
    struct fixture *f = *state;
    struct world w;
    meta_txn *txn = NULL;
    struct problems ps;
    bsnap_repair_stats rs;
    char got[512];

    make_world(f, &w);
    assert_int_equal(meta_txn_begin(f->s->meta, true, &txn), 0);
    assert_int_equal(xref_set(txn, T_SNAP_BY_PARENT, w.a1, w.a2, NULL, false), 0);
    assert_int_equal(xref_set(txn, T_SNAP_BY_VOLUME, w.vol_b, w.a1, NULL, true), 0);
    assert_int_equal(meta_txn_commit(txn), 0);
    verify_store(f, NULL, &ps);
    assert_int_equal(ps.n, 2);
    assert_non_null(strstr(ps.first, "cross-reference"));
    bsnap_store_close(f->s);
    f->s = NULL;
    assert_int_equal(bsnap_store_repair(f->store_path, NULL, NULL, NULL, &rs), 0);
    fixture_reopen(f);
    assert_verify_clean(f);
    assert_string_equal(ids_by(f, "parent-snapshot-id", w.a1, got, sizeof got), w.a2);
    assert_string_equal(ids_by(f, "volume-id", w.vol_b, got, sizeof got), w.b1);
    free_world(&w);
}

static void test_ids(void **state)
{
    (void)state;
    assert_int_equal(check_snapshot_id("snap-0123abcd"), 0);
    assert_int_equal(check_snapshot_id(NOID), 0);
    assert_error(check_snapshot_id("snap-0123abc"), -EINVAL, "InvalidSnapshotID.Malformed");
    assert_message_has("snap-0123abc");
    assert_error(check_snapshot_id(NOVOL), -EINVAL, "InvalidSnapshotID.Malformed");
    assert_int_equal(check_volume_id(NOVOL), 0);
    assert_error(check_volume_id(NOID), -EINVAL, "InvalidVolumeID.Malformed");
}

/* A damaged record in the metadata is -EIO "Store.Corrupt" through every
 * public call that reads it, never a crash or a half answer. */
static void test_corrupt_record(void **state)
{
    struct fixture *f = *state;
    struct world w;
    meta_txn *txn = NULL;
    char *json = NULL;
    bsnap_snapshot_info info, *infos = NULL;
    size_t n = 0;

    make_world(f, &w);
    assert_int_equal(meta_txn_begin(f->s->meta, true, &txn), 0);
    assert_int_equal(meta_put(txn, T_SNAPSHOTS, w.a2, strlen(w.a2), "{\"id\":", 6), 0);
    assert_int_equal(meta_put(txn, T_VOLUMES, w.vol_b, strlen(w.vol_b), "[]", 2), 0);
    assert_int_equal(meta_txn_commit(txn), 0);
    assert_error(bsnap_snapshot_get(f->s, w.a2, &info), -EIO, "Store.Corrupt");
    assert_error(snapshots_json(f, NULL, 0, NULL, 0, &json), -EIO, "Store.Corrupt");
    assert_error(AS_JSON(json, bsnap_snapshot_describe_one, f->s, w.a2), -EIO, "Store.Corrupt");
    assert_error(bsnap_snapshot_list(f->s, &infos, &n), -EIO, "Store.Corrupt");
    assert_error(bsnap_snapshot_delete(f->s, w.a2), -EIO, "Store.Corrupt");
    assert_error(volumes_json(f, NULL, 0, NULL, 0, &json), -EIO, "Store.Corrupt");
    {
        const char *res[] = {w.vol_b};
        bsnap_tag t = {"k", "v"};
        assert_error(bsnap_tags_create(f->s, res, 1, &t, 1), -EIO, "Store.Corrupt");
    }
    assert_null(json);
    assert_null(infos);
    /* the sound records still answer */
    assert_int_equal(bsnap_snapshot_get(f->s, w.b1, &info), 0);
    {
        struct problems ps;
        bsnap_verify_stats st;
        assert_true(bsnap_verify(f->s, NULL, NULL, problem_collect, &ps, &st) < 0 ||
                    st.problems > 0);
        (void)ps;
    }
    free_world(&w);
}

/* Owners (owner.c): each account sees and acts on only its own snapshots
 * and volumes; another's id is NotFound for get, describe, delete and tags;
 * records written as the store's account stay the store account's. */
static size_t visible_snapshots(struct fixture *f, const char *owner_filter)
{
    char *json = NULL;
    json_t *o;
    size_t n;
    bsnap_filter flt = {"owner-id", (const char *const[]){owner_filter}, 1};

    assert_int_equal(
        snapshots_json(f, NULL, 0, owner_filter ? &flt : NULL, owner_filter ? 1 : 0, &json), 0);
    o = parse(json);
    n = json_array_size(json_object_get(o, "Snapshots"));
    json_decref(o);
    free(json);
    return n;
}

/* bsnap_snapshot_ids() equals the ids of bsnap_snapshot_list() (the
 * describe rule), completed ones or all, for the calling account. */
static void assert_ids_as_list(struct fixture *f)
{
    bsnap_snapshot_info *infos = NULL;
    char(*ids)[BSNAP_ID_MAX] = NULL;
    size_t n = 0, nids = 0, k = 0;

    assert_int_equal(bsnap_snapshot_list(f->s, &infos, &n), 0);
    assert_int_equal(bsnap_snapshot_ids(f->s, false, &ids, &nids), 0);
    assert_int_equal(nids, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(ids[i], infos[i].id);
    free(ids);
    assert_int_equal(bsnap_snapshot_ids(f->s, true, &ids, &nids), 0);
    for (size_t i = 0; i < n; i++)
        if (infos[i].state == BSNAP_SNAPSHOT_COMPLETED) {
            assert_true(k < nids);
            assert_string_equal(ids[k++], infos[i].id);
        }
    assert_int_equal(k, nids);
    free(ids);
    free(infos);
}

static void test_snapshot_ids(void **state)
{
    struct fixture *f = *state;
    struct world w;
    char mine[BSNAP_ID_MAX];
    bsnap_snapshot_options o = {0};
    bsnap_tag t = {"state", "\"owner\":\"111122223333\""};
    const char *other[] = {"111122223333"}, *all[] = {"all"}, *res[1];
    struct snapshot_peek pk;

    make_world(f, &w);
    assert_ids_as_list(f);
    /* text that looks like the fields a quick look reads, in a tag and a
     * description: the look reads keys of the record, not text in it */
    res[0] = w.a2;
    assert_int_equal(bsnap_tags_create(f->s, res, 1, &t, 1), 0);
    o.volume_path = w.vb;
    o.description = "\"owner\":\"111122223333\",\"state\":\"pending\"";
    snap_opts(f, &o, mine);
    assert_int_equal(bsnap_store_set_account(f->s, "111122223333"), 0);
    assert_ids_as_list(f);
    /* the other account: its own, then one shared with it, then a public one */
    {
        char *vc = volume_create(f, "c.img", 4 * CS);
        chunk_write(vc, CS, 0, 7);
        snap_path(f, vc, mine);
        free(vc);
    }
    assert_ids_as_list(f);
    assert_int_equal(bsnap_store_set_account(f->s, "123456789012"), 0);
    assert_int_equal(bsnap_snapshot_attribute_modify(
                         f->s, w.a1, "createVolumePermission",
                         &(bsnap_permission_change){.add_users = other, .nadd_users = 1}),
                     0);
    assert_int_equal(bsnap_snapshot_attribute_modify(
                         f->s, w.b1, "createVolumePermission",
                         &(bsnap_permission_change){.add_groups = all, .nadd_groups = 1}),
                     0);
    assert_ids_as_list(f);
    assert_int_equal(bsnap_store_set_account(f->s, "111122223333"), 0);
    assert_ids_as_list(f);
    assert_int_equal(bsnap_store_set_account(f->s, "444455556666"), 0);
    assert_ids_as_list(f);

    /* the look itself: what it reads, and what it leaves to a decode */
    {
        const char *rec = "{\"id\":\"x\",\"state\":\"completed\",\"owner\":\"1\"}";
        assert_int_equal(snapshot_rec_peek(rec, strlen(rec), &pk), 0);
    }
    assert_int_equal(pk.state, BSNAP_SNAPSHOT_COMPLETED);
    assert_string_equal(pk.owner, "1");
    assert_false(pk.shared);
    {
        const char *rec = "{\"tags\":{\"a\":\"}]\\\"\"},\"state\":\"error\","
                          "\"create-volume-permission\":{\"all\":true}}";
        assert_int_equal(snapshot_rec_peek(rec, strlen(rec), &pk), 0);
        assert_int_equal(pk.state, BSNAP_SNAPSHOT_ERROR);
        assert_string_equal(pk.owner, "");
        assert_true(pk.shared);
    }
    {
        static const char *const bad[] = {"",
                                          "[]",
                                          "{\"state\":1}",
                                          "{\"state\":\"gone\"}",
                                          "{\"id\":\"x\"}",
                                          "{\"state\":\"completed\"",
                                          "{\"a\":{\"b\":[}",
                                          "{\"st\\u0061te\":\"error\"}",
                                          "{\"owner\":\"0123456789012345\",\"state\":\"error\"}"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            assert_int_equal(snapshot_rec_peek(bad[i], strlen(bad[i]), &pk), -EIO);
    }
    free_world(&w);
}

/* A dry run (bsnap_store_set_dry_run()): a change that passes its
 * checks ends at its first write with DryRunOperation, one that fails
 * them with its own error; nothing changes; reads work. */
static void test_dry_run(void **state)
{
    struct fixture *f = *state;
    struct world w;
    bsnap_snapshot_info *infos = NULL;
    bsnap_store_info before, after;
    bsnap_tag t = {"k", "v"};
    const char *res[1];
    char id[BSNAP_ID_MAX];
    size_t n = 0;

    make_world(f, &w);
    assert_int_equal(bsnap_store_get_info(f->s, &before), 0);
    bsnap_store_set_dry_run(f->s, true);
    res[0] = w.a1;
    assert_error(bsnap_tags_create(f->s, res, 1, &t, 1), -ENOEXEC, "DryRunOperation");
    assert_string_equal(bsnap_last_error()->message,
                        "Request would have succeeded, but DryRun flag is set.");
    assert_error(bsnap_snapshot_delete(f->s, w.a2), -ENOEXEC, "DryRunOperation");
    chunk_write(w.va, CS, 5, 9);
    {
        bsnap_snapshot_options o = {.volume_path = w.va, .threads = 1};
        assert_error(bsnap_snapshot_create(f->s, &o, id, NULL), -ENOEXEC, "DryRunOperation");
    }
    /* its own error when a check fails */
    assert_error(bsnap_snapshot_delete(f->s, NOID), -ENOENT, "InvalidSnapshot.NotFound");
    /* reads go on */
    assert_int_equal(bsnap_snapshot_list(f->s, &infos, &n), 0);
    assert_int_equal(n, 3);
    free(infos);
    assert_int_equal(bsnap_store_get_info(f->s, &after), 0);
    assert_int_equal(after.snapshot_count, before.snapshot_count);
    assert_int_equal(after.pack_count, before.pack_count);
    assert_int_equal(after.chunk_count, before.chunk_count);
    assert_int_equal(after.stored_bytes, before.stored_bytes);
    assert_int_equal(after.pack_bytes, before.pack_bytes);
    /* and acting again, it acts */
    bsnap_store_set_dry_run(f->s, false);
    assert_int_equal(bsnap_tags_create(f->s, res, 1, &t, 1), 0);
    assert_int_equal(bsnap_snapshot_delete(f->s, w.a2), 0);
    assert_verify_clean(f);
    free_world(&w);
}

static void test_owners(void **state)
{
    struct fixture *f = *state;
    struct world w;
    bsnap_snapshot_info info, *infos = NULL;
    size_t n = 0;
    char mine[BSNAP_ID_MAX], *json = NULL;
    const char *res[1];
    bsnap_tag t = {"k", "v"};

    make_world(f, &w);
    assert_string_equal(bsnap_store_account(f->s), "123456789012");
    assert_error(bsnap_store_set_account(f->s, "12345"), -EINVAL, "InvalidParameterValue");
    assert_string_equal(bsnap_last_error()->parameter, "OwnerId");
    assert_int_equal(bsnap_store_set_account(f->s, "111122223333"), 0);
    assert_string_equal(bsnap_store_account(f->s), "111122223333");

    /* the other account sees none of the store account's */
    assert_int_equal(visible_snapshots(f, NULL), 0);
    assert_int_equal(volume_count(f), 0);
    assert_error(bsnap_snapshot_get(f->s, w.a1, &info), -ENOENT, "InvalidSnapshot.NotFound");
    assert_error(AS_JSON(json, bsnap_snapshot_describe_one, f->s, w.a1), -ENOENT,
                 "InvalidSnapshot.NotFound");
    assert_error(AS_JSON(json, bsnap_volume_describe_one, f->s, w.vol_a), -ENOENT,
                 "InvalidVolume.NotFound");
    assert_error(snapshots_json(f, (const char *const[]){w.a1}, 1, NULL, 0, &json), -ENOENT,
                 "InvalidSnapshot.NotFound");
    assert_error(bsnap_snapshot_delete(f->s, w.a2), -ENOENT, "InvalidSnapshot.NotFound");
    assert_error(bsnap_volume_delete(f->s, w.vol_b), -ENOENT, "InvalidVolume.NotFound");
    res[0] = w.b1;
    assert_error(bsnap_tags_create(f->s, res, 1, &t, 1), -ENOENT, "InvalidSnapshot.NotFound");
    assert_int_equal(bsnap_snapshot_list(f->s, &infos, &n), 0);
    assert_int_equal(n, 0);
    free(infos);
    assert_null(json);

    /* what it creates is its own */
    {
        char *vc = volume_create(f, "c.img", 4 * CS);
        chunk_write(vc, CS, 0, 7);
        snap_path(f, vc, mine);
        free(vc);
    }
    assert_int_equal(visible_snapshots(f, NULL), 1);
    assert_int_equal(visible_snapshots(f, "111122223333"), 1);
    assert_int_equal(visible_snapshots(f, "123456789012"), 0);
    assert_int_equal(AS_JSON(json, bsnap_snapshot_describe_one, f->s, mine), 0);
    assert_non_null(strstr(json, "\"OwnerId\":\"111122223333\""));
    free(json);
    json = NULL;
    res[0] = mine;
    assert_int_equal(bsnap_tags_create(f->s, res, 1, &t, 1), 0);

    /* the store's account: its three, not the other's */
    assert_int_equal(bsnap_store_set_account(f->s, "123456789012"), 0);
    assert_int_equal(visible_snapshots(f, NULL), 3);
    assert_int_equal(visible_snapshots(f, "123456789012"), 3);
    assert_error(bsnap_snapshot_get(f->s, mine, &info), -ENOENT, "InvalidSnapshot.NotFound");
    assert_error(bsnap_snapshot_delete(f->s, mine), -ENOENT, "InvalidSnapshot.NotFound");
    assert_int_equal(bsnap_snapshot_delete(f->s, w.a2), 0);
    assert_int_equal(bsnap_store_set_account(f->s, "111122223333"), 0);
    assert_int_equal(bsnap_snapshot_delete(f->s, mine), 0);
    assert_int_equal(visible_snapshots(f, NULL), 0);
    assert_int_equal(bsnap_store_set_account(f->s, "123456789012"), 0);
    assert_verify_clean(f);
    free_world(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_describe, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_volumes, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_tags, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_owners, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_snapshot_ids, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_dry_run, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_delete, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_restore_replaces_volume, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_volume_delete, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_store_info, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_pages, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_page_errors, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_volume_pages, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_xref_changes, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_xref_upgrade, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_xref_verify_repair, setup_4k, teardown_fixture),
        cmocka_unit_test(test_ids),
        cmocka_unit_test_setup_teardown(test_corrupt_record, setup_4k, teardown_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
