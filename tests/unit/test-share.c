/* test-share.c - create-volume permissions (share.c, and the read rule of
 * owner.c): two accounts on one store.  A snapshot shared with an account
 * (or with the group all) is visible to it (get, describe, walk, list,
 * restorable-by) and readable (restore, diff), its tags hidden; it stays
 * the owner's to delete, tag and share (UnauthorizedOperation /
 * AuthFailure), and another account's unshared snapshot is NotFound.  A
 * change is all or nothing; the permissions round-trip through the record
 * and an older record without them reads as private.  Images' launch
 * permissions likewise (test_share_image), with EC2's rule that an image
 * with an encrypted snapshot cannot be public. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "image.h"
#include "record.h"
#include "unit-helpers.h"

#define OWNER "123456789012" /* the store's account */
#define OTHER "111122223333"
#define THIRD "444455556666"

static int modify(struct fixture *f, const char *id, bool add, const char *user, const char *group)
{
    const char *u[] = {user}, *g[] = {group};
    bsnap_permission_change c = {0};

    if (add) {
        c.add_users = u, c.nadd_users = user != NULL;
        c.add_groups = g, c.nadd_groups = group != NULL;
    } else {
        c.remove_users = u, c.nremove_users = user != NULL;
        c.remove_groups = g, c.nremove_groups = group != NULL;
    }
    return bsnap_snapshot_attribute_modify(f->s, id, "createVolumePermission", &c);
}

/* The permissions as describe-snapshot-attribute lists them, compact. */
static char *perms(struct fixture *f, const char *id)
{
    json_t *doc = NULL;
    char *s;

    assert_int_equal(bsnap_snapshot_attribute_describe(f->s, id, "createVolumePermission", &doc),
                     0);
    s = json_dumps(json_object_get(doc, "CreateVolumePermissions"), JSON_COMPACT);
    json_decref(doc);
    return s;
}

static void assert_perms(struct fixture *f, const char *id, const char *want)
{
    char *got = perms(f, id);
    assert_string_equal(got, want);
    free(got);
}

/* The snapshots describe lists to the calling account, with @filter
 * (NULL: none) of one value, as "id[+tags] id ..." */
static char *listed(struct fixture *f, const char *filter, const char *value)
{
    bsnap_filter flt = {filter, (const char *const[]){value}, 1};
    bsnap_describe_options o = {.filters = &flt, .nfilters = filter != NULL};
    json_t *doc = NULL, *s;
    char *out = calloc(1, 512);
    size_t i;

    assert_int_equal(bsnap_snapshot_describe(f->s, &o, &doc), 0);
    json_array_foreach (json_object_get(doc, "Snapshots"), i, s) {
        strcat(out, i ? " " : "");
        strcat(out, json_string_value(json_object_get(s, "SnapshotId")));
        if (json_object_get(s, "Tags"))
            strcat(out, "+tags");
    }
    json_decref(doc);
    return out;
}

static void assert_listed(struct fixture *f, const char *filter, const char *value,
                          const char *want)
{
    char *got = listed(f, filter, value);
    if (strcmp(got, want) != 0)
        print_error("listed with %s=%s: '%s', want '%s'\n", filter ? filter : "-",
                    value ? value : "-", got, want);
    assert_string_equal(got, want);
    free(got);
}

static void as(struct fixture *f, const char *account)
{
    assert_int_equal(bsnap_store_set_account(f->s, account), 0);
}

