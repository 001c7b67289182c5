/* test-error.c - the failure record (error.c): messages name EC2
 * parameters and operations, marked @{Name} in the format, and the record
 * says where (refs) so that a front end can say them in its own words;
 * an argument's text is never taken for a marker.  Every public call that
 * takes user input names, in bsnap_error.parameter, the parameter a bad
 * input failed (test_parameters: one table row per call and input). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "unit-helpers.h"

/* The span @i of the last error's message, as a string. */
static const char *ref_text(size_t i)
{
    static char buf[128];
    const bsnap_error *e = bsnap_last_error();

    assert_true(i < e->nrefs);
    assert_true(e->refs[i].length < sizeof buf);
    memcpy(buf, e->message + e->refs[i].offset, e->refs[i].length);
    buf[e->refs[i].length] = '\0';
    return buf;
}

static void test_markers(void **state)
{
    const bsnap_error *e;
    (void)state;

    bsnap_error_clear();
    assert_int_equal(bsnap_fail(-EINVAL, "Image.NotBootable",
                                "the root volume %s is not bootable; give @{NoBootCheck} to "
                                "register it anyway",
                                "/dev/xvda"),
                     -EINVAL);
    e = bsnap_last_error();
    assert_string_equal(e->message,
                        "the root volume /dev/xvda is not bootable; give NoBootCheck to register "
                        "it anyway");
    assert_int_equal(e->nrefs, 1);
    assert_string_equal(ref_text(0), "NoBootCheck");
    assert_string_equal(e->parameter, "NoBootCheck");

    /* an argument holding "@{...}" is text; the format's markers count,
     * however long the arguments before them */
    bsnap_fail(-EIO, "Store.Corrupt", "%s, %d: run @{RepairStore} or @{VerifyStore}",
               "a path @{Evil} here", 42);
    e = bsnap_last_error();
    assert_string_equal(e->message, "a path @{Evil} here, 42: run RepairStore or VerifyStore");
    assert_int_equal(e->nrefs, 2);
    assert_string_equal(ref_text(0), "RepairStore");
    assert_string_equal(ref_text(1), "VerifyStore");

    /* no marker: no refs, the parameter "" */
    bsnap_fail(-ENOENT, "InvalidSnapshot.NotFound", "snapshot %s not found", "snap-1");
    assert_int_equal(bsnap_last_error()->nrefs, 0);
    assert_string_equal(bsnap_last_error()->parameter, "");
    /* what is not a marker stays as written */
    bsnap_fail(-EINVAL, "X", "@{} and @{a b} and @{Unclosed");
    assert_string_equal(bsnap_last_error()->message, "@{} and @{a b} and @{Unclosed");
    assert_int_equal(bsnap_last_error()->nrefs, 0);
}

static void test_prefix_and_save(void **state)
{
    error_saved saved;
    (void)state;

    bsnap_fail(-EIO, "Store.Corrupt", "damaged: run @{RepairStore}");
    bsnap_fail_prefix("gc of %s", "pack 7");
    assert_string_equal(bsnap_last_error()->message, "gc of pack 7: damaged: run RepairStore");
    assert_string_equal(ref_text(0), "RepairStore");
    error_save(&saved);
    bsnap_error_clear();
    assert_int_equal(bsnap_last_error()->nrefs, 0);
    error_restore(&saved);
    assert_int_equal(bsnap_last_error()->nrefs, 1);
    assert_string_equal(ref_text(0), "RepairStore");
    assert_string_equal(bsnap_last_error()->parameter, "RepairStore");

    /* a caller that knows the parameter names it; the message stays */
    bsnap_fail(-EINVAL, "InvalidSnapshotID.Malformed", "invalid id: \"%s\"", "x");
    assert_int_equal(error_set_parameter("BlockDeviceMappings[%d].Ebs.SnapshotId", 1), -EINVAL);
    assert_string_equal(bsnap_last_error()->parameter, "BlockDeviceMappings[1].Ebs.SnapshotId");
    assert_string_equal(bsnap_last_error()->message, "invalid id: \"x\"");
    error_save(&saved);
    bsnap_fail(-EIO, "X", "other");
    assert_string_equal(bsnap_last_error()->parameter, "");
    error_restore(&saved);
    assert_string_equal(bsnap_last_error()->parameter, "BlockDeviceMappings[1].Ebs.SnapshotId");
}

static char logged[256];
static size_t logged_refs;

static void log_cb(void *ud, int level, const char *category, const char *msg)
{
    size_t n;
    const bsnap_error_ref *refs = bsnap_log_refs(&n);

    (void)ud;
    (void)level;
    (void)category;
    snprintf(logged, sizeof logged, "%s", msg);
    logged_refs = n;
    if (n) {
        assert_non_null(refs);
        assert_memory_equal(msg + refs[0].offset, "CollectGarbage", refs[0].length);
    }
}

static void test_log_refs(void **state)
{
    size_t n = 9;
    (void)state;

    bsnap_set_log_func(log_cb, NULL);
    bsnap_log(BSNAP_LOG_WARNING, "snapshot", "could not give back %s: run @{CollectGarbage}", "x");
    assert_string_equal(logged, "could not give back x: run CollectGarbage");
    assert_int_equal(logged_refs, 1);
    assert_null(bsnap_log_refs(&n)); /* only during the callback */
    assert_int_equal(n, 0);
    bsnap_set_log_func(NULL, NULL);
}

/* ---- every public call names the parameter of a bad input ---- */

/* What the cases share: a store with one completed snapshot of a volume. */
struct pctx {
    struct fixture *f;
    char snap[BSNAP_ID_MAX];
    char vol[BSNAP_ID_MAX];
    char *vol_path;
    char long_text[BSNAP_DESCRIPTION_MAX + 2]; /* one character too many */
    char long_value[300];                      /* past a tag value's 256 */
};

/* Well-formed ids that name nothing. */
#define NO_SNAP "snap-0123456789abcdef0"
#define NO_VOL "vol-0123456789abcdef0"
#define NO_AMI "ami-0123456789abcdef0"

static int c_snapshot_get_malformed(struct pctx *c)
{
    bsnap_snapshot_info info;
    return bsnap_snapshot_get(c->f->s, "snap-x", &info);
}

static int c_snapshot_get_missing(struct pctx *c)
{
    bsnap_snapshot_info info;
    return bsnap_snapshot_get(c->f->s, NO_SNAP, &info);
}

static int c_snapshot_describe_one(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_snapshot_describe_one(c->f->s, "bad", &doc);
}

static int c_snapshot_partitions(struct pctx *c)
{
    bsnap_part_extent *parts;
    size_t n;
    return bsnap_snapshot_partitions(c->f->s, NO_SNAP, &parts, &n);
}

static int c_snapshot_delete_malformed(struct pctx *c)
{
    return bsnap_snapshot_delete(c->f->s, "snap-");
}

