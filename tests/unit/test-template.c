/* test-template.c - launch templates (template.c, template-data.c):
 * versions numbered from 1 and never reused, source-version inheritance
 * with overrides (and the inherited mappings' snapshots dropped), $Latest
 * and $Default, the default moved, the deletion rules (the default
 * version stays; a deleted template takes every version and frees its
 * name), owners (another account's template is NotFound, its name free),
 * and each check of the data: its error code, the parameter it names,
 * and that nothing was written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "image.h"
#include "instance-type.h"
#include "record.h"
#include "store-handle.h"
#include "template.h"
#include "unit-helpers.h"

#define OWNER "123456789012"
#define OTHER "111122223333"

struct ctx {
    struct fixture *f;
    char snap[BSNAP_ID_MAX], ami[BSNAP_ID_MAX];
};

/* A store with a 3 MiB snapshot (a 1 GiB volume at the least) and an
 * image of it. */
static void make_image(struct ctx *c)
{
    char *vol = volume_create(c->f, "a", 3 * MiB);
    bsnap_block_device_mapping m = {
        .device_name = "/dev/xvda", .kind = BSNAP_MAPPING_EBS, .snapshot_id = c->snap};
    bsnap_image_options io = {.name = "web", .mappings = &m, .nmappings = 1, .no_boot_check = true};

    volume_write(vol, 0, 64 * KiB, 3);
    snap_path(c->f, vol, c->snap);
    assert_int_equal(bsnap_image_register(c->f->s, &io, c->ami), 0);
    free(vol);
}

/* Entries of T_TEMPLATES: what a failed call must leave as it was. */
static size_t records(struct fixture *f)
{
    meta_txn *txn;
    meta_cursor *cur;
    const void *k, *v;
    size_t kl, vl, n = 0;

    assert_int_equal(meta_txn_begin(f->s->meta, false, &txn), 0);
    assert_int_equal(meta_cursor_open(txn, T_TEMPLATES, &cur), 0);
    for (int r = meta_cursor_get(cur, CUR_FIRST, &k, &kl, &v, &vl); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &kl, &v, &vl))
        n++;
    meta_cursor_close(cur);
    meta_txn_abort(txn);
    return n;
}

static int create(struct fixture *f, const char *name, const char *data, json_t **ret)
{
    bsnap_template_options o = {.ref = {.name = name}, .data = data};
    return bsnap_template_create(f->s, &o, ret);
}

static void create_ok(struct fixture *f, const char *name, const char *data, char id[BSNAP_ID_MAX])
{
    json_t *doc = NULL;

    if (create(f, name, data, &doc) < 0)
        print_error("create %s: %s (%s)\n", name, bsnap_last_error()->message,
                    bsnap_last_error()->code);
    assert_non_null(doc);
    snprintf(id, BSNAP_ID_MAX, "%s",
             json_string_value(
                 json_object_get(json_object_get(doc, "LaunchTemplate"), "LaunchTemplateId")));
    json_decref(doc);
    doc = NULL;
}

static uint64_t version(struct fixture *f, const char *name, const char *source, const char *data)
{
    bsnap_template_options o = {.ref = {.name = name}, .data = data, .source_version = source};
    json_t *doc = NULL;
    uint64_t n;

    assert_int_equal(bsnap_template_version_create(f->s, &o, &doc), 0);
    n = (uint64_t)json_integer_value(
        json_object_get(json_object_get(doc, "LaunchTemplateVersion"), "VersionNumber"));
    assert_false(json_is_true(
        json_object_get(json_object_get(doc, "LaunchTemplateVersion"), "DefaultVersion")));
    json_decref(doc);
    doc = NULL;
    return n;
}

/* describe-launch-template-versions of @name with @v (n of them), as
 * "N:InstanceType[*]" words, * marking the default. */
static char *versions(struct fixture *f, const char *name, const char *const *v, size_t n)
{
    bsnap_template_versions_options o = {.ref = {.name = name}, .versions = v, .nversions = n};
    json_t *doc = NULL, *e;
    char *out = calloc(1, 256);
    size_t i;

    assert_int_equal(bsnap_template_versions_describe(f->s, &o, &doc), 0);
    json_array_foreach (json_object_get(doc, "LaunchTemplateVersions"), i, e) {
        const char *type = json_string_value(
            json_object_get(json_object_get(e, "LaunchTemplateData"), "InstanceType"));
        snprintf(out + strlen(out), 256 - strlen(out), "%s%lld:%s%s", i ? " " : "",
                 json_integer_value(json_object_get(e, "VersionNumber")), type ? type : "-",
                 json_is_true(json_object_get(e, "DefaultVersion")) ? "*" : "");
    }
    json_decref(doc);
    doc = NULL;
    return out;
}

