/* test-instance.c - instances' records and states (instance.c): EC2's
 * state codes and transitions, a run's volumes (one per mapping, attached,
 * DeleteOnTermination from the image's root and the request), the
 * template's data under the request's, every refusal leaving no record
 * and no volume, a client token's repeat, describe's filters and paging,
 * another account's instances unseen, termination deleting or detaching
 * each volume as marked, and an instance's launch data a template's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "instance.h"
#include "record.h"
#include "store-handle.h"
#include "template.h"
#include "unit-helpers.h"

struct ctx {
    struct fixture *f;
    char snap[BSNAP_ID_MAX], data[BSNAP_ID_MAX], ami[BSNAP_ID_MAX];
};

static void make_image(struct ctx *c)
{
    char *vol = volume_create(c->f, "a", 3 * MiB), *dvol = volume_create(c->f, "b", 1 * MiB);
    bsnap_block_device_mapping m = {
        .device_name = "/dev/xvda", .kind = BSNAP_MAPPING_EBS, .snapshot_id = c->snap};
    bsnap_image_options io = {.name = "web", .mappings = &m, .nmappings = 1, .no_boot_check = true};

    volume_write(vol, 0, 64 * KiB, 3);
    volume_write(dvol, 0, 64 * KiB, 4);
    snap_path(c->f, vol, c->snap);
    snap_path(c->f, dvol, c->data);
    assert_int_equal(bsnap_image_register(c->f->s, &io, c->ami), 0);
    free(vol);
    free(dvol);
}

/* Entries of T_INSTANCES and volumes: what a refused run leaves as it was. */
static size_t count(struct fixture *f, meta_table t)
{
    meta_txn *txn;
    meta_cursor *cur;
    const void *k, *v;
    size_t kl, vl, n = 0;

    assert_int_equal(meta_txn_begin(f->s->meta, false, &txn), 0);
    assert_int_equal(meta_cursor_open(txn, t, &cur), 0);
    for (int r = meta_cursor_get(cur, CUR_FIRST, &k, &kl, &v, &vl); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &kl, &v, &vl))
        n++;
    meta_cursor_close(cur);
    meta_txn_abort(txn);
    return n;
}

static int run(struct ctx *c, const char *fmt, json_t **ret)
{
    char text[1024];
    json_t *req;
    int r;

    snprintf(text, sizeof text, fmt, c->ami, c->data);
    req = json_loads(text, 0, NULL);
    assert_non_null(req);
    r = bsnap_instance_run(c->f->s, req, ret);
    json_decref(req);
    return r;
}

static const char *inst_str(const json_t *res, size_t i, const char *key)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(res, "Instances"), i), key));
}

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof *c);

    c->f = fixture_new(64 * KiB);
    make_image(c);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;

    fixture_free(c->f);
    free(c);
    return 0;
}

static void test_states(void **state)
{
    (void)state;
    assert_int_equal(instance_state_code("pending"), 0);
    assert_int_equal(instance_state_code("running"), 16);
    assert_int_equal(instance_state_code("shutting-down"), 32);
    assert_int_equal(instance_state_code("terminated"), 48);
    assert_int_equal(instance_state_code("stopping"), 64);
    assert_int_equal(instance_state_code("stopped"), 80);
    assert_int_equal(instance_state_code("sleeping"), -1);
    assert_true(instance_transition_ok("pending", "running"));
    assert_true(instance_transition_ok("running", "stopping"));
    assert_true(instance_transition_ok("stopping", "stopped"));
    assert_true(instance_transition_ok("stopped", "pending"));
    assert_true(instance_transition_ok("stopped", "shutting-down"));
    assert_true(instance_transition_ok("shutting-down", "terminated"));
    assert_true(instance_transition_ok("running", "running"));
    assert_false(instance_transition_ok("terminated", "terminated"));
    assert_false(instance_transition_ok("terminated", "pending"));
    assert_false(instance_transition_ok("stopped", "running"));
    assert_false(instance_transition_ok("running", "terminated"));
    assert_false(instance_transition_ok("running", "nowhere"));
}