static int c_snapshot_delete_missing(struct pctx *c)
{
    return bsnap_snapshot_delete(c->f->s, NO_SNAP);
}

static int describe_snapshots(struct pctx *c, const bsnap_describe_options *o)
{
    json_t *doc = NULL;
    return bsnap_snapshot_describe(c->f->s, o, &doc);
}

static int c_describe_ids_malformed(struct pctx *c)
{
    const char *ids[] = {c->snap, "snap-bad"};
    return describe_snapshots(c, &(bsnap_describe_options){.ids = ids, .nids = 2});
}

static int c_describe_ids_missing(struct pctx *c)
{
    const char *ids[] = {c->snap, NO_SNAP};
    return describe_snapshots(c, &(bsnap_describe_options){.ids = ids, .nids = 2});
}

static int c_describe_max_results(struct pctx *c)
{
    return describe_snapshots(c, &(bsnap_describe_options){.max_results = 3});
}

static int c_describe_next_token(struct pctx *c)
{
    return describe_snapshots(c, &(bsnap_describe_options){.max_results = 5, .next_token = "zz"});
}

static int c_describe_ids_paged(struct pctx *c)
{
    const char *ids[] = {c->snap};
    return describe_snapshots(c,
                              &(bsnap_describe_options){.ids = ids, .nids = 1, .max_results = 5});
}

static int c_describe_filter(struct pctx *c)
{
    const char *v[] = {"x"};
    bsnap_filter f[] = {{"volume-id", v, 1}, {"no-such-filter", v, 1}};
    return describe_snapshots(c, &(bsnap_describe_options){.filters = f, .nfilters = 2});
}

static int c_volume_describe_ids(struct pctx *c)
{
    const char *ids[] = {"vol-bad"};
    json_t *doc = NULL;
    return bsnap_volume_describe(c->f->s, &(bsnap_describe_options){.ids = ids, .nids = 1}, &doc);
}

static int c_volume_describe_missing(struct pctx *c)
{
    const char *ids[] = {c->vol, NO_VOL};
    json_t *doc = NULL;
    return bsnap_volume_describe(c->f->s, &(bsnap_describe_options){.ids = ids, .nids = 2}, &doc);
}

static int c_volume_describe_one(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_volume_describe_one(c->f->s, NO_VOL, &doc);
}

static int c_volume_delete_malformed(struct pctx *c)
{
    return bsnap_volume_delete(c->f->s, "snap-0123456789abcdef0");
}

static int c_volume_delete_missing(struct pctx *c)
{
    return bsnap_volume_delete(c->f->s, NO_VOL);
}

static int c_tags_resource_malformed(struct pctx *c)
{
    const char *res[] = {c->snap, "snap-bad"};
    bsnap_tag t[] = {{"k", "v"}};
    return bsnap_tags_create(c->f->s, res, 2, t, 1);
}

static int c_tags_resource_unknown_kind(struct pctx *c)
{
    const char *res[] = {"i-0123456789abcdef0"};
    bsnap_tag t[] = {{"k", "v"}};
    return bsnap_tags_create(c->f->s, res, 1, t, 1);
}

static int c_tags_resource_missing(struct pctx *c)
{
    const char *res[] = {c->snap, NO_VOL};
    bsnap_tag t[] = {{"k", "v"}};
    return bsnap_tags_create(c->f->s, res, 2, t, 1);
}

static int c_tags_no_resources(struct pctx *c)
{
    const char *res[] = {NULL};
    bsnap_tag t[] = {{"k", "v"}};
    return bsnap_tags_create(c->f->s, res, 0, t, 1);
}

static int c_tags_none(struct pctx *c)
{
    const char *res[] = {c->snap};
    bsnap_tag t[] = {{"k", "v"}};
    return bsnap_tags_create(c->f->s, res, 1, t, 0);
}

static int c_tags_key_reserved(struct pctx *c)
{
    const char *res[] = {c->snap};
    bsnap_tag t[] = {{"k", "v"}, {"aws:x", "v"}};
    return bsnap_tags_create(c->f->s, res, 1, t, 2);
}

static int c_tags_value_long(struct pctx *c)
{
    const char *res[] = {c->snap};
    bsnap_tag t[] = {{"k", c->long_value}};
    return bsnap_tags_create(c->f->s, res, 1, t, 1);
}

static int c_tags_delete_key_empty(struct pctx *c)
{
    const char *res[] = {c->snap};
    bsnap_tag t[] = {{"", NULL}};
    return bsnap_tags_delete(c->f->s, res, 1, t, 1);
}

static int create_snapshot(struct pctx *c, bsnap_snapshot_options *o)
{
    char id[BSNAP_ID_MAX];
    o->threads = 1;
    return bsnap_snapshot_create(c->f->s, o, id, NULL);
}

static int c_create_no_volume(struct pctx *c)
{
    return create_snapshot(c, &(bsnap_snapshot_options){0});
}

static int c_create_path_missing(struct pctx *c)
{
    char *p = path_in(c->f->dir, "no-such-volume");
    int r = create_snapshot(c, &(bsnap_snapshot_options){.volume_path = p});
    free(p);
    return r;
}

static int c_create_path_dir(struct pctx *c)
{
    return create_snapshot(c, &(bsnap_snapshot_options){.volume_path = c->f->dir});
}

static int c_create_key_unencrypted(struct pctx *c)
{
    return create_snapshot(
        c, &(bsnap_snapshot_options){.volume_path = c->vol_path, .kms_key_id = "alias/dr"});
}

static int c_create_key_unknown(struct pctx *c)
{
    return create_snapshot(c, &(bsnap_snapshot_options){.volume_path = c->vol_path,
                                                        .encrypted = true,
                                                        .kms_key_id = "alias/no-such-key"});
}

static int c_create_volume_id_malformed(struct pctx *c)
{
    return create_snapshot(c, &(bsnap_snapshot_options){.volume_id = "vol-"});
}

static int c_create_volume_id_missing(struct pctx *c)
{
    return create_snapshot(c, &(bsnap_snapshot_options){.volume_id = NO_VOL});
}

static int c_create_description(struct pctx *c)
{
    return create_snapshot(
        c, &(bsnap_snapshot_options){.volume_path = c->vol_path, .description = c->long_text});
}

static int c_create_parent_malformed(struct pctx *c)
{
    return create_snapshot(
        c, &(bsnap_snapshot_options){.volume_path = c->vol_path, .parent_id = "snap"});
}

static int c_create_parent_missing(struct pctx *c)
{
    return create_snapshot(
        c, &(bsnap_snapshot_options){.volume_path = c->vol_path, .parent_id = NO_SNAP});
}

static int c_create_full_and_parent(struct pctx *c)
{
    return create_snapshot(c, &(bsnap_snapshot_options){
                                  .volume_path = c->vol_path, .parent_id = c->snap, .full = true});
}