static void assert_versions(struct fixture *f, const char *name, const char *const *v, size_t n,
                            const char *want)
{
    char *got = versions(f, name, v, n);
    if (strcmp(got, want) != 0)
        print_error("versions: '%s', want '%s'\n", got, want);
    assert_string_equal(got, want);
    free(got);
}

static void test_versions(void **state)
{
    struct ctx c = {.f = *state};
    struct fixture *f = c.f;
    char id[BSNAP_ID_MAX], data[256];
    const char *const both[] = {"$Latest", "$Default"};
    json_t *doc = NULL, *d;

    make_image(&c);
    snprintf(data, sizeof data,
             "{\"ImageId\":\"%s\",\"InstanceType\":\"t3.micro\",\"KeyName\":\"k\"}", c.ami);
    create_ok(f, "web", data, id);
    assert_versions(f, "web", NULL, 0, "1:t3.micro*");

    /* 2 inherits from 1 with an override; 3 holds only what it is given */
    assert_int_equal(version(f, "web", "1", "{\"InstanceType\":\"t3.small\"}"), 2);
    assert_int_equal(version(f, "web", NULL, "{\"InstanceType\":\"m5.large\"}"), 3);
    assert_versions(f, "web", NULL, 0, "1:t3.micro* 2:t3.small 3:m5.large");
    {
        bsnap_template_versions_options o = {
            .ref = {.id = id}, .versions = (const char *const[]){"2"}, .nversions = 1};
        assert_int_equal(bsnap_template_versions_describe(f->s, &o, &doc), 0);
        d = json_object_get(json_array_get(json_object_get(doc, "LaunchTemplateVersions"), 0),
                            "LaunchTemplateData");
        assert_string_equal(json_string_value(json_object_get(d, "KeyName")), "k");
        assert_string_equal(json_string_value(json_object_get(d, "ImageId")), c.ami);
        json_decref(doc);
        doc = NULL;
    }
    assert_versions(f, "web", both, 2, "1:t3.micro* 3:m5.large");

    /* the default moves to 2; $Default as a source is 2 */
    assert_int_equal(bsnap_template_modify(f->s, &(bsnap_template_ref){.name = "web"}, "2", &doc),
                     0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "LaunchTemplate"),
                                                        "DefaultVersionNumber")),
                     2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "LaunchTemplate"),
                                                        "LatestVersionNumber")),
                     3);
    json_decref(doc);
    doc = NULL;
    assert_versions(f, "web", both, 2, "2:t3.small* 3:m5.large");
    assert_int_equal(version(f, "web", "$Default", "{\"KeyName\":\"k2\"}"), 4);
    assert_versions(f, "web", (const char *const[]){"$Latest"}, 1, "4:t3.small");
    {
        bsnap_template_versions_options o = {
            .ref = {.name = "web"}, .min_version = 2, .max_version = 3};
        char *got = NULL;
        assert_int_equal(AS_JSON(got, bsnap_template_versions_describe, f->s, &o), 0);
        assert_non_null(strstr(got, "\"VersionNumber\":2"));
        assert_non_null(strstr(got, "\"VersionNumber\":3"));
        assert_null(strstr(got, "\"VersionNumber\":4"));
        free(got);
    }

    /* a version that does not exist */
    assert_error(bsnap_template_modify(f->s, &(bsnap_template_ref){.name = "web"}, "9", &doc),
                 -ENOENT, "InvalidLaunchTemplateId.VersionNotFound");
    assert_string_equal(bsnap_last_error()->parameter, "DefaultVersion");
    {
        bsnap_template_versions_options o = {
            .ref = {.name = "web"}, .versions = (const char *const[]){"7"}, .nversions = 1};
        assert_error(bsnap_template_versions_describe(f->s, &o, &doc), -ENOENT,
                     "InvalidLaunchTemplateId.VersionNotFound");
    }

    /* every template's $Latest, and the message when numbers are given */
    create_ok(f, "dbs", "{\"InstanceType\":\"c5.large\"}", id);
    {
        bsnap_template_versions_options o = {.versions = both, .nversions = 1};
        char *got = NULL;
        assert_int_equal(AS_JSON(got, bsnap_template_versions_describe, f->s, &o), 0);
        assert_non_null(strstr(got, "c5.large"));
        assert_non_null(strstr(got, "\"VersionNumber\":4"));
        free(got);
        o.versions = (const char *const[]){"1"};
        assert_error(bsnap_template_versions_describe(f->s, &o, &doc), -EINVAL,
                     "InvalidParameterValue");
        o.nversions = 0;
        assert_error(bsnap_template_versions_describe(f->s, &o, &doc), -EINVAL, "MissingParameter");
    }
}

