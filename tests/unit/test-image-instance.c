/* test-image-instance.c - image-instance.c: create-image of an instance.
 * Each volume's snapshot reads only the chunks it wrote, and the image
 * maps them with the attachments' DeleteOnTermination, the volume types
 * and SourceInstanceId; mappings may change DeleteOnTermination, drop a
 * device or add an empty one, and nothing else; every check runs before
 * the freeze (a dry run, a taken name, a bad override freeze nothing); a
 * failure midway (a volume held elsewhere, a snapshot function that fails)
 * leaves no image, thaws what it froze, and the volumes' next snapshots
 * still hold every write. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"
#include "unit-helpers.h"

#define CS 4096u
#define NCH 64u

struct machine {
    struct fixture *f;
    char base[BSNAP_ID_MAX];
    char vol[2][BSNAP_ID_MAX];
    char *model[2]; /* files with what each volume holds */
    bsnap_instance_volume iv[2];
    int froze, thawed, snapped;
    bsnap_volume *held[2]; /* "served": the handles a snapshot function uses */
    int fail_at;           /* the snapshot function fails for this volume (-1: never) */
};

static void write_chunk(struct machine *m, int v, unsigned idx, uint64_t seed, bsnap_volume *h)
{
    uint8_t buf[CS];
    bsnap_volume *vh = h;

    fill_random(buf, CS, seed);
    if (!vh)
        assert_int_equal(bsnap_volume_open(m->f->s, m->vol[v], &vh), 0);
    assert_int_equal(bsnap_volume_pwrite(vh, buf, CS, (uint64_t)idx * CS), (long)CS);
    if (!h)
        assert_int_equal(bsnap_volume_close(vh), 0);
    chunk_write(m->model[v], CS, idx, seed);
}

static int setup(void **state)
{
    struct machine *m = calloc(1, sizeof *m);
    char *path;

    assert_non_null(m);
    m->f = fixture_new(CS);
    m->fail_at = -1;
    path = volume_create(m->f, "base.img", NCH * CS);
    for (unsigned i = 0; i < NCH; i++)
        chunk_write(path, CS, i, 1000 + i);
    snap_path(m->f, path, m->base);
    for (int v = 0; v < 2; v++) {
        bsnap_writable_volume_options o = {.volume_type = v ? "gp3" : NULL};
        json_t *doc = NULL;
        char name[32];
        assert_int_equal(bsnap_volume_create_writable(m->f->s, m->base, &o, &doc), 0);
        snprintf(m->vol[v], BSNAP_ID_MAX, "%s",
                 json_string_value(json_object_get(doc, "VolumeId")));
        json_decref(doc);
        snprintf(name, sizeof name, "model%d.img", v);
        m->model[v] = path_in(m->f->dir, name);
        restore_to(m->f, m->base, m->model[v]);
    }
    m->iv[0] = (bsnap_instance_volume){"/dev/xvda", m->vol[0], true};
    m->iv[1] = (bsnap_instance_volume){"/dev/xvdb", m->vol[1], false};
    free(path);
    *state = m;
    return 0;
}

static int teardown(void **state)
{
    struct machine *m = *state;
    for (int v = 0; v < 2; v++) {
        (void)bsnap_volume_close(m->held[v]);
        free(m->model[v]);
    }
    fixture_free(m->f);
    free(m);
    return 0;
}

static int freeze(void *ud)
{
    struct machine *m = ud;
    m->froze++;
    return 0;
}

static int thaw(void *ud)
{
    struct machine *m = ud;
    m->thawed++;
    return 0;
}

/* The served path: the snapshot is taken on the handle another process
 * (here: this test) holds, as the nbdkit plugin's control channel does. */
static int snapshot_fn(void *ud, size_t i, const bsnap_snapshot_options *o,
                       char ret_id[BSNAP_ID_MAX], bsnap_snapshot_stats *ret_stats)
{
    struct machine *m = ud;
    assert_int_equal(m->froze, 1);
    assert_int_equal(m->thawed, 0);
    m->snapped++;
    if ((int)i == m->fail_at)
        return bsnap_fail_external(-EIO, "VolumeReadError", "the server went away");
    return bsnap_volume_snapshot(m->held[i], o, ret_id, ret_stats);
}