static void test_run_and_terminate(void **state)
{
    struct ctx *c = *state;
    json_t *res = NULL, *doc = NULL, *vol = NULL;
    const char *id, *root, *data;
    bsnap_instance_change ch = {0};
    char rootv[BSNAP_ID_MAX], datav[BSNAP_ID_MAX];

    assert_int_equal(run(c,
                         "{\"ImageId\":\"%s\",\"InstanceType\":\"t3.nano\",\"BlockDeviceMappings\":"
                         "[{\"DeviceName\":\"/dev/xvdb\",\"Ebs\":{\"SnapshotId\":\"%s\"}}],"
                         "\"TagSpecifications\":[{\"ResourceType\":\"instance\",\"Tags\":[{"
                         "\"Key\":\"Name\",\"Value\":\"a\"}]}]}",
                         &res),
                     0);
    id = inst_str(res, 0, "InstanceId");
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(res, "Instances"), 0), "State"),
            "Name")),
        "pending");
    json_t *bdms = json_object_get(json_array_get(json_object_get(res, "Instances"), 0),
                                   "BlockDeviceMappings");
    assert_int_equal(json_array_size(bdms), 2);
    root = json_string_value(
        json_object_get(json_object_get(json_array_get(bdms, 0), "Ebs"), "VolumeId"));
    data = json_string_value(
        json_object_get(json_object_get(json_array_get(bdms, 1), "Ebs"), "VolumeId"));
    snprintf(rootv, sizeof rootv, "%s", root);
    snprintf(datav, sizeof datav, "%s", data);
    /* the root is deleted on termination, an added volume is not */
    assert_true(json_is_true(
        json_object_get(json_object_get(json_array_get(bdms, 0), "Ebs"), "DeleteOnTermination")));
    assert_true(json_is_false(
        json_object_get(json_object_get(json_array_get(bdms, 1), "Ebs"), "DeleteOnTermination")));
    /* attached: in-use, and not deleted */
    assert_int_equal(bsnap_volume_describe_one(c->f->s, datav, &vol), 0);
    assert_string_equal(json_string_value(json_object_get(vol, "State")), "in-use");
    json_decref(vol);
    vol = NULL;
    assert_error(bsnap_volume_delete(c->f->s, rootv), -EBUSY, "VolumeInUse");
    /* its launch data is a template's data */
    assert_int_equal(bsnap_instance_template_data(c->f->s, id, &doc), 0);
    {
        json_t *d = json_object_get(doc, "LaunchTemplateData"), *parsed = NULL;
        char *text = json_dumps(d, JSON_COMPACT);
        assert_string_equal(json_string_value(json_object_get(d, "ImageId")), c->ami);
        assert_int_equal(json_array_size(json_object_get(d, "BlockDeviceMappings")), 2);
        assert_int_equal(template_data_parse(text, strlen(text), &parsed), 0);
        json_decref(parsed);
        free(text);
    }
    json_decref(doc);
    doc = NULL;

    /* EC2's moves only */
    ch.state = "stopped";
    assert_int_equal(bsnap_instance_set_state(c->f->s, id, &ch, &doc), 0);
    json_decref(doc);
    doc = NULL;
    ch.state = "running";
    assert_error(bsnap_instance_set_state(c->f->s, id, &ch, &doc), -EBUSY,
                 "IncorrectInstanceState");
    ch.state = "terminated";
    assert_error(bsnap_instance_set_state(c->f->s, id, &ch, &doc), -EBUSY,
                 "IncorrectInstanceState");
    ch.state = "shutting-down";
    assert_int_equal(bsnap_instance_set_state(c->f->s, id, &ch, &doc), 0);
    json_decref(doc);
    doc = NULL;
    ch.state = "terminated";
    assert_int_equal(bsnap_instance_set_state(c->f->s, id, &ch, &doc), 0);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(doc, "CurrentState"), "Code")), 48);
    json_decref(doc);
    doc = NULL;
    assert_error(bsnap_volume_describe_one(c->f->s, rootv, &vol), -ENOENT,
                 "InvalidVolume.NotFound");
    assert_int_equal(bsnap_volume_describe_one(c->f->s, datav, &vol), 0);
    assert_string_equal(json_string_value(json_object_get(vol, "State")), "available");
    assert_null(json_object_get(vol, "Attachments"));
    json_decref(vol);
    assert_int_equal(bsnap_volume_delete(c->f->s, datav), 0);
    json_decref(res);
}