static void test_merge(void **state)
{
    json_t *src = json_loads("{\"ImageId\":\"ami-0123456789abcdef0\",\"KeyName\":\"a\","
                             "\"BlockDeviceMappings\":[{\"DeviceName\":\"/dev/xvdb\",\"Ebs\":"
                             "{\"SnapshotId\":\"snap-0123456789abcdef0\",\"VolumeSize\":8}}]}",
                             0, NULL);
    json_t *over = json_loads("{\"KeyName\":\"b\"}", 0, NULL);
    json_t *bdm = json_loads("{\"BlockDeviceMappings\":[{\"DeviceName\":\"/dev/xvdc\"}]}", 0, NULL);
    json_t *m;
    char *s;

    (void)state;
    /* the override wins; the inherited mapping keeps its size, not its snapshot */
    m = template_data_merge(src, over);
    s = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"BlockDeviceMappings\":[{\"DeviceName\":\"/dev/xvdb\",\"Ebs\":"
                           "{\"VolumeSize\":8}}],\"ImageId\":\"ami-0123456789abcdef0\","
                           "\"KeyName\":\"b\"}");
    free(s);
    json_decref(m);
    /* given mappings replace the source's whole */
    m = template_data_merge(src, bdm);
    s = json_dumps(json_object_get(m, "BlockDeviceMappings"), JSON_COMPACT);
    assert_string_equal(s, "[{\"DeviceName\":\"/dev/xvdc\"}]");
    free(s);
    json_decref(m);
    /* the source itself is unchanged */
    assert_non_null(strstr(s = json_dumps(src, JSON_COMPACT), "snap-0123456789abcdef0"));
    free(s);
    json_decref(src);
    json_decref(over);
    json_decref(bdm);
}

static void test_delete(void **state)
{
    struct fixture *f = *state;
    const bsnap_template_ref web = {.name = "web"};
    char id[BSNAP_ID_MAX];
    char *got = NULL;
    json_t *doc = NULL;

    create_ok(f, "web", "{\"InstanceType\":\"t3.micro\"}", id);
    assert_int_equal(version(f, "web", NULL, "{\"InstanceType\":\"t3.small\"}"), 2);
    assert_int_equal(version(f, "web", NULL, "{\"InstanceType\":\"t3.large\"}"), 3);

    /* the default (1) stays, 3 goes, 9 never was */
    assert_int_equal(AS_JSON(got, bsnap_template_versions_delete, f->s, &web,
                             (const char *const[]){"1", "3", "9"}, 3),
                     0);
    assert_non_null(strstr(got, "\"SuccessfullyDeletedLaunchTemplateVersions\":[{"));
    assert_non_null(strstr(got, "\"VersionNumber\":3}]"));
    assert_non_null(strstr(got, "\"Code\":\"unexpectedError\""));
    assert_non_null(strstr(got, "\"Code\":\"launchTemplateVersionDoesNotExist\""));
    free(got);
    assert_versions(f, "web", NULL, 0, "1:t3.micro* 2:t3.small");
    /* deleted numbers are not given again; $Latest is now 4 */
    assert_int_equal(version(f, "web", NULL, "{\"InstanceType\":\"t3.nano\"}"), 4);
    assert_versions(f, "web", (const char *const[]){"$Latest"}, 1, "4:t3.nano");
    /* the latest deleted: $Latest falls back */
    assert_int_equal(
        AS_JSON(got, bsnap_template_versions_delete, f->s, &web, (const char *const[]){"4"}, 1), 0);
    free(got);
    assert_versions(f, "web", (const char *const[]){"$Latest"}, 1, "2:t3.small");

    /* an unknown template fails each version */
    assert_int_equal(AS_JSON(got, bsnap_template_versions_delete, f->s,
                             &(bsnap_template_ref){.id = "lt-0123456789abcdef0"},
                             (const char *const[]){"2"}, 1),
                     0);
    assert_non_null(strstr(got, "launchTemplateIdDoesNotExist"));
    free(got);
    assert_int_equal(AS_JSON(got, bsnap_template_versions_delete, f->s,
                             &(bsnap_template_ref){.id = "lt-x"}, (const char *const[]){"2"}, 1),
                     0);
    assert_non_null(strstr(got, "launchTemplateIdMalformed"));
    free(got);

    /* the template takes every version with it, and frees its name */
    assert_int_equal(bsnap_template_delete(f->s, &web, &doc), 0);
    json_decref(doc);
    doc = NULL;
    assert_int_equal(records(f), 0);
    assert_error(bsnap_template_delete(f->s, &web, &doc), -ENOENT,
                 "InvalidLaunchTemplateName.NotFoundException");
    assert_error(bsnap_template_delete(f->s, &(bsnap_template_ref){.id = id}, &doc), -ENOENT,
                 "InvalidLaunchTemplateId.NotFound");
    create_ok(f, "web", "{}", id);
}

