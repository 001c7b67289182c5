/* test-request.c - RegisterImage requests (front/request.c): block device
 * mappings in shorthand and JSON (one grammar with tags and filters,
 * shorthand.c), whole request documents, and the typed options they give
 * the engine. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bsfront.h"

static void assert_error(int r, int err, const char *code)
{
    assert_int_equal(r, err);
    assert_string_equal(bsf_last_error()->code, code);
}

/* Parse one mapping argument into a new request. */
static int mappings1(const char *arg, bsf_image_request **ret)
{
    const char *args[1] = {arg};
    bsf_image_request *q = NULL;
    int r;

    assert_int_equal(bsf_image_request_new(&q), 0);
    r = bsf_image_request_set_mappings(q, args, 1);
    *ret = q;
    return r;
}

static void test_shorthand(void **state)
{
    bsf_image_request *q = NULL;
    const bsnap_image_options *o;
    (void)state;

    assert_int_equal(mappings1("DeviceName=/dev/xvda,Ebs={SnapshotId=snap-1,VolumeSize=8,"
                               "DeleteOnTermination=false}",
                               &q),
                     0);
    o = bsf_image_request_options(q);
    assert_int_equal(o->nmappings, 1);
    assert_string_equal(o->mappings[0].device_name, "/dev/xvda");
    assert_int_equal(o->mappings[0].kind, BSNAP_MAPPING_EBS);
    assert_string_equal(o->mappings[0].snapshot_id, "snap-1");
    assert_int_equal(o->mappings[0].volume_size, 8);
    assert_int_equal(o->mappings[0].delete_on_termination, BSNAP_FALSE);
    assert_int_equal(o->mappings[0].encrypted, BSNAP_UNSET); /* not given */
    assert_null(o->mappings[0].volume_type);
    bsf_image_request_free(q);

    /* quoting as in tags: commas and escaped quotes inside */
    assert_int_equal(mappings1("DeviceName=\"/dev/x,\\\"y\",NoDevice=", &q), 0);
    o = bsf_image_request_options(q);
    assert_string_equal(o->mappings[0].device_name, "/dev/x,\"y");
    assert_int_equal(o->mappings[0].kind, BSNAP_MAPPING_NODEVICE);
    bsf_image_request_free(q);

    static const char *const bad[] = {
        "DeviceName=/dev/xvda,Ebs={SnapshotId=x",  /* missing '}' */
        "=x",                                      /* no NAME= */
        "A={B={C={D={E={F={G={H={I={J=1}}}}}}}}}", /* nested too deeply */
        "A=1}",                                    /* a stray closer */
        "A='x",                                    /* unterminated */
        "DeviceName=/dev/xvda,Ebs={VolumeSize=0}", /* 0 cannot be said */
        "DeviceName=/dev/xvda,Ebs={VolumeSize=8x}",
        "DeviceName=/dev/xvda,Ebs={Colour=red}",
        "DeviceName=/dev/xvda,DeviceName=/dev/xvdb,NoDevice=",
        "DeviceName=caf\xe9,NoDevice=",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_error(mappings1(bad[i], &q), -EINVAL, "InvalidBlockDeviceMapping");
        bsf_image_request_free(q);
    }
}

static void test_bdm_json(void **state)
{
    bsf_image_request *q = NULL;
    const bsnap_image_options *o;
    const char *j = "[{\"DeviceName\":\"/dev/xvda\",\"Ebs\":{\"SnapshotId\":\"snap-1\","
                    "\"VolumeSize\":\"8\",\"DeleteOnTermination\":false,\"VolumeType\":\"gp3\"}},"
                    "{\"DeviceName\":\"/dev/xvdb\",\"VirtualName\":\"ephemeral0\"},"
                    "{\"DeviceName\":\"/dev/xvdc\",\"NoDevice\":\"\"}]";
    (void)state;

    assert_int_equal(mappings1(j, &q), 0);
    o = bsf_image_request_options(q);
    assert_int_equal(o->nmappings, 3);
    assert_int_equal(o->mappings[0].kind, BSNAP_MAPPING_EBS);
    assert_string_equal(o->mappings[0].snapshot_id, "snap-1");
    assert_int_equal(o->mappings[0].volume_size, 8);
    assert_int_equal(o->mappings[0].delete_on_termination, BSNAP_FALSE);
    assert_int_equal(o->mappings[0].encrypted, BSNAP_UNSET);
    assert_string_equal(o->mappings[0].volume_type, "gp3");
    assert_int_equal(o->mappings[1].kind, BSNAP_MAPPING_VIRTUAL);
    assert_string_equal(o->mappings[1].virtual_name, "ephemeral0");
    assert_int_equal(o->mappings[2].kind, BSNAP_MAPPING_NODEVICE);
    bsf_image_request_free(q);

    static const char *const bad[] = {
        "[{\"Ebs\":{\"SnapshotId\":\"snap-1\"}}]",
        "[{\"DeviceName\":\"/dev/xvda\"}]",
        "[{\"DeviceName\":\"/dev/xvda\",\"Ebs\":{},\"NoDevice\":\"\"}]",
        "[{\"DeviceName\":\"/dev/xvda\",\"Ebs\":{\"VolumeSize\":0}}]",
        "[{\"DeviceName\":\"/dev/xvda\",\"Ebs\":{\"VolumeSize\":\"8x\"}}]",
        "[{\"DeviceName\":\"/dev/xvda\",\"Ebs\":{\"Colour\":1}}]",
        "[{\"DeviceName\":7,\"Ebs\":{}}]",
        "[1]",
        "[{\"DeviceName\":",
        "[{\"DeviceName\":\"/dev/xvda\",\"Ebs\":{\"DeleteOnTermination\":\"maybe\"}}]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(mappings1(bad[i], &q), -EINVAL);
        bsf_image_request_free(q);
    }
}