static int c_create_changed_past_end(struct pctx *c)
{
    bsnap_range rg[] = {{0, 4096}, {1 * MiB, 4096}};
    return create_snapshot(
        c, &(bsnap_snapshot_options){.volume_path = c->vol_path, .changed = rg, .nchanged = 2});
}

static int c_create_changed_base(struct pctx *c)
{
    bsnap_range rg[] = {{0, 4096}};
    return create_snapshot(
        c, &(bsnap_snapshot_options){
               .volume_path = c->vol_path, .changed = rg, .nchanged = 1, .changed_base = "-"});
}

static int c_restore_snapshot_malformed(struct pctx *c)
{
    char vid[BSNAP_ID_MAX];
    char *p = path_in(c->f->dir, "restored");
    int r = bsnap_volume_create(c->f->s, "snap-bad", p, NULL, vid);
    free(p);
    return r;
}

static int c_restore_snapshot_missing(struct pctx *c)
{
    char vid[BSNAP_ID_MAX];
    char *p = path_in(c->f->dir, "restored");
    int r = bsnap_volume_create(c->f->s, NO_SNAP, p, NULL, vid);
    free(p);
    return r;
}

static int c_restore_path_empty(struct pctx *c)
{
    char vid[BSNAP_ID_MAX];
    return bsnap_volume_create(c->f->s, c->snap, "", NULL, vid);
}

static int c_restore_path_exists(struct pctx *c)
{
    char vid[BSNAP_ID_MAX];
    return bsnap_volume_create(c->f->s, c->snap, c->vol_path, NULL, vid);
}

static int c_restore_path_inside_store(struct pctx *c)
{
    char vid[BSNAP_ID_MAX];
    char *p = path_in(c->f->store_path, "restored");
    int r = bsnap_volume_create(c->f->s, c->snap, p, NULL, vid);
    free(p);
    return r;
}

static int c_diff_first(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_snapshot_diff_json(c->f->s, "snap-bad", c->snap, &doc);
}

static int c_usage_malformed(struct pctx *c)
{
    bsnap_snapshot_usage u;
    return bsnap_snapshot_get_usage(c->f->s, "snap-bad", &u);
}

static int c_usage_absent(struct pctx *c)
{
    bsnap_snapshot_usage u;
    return bsnap_snapshot_get_usage(c->f->s, NO_SNAP, &u);
}

static int c_diff_second(struct pctx *c)
{
    struct ranges rs = {0};
    return bsnap_snapshot_diff(c->f->s, c->snap, NO_SNAP, range_collect, &rs);
}

static int c_reader_open(struct pctx *c)
{
    bsnap_reader *rd = NULL;
    return bsnap_reader_open(c->f->s, NO_SNAP, &rd);
}

static int c_reader_open_flags(struct pctx *c)
{
    bsnap_reader *rd = NULL;
    return bsnap_reader_open_flags(c->f->s, "x", BSNAP_READER_NOPIN, &rd);
}

static int c_verify(struct pctx *c)
{
    bsnap_verify_stats st;
    return bsnap_verify(c->f->s, "snap-bad", NULL, NULL, NULL, &st);
}

static int c_gc(struct pctx *c)
{
    return bsnap_gc(c->f->s, &(bsnap_gc_options){.max_unused = 101, .max_unused_set = true}, NULL);
}

static int c_image_describe_one(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_image_describe_one(c->f->s, NO_AMI, &doc);
}

static int c_image_describe_ids(struct pctx *c)
{
    const char *ids[] = {NO_AMI, "ami-x"};
    json_t *doc = NULL;
    return bsnap_image_describe(c->f->s, &(bsnap_describe_options){.ids = ids, .nids = 2}, NULL, 0,
                                &doc);
}

static int c_image_describe_owner(struct pctx *c)
{
    const char *owners[] = {"self", "nobody"};
    json_t *doc = NULL;
    return bsnap_image_describe(c->f->s, NULL, owners, 2, &doc);
}

static int c_image_deregister(struct pctx *c)
{
    return bsnap_image_deregister(c->f->s, NO_AMI, false, NULL);
}

static int c_image_attribute(struct pctx *c)
{
    return bsnap_image_modify_attribute(c->f->s, NO_AMI, "kernel", "x");
}

static int c_image_attribute_description(struct pctx *c)
{
    return bsnap_image_modify_attribute(c->f->s, NO_AMI, "description", c->long_text);
}

static int c_image_create_no_volumes(struct pctx *c)
{
    char id[BSNAP_ID_MAX];
    return bsnap_image_create(c->f->s, &(bsnap_image_options){.name = "machine"}, id);
}

static int c_image_create_volume_path(struct pctx *c)
{
    char id[BSNAP_ID_MAX];
    bsnap_image_volume v[] = {{"/dev/xvda", c->vol_path}, {"/dev/xvdb", ""}};
    return bsnap_image_create(
        c->f->s, &(bsnap_image_options){.name = "machine", .volumes = v, .nvolumes = 2}, id);
}

static int c_store_chunk_size(struct pctx *c)
{
    bsnap_store *s = NULL;
    char *p = path_in(c->f->dir, "other-store");
    int r = bsnap_store_open(p, BSNAP_STORE_CREATE, &(bsnap_store_config){.chunk_size = 1000}, &s);
    free(p);
    bsnap_store_close(s);
    return r;
}

static int c_store_account(struct pctx *c)
{
    bsnap_store *s = NULL;
    char *p = path_in(c->f->dir, "other-store");
    int r = bsnap_store_open(p, BSNAP_STORE_CREATE, &(bsnap_store_config){.account = "12345"}, &s);
    free(p);
    bsnap_store_close(s);
    return r;
}

static int c_store_set_account(struct pctx *c)
{
    return bsnap_store_set_account(c->f->s, "1234567890ab");
}

static int c_image_get(struct pctx *c)
{
    bsnap_image_info info;
    return bsnap_image_get(c->f->s, "ami-x", &info);
}

static int c_image_describe_attribute(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_image_describe_attribute(c->f->s, NO_AMI, "description", &doc);
}

static int c_ranges_parse(struct pctx *c)
{
    bsnap_range *rg = NULL;
    size_t n;
    (void)c;
    return bsnap_ranges_parse("0 4096\n0 10\n", 12, "list", &rg, &n, NULL);
}

static int c_ranges_load(struct pctx *c)
{
    bsnap_range *rg = NULL;
    size_t n;
    char *p = path_in(c->f->dir, "no-such-list");
    int r = bsnap_ranges_load(p, &rg, &n, NULL);
    free(p);
    return r;
}

/* bsnap_snapshot_copy() from a fresh, empty store beside the fixture's
 * (@same: from the fixture's own store). */