static void test_share_snapshot(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "a", 64 * KiB), *out = path_in(f->dir, "r.img");
    char snap[BSNAP_ID_MAX], id[BSNAP_ID_MAX + 8];
    bsnap_snapshot_info info, *infos = NULL;
    bsnap_tag t = {"secret", "v"};
    const char *res[1];
    size_t n = 0;

    volume_write(vol, 0, 64 * KiB, 7);
    snap_path(f, vol, snap);
    res[0] = snap;
    assert_int_equal(bsnap_tags_create(f->s, res, 1, &t, 1), 0);
    assert_perms(f, snap, "[]");
    snprintf(id, sizeof id, "%s+tags", snap);
    assert_listed(f, NULL, NULL, id);

    /* not shared: the other account finds nothing, may do nothing */
    as(f, OTHER);
    assert_listed(f, NULL, NULL, "");
    assert_error(bsnap_snapshot_get(f->s, snap, &info), -ENOENT, "InvalidSnapshot.NotFound");
    assert_error(modify(f, snap, true, OTHER, NULL), -ENOENT, "InvalidSnapshot.NotFound");

    /* shared by id, twice (idempotent), with a bad item first: nothing */
    as(f, OWNER);
    {
        const char *u[] = {THIRD, "12345"};
        assert_error(bsnap_snapshot_attribute_modify(
                         f->s, snap, "createVolumePermission",
                         &(bsnap_permission_change){.add_users = u, .nadd_users = 2}),
                     -EINVAL, "InvalidAMIAttributeItemValue");
        assert_perms(f, snap, "[]");
    }
    assert_int_equal(modify(f, snap, true, OTHER, NULL), 0);
    assert_int_equal(modify(f, snap, true, OTHER, NULL), 0);
    assert_int_equal(modify(f, snap, true, THIRD, NULL), 0);
    assert_int_equal(modify(f, snap, false, THIRD, NULL), 0);
    assert_int_equal(modify(f, snap, false, THIRD, NULL), 0); /* absent: a no-op */
    assert_perms(f, snap, "[{\"UserId\":\"" OTHER "\"}]");
    assert_listed(f, "restorable-by", OTHER, id);
    assert_listed(f, "restorable-by", OWNER, id);
    assert_listed(f, "restorable-by", "all", "");

    /* the grantee: sees it without tags, reads it, may not change it */
    as(f, OTHER);
    assert_listed(f, NULL, NULL, snap);
    assert_listed(f, "restorable-by", OTHER, snap);
    assert_listed(f, "owner-id", OTHER, "");
    assert_listed(f, "tag-key", "secret", "");
    assert_int_equal(bsnap_snapshot_get(f->s, snap, &info), 0);
    assert_int_equal(bsnap_snapshot_list(f->s, &infos, &n), 0);
    assert_int_equal(n, 1);
    free(infos);
    restore_to(f, snap, out);
    assert_files_equal(out, vol);
    assert_error(bsnap_snapshot_delete(f->s, snap), -EACCES, "UnauthorizedOperation");
    assert_error(bsnap_tags_create(f->s, res, 1, &t, 1), -EACCES, "UnauthorizedOperation");
    assert_error(bsnap_tags_delete(f->s, res, 1, &t, 0), -EACCES, "UnauthorizedOperation");
    assert_error(modify(f, snap, true, NULL, "all"), -EACCES, "AuthFailure");
    assert_error(bsnap_snapshot_attribute_reset(f->s, snap, "createVolumePermission"), -EACCES,
                 "AuthFailure");

    /* public: a third account sees it; then removed and reset */
    as(f, OWNER);
    assert_int_equal(modify(f, snap, true, NULL, "all"), 0);
    assert_perms(f, snap, "[{\"Group\":\"all\"},{\"UserId\":\"" OTHER "\"}]");
    as(f, THIRD);
    assert_listed(f, NULL, NULL, snap);
    assert_listed(f, "restorable-by", THIRD, "");
    assert_listed(f, "restorable-by", "all", snap);
    as(f, OWNER);
    assert_int_equal(modify(f, snap, false, NULL, "all"), 0);
    as(f, THIRD);
    assert_error(bsnap_snapshot_get(f->s, snap, &info), -ENOENT, "InvalidSnapshot.NotFound");
    as(f, OWNER);
    assert_int_equal(bsnap_snapshot_attribute_reset(f->s, snap, "createVolumePermission"), 0);
    assert_perms(f, snap, "[]");
    as(f, OTHER);
    assert_error(bsnap_snapshot_get(f->s, snap, &info), -ENOENT, "InvalidSnapshot.NotFound");
    assert_error(bsnap_reader_open(f->s, snap, &(bsnap_reader *){NULL}), -ENOENT,
                 "InvalidSnapshot.NotFound");
    as(f, OWNER);
    assert_int_equal(bsnap_snapshot_delete(f->s, snap), 0);
    assert_verify_clean(f);
    free(vol);
    free(out);
}

static int image_modify(struct fixture *f, const char *id, bool add, const char *user,
                        const char *group)
{
    const char *u[] = {user}, *g[] = {group};
    bsnap_permission_change c = {0};

    if (add) {
        c.add_users = u, c.nadd_users = user != NULL;
        c.add_groups = g, c.nadd_groups = group != NULL;
    } else {
        c.remove_users = u, c.nremove_users = user != NULL;
        c.remove_groups = g, c.nremove_groups = group != NULL;
    }
    return bsnap_image_permission_modify(f->s, id, &c);
}

/* The images describe lists to the calling account with filter @filter
 * (NULL: none) and owners @owner (NULL: none), as "id[+tags][+public]". */