static void test_request_load(void **state)
{
    bsf_image_request *q = NULL;
    bsnap_image_options *o;
    const char *doc = "{\"Images\":[{\"ImageId\":\"ami-1\",\"State\":\"available\","
                      "\"Name\":\"n-1\",\"BootMode\":\"uefi\",\"EnaSupport\":true,"
                      "\"Tags\":[{\"Key\":\"k\",\"Value\":\"v\"}],"
                      "\"BlockDeviceMappings\":[{\"DeviceName\":\"/dev/xvda\","
                      "\"Ebs\":{\"SnapshotId\":\"snap-1\",\"Encrypted\":false}}]}]}";
    (void)state;

    assert_int_equal(bsf_image_request_new(&q), 0);
    assert_int_equal(bsf_image_request_load(q, doc, strlen(doc), "--cli-input-json"), 0);
    o = bsf_image_request_options(q);
    assert_string_equal(o->name, "n-1");
    assert_string_equal(o->boot_mode, "uefi");
    assert_int_equal(o->ena_support, BSNAP_TRUE);
    assert_int_equal(o->nmappings, 1);
    assert_int_equal(o->mappings[0].encrypted, BSNAP_FALSE);
    assert_int_equal(o->ntags, 1);
    /* mapping arguments replace the document's; tags add up */
    const char *args[1] = {"DeviceName=/dev/xvdb,Ebs={SnapshotId=snap-2}"};
    bsnap_tag more = {"k2", "v2"};
    assert_int_equal(bsf_image_request_set_mappings(q, args, 1), 0);
    assert_int_equal(bsf_image_request_add_tags(q, &more, 1), 0);
    o = bsf_image_request_options(q);
    assert_int_equal(o->nmappings, 1);
    assert_string_equal(o->mappings[0].snapshot_id, "snap-2");
    assert_int_equal(o->ntags, 2);
    assert_string_equal(o->tags[1].key, "k2");
    bsf_image_request_free(q);

    const char *req = "{\"Name\":\"n-2\",\"TagSpecifications\":[{\"ResourceType\":\"image\","
                      "\"Tags\":[{\"Key\":\"a\",\"Value\":\"b\"}]}]}";
    assert_int_equal(bsf_image_request_new(&q), 0);
    assert_int_equal(bsf_image_request_load(q, req, strlen(req), "req"), 0);
    o = bsf_image_request_options(q);
    assert_string_equal(o->tags[0].key, "a");
    assert_int_equal(o->nmappings, 0);
    assert_int_equal(o->ena_support, BSNAP_UNSET); /* not given */
    bsf_image_request_free(q);

    static const char *const bad[] = {
        "{\"Images\":[{},{}]}",
        "{\"Name\":1}",
        "{\"Colour\":\"red\"}",
        "{\"TagSpecifications\":[{\"ResourceType\":\"snapshot\",\"Tags\":[]}]}",
        "[]",
        "{",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(bsf_image_request_new(&q), 0);
        assert_error(bsf_image_request_load(q, bad[i], strlen(bad[i]), "--cli-input-json"), -EINVAL,
                     "InvalidParameterValue");
        /* the message names the document as the front end called it */
        if (i != 3)
            assert_non_null(strstr(bsf_last_error()->message, "--cli-input-json: "));
        bsf_image_request_free(q);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shorthand),
        cmocka_unit_test(test_bdm_json),
        cmocka_unit_test(test_request_load),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
