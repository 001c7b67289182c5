/* test-image.c - image.c, image-create.c and the image parts of json.c:
 * name and device rules, typed mappings, records, and register / create /
 * describe / deregister on a real store.  (The mapping shorthand and JSON
 * and request documents are the front-end library's: tests/front.) */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "image.h"
#include "util.h"
#include "unit-helpers.h"

#define NOSNAP "snap-0123456789abcdef0"
#define NOAMI "ami-0123456789abcdef0"

/* ---- pure parts ---- */

static void test_names(void **state)
{
    (void)state;
    assert_true(image_name_valid("web-2026-11"));
    assert_true(image_name_valid("db (primary)/v1 [x] it's @home_1."));
    assert_false(image_name_valid("ab"));
    assert_false(image_name_valid("web#1"));
    assert_false(image_name_valid("caf\xc3\xa9-1"));
    char long_name[130];
    memset(long_name, 'n', 129);
    long_name[129] = '\0';
    assert_false(image_name_valid(long_name));
    long_name[128] = '\0';
    assert_true(image_name_valid(long_name));
}

static void test_device_names(void **state)
{
    static const char *const hvm_ok[] = {"/dev/xvda",  "/dev/sdb",   "/dev/sda1", "/dev/sda2",
                                         "/dev/xvdba", "/dev/xvdcz", NULL};
    static const char *const hvm_bad[] = {"xvda",      "/dev/sde1", "/dev/xvdda",   "/dev/xvda1",
                                          "/dev/hda",  "/dev/sd",   "/dev/xvd",     "/dev/sdA",
                                          "/dev/sda3", "",          "/dev/nvme0n1", NULL};
    (void)state;
    for (size_t i = 0; hvm_ok[i]; i++)
        assert_true(device_name_valid(hvm_ok[i], true));
    for (size_t i = 0; hvm_bad[i]; i++)
        assert_false(device_name_valid(hvm_bad[i], true));
    /* paravirtual: partitions 1-15 and /dev/hd* */
    assert_true(device_name_valid("/dev/sde1", false));
    assert_true(device_name_valid("/dev/sdb15", false));
    assert_true(device_name_valid("/dev/hda3", false));
    assert_false(device_name_valid("/dev/sdb16", false));
    assert_false(device_name_valid("/dev/sdb0", false));
}

/* A typed mapping as the record keeps it: zero is "not given" for every
 * field (the sizes the snapshot's, DeleteOnTermination true, Encrypted not
 * said), and what cannot be kept is refused with the mapping's device. */