static int copy_from(struct pctx *c, bool same, bsnap_copy_options *o)
{
    char id[BSNAP_ID_MAX];
    char *p = path_in(c->f->dir, "copy-source-store");
    bsnap_store_config cfg = {.chunk_size = 4096, .region = "test-2"};
    bsnap_store *src = NULL;
    int r;

    o->threads = 1;
    if (same) {
        r = bsnap_snapshot_copy(c->f->s, c->f->s, o, id, NULL);
    } else {
        assert_int_equal(bsnap_store_open(p, BSNAP_STORE_CREATE, &cfg, &src), 0);
        r = bsnap_snapshot_copy(c->f->s, src, o, id, NULL);
        bsnap_store_close(src);
    }
    free(p);
    return r;
}

static int c_copy_no_source(struct pctx *c)
{
    return copy_from(c, false, &(bsnap_copy_options){0});
}

static int c_copy_malformed(struct pctx *c)
{
    return copy_from(c, false, &(bsnap_copy_options){.source_snapshot_id = "vol-1"});
}

static int c_copy_missing(struct pctx *c)
{
    return copy_from(c, false,
                     &(bsnap_copy_options){.source_snapshot_id = "snap-0123456789abcdef0"});
}

static int c_copy_same_missing(struct pctx *c)
{
    return copy_from(c, true,
                     &(bsnap_copy_options){.source_snapshot_id = "snap-0123456789abcdef0"});
}

static int c_copy_description_long(struct pctx *c)
{
    return copy_from(
        c, false,
        &(bsnap_copy_options){.source_snapshot_id = c->snap, .description = c->long_text});
}

static int c_copy_token_bad(struct pctx *c)
{
    return copy_from(
        c, false,
        &(bsnap_copy_options){.source_snapshot_id = c->snap, .client_token = "has space"});
}

static int c_copy_key_unencrypted(struct pctx *c)
{
    return copy_from(
        c, false,
        &(bsnap_copy_options){.source_snapshot_id = c->snap, .kms_key_id = "alias/aws/ebs"});
}

static int c_copy_key_unknown(struct pctx *c)
{
    return copy_from(c, true,
                     &(bsnap_copy_options){.source_snapshot_id = c->snap,
                                           .encrypted = true,
                                           .kms_key_id = "alias/none"});
}

static int image_copy_from(struct pctx *c, bsnap_image_copy_options *o)
{
    char id[BSNAP_ID_MAX];
    char *p = path_in(c->f->dir, "copy-source-store");
    bsnap_store_config cfg = {.chunk_size = 4096, .region = "test-2"};
    bsnap_store *src = NULL;
    int r;

    assert_int_equal(bsnap_store_open(p, BSNAP_STORE_CREATE, &cfg, &src), 0);
    r = bsnap_image_copy(c->f->s, src, o, id, NULL);
    bsnap_store_close(src);
    free(p);
    return r;
}

static int c_image_copy_no_source(struct pctx *c)
{
    return image_copy_from(c, &(bsnap_image_copy_options){.name = "abc"});
}

static int c_image_copy_malformed(struct pctx *c)
{
    return image_copy_from(c,
                           &(bsnap_image_copy_options){.source_image_id = "snap-1", .name = "abc"});
}

static int c_image_copy_no_name(struct pctx *c)
{
    return image_copy_from(c,
                           &(bsnap_image_copy_options){.source_image_id = "ami-0123456789abcdef0"});
}

static int c_image_copy_bad_name(struct pctx *c)
{
    return image_copy_from(
        c, &(bsnap_image_copy_options){.source_image_id = "ami-0123456789abcdef0", .name = "x"});
}

static int c_image_copy_missing(struct pctx *c)
{
    return image_copy_from(
        c, &(bsnap_image_copy_options){.source_image_id = "ami-0123456789abcdef0", .name = "abc"});
}

static int c_image_copy_token_bad(struct pctx *c)
{
    return image_copy_from(
        c, &(bsnap_image_copy_options){
               .source_image_id = "ami-0123456789abcdef0", .name = "abc", .client_token = ""});
}

#define NO_KEY "00000000-0000-4000-8000-000000000000"

static int c_key_create_description(struct pctx *c)
{
    json_t *doc = NULL;
    char *d = malloc(8194);
    int r;

    assert_non_null(d);
    memset(d, 'd', 8193);
    d[8193] = '\0';
    r = bsnap_key_create(c->f->s, &(bsnap_key_options){.description = d}, &doc);
    free(d);
    return r;
}

static int c_key_describe(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_key_describe(c->f->s, NO_KEY, &doc);
}

static int c_key_set_enabled(struct pctx *c)
{
    return bsnap_key_set_enabled(c->f->s, "alias/none", false);
}

static int c_alias_create_name(struct pctx *c)
{
    return bsnap_alias_create(c->f->s, "alias/aws/x", NO_KEY);
}

static int c_alias_create_target(struct pctx *c)
{
    return bsnap_alias_create(c->f->s, "alias/x", NO_KEY);
}

/* A key of the fixture's own (its file in the fixture's directory), named
 * alias/taken, named again. */
static int c_alias_create_taken(struct pctx *c)
{
    json_t *doc = NULL;
    char *kd = path_in(c->f->dir, "keys"), id[64];

    setenv("BLOCKSNAP_KEY_DIR", kd, 1);
    free(kd);
    assert_int_equal(bsnap_key_create(c->f->s, NULL, &doc), 0);
    snprintf(id, sizeof id, "%s",
             json_string_value(json_object_get(json_object_get(doc, "KeyMetadata"), "KeyId")));
    json_decref(doc);
    assert_int_equal(bsnap_alias_create(c->f->s, "alias/taken", id), 0);
    return bsnap_alias_create(c->f->s, "alias/taken", id);
}

static int c_alias_delete(struct pctx *c)
{
    return bsnap_alias_delete(c->f->s, "alias/none");
}

static int c_alias_list(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_alias_list(c->f->s, "alias/none", &doc);
}

static int c_ebs_default_key_modify(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_ebs_default_key_modify(c->f->s, NO_KEY, &doc);
}

static int c_key_deletion_schedule(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_key_deletion_schedule(c->f->s, NO_KEY, 31, false, &doc);
}

static int c_key_deletion_cancel(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_key_deletion_cancel(c->f->s, NO_KEY, &doc);
}

static int c_grant_create_principal(struct pctx *c)
{
    const char *ops[] = {"Decrypt"};
    json_t *doc = NULL;
    return bsnap_grant_create(
        c->f->s,
        &(bsnap_grant_options){
            .key_id = NO_KEY, .grantee_principal = "me", .operations = ops, .noperations = 1},
        &doc);
}

static int c_grant_create_key(struct pctx *c)
{
    const char *ops[] = {"Decrypt"};
    json_t *doc = NULL;
    return bsnap_grant_create(c->f->s,
                              &(bsnap_grant_options){.key_id = NO_KEY,
                                                     .grantee_principal = "111122223333",
                                                     .operations = ops,
                                                     .noperations = 1},
                              &doc);
}

static int c_key_tag(struct pctx *c)
{
    bsnap_tag t[] = {{"aws:x", "y"}};
    return bsnap_key_tag(c->f->s, NO_KEY, t, 1);
}