static void test_owners(void **state)
{
    struct ctx c = {.f = *state};
    struct fixture *f = c.f;
    char id[BSNAP_ID_MAX], other[BSNAP_ID_MAX], data[128];
    char *got = NULL;
    json_t *doc = NULL;

    make_image(&c);
    snprintf(data, sizeof data, "{\"ImageId\":\"%s\"}", c.ami);
    create_ok(f, "web", data, id);

    assert_int_equal(bsnap_store_set_account(f->s, OTHER), 0);
    assert_int_equal(AS_JSON(got, bsnap_template_describe, f->s, NULL, NULL, 0), 0);
    assert_string_equal(got, "{\"LaunchTemplates\":[]}");
    free(got);
    assert_error(
        bsnap_template_describe(
            f->s, &(bsnap_describe_options){.ids = (const char *[]){id}, .nids = 1}, NULL, 0, &doc),
        -ENOENT, "InvalidLaunchTemplateId.NotFound");
    assert_error(bsnap_template_modify(f->s, &(bsnap_template_ref){.id = id}, "1", &doc), -ENOENT,
                 "InvalidLaunchTemplateId.NotFound");
    assert_error(bsnap_template_delete(f->s, &(bsnap_template_ref){.name = "web"}, &doc), -ENOENT,
                 "InvalidLaunchTemplateName.NotFoundException");
    /* its image is not shared with OTHER: not found */
    assert_error(create(f, "mine", data, &doc), -ENOENT, "InvalidAMIID.NotFound");
    assert_string_equal(bsnap_last_error()->parameter, "LaunchTemplateData.ImageId");
    /* names are each account's */
    create_ok(f, "web", "{}", other);
    assert_string_not_equal(id, other);

    /* shared (launch permission): OTHER may name it */
    assert_int_equal(bsnap_store_set_account(f->s, OWNER), 0);
    assert_int_equal(
        bsnap_image_permission_modify(
            f->s, c.ami,
            &(bsnap_permission_change){.add_users = (const char *[]){OTHER}, .nadd_users = 1}),
        0);
    assert_int_equal(bsnap_store_set_account(f->s, OTHER), 0);
    create_ok(f, "mine", data, other);
    assert_int_equal(AS_JSON(got, bsnap_template_describe, f->s, NULL, NULL, 0), 0);
    assert_non_null(strstr(got, "arn:aws:iam::" OTHER ":root"));
    assert_null(strstr(got, OWNER));
    free(got);
}

struct bad {
    const char *data; /* %s: the image, %S: the snapshot */
    int err;
    const char *code;
    const char *parameter;
};