static void test_refusals(void **state)
{
    struct ctx *c = *state;
    json_t *res = NULL;
    size_t inst = count(c->f, T_INSTANCES), vols = count(c->f, T_VOLUMES);

    assert_error(run(c, "{\"ImageId\":\"ami-0123456789abcdef0\"}", &res), -ENOENT,
                 "InvalidAMIID.NotFound");
    assert_error(run(c, "{\"ImageId\":\"%s\",\"InstanceType\":\"q9.nano\"}", &res), -EINVAL,
                 "InvalidParameterValue");
    assert_string_equal(bsnap_last_error()->parameter, "InstanceType");
    assert_error(run(c, "{\"ImageId\":\"%s\",\"MinCount\":2,\"MaxCount\":1}", &res), -EINVAL,
                 "InvalidParameterValue");
    assert_error(run(c, "{\"ImageId\":\"%s\",\"MinCount\":21,\"MaxCount\":21}", &res), -EDQUOT,
                 "InstanceLimitExceeded");
    assert_error(run(c, "{\"ImageId\":\"%s\",\"Colour\":\"blue\"}", &res), -EINVAL,
                 "UnknownParameter");
    assert_error(run(c, "{\"InstanceType\":\"t3.nano\"}", &res), -EINVAL, "MissingParameter");
    assert_error(run(c, "{\"ImageId\":\"%s\",\"UserData\":\"not base64!\"}", &res), -EINVAL,
                 "InvalidUserData.Malformed");
    assert_string_equal(bsnap_last_error()->parameter, "UserData");
    assert_error(
        run(c, "{\"ImageId\":\"%s\",\"LaunchTemplate\":{\"LaunchTemplateName\":\"none\"}}", &res),
        -ENOENT, "InvalidLaunchTemplateName.NotFoundException");
    /* the second mapping's snapshot is missing: the first volume made is
     * deleted again */
    assert_error(run(c,
                     "{\"ImageId\":\"%s\",\"BlockDeviceMappings\":[{\"DeviceName\":\"/dev/xvdb\","
                     "\"Ebs\":{\"SnapshotId\":\"snap-0123456789abcdef0\"}}]}",
                     &res),
                 -ENOENT, "InvalidSnapshot.NotFound");
    assert_int_equal(count(c->f, T_INSTANCES), inst);
    assert_int_equal(count(c->f, T_VOLUMES), vols);
    /* a dry run checks and makes nothing */
    bsnap_store_set_dry_run(c->f->s, true);
    assert_error(run(c, "{\"ImageId\":\"%s\"}", &res), -ENOEXEC, "DryRunOperation");
    bsnap_store_set_dry_run(c->f->s, false);
    assert_int_equal(count(c->f, T_INSTANCES), inst);
    assert_int_equal(count(c->f, T_VOLUMES), vols);
}