static int c_key_untag(struct pctx *c)
{
    const char *k[] = {"x"};
    return bsnap_key_untag(c->f->s, NO_KEY, k, 1);
}

static int c_key_tags_list(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_key_tags_list(c->f->s, NO_KEY, &doc);
}

static int c_grant_list(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_grant_list(c->f->s, NO_KEY, NULL, NULL, &doc);
}

static int c_grant_revoke(struct pctx *c)
{
    return bsnap_grant_revoke(c->f->s, NO_KEY, "00");
}

static int c_grant_retire(struct pctx *c)
{
    return bsnap_grant_retire(c->f->s, "00", NULL, NULL);
}

static int c_share_malformed(struct pctx *c)
{
    const char *u[] = {"111122223333"};
    return bsnap_snapshot_attribute_modify(
        c->f->s, "snap-bad", "createVolumePermission",
        &(bsnap_permission_change){.add_users = u, .nadd_users = 1});
}

static int c_share_attribute(struct pctx *c)
{
    const char *u[] = {"111122223333"};
    return bsnap_snapshot_attribute_modify(
        c->f->s, c->snap, "productCodes",
        &(bsnap_permission_change){.add_users = u, .nadd_users = 1});
}

static int c_share_user(struct pctx *c)
{
    const char *u[] = {"111122223333", "12345"};
    return bsnap_snapshot_attribute_modify(
        c->f->s, c->snap, "createVolumePermission",
        &(bsnap_permission_change){.add_users = u, .nadd_users = 2});
}

static int c_share_group(struct pctx *c)
{
    const char *g[] = {"everyone"};
    return bsnap_snapshot_attribute_modify(
        c->f->s, c->snap, "createVolumePermission",
        &(bsnap_permission_change){.remove_groups = g, .nremove_groups = 1});
}

static int c_share_both(struct pctx *c)
{
    const char *u[] = {"111122223333"}, *g[] = {"all"};
    return bsnap_snapshot_attribute_modify(
        c->f->s, c->snap, "createVolumePermission",
        &(bsnap_permission_change){
            .add_users = u, .nadd_users = 1, .remove_groups = g, .nremove_groups = 1});
}

/* 501 changes, each well-formed: more than one call may make. */
static int c_share_many(struct pctx *c)
{
    static char ids[501][13];
    const char *u[501];

    for (size_t i = 0; i < 501; i++) {
        snprintf(ids[i], sizeof ids[i], "%012zu", 200000000000 + i);
        u[i] = ids[i];
    }
    return bsnap_snapshot_attribute_modify(
        c->f->s, c->snap, "createVolumePermission",
        &(bsnap_permission_change){.add_users = u, .nadd_users = 501});
}

static int c_share_none(struct pctx *c)
{
    return bsnap_snapshot_attribute_modify(c->f->s, c->snap, "createVolumePermission",
                                           &(bsnap_permission_change){0});
}

static int c_share_missing(struct pctx *c)
{
    const char *g[] = {"all"};
    return bsnap_snapshot_attribute_modify(
        c->f->s, NO_SNAP, "createVolumePermission",
        &(bsnap_permission_change){.add_groups = g, .nadd_groups = 1});
}

static int c_share_describe(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_snapshot_attribute_describe(c->f->s, c->snap, "launchPermission", &doc);
}

static int c_share_reset(struct pctx *c)
{
    return bsnap_snapshot_attribute_reset(c->f->s, NO_SNAP, "createVolumePermission");
}

static int c_image_share_malformed(struct pctx *c)
{
    const char *g[] = {"all"};
    return bsnap_image_permission_modify(
        c->f->s, "ami-", &(bsnap_permission_change){.add_groups = g, .nadd_groups = 1});
}

static int c_image_share_user(struct pctx *c)
{
    const char *u[] = {"12345678901x"};
    return bsnap_image_permission_modify(
        c->f->s, NO_AMI, &(bsnap_permission_change){.remove_users = u, .nremove_users = 1});
}

static int c_image_share_none(struct pctx *c)
{
    return bsnap_image_permission_modify(c->f->s, NO_AMI, &(bsnap_permission_change){0});
}

static int c_image_share_missing(struct pctx *c)
{
    const char *g[] = {"all"};
    return bsnap_image_permission_modify(
        c->f->s, NO_AMI, &(bsnap_permission_change){.add_groups = g, .nadd_groups = 1});
}

static int c_image_reset_attribute(struct pctx *c)
{
    return bsnap_image_attribute_reset(c->f->s, NO_AMI, "kernel");
}

static int c_image_reset_missing(struct pctx *c)
{
    return bsnap_image_attribute_reset(c->f->s, NO_AMI, "launchPermission");
}

#define NO_LT "lt-0123456789abcdef0"

static int c_template_create_name(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_template_create(
        c->f->s, &(bsnap_template_options){.ref = {.name = "a b"}, .data = "{}"}, &doc);
}

static int c_template_create_data(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_template_create(
        c->f->s, &(bsnap_template_options){.ref = {.name = "web"}, .data = "{\"UserData\":\"!\"}"},
        &doc);
}

static int c_template_create_no_data(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_template_create(c->f->s, &(bsnap_template_options){.ref = {.name = "web"}}, &doc);
}

static int c_template_version_ref(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_template_version_create(c->f->s, &(bsnap_template_options){.data = "{}"}, &doc);
}

static int c_template_version_missing(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_template_version_create(
        c->f->s, &(bsnap_template_options){.ref = {.id = NO_LT}, .data = "{}"}, &doc);
}

static int c_template_modify_malformed(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_template_modify(c->f->s, &(bsnap_template_ref){.id = "ami-1"}, "1", &doc);
}

static int c_template_describe_name(struct pctx *c)
{
    const char *names[] = {"nothere"};
    json_t *doc = NULL;
    return bsnap_template_describe(c->f->s, NULL, names, 1, &doc);
}

static int c_template_describe_filter(struct pctx *c)
{
    const char *v[] = {"x"};
    bsnap_filter f[] = {{"launch-template-name", v, 1}, {"image-id", v, 1}};
    json_t *doc = NULL;
    return bsnap_template_describe(c->f->s, &(bsnap_describe_options){.filters = f, .nfilters = 2},
                                   NULL, 0, &doc);
}

static int c_template_versions_describe(struct pctx *c)
{
    const char *v[] = {"$Latest", "2"};
    json_t *doc = NULL;
    return bsnap_template_versions_describe(
        c->f->s, &(bsnap_template_versions_options){.versions = v, .nversions = 2}, &doc);
}

static int c_template_delete(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_template_delete(c->f->s, &(bsnap_template_ref){.name = "nothere"}, &doc);
}

static int c_template_versions_delete(struct pctx *c)
{
    json_t *doc = NULL;
    return bsnap_template_versions_delete(c->f->s, &(bsnap_template_ref){.id = NO_LT}, NULL, 0,
                                          &doc);
}