static void test_validation(void **state)
{
    struct ctx c = {.f = *state};
    struct fixture *f = c.f;
    char big[16384 / 3 * 4 + 64];
    static const struct bad bad[] = {
        {"[1]", -EINVAL, "InvalidParameterValue", "LaunchTemplateData"},
        {"{", -EINVAL, "InvalidParameterValue", "LaunchTemplateData"},
        {"{\"Foo\":1}", -EINVAL, "UnknownParameter", "LaunchTemplateData.Foo"},
        {"{\"Placement\":{\"Zone\":\"a\"}}", -EINVAL, "UnknownParameter",
         "LaunchTemplateData.Placement.Zone"},
        {"{\"InstanceType\":1}", -EINVAL, "InvalidParameterValue",
         "LaunchTemplateData.InstanceType"},
        {"{\"SecurityGroupIds\":[1]}", -EINVAL, "InvalidParameterValue",
         "LaunchTemplateData.SecurityGroupIds[0]"},
        {"{\"InstanceType\":\"t3.gigantic\"}", -EINVAL, "InvalidParameterValue",
         "LaunchTemplateData.InstanceType"},
        {"{\"ImageId\":\"img-1\"}", -EINVAL, "InvalidAMIID.Malformed",
         "LaunchTemplateData.ImageId"},
        {"{\"ImageId\":\"resolve:ssm:/x\"}", -EINVAL, "InvalidParameterValue",
         "LaunchTemplateData.ImageId"},
        {"{\"ImageId\":\"ami-0123456789abcdef0\"}", -ENOENT, "InvalidAMIID.NotFound",
         "LaunchTemplateData.ImageId"},
        {"{\"UserData\":\"not base64!\"}", -EINVAL, "InvalidUserData.Malformed",
         "LaunchTemplateData.UserData"},
        {"{\"UserData\":\"QQ=\"}", -EINVAL, "InvalidUserData.Malformed",
         "LaunchTemplateData.UserData"},
        {"{\"InstanceInitiatedShutdownBehavior\":\"halt\"}", -EINVAL, "InvalidParameterValue",
         "LaunchTemplateData.InstanceInitiatedShutdownBehavior"},
        {"{\"TagSpecifications\":[{\"ResourceType\":\"image\",\"Tags\":[]}]}", -EINVAL,
         "InvalidParameterValue", "LaunchTemplateData.TagSpecifications[0].ResourceType"},
        {"{\"TagSpecifications\":[{\"ResourceType\":\"volume\",\"Tags\":[{\"Key\":\"aws:x\","
         "\"Value\":\"v\"}]}]}",
         -EINVAL, "InvalidParameterValue", "LaunchTemplateData.TagSpecifications[0].Tags[0].Key"},
        {"{\"BlockDeviceMappings\":[{\"Ebs\":{\"VolumeSize\":1}}]}", -EINVAL,
         "InvalidBlockDeviceMapping", "LaunchTemplateData.BlockDeviceMappings[0].DeviceName"},
        {"{\"BlockDeviceMappings\":[{\"DeviceName\":\"/dev/foo\"}]}", -EINVAL,
         "InvalidBlockDeviceMapping", "LaunchTemplateData.BlockDeviceMappings[0].DeviceName"},
        {"{\"BlockDeviceMappings\":[{\"DeviceName\":\"/dev/xvdb\"},{\"DeviceName\":\"/dev/"
         "xvdb\"}]}",
         -EINVAL, "InvalidBlockDeviceMapping",
         "LaunchTemplateData.BlockDeviceMappings[1].DeviceName"},
        {"{\"BlockDeviceMappings\":[{\"DeviceName\":\"/dev/xvdb\",\"Ebs\":{\"VolumeSize\":0}}]}",
         -EINVAL, "InvalidParameterValue",
         "LaunchTemplateData.BlockDeviceMappings[0].Ebs.VolumeSize"},
        {"{\"BlockDeviceMappings\":[{\"DeviceName\":\"/dev/xvdb\",\"Ebs\":{\"VolumeType\":"
         "\"fast\"}}]}",
         -EINVAL, "InvalidParameterValue",
         "LaunchTemplateData.BlockDeviceMappings[0].Ebs.VolumeType"},
        {"{\"BlockDeviceMappings\":[{\"DeviceName\":\"/dev/xvdb\",\"Ebs\":{\"SnapshotId\":"
         "\"vol-1\"}}]}",
         -EINVAL, "InvalidSnapshotID.Malformed",
         "LaunchTemplateData.BlockDeviceMappings[0].Ebs.SnapshotId"},
        {"{\"BlockDeviceMappings\":[{\"DeviceName\":\"/dev/xvdb\",\"Ebs\":{\"SnapshotId\":"
         "\"snap-0123456789abcdef0\"}}]}",
         -ENOENT, "InvalidSnapshot.NotFound",
         "LaunchTemplateData.BlockDeviceMappings[0].Ebs.SnapshotId"},
    };
    json_t *doc = NULL;
    size_t before;

    make_image(&c);
    before = records(f);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = create(f, "web", bad[i].data, &doc);
        if (r != bad[i].err || strcmp(bsnap_last_error()->parameter, bad[i].parameter) != 0)
            print_error("case %zu %s: %d %s %s\n", i, bad[i].data, r, bsnap_last_error()->code,
                        bsnap_last_error()->parameter);
        assert_error(r, bad[i].err, bad[i].code);
        assert_string_equal(bsnap_last_error()->parameter, bad[i].parameter);
        assert_int_equal(records(f), before);
    }

    /* the snapshot is 3 MiB: 1 GiB holds it; the image's device too */
    {
        char data[512];
        snprintf(data, sizeof data,
                 "{\"ImageId\":\"%s\",\"BlockDeviceMappings\":[{\"DeviceName\":\"/dev/xvda\","
                 "\"Ebs\":{\"VolumeSize\":1}},{\"DeviceName\":\"/dev/xvdb\",\"Ebs\":{"
                 "\"SnapshotId\":\"%s\",\"VolumeSize\":2}}]}",
                 c.ami, c.snap);
        assert_int_equal(create(f, "sizes", data, &doc), 0);
        json_decref(doc);
        doc = NULL;
    }

    /* user data: 16 KiB decoded is the most */
    memset(big, 'A', sizeof big);
    memcpy(big, "{\"UserData\":\"", 13);
    big[13 + 16380 / 3 * 4] = '\0';
    strcat(big, "QUFBQQ==\"}"); /* 16380 + 4 = 16384 bytes */
    if (create(f, "userdata", big, &doc) < 0)
        print_error("%s\n", bsnap_last_error()->message);
    assert_non_null(doc);
    json_decref(doc);
    doc = NULL;
    big[13 + 16380 / 3 * 4] = '\0';
    strcat(big, "QUFBQUE=\"}"); /* 16380 + 5 = 16385 bytes */
    assert_error(create(f, "userdata2", big, &doc), -EINVAL, "InvalidParameterValue");
    assert_string_equal(bsnap_last_error()->parameter, "LaunchTemplateData.UserData");

    /* names, descriptions, tags, tokens */
    before = records(f);
    assert_error(create(f, "ab", "{}", &doc), -EINVAL,
                 "InvalidLaunchTemplateName.MalformedException");
    assert_error(create(f, "a b c", "{}", &doc), -EINVAL,
                 "InvalidLaunchTemplateName.MalformedException");
    assert_error(create(f, "sizes", "{}", &doc), -EEXIST,
                 "InvalidLaunchTemplateName.AlreadyExistsException");
    assert_error(create(f, "x12", NULL, &doc), -EINVAL, "MissingParameter");
    {
        char desc[300];
        bsnap_template_options o = {
            .ref = {.name = "desc"}, .data = "{}", .version_description = desc};
        memset(desc, 'd', 256);
        desc[256] = '\0';
        assert_error(bsnap_template_create(f->s, &o, &doc), -EINVAL, "InvalidParameterValue");
        assert_string_equal(bsnap_last_error()->parameter, "VersionDescription");
        o.version_description = NULL;
        o.tags = &(bsnap_tag){"aws:k", "v"};
        o.ntags = 1;
        assert_error(bsnap_template_create(f->s, &o, &doc), -EINVAL, "InvalidParameterValue");
        assert_string_equal(bsnap_last_error()->parameter, "TagSpecifications[0].Tags[0].Key");
    }
    assert_int_equal(records(f), before);
    {
        bsnap_template_options o = {.ref = {.name = "tok"}, .data = "{}", .client_token = "t1"};
        char *a = NULL, *b = NULL;
        assert_int_equal(AS_JSON(a, bsnap_template_create, f->s, &o), 0);
        assert_int_equal(AS_JSON(b, bsnap_template_create, f->s, &o), 0);
        assert_string_equal(a, b);
        o.data = "{\"KeyName\":\"other\"}";
        assert_error(bsnap_template_create(f->s, &o, &doc), -EINVAL, "IdempotentParameterMismatch");
        free(a);
        free(b);
    }
}

static void test_instance_types(void **state)
{
    size_t n;
    const struct instance_type *t = instance_type_all(&n), *m;

    (void)state;
    assert_true(n > 50);
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(t[i - 1].name, t[i].name) < 0);
    m = instance_type_find("t3.micro");
    assert_non_null(m);
    assert_int_equal(m->vcpus, 2);
    assert_int_equal(m->memory_mib, 1024);
    assert_string_equal(instance_type_find("t4g.small")->architecture, "arm64");
    assert_int_equal(instance_type_find("m5.xlarge")->memory_mib, 16384);
    assert_null(instance_type_find("t3.gigantic"));
    assert_null(instance_type_find(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_versions, setup_64k, teardown_fixture),
        cmocka_unit_test(test_merge),
        cmocka_unit_test_setup_teardown(test_delete, setup_64k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_owners, setup_64k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_validation, setup_64k, teardown_fixture),
        cmocka_unit_test(test_instance_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