static char *images_listed(struct fixture *f, const char *filter, const char *value,
                           const char *owner)
{
    bsnap_filter flt = {filter, (const char *const[]){value}, 1};
    bsnap_describe_options o = {.filters = &flt, .nfilters = filter != NULL};
    const char *owners[] = {owner};
    json_t *doc = NULL, *im;
    char *out = calloc(1, 512);
    size_t i;

    assert_int_equal(bsnap_image_describe(f->s, &o, owners, owner != NULL, &doc), 0);
    json_array_foreach (json_object_get(doc, "Images"), i, im) {
        strcat(out, i ? " " : "");
        strcat(out, json_string_value(json_object_get(im, "ImageId")));
        if (json_object_get(im, "Tags"))
            strcat(out, "+tags");
        if (json_is_true(json_object_get(im, "Public")))
            strcat(out, "+public");
    }
    json_decref(doc);
    return out;
}

static void assert_images(struct fixture *f, const char *filter, const char *value,
                          const char *owner, const char *want)
{
    char *got = images_listed(f, filter, value, owner);
    if (strcmp(got, want) != 0)
        print_error("images with %s=%s owner %s: '%s', want '%s'\n", filter ? filter : "-",
                    value ? value : "-", owner ? owner : "-", got, want);
    assert_string_equal(got, want);
    free(got);
}

static void assert_launch_perms(struct fixture *f, const char *id, const char *want)
{
    json_t *doc = NULL;
    char *got;

    assert_int_equal(bsnap_image_describe_attribute(f->s, id, "launchPermission", &doc), 0);
    got = json_dumps(json_object_get(doc, "LaunchPermissions"), JSON_COMPACT);
    assert_string_equal(got, want);
    free(got);
    json_decref(doc);
}