static int c_prune(struct pctx *c, const char *vol, const bsnap_retention *rules)
{
    json_t *doc = NULL;
    size_t failed;
    int r = bsnap_snapshot_prune(c->f->s, vol, rules, true, &doc, &failed);
    json_decref(doc);
    return r;
}

static int c_prune_malformed(struct pctx *c)
{
    return c_prune(c, "vol-", &(bsnap_retention){.last = 1});
}

static int c_prune_missing(struct pctx *c)
{
    return c_prune(c, NO_VOL, &(bsnap_retention){.daily = 1});
}

static int c_prune_no_rule(struct pctx *c)
{
    return c_prune(c, NULL, &(bsnap_retention){0});
}

static int c_prune_within(struct pctx *c)
{
    return c_prune(c, NULL, &(bsnap_retention){.within_ms = -1});
}

static int c_policy_get(struct pctx *c, const char *id)
{
    json_t *doc = NULL;
    int r = bsnap_lifecycle_policy_get(c->f->s, id, &doc);
    json_decref(doc);
    return r;
}

static int c_policy_get_malformed(struct pctx *c)
{
    return c_policy_get(c, "policy-x");
}

static int c_policy_get_missing(struct pctx *c)
{
    return c_policy_get(c, "policy-0123456789abcdef0");
}

static int c_policy_create_details(struct pctx *c)
{
    bsnap_lifecycle_policy_options o = {
        .description = "d", .state = "ENABLED", .policy_details = "{\"Schedules\":1}"};
    json_t *doc = NULL;
    return bsnap_lifecycle_policy_create(c->f->s, &o, &doc);
}

static int c_lifecycle_run_malformed(struct pctx *c)
{
    const char *ids[] = {"policy-"};
    json_t *doc = NULL;
    size_t failed;
    return bsnap_lifecycle_run(c->f->s, ids, 1, 0, &doc, &failed);
}