static void test_bdm_from_mapping(void **state)
{
    struct image_bdm b;
    (void)state;

    bsnap_block_device_mapping m = {
        .device_name = "/dev/xvda", .kind = BSNAP_MAPPING_EBS, .snapshot_id = "snap-1"};
    assert_int_equal(image_bdm_from_mapping(&m, &b), 0);
    assert_int_equal(b.kind, BDM_EBS);
    assert_string_equal(b.snapshot_id, "snap-1");
    assert_int_equal(b.volume_size, 0);
    assert_int_equal(b.delete_on_termination, -1);
    assert_int_equal(b.encrypted, -1);
    assert_string_equal(b.volume_type, "");

    m.delete_on_termination = BSNAP_FALSE;
    m.encrypted = BSNAP_TRUE;
    m.volume_size = 8;
    m.volume_type = "gp3";
    assert_int_equal(image_bdm_from_mapping(&m, &b), 0);
    assert_int_equal(b.delete_on_termination, 0);
    assert_int_equal(b.encrypted, 1);
    assert_int_equal(b.volume_size, 8);
    assert_string_equal(b.volume_type, "gp3");

    bsnap_block_device_mapping v = {
        .device_name = "/dev/xvdb", .kind = BSNAP_MAPPING_VIRTUAL, .virtual_name = "ephemeral0"};
    assert_int_equal(image_bdm_from_mapping(&v, &b), 0);
    assert_int_equal(b.kind, BDM_VIRTUAL);
    assert_string_equal(b.virtual_name, "ephemeral0");

    static const bsnap_block_device_mapping bad[] = {
        {.kind = BSNAP_MAPPING_EBS, .snapshot_id = "snap-1"},
        {.device_name = "/dev/xvda", .snapshot_id = "snap-1"}, /* kind not given */
        {.device_name = "/dev/xvda",
         .kind = BSNAP_MAPPING_EBS,
         .volume_size = BSNAP_VOLUME_SIZE_MAX + 1},
        {.device_name = "/dev/xvda", .kind = BSNAP_MAPPING_EBS, .iops = BSNAP_IOPS_MAX + 1},
        {.device_name = "/dev/xvda", .kind = (bsnap_mapping_kind)4},
        {.device_name = "/dev/xvda", .kind = BSNAP_MAPPING_EBS, .encrypted = (bsnap_tristate)3},
        {.device_name = "/dev/xvda", .kind = BSNAP_MAPPING_EBS, .volume_type = "caf\xe9"},
        {.device_name = "/dev/xvda", .kind = BSNAP_MAPPING_VIRTUAL},
        {.device_name = "/dev/xvdaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         .kind = BSNAP_MAPPING_EBS},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_error(image_bdm_from_mapping(&bad[i], &b), -EINVAL, "InvalidBlockDeviceMapping");
}

static void test_record_roundtrip(void **state)
{
    struct image_rec r = {0}, d = {0};
    struct image_bdm m[2] = {0};
    char *json = NULL;
    size_t len;
    (void)state;

    snprintf(r.id, sizeof r.id, "%s", NOAMI);
    r.name = strdup("web-1");
    r.description = strdup("d \"quoted\"");
    r.state = BSNAP_IMAGE_DEREGISTERED;
    snprintf(r.architecture, sizeof r.architecture, "arm64");
    snprintf(r.virtualization, sizeof r.virtualization, "hvm");
    snprintf(r.root_device, sizeof r.root_device, "/dev/xvda");
    snprintf(r.boot_mode, sizeof r.boot_mode, "uefi");
    snprintf(r.detected, sizeof r.detected, "hybrid");
    r.ena_support = true;
    r.creation_ms = 1234567;
    r.deregistered_ms = 7654321;
    snprintf(m[0].device, sizeof m[0].device, "/dev/xvda");
    snprintf(m[0].snapshot_id, sizeof m[0].snapshot_id, "%s", NOSNAP);
    m[0].volume_size = 3;
    m[0].delete_on_termination = -1;
    m[0].encrypted = -1;
    snprintf(m[1].device, sizeof m[1].device, "/dev/xvdb");
    m[1].kind = BDM_VIRTUAL;
    snprintf(m[1].virtual_name, sizeof m[1].virtual_name, "ephemeral1");
    m[1].delete_on_termination = m[1].encrypted = -1;
    r.bdm = malloc(sizeof m);
    memcpy(r.bdm, m, sizeof m);
    r.nbdm = 2;
    assert_int_equal(tags_set(&r.tags, "env", "prod"), 0);

    assert_int_equal(image_rec_encode(&r, &json, &len), 0);
    /* every single bit flip is refused or decodes as the same record (the
     * record's check: LMDB keeps none) */
    for (size_t i = 0; i < len * 8; i++) {
        char *again = NULL;
        size_t alen = 0;
        json[i / 8] ^= (char)(1 << (i % 8));
        if (image_rec_decode(json, len, &d) == 0) {
            assert_int_equal(image_rec_encode(&d, &again, &alen), 0);
            image_rec_clear(&d);
        }
        json[i / 8] ^= (char)(1 << (i % 8));
        if (again && (alen != len || memcmp(again, json, len) != 0))
            fail_msg("a flip of bit %zu decoded as another record: %s", i, again);
        free(again);
    }
    assert_int_equal(image_rec_decode(json, len, &d), 0);
    assert_string_equal(d.id, r.id);
    assert_string_equal(d.name, "web-1");
    assert_string_equal(d.description, r.description);
    assert_int_equal(d.state, BSNAP_IMAGE_DEREGISTERED);
    assert_string_equal(d.architecture, "arm64");
    assert_string_equal(d.boot_mode, "uefi");
    assert_string_equal(d.detected, "hybrid");
    assert_true(d.ena_support);
    assert_int_equal(d.creation_ms, 1234567);
    assert_int_equal(d.deregistered_ms, 7654321);
    assert_int_equal(d.nbdm, 2);
    assert_memory_equal(&d.bdm[0], &m[0], sizeof m[0]);
    assert_memory_equal(&d.bdm[1], &m[1], sizeof m[1]);
    assert_int_equal(d.tags.n, 1);
    assert_string_equal(d.tags.v[0].value, "prod");
    free(json);
    image_rec_clear(&d);
    image_rec_clear(&r);

    /* damaged records are Store.Corrupt, never a crash */
    static const char *const bad[] = {"{", "{}", "{\"id\":\"ami-1\"}", "[]"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_error(image_rec_decode(bad[i], strlen(bad[i]), &d), -EIO, "Store.Corrupt");
}

/* ---- on a store ---- */

/* A 1 MiB volume whose first sector has boot code and the 0x55AA
 * signature. */
static char *boot_volume(struct fixture *f, const char *name, bool signature)
{
    char *p = volume_create(f, name, 1 * MiB);
    uint8_t sec[512] = {0x31, 0xc0, 0xfa, 0xf4};
    int fd = open(p, O_WRONLY);

    assert_true(fd >= 0);
    if (signature) {
        sec[510] = 0x55;
        sec[511] = 0xaa;
    }
    assert_int_equal(pwrite(fd, sec, sizeof sec, 0), (ssize_t)sizeof sec);
    close(fd);
    return p;
}

/* bsnap_image_describe() with ids, owners and filters, its document as
 * JSON text in *@ret_json. */
static int images_json(struct fixture *f, const char *const *ids, size_t nids,
                       const char *const *owners, size_t nowners, const bsnap_filter *flt,
                       size_t nflt, char **ret_json)
{
    bsnap_describe_options o = {.ids = ids, .nids = nids, .filters = flt, .nfilters = nflt};
    json_t *doc = NULL;
    int r = bsnap_image_describe(f->s, &o, owners, nowners, &doc);

    if (r == 0) {
        *ret_json = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(doc);
        assert_non_null(*ret_json);
    }
    return r;
}

static void register_one(struct fixture *f, const char *name, const char *snap, char *ret_id)
{
    bsnap_block_device_mapping m = {
        .device_name = "/dev/xvda", .kind = BSNAP_MAPPING_EBS, .snapshot_id = snap};
    bsnap_image_options o = {.name = name, .mappings = &m, .nmappings = 1};

    assert_int_equal(bsnap_image_register(f->s, &o, ret_id), 0);
}

static void test_register_and_use(void **state)
{
    struct fixture *f = *state;
    char *vol = boot_volume(f, "boot.img", true), *bad = boot_volume(f, "bad.img", false);
    char snap[BSNAP_ID_MAX], badsnap[BSNAP_ID_MAX], ami[BSNAP_ID_MAX], other[BSNAP_ID_MAX];
    bsnap_image_info info;
    char *json = NULL;

    snap_path(f, vol, snap);
    snap_path(f, bad, badsnap);
    register_one(f, "img-one", snap, ami);
    assert_int_equal(bsnap_image_get(f->s, ami, &info), 0);
    assert_string_equal(info.name, "img-one");
    assert_int_equal(info.nmappings, 1);
    assert_string_equal(info.mappings[0].snapshot_id, snap);

    /* not bootable; duplicate name; both leave nothing */
    {
        char id[BSNAP_ID_MAX];
        bsnap_block_device_mapping m = {
            .device_name = "/dev/xvda", .kind = BSNAP_MAPPING_EBS, .snapshot_id = badsnap};
        bsnap_image_options o = {.name = "img-two", .mappings = &m, .nmappings = 1};
        assert_error(bsnap_image_register(f->s, &o, id), -EINVAL, "Image.NotBootable");
        /* the error names the parameter; its message the flag's name */
        assert_string_equal(bsnap_last_error()->parameter, "NoBootCheck");
        o.no_boot_check = true;
        o.name = "img-one";
        assert_error(bsnap_image_register(f->s, &o, id), -EEXIST, "InvalidAMIName.Duplicate");
        assert_message_has(ami);
    }
    bsnap_image_info *infos = NULL;
    size_t n = 0;
    assert_int_equal(bsnap_image_list(f->s, &infos, &n), 0);
    assert_int_equal(n, 1);
    free(infos);

    /* in use: the snapshot stays */
    {
        meta_txn *txn;
        assert_int_equal(meta_txn_begin(f->s->meta, false, &txn), 0);
        assert_int_equal(image_snapshot_user(txn, snap, other), 1);
        assert_string_equal(other, ami);
        assert_int_equal(image_snapshot_user(txn, badsnap, other), 0);
        meta_txn_abort(txn);
    }
    assert_error(bsnap_snapshot_delete(f->s, snap), -EBUSY, "InvalidSnapshot.InUse");

    /* tags through the public tag calls */
    const char *res[1] = {ami};
    bsnap_tag t = {"env", "prod"};
    assert_int_equal(bsnap_tags_create(f->s, res, 1, &t, 1), 0);
    assert_int_equal(AS_JSON(json, bsnap_image_describe_one, f->s, ami), 0);
    assert_non_null(strstr(json, "\"Tags\":[{\"Key\":\"env\",\"Value\":\"prod\"}]"));
    free(json);

    /* describe by id: NotFound names all missing ids */
    const char *ids[3] = {ami, NOAMI, "ami-01234567"};
    assert_error(images_json(f, ids, 3, NULL, 0, NULL, 0, &json), -ENOENT, "InvalidAMIID.NotFound");
    assert_message_has(NOAMI);
    assert_message_has("ami-01234567");

    /* deregister: the snapshot is free, the image a tombstone */
    assert_int_equal(bsnap_image_deregister(f->s, ami, false, NULL), 0);
    assert_error(bsnap_image_deregister(f->s, ami, false, NULL), -ESTALE,
                 "InvalidAMIID.Unavailable");
    assert_int_equal(images_json(f, ids, 1, NULL, 0, NULL, 0, &json), 0);
    assert_string_equal(json, "{\"Images\":[]}");
    free(json);
    assert_int_equal(bsnap_snapshot_delete(f->s, snap), 0);
    free(vol);
    free(bad);
}

/* A zero-initialised bsnap_image_options gives no field a value: EnaSupport
 * is false unless ena_support says otherwise, and an image without a
 * description has no Description key (as EC2's). */
static void test_zero_options(void **state)
{
    struct fixture *f = *state;
    char *vol = boot_volume(f, "boot.img", true);
    char snap[BSNAP_ID_MAX], id[BSNAP_ID_MAX];
    char *json = NULL;

    snap_path(f, vol, snap);
    bsnap_block_device_mapping m = {
        .device_name = "/dev/xvda", .kind = BSNAP_MAPPING_EBS, .snapshot_id = snap};
    struct {
        bsnap_tristate ena;
        const char *name, *expect;
    } cases[] = {
        {BSNAP_UNSET, "ena-unset", "\"EnaSupport\":false"},
        {BSNAP_FALSE, "ena-false", "\"EnaSupport\":false"},
        {BSNAP_TRUE, "ena-true", "\"EnaSupport\":true"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        bsnap_image_options o = {.mappings = &m, .nmappings = 1};
        o.name = cases[i].name;
        o.ena_support = cases[i].ena;
        assert_int_equal(bsnap_image_register(f->s, &o, id), 0);
        assert_int_equal(AS_JSON(json, bsnap_image_describe_one, f->s, id), 0);
        assert_non_null(strstr(json, cases[i].expect));
        assert_null(strstr(json, "\"Description\""));
        free(json);
        assert_int_equal(AS_JSON(json, bsnap_image_describe_attribute, f->s, id, "description"), 0);
        assert_non_null(strstr(json, "\"Description\":{}"));
        free(json);
    }
    /* a value outside the enum is refused, nothing registered */
    {
        bsnap_image_options o = {.name = "ena-bad", .mappings = &m, .nmappings = 1};
        size_t n = 0;
        bsnap_image_info *infos = NULL;
        o.ena_support = (bsnap_tristate)7;
        assert_error(bsnap_image_register(f->s, &o, id), -EINVAL, "InvalidParameterValue");
        assert_int_equal(bsnap_image_list(f->s, &infos, &n), 0);
        assert_int_equal(n, ARRAY_SIZE(cases));
        free(infos);
    }
    /* a description, once given, is shown */
    {
        bsnap_image_options o = {
            .name = "described", .mappings = &m, .nmappings = 1, .description = "web server"};
        assert_int_equal(bsnap_image_register(f->s, &o, id), 0);
        assert_int_equal(AS_JSON(json, bsnap_image_describe_one, f->s, id), 0);
        assert_non_null(strstr(json, "\"Description\":\"web server\""));
        free(json);
    }
    /* zero options and nothing else: MissingParameter, not a crash */
    {
        bsnap_image_options o = {0};
        assert_error(bsnap_image_register(f->s, &o, id), -EINVAL, "MissingParameter");
        assert_string_equal(bsnap_last_error()->parameter, "Name");
    }
    /* a mapping's error names the mapping's parameter, by its index */
    {
        bsnap_block_device_mapping two[2] = {
            m, {.device_name = "/dev/sde1", .kind = BSNAP_MAPPING_EBS, .snapshot_id = snap}};
        bsnap_image_options o = {.name = "param-1", .mappings = two, .nmappings = 2};
        assert_error(bsnap_image_register(f->s, &o, id), -EINVAL, "InvalidBlockDeviceMapping");
        assert_string_equal(bsnap_last_error()->parameter, "BlockDeviceMappings[1].DeviceName");
        two[1] = (bsnap_block_device_mapping){.device_name = "/dev/xvdb",
                                              .kind = BSNAP_MAPPING_EBS,
                                              .snapshot_id = "vol-0123456789abcdef0"};
        assert_error(bsnap_image_register(f->s, &o, id), -EINVAL, "InvalidSnapshotID.Malformed");
        assert_string_equal(bsnap_last_error()->parameter, "BlockDeviceMappings[1].Ebs.SnapshotId");
        two[1].kind = BSNAP_MAPPING_UNSET;
        assert_error(bsnap_image_register(f->s, &o, id), -EINVAL, "InvalidBlockDeviceMapping");
        assert_string_equal(bsnap_last_error()->parameter, "BlockDeviceMappings[1]");
    }
    free(vol);
}

static void test_create_rollback(void **state)
{
    struct fixture *f = *state;
    char *root = boot_volume(f, "root.img", true), *data = volume_create(f, "data.img", 256 * KiB);
    char *dir = path_in(f->dir, "adir");
    char ami[BSNAP_ID_MAX];
    bsnap_snapshot_info *snaps = NULL;
    size_t n = 0;

    volume_write(data, 0, 64 * KiB, 7);
    assert_int_equal(mkdir(dir, 0755), 0);
    bsnap_image_volume good[2] = {{"/dev/xvda", root}, {"/dev/xvdb", data}};
    bsnap_image_volume bad[2] = {{"/dev/xvda", root}, {"/dev/xvdb", dir}};
    bsnap_image_options o = {.name = "machine-1", .volumes = bad, .nvolumes = 2};

    assert_true(bsnap_image_create(f->s, &o, ami) < 0);
    assert_int_equal(bsnap_snapshot_list(f->s, &snaps, &n), 0);
    assert_int_equal(n, 0); /* the root's snapshot was deleted again */
    free(snaps);

    o.volumes = good;
    assert_int_equal(bsnap_image_create(f->s, &o, ami), 0);
    assert_int_equal(bsnap_snapshot_list(f->s, &snaps, &n), 0);
    assert_int_equal(n, 2);
    free(snaps);
    bsnap_image_info info;
    assert_int_equal(bsnap_image_get(f->s, ami, &info), 0);
    assert_int_equal(info.nmappings, 2);
    assert_string_equal(info.root_device, "/dev/xvda");

    /* a duplicate name fails after the snapshots: they go again, and the
     * volumes' next snapshots still take the image's as parents */
    assert_error(bsnap_image_create(f->s, &o, ami), -EEXIST, "InvalidAMIName.Duplicate");
    assert_int_equal(bsnap_snapshot_list(f->s, &snaps, &n), 0);
    assert_int_equal(n, 2);
    {
        char next[BSNAP_ID_MAX];
        bsnap_snapshot_info ni;
        snap_path(f, data, next);
        assert_int_equal(bsnap_snapshot_get(f->s, next, &ni), 0);
        assert_true(strcmp(ni.parent_id, snaps[0].id) == 0 ||
                    strcmp(ni.parent_id, snaps[1].id) == 0);
    }
    free(snaps);
    free(root);
    free(data);
    free(dir);
}

static int child_create(bsnap_store *s, void *ud)
{
    char ami[BSNAP_ID_MAX];

    return bsnap_image_create(s, ud, ami);
}

/* create-image SIGKILLed at each of its write commits in turn (the kill
 * lands before the commit): its snapshots stay pending (none completed,
 * none a parent), no image is registered, and gc leaves the store as if
 * the run had never happened; the run past the last commit is whole. */
static void test_create_killed(void **state)
{
    struct fixture *f = *state;
    char *root, *data;
    bsnap_snapshot_info *snaps = NULL;
    bsnap_image_info *images = NULL;
    size_t n = 0, nimages = 0;
    unsigned k;

    /* before anything is allocated: gcc does not know skip() returns no more */
    requires_faults();
    root = boot_volume(f, "root.img", true);
    data = volume_create(f, "data.img", 256 * KiB);
    bsnap_image_volume vols[2] = {{"/dev/xvda", root}, {"/dev/xvdb", data}};
    bsnap_image_options o = {.name = "machine-k", .volumes = vols, .nvolumes = 2, .threads = 1};
    volume_write(data, 0, 64 * KiB, 7);
    for (k = 1; k < 100; k++) {
        char fault[64];
        bsnap_gc_stats gs;
        int st;

        snprintf(fault, sizeof fault, "meta-commit:%u:kill", k);
        st = run_in_child(f, fault, child_create, &o);
        if (st == 0)
            break; /* k is past the last commit */
        assert_int_equal(st, 128 + SIGKILL);
        assert_verify_clean(f);
        assert_int_equal(bsnap_image_list(f->s, &images, &nimages), 0);
        assert_int_equal(nimages, 0);
        assert_int_equal(bsnap_snapshot_list(f->s, &snaps, &n), 0);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(snaps[i].state, BSNAP_SNAPSHOT_PENDING);
        free(snaps);
        assert_int_equal(bsnap_gc(f->s, NULL, &gs), 0);
        assert_int_equal(gs.snapshots_removed, n);
        assert_int_equal(snapshot_count(f), 0);
        assert_int_equal(index_count(f).entries, 0);
    }
    /* the volumes' snapshots (>= 2 commits each) and the register */
    assert_true(k > 5);
    assert_int_equal(bsnap_image_list(f->s, &images, &nimages), 0);
    assert_int_equal(nimages, 1);
    assert_int_equal(images[0].nmappings, 2);
    free(images);
    assert_int_equal(bsnap_snapshot_list(f->s, &snaps, &n), 0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(snaps[i].state, BSNAP_SNAPSHOT_COMPLETED);
    free(snaps);
    free(root);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_device_names),
        cmocka_unit_test(test_bdm_from_mapping),
        cmocka_unit_test(test_record_roundtrip),
        cmocka_unit_test_setup_teardown(test_register_and_use, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_zero_options, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_create_rollback, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_create_killed, setup_4k, teardown_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