static bsnap_image_options image_opts(const char *name)
{
    return (bsnap_image_options){.name = name, .no_boot_check = true};
}

static bsnap_instance_image_options inst_opts(struct machine *m)
{
    return (bsnap_instance_image_options){.instance_id = "i-0123456789abcdef0",
                                          .volumes = m->iv,
                                          .nvolumes = 2,
                                          .freeze = freeze,
                                          .thaw = thaw,
                                          .ud = m};
}

static json_t *describe(struct machine *m, const char *ami)
{
    bsnap_describe_options d = {.ids = &ami, .nids = 1};
    json_t *doc = NULL;
    assert_int_equal(bsnap_image_describe(m->f->s, &d, NULL, 0, &doc), 0);
    json_t *img = json_incref(json_array_get(json_object_get(doc, "Images"), 0));
    json_decref(doc);
    assert_non_null(img);
    return img;
}

static uint64_t bytes_read(struct machine *m, const char *snap)
{
    struct snapshot_rec rec;
    snap_record(m->f, snap, &rec);
    uint64_t n = rec.bytes_read;
    snapshot_rec_clear(&rec);
    return n;
}

static size_t image_count(struct machine *m)
{
    json_t *doc = NULL;
    assert_int_equal(bsnap_image_describe(m->f->s, NULL, NULL, 0, &doc), 0);
    size_t n = json_array_size(json_object_get(doc, "Images"));
    json_decref(doc);
    return n;
}

static void check_image(struct machine *m, const char *ami, char (*snaps)[BSNAP_ID_MAX],
                        uint64_t read0, uint64_t read1)
{
    json_t *img = describe(m, ami);
    json_t *bdm = json_object_get(img, "BlockDeviceMappings");

    assert_string_equal(json_string_value(json_object_get(img, "State")), "available");
    assert_string_equal(json_string_value(json_object_get(img, "SourceInstanceId")),
                        "i-0123456789abcdef0");
    assert_string_equal(json_string_value(json_object_get(img, "RootDeviceName")), "/dev/xvda");
    assert_int_equal(json_array_size(bdm), 2);
    for (int v = 0; v < 2; v++) {
        json_t *ebs = json_object_get(json_array_get(bdm, (size_t)v), "Ebs");
        assert_string_equal(json_string_value(json_object_get(ebs, "SnapshotId")), snaps[v]);
        assert_true(json_is_true(json_object_get(ebs, "DeleteOnTermination")) == (v == 0));
        assert_restores_to(m->f, snaps[v], m->model[v]);
    }
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(bdm, 1), "Ebs"), "VolumeType")),
                        "gp3");
    json_decref(img);
    assert_int_equal(bytes_read(m, snaps[0]), read0);
    assert_int_equal(bytes_read(m, snaps[1]), read1);
    /* the descriptions name the instance and the image */
    bsnap_snapshot_info si;
    assert_int_equal(bsnap_snapshot_get(m->f->s, snaps[0], &si), 0);
    assert_string_equal(si.volume_id, m->vol[0]);
}

/* A stopped instance: its volumes snapshotted here, pending until the
 * image is registered; then again, with nothing written since. */
static void test_in_process(void **state)
{
    struct machine *m = *state;
    bsnap_image_options o = image_opts("golden-1");
    bsnap_instance_image_options in = inst_opts(m);
    char ami[BSNAP_ID_MAX], snaps[2][BSNAP_ID_MAX];

    write_chunk(m, 0, 3, 1, NULL);
    write_chunk(m, 0, 10, 2, NULL);
    write_chunk(m, 1, 5, 3, NULL);
    assert_int_equal(bsnap_image_create_instance(m->f->s, &o, &in, ami, snaps), 0);
    assert_int_equal(m->froze, 1);
    assert_int_equal(m->thawed, 1);
    check_image(m, ami, snaps, 2 * CS, CS);

    o.name = "golden-2";
    assert_int_equal(bsnap_image_create_instance(m->f->s, &o, &in, ami, snaps), 0);
    check_image(m, ami, snaps, 0, 0);
    assert_verify_clean(m->f);
}

/* A running instance: the snapshots taken by the holder of each volume,
 * between freeze and thaw. */