static const struct param_case {
    const char *name;
    int (*call)(struct pctx *c);
    int err;
    const char *code;
    const char *parameter;
} param_cases[] = {
    {"snapshot_get malformed", c_snapshot_get_malformed, -EINVAL, "InvalidSnapshotID.Malformed",
     "SnapshotId"},
    {"snapshot_get missing", c_snapshot_get_missing, -ENOENT, "InvalidSnapshot.NotFound",
     "SnapshotId"},
    {"snapshot_describe_one", c_snapshot_describe_one, -EINVAL, "InvalidSnapshotID.Malformed",
     "SnapshotId"},
    {"snapshot_partitions", c_snapshot_partitions, -ENOENT, "InvalidSnapshot.NotFound",
     "SnapshotId"},
    {"snapshot_delete malformed", c_snapshot_delete_malformed, -EINVAL,
     "InvalidSnapshotID.Malformed", "SnapshotId"},
    {"snapshot_delete missing", c_snapshot_delete_missing, -ENOENT, "InvalidSnapshot.NotFound",
     "SnapshotId"},
    {"snapshot_prune malformed", c_prune_malformed, -EINVAL, "InvalidVolumeID.Malformed",
     "VolumeId"},
    {"snapshot_prune missing", c_prune_missing, -ENOENT, "InvalidVolume.NotFound", "VolumeId"},
    {"snapshot_prune no rule", c_prune_no_rule, -EINVAL, "InvalidParameterValue", "RetainRule"},
    {"snapshot_prune within", c_prune_within, -EINVAL, "InvalidParameterValue", "KeepWithin"},
    {"lifecycle_policy_get malformed", c_policy_get_malformed, -EINVAL, "InvalidRequestException",
     "PolicyId"},
    {"lifecycle_policy_get missing", c_policy_get_missing, -ENOENT, "ResourceNotFoundException",
     "PolicyId"},
    {"lifecycle_policy_create details", c_policy_create_details, -EINVAL, "InvalidRequestException",
     "PolicyDetails.TargetTags"},
    {"lifecycle_run malformed", c_lifecycle_run_malformed, -EINVAL, "InvalidRequestException",
     "PolicyIds[0]"},
    {"describe ids malformed", c_describe_ids_malformed, -EINVAL, "InvalidSnapshotID.Malformed",
     "SnapshotIds[1]"},
    {"describe ids missing", c_describe_ids_missing, -ENOENT, "InvalidSnapshot.NotFound",
     "SnapshotIds[1]"},
    {"describe max_results", c_describe_max_results, -EINVAL, "InvalidParameterValue",
     "MaxResults"},
    {"describe next_token", c_describe_next_token, -EINVAL, "InvalidParameterValue", "NextToken"},
    {"describe ids paged", c_describe_ids_paged, -EINVAL, "InvalidParameterCombination",
     "SnapshotIds"},
    {"describe filter", c_describe_filter, -EINVAL, "InvalidParameterValue", "Filters[1].Name"},
    {"volume_describe ids", c_volume_describe_ids, -EINVAL, "InvalidVolumeID.Malformed",
     "VolumeIds[0]"},
    {"volume_describe missing", c_volume_describe_missing, -ENOENT, "InvalidVolume.NotFound",
     "VolumeIds[1]"},
    {"volume_describe_one", c_volume_describe_one, -ENOENT, "InvalidVolume.NotFound", "VolumeId"},
    {"volume_delete malformed", c_volume_delete_malformed, -EINVAL, "InvalidVolumeID.Malformed",
     "VolumeId"},
    {"volume_delete missing", c_volume_delete_missing, -ENOENT, "InvalidVolume.NotFound",
     "VolumeId"},
    {"tags resource malformed", c_tags_resource_malformed, -EINVAL, "InvalidSnapshotID.Malformed",
     "Resources[1]"},
    {"tags resource kind", c_tags_resource_unknown_kind, -EINVAL, "InvalidID", "Resources[0]"},
    {"tags resource missing", c_tags_resource_missing, -ENOENT, "InvalidVolume.NotFound",
     "Resources[1]"},
    {"tags no resources", c_tags_no_resources, -EINVAL, "MissingParameter", "Resources"},
    {"tags none", c_tags_none, -EINVAL, "MissingParameter", "Tags"},
    {"tags key reserved", c_tags_key_reserved, -EINVAL, "InvalidParameterValue", "Tags[1].Key"},
    {"tags value long", c_tags_value_long, -EINVAL, "InvalidParameterValue", "Tags[0].Value"},
    {"tags_delete key empty", c_tags_delete_key_empty, -EINVAL, "InvalidParameterValue",
     "Tags[0].Key"},
    {"create no volume", c_create_no_volume, -EINVAL, "MissingParameter", "VolumePath"},
    {"create path missing", c_create_path_missing, -ENOENT, "InvalidVolume.NotFound", "VolumePath"},
    {"create path directory", c_create_path_dir, -EINVAL, "InvalidParameterValue", "VolumePath"},
    {"create key without encrypted", c_create_key_unencrypted, -EINVAL,
     "InvalidParameterDependency", "KmsKeyId"},
    {"create encrypted unknown key", c_create_key_unknown, -ENOENT, "NotFoundException",
     "KmsKeyId"},
    {"create volume_id malformed", c_create_volume_id_malformed, -EINVAL,
     "InvalidVolumeID.Malformed", "VolumeId"},
    {"create volume_id missing", c_create_volume_id_missing, -ENOENT, "InvalidVolume.NotFound",
     "VolumeId"},
    {"create description", c_create_description, -EINVAL, "InvalidParameterValue", "Description"},
    {"create parent malformed", c_create_parent_malformed, -EINVAL, "InvalidSnapshotID.Malformed",
     "ParentId"},
    {"image copy no source", c_image_copy_no_source, -EINVAL, "MissingParameter", "SourceImageId"},
    {"image copy malformed", c_image_copy_malformed, -EINVAL, "InvalidAMIID.Malformed",
     "SourceImageId"},
    {"image copy no name", c_image_copy_no_name, -EINVAL, "MissingParameter", "Name"},
    {"image copy bad name", c_image_copy_bad_name, -EINVAL, "InvalidAMIName.Malformed", "Name"},
    {"image copy missing", c_image_copy_missing, -ENOENT, "InvalidAMIID.NotFound", "SourceImageId"},
    {"image copy token bad", c_image_copy_token_bad, -EINVAL, "InvalidParameterValue",
     "ClientToken"},
    {"copy key without encrypted", c_copy_key_unencrypted, -EINVAL, "InvalidParameterDependency",
     "KmsKeyId"},
    {"copy unknown key", c_copy_key_unknown, -ENOENT, "NotFoundException", "KmsKeyId"},
    {"copy no source", c_copy_no_source, -EINVAL, "MissingParameter", "SourceSnapshotId"},
    {"copy malformed", c_copy_malformed, -EINVAL, "InvalidSnapshotID.Malformed",
     "SourceSnapshotId"},
    {"copy missing", c_copy_missing, -ENOENT, "InvalidSnapshot.NotFound", "SourceSnapshotId"},
    {"copy same store missing", c_copy_same_missing, -ENOENT, "InvalidSnapshot.NotFound",
     "SourceSnapshotId"},
    {"copy description long", c_copy_description_long, -EINVAL, "InvalidParameterValue",
     "Description"},
    {"copy token bad", c_copy_token_bad, -EINVAL, "InvalidParameterValue", "ClientToken"},
    {"create parent missing", c_create_parent_missing, -ENOENT, "InvalidSnapshot.NotFound",
     "ParentId"},
    {"create full and parent", c_create_full_and_parent, -EINVAL, "InvalidParameterCombination",
     "ParentId"},
    {"create changed past end", c_create_changed_past_end, -EINVAL, "InvalidParameterValue",
     "Changed[1]"},
    {"create changed base", c_create_changed_base, -EINVAL, "InvalidParameterCombination",
     "ChangedBase"},
    {"restore snapshot malformed", c_restore_snapshot_malformed, -EINVAL,
     "InvalidSnapshotID.Malformed", "SnapshotId"},
    {"restore snapshot missing", c_restore_snapshot_missing, -ENOENT, "InvalidSnapshot.NotFound",
     "SnapshotId"},
    {"restore path empty", c_restore_path_empty, -EINVAL, "InvalidParameterValue", "Path"},
    {"restore path exists", c_restore_path_exists, -EEXIST, "InvalidParameterValue", "Path"},
    {"restore path inside store", c_restore_path_inside_store, -EINVAL, "InvalidParameterValue",
     "Path"},
    {"diff first", c_diff_first, -EINVAL, "InvalidSnapshotID.Malformed", "FirstSnapshotId"},
    {"diff second", c_diff_second, -ENOENT, "InvalidSnapshot.NotFound", "SecondSnapshotId"},
    {"usage malformed", c_usage_malformed, -EINVAL, "InvalidSnapshotID.Malformed", "SnapshotId"},
    {"usage absent", c_usage_absent, -ENOENT, "InvalidSnapshot.NotFound", "SnapshotId"},
    {"reader_open", c_reader_open, -ENOENT, "InvalidSnapshot.NotFound", "SnapshotId"},
    {"reader_open_flags", c_reader_open_flags, -EINVAL, "InvalidSnapshotID.Malformed",
     "SnapshotId"},
    {"verify", c_verify, -EINVAL, "InvalidSnapshotID.Malformed", "SnapshotId"},
    {"gc", c_gc, -EINVAL, "InvalidParameterValue", "MaxUnused"},
    {"image_describe_one", c_image_describe_one, -ENOENT, "InvalidAMIID.NotFound", "ImageId"},
    {"image_describe ids", c_image_describe_ids, -EINVAL, "InvalidAMIID.Malformed", "ImageIds[1]"},
    {"image_describe owners", c_image_describe_owner, -EINVAL, "InvalidUserID.Malformed",
     "Owners[1]"},
    {"image_deregister", c_image_deregister, -ENOENT, "InvalidAMIID.NotFound", "ImageId"},
    {"image_modify_attribute", c_image_attribute, -EINVAL, "InvalidRequest", "Attribute"},
    {"image_modify_attribute description", c_image_attribute_description, -EINVAL,
     "InvalidParameterValue", "Description"},
    {"image_create no volumes", c_image_create_no_volumes, -EINVAL, "MissingParameter", "Volumes"},
    {"image_create volume path", c_image_create_volume_path, -EINVAL, "MissingParameter",
     "Volumes[1].Path"},
    {"image_get", c_image_get, -EINVAL, "InvalidAMIID.Malformed", "ImageId"},
    {"image_describe_attribute", c_image_describe_attribute, -ENOENT, "InvalidAMIID.NotFound",
     "ImageId"},
    {"ranges_parse", c_ranges_parse, -EINVAL, "InvalidParameterValue", "ChangedBlocks"},
    {"ranges_load", c_ranges_load, -ENOENT, "InvalidParameterValue", "ChangedBlocks"},
    {"store_open chunk size", c_store_chunk_size, -EINVAL, "InvalidParameterValue", "ChunkSize"},
    {"store_open account", c_store_account, -EINVAL, "InvalidParameterValue", "OwnerId"},
    {"key_create description", c_key_create_description, -EINVAL, "InvalidParameterValue",
     "Description"},
    {"key_describe", c_key_describe, -ENOENT, "NotFoundException", "KeyId"},
    {"key_set_enabled", c_key_set_enabled, -ENOENT, "NotFoundException", "KeyId"},
    {"alias_create name", c_alias_create_name, -EINVAL, "InvalidAliasNameException", "AliasName"},
    {"alias_create target", c_alias_create_target, -ENOENT, "NotFoundException", "TargetKeyId"},
    {"alias_create taken", c_alias_create_taken, -EEXIST, "AlreadyExistsException", "AliasName"},
    {"alias_delete", c_alias_delete, -ENOENT, "NotFoundException", "AliasName"},
    {"alias_list", c_alias_list, -ENOENT, "NotFoundException", "KeyId"},
    {"ebs_default_key_modify", c_ebs_default_key_modify, -ENOENT, "NotFoundException", "KmsKeyId"},
    {"key_deletion_schedule", c_key_deletion_schedule, -EINVAL, "ValidationException",
     "PendingWindowInDays"},
    {"key_deletion_cancel", c_key_deletion_cancel, -ENOENT, "NotFoundException", "KeyId"},
    {"grant_create principal", c_grant_create_principal, -EINVAL, "InvalidArnException",
     "GranteePrincipal"},
    {"grant_create key", c_grant_create_key, -ENOENT, "NotFoundException", "KeyId"},
    {"grant_list", c_grant_list, -ENOENT, "NotFoundException", "KeyId"},
    {"key_tag", c_key_tag, -EINVAL, "TagException", "Tags[0].TagKey"},
    {"key_untag", c_key_untag, -ENOENT, "NotFoundException", "KeyId"},
    {"key_tags_list", c_key_tags_list, -ENOENT, "NotFoundException", "KeyId"},
    {"grant_revoke", c_grant_revoke, -ENOENT, "NotFoundException", "KeyId"},
    {"grant_retire", c_grant_retire, -ENOENT, "NotFoundException", "GrantToken"},
    {"store_set_account", c_store_set_account, -EINVAL, "InvalidParameterValue", "OwnerId"},
    {"snapshot_attribute_modify malformed", c_share_malformed, -EINVAL,
     "InvalidSnapshotID.Malformed", "SnapshotId"},
    {"snapshot_attribute_modify attribute", c_share_attribute, -EINVAL, "InvalidParameterValue",
     "Attribute"},
    {"snapshot_attribute_modify user", c_share_user, -EINVAL, "InvalidAMIAttributeItemValue",
     "CreateVolumePermission.Add[1].UserId"},
    {"snapshot_attribute_modify group", c_share_group, -EINVAL, "InvalidAMIAttributeItemValue",
     "CreateVolumePermission.Remove[0].Group"},
    {"snapshot_attribute_modify both", c_share_both, -EINVAL, "InvalidParameterCombination",
     "CreateVolumePermission"},
    {"snapshot_attribute_modify 501 changes", c_share_many, -EINVAL, "InvalidParameterValue",
     "CreateVolumePermission"},
    {"snapshot_attribute_modify none", c_share_none, -EINVAL, "MissingParameter",
     "CreateVolumePermission"},
    {"snapshot_attribute_modify missing", c_share_missing, -ENOENT, "InvalidSnapshot.NotFound",
     "SnapshotId"},
    {"snapshot_attribute_describe", c_share_describe, -EINVAL, "InvalidParameterValue",
     "Attribute"},
    {"snapshot_attribute_reset", c_share_reset, -ENOENT, "InvalidSnapshot.NotFound", "SnapshotId"},
    {"image_permission_modify malformed", c_image_share_malformed, -EINVAL,
     "InvalidAMIID.Malformed", "ImageId"},
    {"image_permission_modify user", c_image_share_user, -EINVAL, "InvalidAMIAttributeItemValue",
     "LaunchPermission.Remove[0].UserId"},
    {"image_permission_modify none", c_image_share_none, -EINVAL, "MissingParameter",
     "LaunchPermission"},
    {"image_permission_modify missing", c_image_share_missing, -ENOENT, "InvalidAMIID.NotFound",
     "ImageId"},
    {"image_attribute_reset attribute", c_image_reset_attribute, -EINVAL, "InvalidParameterValue",
     "Attribute"},
    {"image_attribute_reset missing", c_image_reset_missing, -ENOENT, "InvalidAMIID.NotFound",
     "ImageId"},
    {"template_create name", c_template_create_name, -EINVAL,
     "InvalidLaunchTemplateName.MalformedException", "LaunchTemplateName"},
    {"template_create data", c_template_create_data, -EINVAL, "InvalidUserData.Malformed",
     "LaunchTemplateData.UserData"},
    {"template_create no data", c_template_create_no_data, -EINVAL, "MissingParameter",
     "LaunchTemplateData"},
    {"template_version_create ref", c_template_version_ref, -EINVAL, "MissingParameter",
     "LaunchTemplateId"},
    {"template_version_create missing", c_template_version_missing, -ENOENT,
     "InvalidLaunchTemplateId.NotFound", "LaunchTemplateId"},
    {"template_modify malformed", c_template_modify_malformed, -EINVAL,
     "InvalidLaunchTemplateId.Malformed", "LaunchTemplateId"},
    {"template_describe name", c_template_describe_name, -ENOENT,
     "InvalidLaunchTemplateName.NotFoundException", "LaunchTemplateNames[0]"},
    {"template_describe filter", c_template_describe_filter, -EINVAL, "InvalidParameterValue",
     "Filters[1].Name"},
    {"template_versions_describe", c_template_versions_describe, -EINVAL, "InvalidParameterValue",
     "Versions[1]"},
    {"template_delete", c_template_delete, -ENOENT, "InvalidLaunchTemplateName.NotFoundException",
     "LaunchTemplateName"},
    {"template_versions_delete", c_template_versions_delete, -EINVAL, "MissingParameter",
     "Versions"},
};