static void test_template_and_token(void **state)
{
    struct ctx *c = *state;
    bsnap_template_options o = {.ref = {.name = "web"}};
    json_t *doc = NULL, *res = NULL, *again = NULL, *tags;
    char data[256];
    size_t i;
    bool id_tag = false, version_tag = false;

    snprintf(data, sizeof data,
             "{\"ImageId\":\"%s\",\"InstanceType\":\"t3.nano\",\"KeyName\":\"k\"}", c->ami);
    o.data = data;
    assert_int_equal(bsnap_template_create(c->f->s, &o, &doc), 0);
    json_decref(doc);
    doc = NULL;
    o.data = "{\"InstanceType\":\"t3.small\"}";
    o.source_version = "1";
    assert_int_equal(bsnap_template_version_create(c->f->s, &o, &doc), 0);
    json_decref(doc);
    doc = NULL;
    /* $Latest: version 2's type, version 1's key; the request's count */
    assert_int_equal(run(c,
                         "{\"LaunchTemplate\":{\"LaunchTemplateName\":\"web\",\"Version\":"
                         "\"$Latest\"},\"MinCount\":2,\"MaxCount\":2,\"ClientToken\":\"t1\"}",
                         &res),
                     0);
    assert_int_equal(json_array_size(json_object_get(res, "Instances")), 2);
    assert_string_equal(inst_str(res, 0, "InstanceType"), "t3.small");
    assert_string_equal(inst_str(res, 1, "KeyName"), "k");
    tags = json_object_get(json_array_get(json_object_get(res, "Instances"), 0), "Tags");
    json_array_foreach (tags, i, doc) {
        const char *k = json_string_value(json_object_get(doc, "Key"));
        const char *v = json_string_value(json_object_get(doc, "Value"));
        if (strcmp(k, "aws:ec2launchtemplate:id") == 0)
            id_tag = strncmp(v, "lt-", 3) == 0;
        if (strcmp(k, "aws:ec2launchtemplate:version") == 0)
            version_tag = strcmp(v, "2") == 0;
    }
    doc = NULL;
    assert_true(id_tag);
    assert_true(version_tag);
    /* the request's type wins over the template's ($Default: version 1) */
    assert_int_equal(run(c,
                         "{\"LaunchTemplate\":{\"LaunchTemplateName\":\"web\"},\"InstanceType\":"
                         "\"t3.medium\"}",
                         &doc),
                     0);
    assert_string_equal(inst_str(doc, 0, "InstanceType"), "t3.medium");
    json_decref(doc);
    doc = NULL;
    /* the token again: the same reservation, nothing new */
    size_t before = count(c->f, T_INSTANCES);
    assert_int_equal(run(c,
                         "{\"LaunchTemplate\":{\"LaunchTemplateName\":\"web\",\"Version\":"
                         "\"$Latest\"},\"MinCount\":2,\"MaxCount\":2,\"ClientToken\":\"t1\"}",
                         &again),
                     0);
    assert_string_equal(json_string_value(json_object_get(again, "ReservationId")),
                        json_string_value(json_object_get(res, "ReservationId")));
    assert_int_equal(count(c->f, T_INSTANCES), before);
    json_decref(again);
    assert_error(run(c, "{\"ImageId\":\"%s\",\"ClientToken\":\"t1\"}", &again), -EINVAL,
                 "IdempotentParameterMismatch");
    json_decref(res);
}

static void test_describe(void **state)
{
    struct ctx *c = *state;
    json_t *res = NULL, *doc = NULL;
    const char *values[] = {"running"}, *ids[] = {"i-0123456789abcdef0"};
    bsnap_filter f = {"instance-state-name", values, 1};
    bsnap_describe_options o = {0};
    bsnap_instance_change ch = {.state = "running"};
    char id[BSNAP_ID_MAX];

    assert_int_equal(run(c, "{\"ImageId\":\"%s\",\"MinCount\":3,\"MaxCount\":3}", &res), 0);
    snprintf(id, sizeof id, "%s", inst_str(res, 1, "InstanceId"));
    assert_int_equal(bsnap_instance_set_state(c->f->s, id, &ch, &doc), 0);
    json_decref(doc);
    doc = NULL;
    o.filters = &f;
    o.nfilters = 1;
    assert_int_equal(bsnap_instance_describe(c->f->s, &o, &doc), 0);
    assert_int_equal(json_array_size(json_object_get(
                         json_array_get(json_object_get(doc, "Reservations"), 0), "Instances")),
                     1);
    json_decref(doc);
    doc = NULL;
    /* pages of 5 hold all three; more filters than known: refused */
    memset(&o, 0, sizeof o);
    o.max_results = 5;
    assert_int_equal(bsnap_instance_describe(c->f->s, &o, &doc), 0);
    assert_null(json_object_get(doc, "NextToken"));
    json_decref(doc);
    doc = NULL;
    f.name = "colour";
    o.filters = &f;
    o.nfilters = 1;
    assert_error(bsnap_instance_describe(c->f->s, &o, &doc), -EINVAL, "InvalidParameterValue");
    memset(&o, 0, sizeof o);
    o.ids = ids;
    o.nids = 1;
    assert_error(bsnap_instance_describe(c->f->s, &o, &doc), -ENOENT, "InvalidInstanceID.NotFound");
    /* another account sees none of them */
    assert_int_equal(bsnap_store_set_account(c->f->s, "111122223333"), 0);
    assert_error(bsnap_instance_get(c->f->s, id, &doc), -ENOENT, "InvalidInstanceID.NotFound");
    assert_int_equal(bsnap_instance_describe(c->f->s, NULL, &doc), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "Reservations")), 0);
    json_decref(doc);
    json_decref(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_states),
        cmocka_unit_test_setup_teardown(test_run_and_terminate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_template_and_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