static void test_served(void **state)
{
    struct machine *m = *state;
    bsnap_image_options o = image_opts("served");
    bsnap_instance_image_options in = inst_opts(m);
    char ami[BSNAP_ID_MAX], snaps[2][BSNAP_ID_MAX];

    for (int v = 0; v < 2; v++)
        assert_int_equal(bsnap_volume_open(m->f->s, m->vol[v], &m->held[v]), 0);
    write_chunk(m, 0, 7, 4, m->held[0]);
    write_chunk(m, 1, 60, 5, m->held[1]);
    write_chunk(m, 1, 61, 6, m->held[1]);
    in.snapshot = snapshot_fn;
    assert_int_equal(bsnap_image_create_instance(m->f->s, &o, &in, ami, snaps), 0);
    assert_int_equal(m->snapped, 2);
    assert_int_equal(m->thawed, 1);
    check_image(m, ami, snaps, CS, 2 * CS);
}

/* Failures midway: no image, thawed, and every write in the next
 * snapshot. */
static void test_midway(void **state)
{
    struct machine *m = *state;
    bsnap_image_options o = image_opts("midway");
    bsnap_instance_image_options in = inst_opts(m);
    char ami[BSNAP_ID_MAX], snap[BSNAP_ID_MAX];
    bsnap_volume *other;

    write_chunk(m, 0, 20, 7, NULL);
    write_chunk(m, 1, 21, 8, NULL);
    /* in this process: the second volume is held elsewhere */
    assert_int_equal(bsnap_volume_open(m->f->s, m->vol[1], &other), 0);
    assert_error(bsnap_image_create_instance(m->f->s, &o, &in, ami, NULL), -EBUSY, "VolumeInUse");
    assert_message_has("/dev/xvdb");
    assert_int_equal(m->thawed, m->froze);
    assert_int_equal(image_count(m), 0);
    assert_int_equal(bsnap_volume_close(other), 0);
    /* the first volume's pending snapshot was dropped and what it read is
     * dirty again: the next snapshot holds the write */
    assert_int_equal(bsnap_volume_open(m->f->s, m->vol[0], &other), 0);
    bsnap_snapshot_stats st;
    assert_int_equal(bsnap_volume_snapshot(other, NULL, snap, &st), 0);
    assert_true(st.read_bytes >= CS);
    assert_int_equal(bsnap_volume_close(other), 0);
    assert_restores_to(m->f, snap, m->model[0]);

    /* through a snapshot function that fails for the second volume */
    for (int v = 0; v < 2; v++)
        assert_int_equal(bsnap_volume_open(m->f->s, m->vol[v], &m->held[v]), 0);
    in.snapshot = snapshot_fn;
    m->fail_at = 1;
    m->froze = m->thawed = 0;
    assert_error(bsnap_image_create_instance(m->f->s, &o, &in, ami, NULL), -EIO, "VolumeReadError");
    assert_message_has("the server went away");
    assert_int_equal(m->froze, 1);
    assert_int_equal(m->thawed, 1);
    assert_int_equal(image_count(m), 0);
    assert_verify_clean(m->f);
}

/* Mappings: DeleteOnTermination changed, a device dropped, one added;
 * anything else refused before the freeze. */