static void test_parameters(void **state)
{
    struct pctx c = {.f = fixture_new(4096)};
    bsnap_snapshot_info info;
    size_t bad = 0;

    (void)state;
    c.vol_path = volume_create(c.f, "disk", 64 * KiB);
    volume_write(c.vol_path, 0, 8192, 1);
    snap_path(c.f, c.vol_path, c.snap);
    assert_int_equal(bsnap_snapshot_get(c.f->s, c.snap, &info), 0);
    snprintf(c.vol, sizeof c.vol, "%s", info.volume_id);
    memset(c.long_text, 'd', sizeof c.long_text - 1);
    memset(c.long_value, 'v', sizeof c.long_value - 1);
    for (size_t i = 0; i < sizeof param_cases / sizeof param_cases[0]; i++) {
        const struct param_case *k = &param_cases[i];
        int r = k->call(&c);
        const bsnap_error *e = bsnap_last_error();

        if (r != k->err || strcmp(e->code, k->code) != 0 || strcmp(e->parameter, k->parameter)) {
            print_error("%s: expected %d %s %s, got %d %s \"%s\": %s\n", k->name, k->err, k->code,
                        k->parameter, r, e->code, e->parameter, e->message);
            bad++;
        }
    }
    free(c.vol_path);
    fixture_free(c.f);
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_markers),
        cmocka_unit_test(test_prefix_and_save),
        cmocka_unit_test(test_log_refs),
        cmocka_unit_test(test_parameters),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