static void test_share_image(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "a", 64 * KiB);
    char snap[BSNAP_ID_MAX], ami[BSNAP_ID_MAX], tagged[BSNAP_ID_MAX + 8];
    bsnap_block_device_mapping m = {
        .device_name = "/dev/xvda", .kind = BSNAP_MAPPING_EBS, .snapshot_id = snap};
    bsnap_image_options io = {.name = "web", .mappings = &m, .nmappings = 1, .no_boot_check = true};
    bsnap_image_info info;
    bsnap_tag t = {"secret", "v"};
    const char *res[1] = {ami};
    json_t *doc = NULL;

    volume_write(vol, 0, 64 * KiB, 9);
    snap_path(f, vol, snap);
    assert_int_equal(bsnap_image_register(f->s, &io, ami), 0);
    assert_int_equal(bsnap_tags_create(f->s, res, 1, &t, 1), 0);
    snprintf(tagged, sizeof tagged, "%s+tags", ami);
    assert_launch_perms(f, ami, "[]");

    as(f, OTHER);
    assert_images(f, NULL, NULL, NULL, "");
    assert_error(bsnap_image_get(f->s, ami, &info), -ENOENT, "InvalidAMIID.NotFound");
    assert_error(image_modify(f, ami, true, OTHER, NULL), -ENOENT, "InvalidAMIID.NotFound");

    /* a bad item first: nothing; then shared with OTHER */
    as(f, OWNER);
    {
        const char *u[] = {OTHER, "1234"};
        assert_error(bsnap_image_permission_modify(
                         f->s, ami, &(bsnap_permission_change){.add_users = u, .nadd_users = 2}),
                     -EINVAL, "InvalidAMIAttributeItemValue");
        assert_launch_perms(f, ami, "[]");
    }
    assert_int_equal(image_modify(f, ami, true, OTHER, NULL), 0);
    assert_launch_perms(f, ami, "[{\"UserId\":\"" OTHER "\"}]");
    assert_images(f, "executable-by", OTHER, NULL, tagged);
    assert_images(f, "executable-by", "all", NULL, "");

    as(f, OTHER);
    assert_images(f, NULL, NULL, NULL, ami);
    assert_images(f, NULL, NULL, OTHER, "");
    assert_images(f, NULL, NULL, OWNER, ami);
    assert_images(f, "executable-by", OTHER, NULL, ami);
    assert_int_equal(bsnap_image_get(f->s, ami, &info), 0);
    assert_error(AS_JSON(res[0], bsnap_image_deregister, f->s, ami, false), -EACCES,
                 "UnauthorizedOperation");
    assert_error(bsnap_tags_create(f->s, res, 1, &t, 1), -EACCES, "UnauthorizedOperation");
    assert_error(image_modify(f, ami, true, NULL, "all"), -EACCES, "AuthFailure");
    assert_error(bsnap_image_attribute_reset(f->s, ami, "launchPermission"), -EACCES,
                 "AuthFailure");
    assert_error(bsnap_image_describe_attribute(f->s, ami, "launchPermission", &doc), -EACCES,
                 "AuthFailure");
    as(f, THIRD);
    assert_images(f, NULL, NULL, NULL, "");

    /* public; add and remove in one call; reset */
    as(f, OWNER);
    assert_int_equal(image_modify(f, ami, true, NULL, "all"), 0);
    as(f, THIRD);
    snprintf(tagged, sizeof tagged, "%s+public", ami);
    assert_images(f, NULL, NULL, NULL, tagged);
    assert_images(f, "is-public", "true", NULL, tagged);
    assert_images(f, "executable-by", THIRD, NULL, "");
    as(f, OWNER);
    {
        const char *u[] = {THIRD}, *g[] = {"all"};
        assert_int_equal(
            bsnap_image_permission_modify(
                f->s, ami,
                &(bsnap_permission_change){
                    .add_users = u, .nadd_users = 1, .remove_groups = g, .nremove_groups = 1}),
            0);
    }
    assert_launch_perms(f, ami, "[{\"UserId\":\"" OTHER "\"},{\"UserId\":\"" THIRD "\"}]");
    assert_error(bsnap_image_attribute_reset(f->s, ami, "description"), -EINVAL,
                 "InvalidParameterValue");
    assert_int_equal(bsnap_image_attribute_reset(f->s, ami, "launchPermission"), 0);
    assert_launch_perms(f, ami, "[]");
    as(f, OTHER);
    assert_error(bsnap_image_get(f->s, ami, &info), -ENOENT, "InvalidAMIID.NotFound");

    /* an image with an encrypted snapshot (the record's mapping says so)
     * may be shared with an account, not made public */
    as(f, OWNER);
    {
        meta_txn *txn = NULL;
        struct image_rec rec = {0};
        assert_int_equal(meta_txn_begin(f->s->meta, true, &txn), 0);
        assert_int_equal(image_load(txn, ami, &rec), 0);
        rec.bdm[0].encrypted = 1;
        assert_int_equal(image_save(txn, &rec), 0);
        image_rec_clear(&rec);
        assert_int_equal(meta_txn_commit(txn), 0);
    }
    assert_error(image_modify(f, ami, true, NULL, "all"), -EPERM, "UnsupportedOperation");
    assert_launch_perms(f, ami, "[]");
    assert_int_equal(image_modify(f, ami, true, OTHER, NULL), 0);

    /* deregistered: Unavailable */
    assert_int_equal(AS_JSON(res[0], bsnap_image_deregister, f->s, ami, false), 0);
    free((char *)res[0]);
    assert_error(image_modify(f, ami, true, THIRD, NULL), -ESTALE, "InvalidAMIID.Unavailable");
    free(vol);
}

/* The record keeps the permissions; one without the field is private. */
static void test_record(void **state)
{
    struct snapshot_rec r = {0}, back = {0};
    char *json = NULL;
    size_t len;
    (void)state;

    snprintf(r.id, sizeof r.id, "snap-0123456789abcdef0");
    r.description = strdup("d");
    r.cvp.all = true;
    assert_int_equal(shares_add(&r.cvp, OTHER), 0);
    assert_int_equal(shares_add(&r.cvp, THIRD), 0);
    assert_int_equal(shares_add(&r.cvp, OTHER), 0);
    assert_int_equal(r.cvp.n, 2);
    assert_int_equal(snapshot_rec_encode(&r, &json, &len), 0);
    assert_non_null(strstr(json, "create-volume-permission"));
    assert_int_equal(snapshot_rec_decode(json, len, &back), 0);
    assert_true(back.cvp.all);
    assert_int_equal(back.cvp.n, 2);
    assert_string_equal(back.cvp.users[0], OTHER);
    assert_string_equal(back.cvp.users[1], THIRD);
    free(json);
    snapshot_rec_clear(&back);
    shares_clear(&r.cvp);
    assert_int_equal(snapshot_rec_encode(&r, &json, &len), 0);
    assert_null(strstr(json, "create-volume-permission")); /* none: as older records */
    assert_int_equal(snapshot_rec_decode(json, len, &back), 0);
    assert_false(back.cvp.all);
    assert_int_equal(back.cvp.n, 0);
    free(json);
    snapshot_rec_clear(&back);
    snapshot_rec_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_share_snapshot, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_share_image, setup_4k, teardown_fixture),
        cmocka_unit_test(test_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