static void test_mappings(void **state)
{
    struct machine *m = *state;
    bsnap_image_options o = image_opts("mapped");
    bsnap_instance_image_options in = inst_opts(m);
    char ami[BSNAP_ID_MAX], snaps[2][BSNAP_ID_MAX];
    bsnap_block_device_mapping maps[3] = {
        {.device_name = "/dev/xvda",
         .kind = BSNAP_MAPPING_EBS,
         .delete_on_termination = BSNAP_FALSE},
        {.device_name = "/dev/xvdb", .kind = BSNAP_MAPPING_NODEVICE},
        {.device_name = "/dev/xvdc", .kind = BSNAP_MAPPING_EBS, .volume_size = 2},
    };

    in.mappings = maps;
    in.nmappings = 3;
    assert_int_equal(bsnap_image_create_instance(m->f->s, &o, &in, ami, snaps), 0);
    assert_string_equal(snaps[1], "");
    json_t *img = describe(m, ami);
    json_t *bdm = json_object_get(img, "BlockDeviceMappings");
    assert_int_equal(json_array_size(bdm), 2);
    json_t *a = json_object_get(json_array_get(bdm, 0), "Ebs");
    assert_string_equal(json_string_value(json_object_get(a, "SnapshotId")), snaps[0]);
    assert_true(json_is_false(json_object_get(a, "DeleteOnTermination")));
    json_t *c = json_array_get(bdm, 1);
    assert_string_equal(json_string_value(json_object_get(c, "DeviceName")), "/dev/xvdc");
    assert_null(json_object_get(json_object_get(c, "Ebs"), "SnapshotId"));
    json_decref(img);

    /* a change of an instance device's snapshot or size is refused */
    m->froze = 0;
    o.name = "mapped-2";
    maps[0] = (bsnap_block_device_mapping){
        .device_name = "/dev/xvda", .kind = BSNAP_MAPPING_EBS, .volume_size = 8};
    assert_error(bsnap_image_create_instance(m->f->s, &o, &in, ami, NULL), -EINVAL,
                 "InvalidBlockDeviceMapping");
    maps[0] = (bsnap_block_device_mapping){
        .device_name = "/dev/xvda", .kind = BSNAP_MAPPING_EBS, .snapshot_id = m->base};
    assert_error(bsnap_image_create_instance(m->f->s, &o, &in, ami, NULL), -EINVAL,
                 "InvalidBlockDeviceMapping");
    /* a device given twice */
    maps[0] = maps[2];
    assert_error(bsnap_image_create_instance(m->f->s, &o, &in, ami, NULL), -EINVAL,
                 "InvalidBlockDeviceMapping");
    assert_int_equal(m->froze, 0);
}

/* Checks before the freeze: dry run, names, ids, the volumes. */
static void test_checks(void **state)
{
    struct machine *m = *state;
    bsnap_image_options o = image_opts("first");
    bsnap_instance_image_options in = inst_opts(m);
    char ami[BSNAP_ID_MAX];

    assert_int_equal(bsnap_image_create_instance(m->f->s, &o, &in, ami, NULL), 0);
    m->froze = m->thawed = 0;
    assert_error(bsnap_image_create_instance(m->f->s, &o, &in, ami, NULL), -EEXIST,
                 "InvalidAMIName.Duplicate");
    o.name = "x";
    assert_error(bsnap_image_create_instance(m->f->s, &o, &in, ami, NULL), -EINVAL,
                 "InvalidAMIName.Malformed");
    o.name = "second";
    in.instance_id = "inst-1";
    assert_error(bsnap_image_create_instance(m->f->s, &o, &in, ami, NULL), -EINVAL,
                 "InvalidInstanceID.Malformed");
    in.instance_id = NULL;
    assert_error(bsnap_image_create_instance(m->f->s, &o, &in, ami, NULL), -EINVAL,
                 "MissingParameter");
    in = inst_opts(m);
    bsnap_instance_volume bad[2] = {m->iv[0], {"/dev/xvdb", "vol-00000000000000000", false}};
    in.volumes = bad;
    assert_error(bsnap_image_create_instance(m->f->s, &o, &in, ami, NULL), -ENOENT,
                 "InvalidVolume.NotFound");
    bad[1] = (bsnap_instance_volume){"/dev/xvda", m->vol[1], false};
    assert_error(bsnap_image_create_instance(m->f->s, &o, &in, ami, NULL), -EINVAL,
                 "InvalidBlockDeviceMapping");
    in = inst_opts(m);
    bsnap_tag t = {"aws:x", "v"};
    in.snapshot_tags = &t;
    in.nsnapshot_tags = 1;
    assert_error(bsnap_image_create_instance(m->f->s, &o, &in, ami, NULL), -EINVAL,
                 "InvalidParameterValue");
    in = inst_opts(m);
    bsnap_store_set_dry_run(m->f->s, true);
    assert_error(bsnap_image_create_instance(m->f->s, &o, &in, ami, NULL), -ENOEXEC,
                 "DryRunOperation");
    bsnap_store_set_dry_run(m->f->s, false);
    assert_int_equal(m->froze, 0);
    assert_int_equal(image_count(m), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_in_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_served, setup, teardown),
        cmocka_unit_test_setup_teardown(test_midway, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mappings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
