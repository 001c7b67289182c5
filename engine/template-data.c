/* template-data.c - LaunchTemplateData: its fields, their checks, and the
 * merge of a version with its source (template.h).
 *
 * The fields are EC2's RequestLaunchTemplateData, described by the tables
 * below (name, JSON type, the fields of an object).  A field EC2 does not
 * define is refused, as the AWS CLI refuses it before it sends a request;
 * a field of the wrong type too.  The values blocksnap will use to launch
 * (image, instance type, user data, block devices, tags) are checked
 * further; the others are kept as given, as EC2 keeps them until launch.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "error.h"
#include "image.h"
#include "instance-type.h"
#include "owner.h"
#include "record.h"
#include "template.h"
#include "util.h"

enum fkind {
    F_STR,
    F_BOOL,
    F_INT,
    F_OBJ,     /* object of the fields @sub */
    F_STRS,    /* array of strings */
    F_OBJS,    /* array of objects of the fields @sub */
    F_ANYOBJ,  /* object, kept as given */
    F_ANYOBJS, /* array of objects, kept as given */
};

struct field {
    const char *name;
    enum fkind kind;
    const struct field *sub;
};

#define END               \
    {                     \
        NULL, F_STR, NULL \
    }

static const struct field f_ebs[] = {
    {"Encrypted", F_BOOL, NULL}, {"DeleteOnTermination", F_BOOL, NULL}, {"Iops", F_INT, NULL},
    {"KmsKeyId", F_STR, NULL},   {"SnapshotId", F_STR, NULL},           {"VolumeSize", F_INT, NULL},
    {"VolumeType", F_STR, NULL}, {"Throughput", F_INT, NULL},           END,
};
static const struct field f_bdm[] = {
    {"DeviceName", F_STR, NULL},
    {"VirtualName", F_STR, NULL},
    {"Ebs", F_OBJ, f_ebs},
    {"NoDevice", F_STR, NULL},
    END,
};
static const struct field f_tag[] = {{"Key", F_STR, NULL}, {"Value", F_STR, NULL}, END};
static const struct field f_tagspec[] = {
    {"ResourceType", F_STR, NULL}, {"Tags", F_OBJS, f_tag}, END};
static const struct field f_profile[] = {{"Arn", F_STR, NULL}, {"Name", F_STR, NULL}, END};
static const struct field f_monitoring[] = {{"Enabled", F_BOOL, NULL}, END};
static const struct field f_placement[] = {
    {"AvailabilityZone", F_STR, NULL},
    {"Affinity", F_STR, NULL},
    {"GroupName", F_STR, NULL},
    {"HostId", F_STR, NULL},
    {"Tenancy", F_STR, NULL},
    {"SpreadDomain", F_STR, NULL},
    {"HostResourceGroupArn", F_STR, NULL},
    {"PartitionNumber", F_INT, NULL},
    {"GroupId", F_STR, NULL},
    END,
};
static const struct field f_credit[] = {{"CpuCredits", F_STR, NULL}, END};
static const struct field f_cpu[] = {
    {"CoreCount", F_INT, NULL}, {"ThreadsPerCore", F_INT, NULL}, {"AmdSevSnp", F_STR, NULL}, END};
static const struct field f_enabled_only[] = {{"Enabled", F_BOOL, NULL}, END};
static const struct field f_hibernation[] = {{"Configured", F_BOOL, NULL}, END};
static const struct field f_metadata[] = {
    {"HttpTokens", F_STR, NULL},           {"HttpPutResponseHopLimit", F_INT, NULL},
    {"HttpEndpoint", F_STR, NULL},         {"HttpProtocolIpv6", F_STR, NULL},
    {"InstanceMetadataTags", F_STR, NULL}, END,
};

static const struct field f_data[] = {
    {"KernelId", F_STR, NULL},
    {"EbsOptimized", F_BOOL, NULL},
    {"IamInstanceProfile", F_OBJ, f_profile},
    {"BlockDeviceMappings", F_OBJS, f_bdm},
    {"NetworkInterfaces", F_ANYOBJS, NULL},
    {"ImageId", F_STR, NULL},
    {"InstanceType", F_STR, NULL},
    {"KeyName", F_STR, NULL},
    {"Monitoring", F_OBJ, f_monitoring},
    {"Placement", F_OBJ, f_placement},
    {"RamDiskId", F_STR, NULL},
    {"DisableApiTermination", F_BOOL, NULL},
    {"InstanceInitiatedShutdownBehavior", F_STR, NULL},
    {"UserData", F_STR, NULL},
    {"TagSpecifications", F_OBJS, f_tagspec},
    {"ElasticGpuSpecifications", F_ANYOBJS, NULL},
    {"ElasticInferenceAccelerators", F_ANYOBJS, NULL},
    {"SecurityGroupIds", F_STRS, NULL},
    {"SecurityGroups", F_STRS, NULL},
    {"InstanceMarketOptions", F_ANYOBJ, NULL},
    {"CreditSpecification", F_OBJ, f_credit},
    {"CpuOptions", F_OBJ, f_cpu},
    {"CapacityReservationSpecification", F_ANYOBJ, NULL},
    {"LicenseSpecifications", F_ANYOBJS, NULL},
    {"HibernationOptions", F_OBJ, f_hibernation},
    {"MetadataOptions", F_OBJ, f_metadata},
    {"EnclaveOptions", F_OBJ, f_enabled_only},
    {"InstanceRequirements", F_ANYOBJ, NULL},
    {"PrivateDnsNameOptions", F_ANYOBJ, NULL},
    {"MaintenanceOptions", F_ANYOBJ, NULL},
    {"DisableApiStop", F_BOOL, NULL},
    END,
};

/* The parameter's name so far: "LaunchTemplateData.BlockDeviceMappings[0].Ebs". */
#define PATH_MAX_LEN 256

/* Name @path the parameter of the failure @r, and return @r. */
static int fail_at(const char *path, int r)
{
    error_set_parameter("%s", path);
    return r;
}

static const char *kind_name(enum fkind k)
{
    switch (k) {
    case F_STR:
        return "a string";
    case F_BOOL:
        return "a boolean";
    case F_INT:
        return "an integer";
    case F_OBJ:
    case F_ANYOBJ:
        return "an object";
    default:
        return "a list";
    }
}

static bool kind_ok(enum fkind k, const json_t *v)
{
    switch (k) {
    case F_STR:
        return json_is_string(v);
    case F_BOOL:
        return json_is_boolean(v);
    case F_INT:
        return json_is_integer(v);
    case F_OBJ:
    case F_ANYOBJ:
        return json_is_object(v);
    default:
        return json_is_array(v);
    }
}

/* Check @obj's members against @fields: names and types, recursively. */
static int check_shape(const json_t *obj, const struct field *fields, const char *path,
                       unsigned depth)
{
    const char *key;
    json_t *v;

    json_object_foreach ((json_t *)obj, key, v) {
        const struct field *f = fields;
        char sub[PATH_MAX_LEN];

        while (f->name && strcmp(f->name, key) != 0)
            f++;
        snprintf(sub, sizeof sub, "%.120s.%.64s", path, key);
        if (!f->name)
            return fail_at(sub, bsnap_fail(-EINVAL, "UnknownParameter",
                                           "unknown parameter %.64s in %s", key, path));
        if (!kind_ok(f->kind, v))
            return fail_at(sub, bsnap_fail(-EINVAL, "InvalidParameterValue", "%s must be %s", sub,
                                           kind_name(f->kind)));
        if (f->kind == F_INT && json_integer_value(v) < 0)
            return fail_at(
                sub, bsnap_fail(-EINVAL, "InvalidParameterValue", "%s must not be negative", sub));
        if (f->kind == F_OBJ) {
            int r = check_shape(v, f->sub, sub, depth + 1);
            if (r < 0)
                return r;
        }
        if (f->kind == F_STRS || f->kind == F_OBJS || f->kind == F_ANYOBJS) {
            size_t i;
            json_t *e;
            json_array_foreach (v, i, e) {
                char item[PATH_MAX_LEN];
                snprintf(item, sizeof item, "%.200s[%zu]", sub, i);
                if (f->kind == F_STRS ? !json_is_string(e) : !json_is_object(e))
                    return fail_at(item,
                                   bsnap_fail(-EINVAL, "InvalidParameterValue", "%s must be %s",
                                              item, f->kind == F_STRS ? "a string" : "an object"));
                if (f->kind == F_OBJS) {
                    int r = check_shape(e, f->sub, item, depth + 1);
                    if (r < 0)
                        return r;
                }
            }
        }
    }
    (void)depth;
    return 0;
}

static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* Whether @s is strict base64 (padding only at the end, length a multiple
 * of 4); the decoded length in *@ret_n. */
static bool base64_valid(const char *s, size_t *ret_n)
{
    size_t n = strlen(s), pad = 0;

    if (n % 4)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (c == '=') {
            if (i + 2 < n || (i + 1 < n && s[i + 1] != '='))
                return false;
            pad++;
        } else if (!alnum && c != '+' && c != '/') {
            return false;
        }
    }
    *ret_n = n / 4 * 3 - pad;
    return true;
}

static bool one_of(const char *v, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(v, *set) == 0)
            return true;
    return false;
}

/* A tag list as bsnap_tags_create() takes it. */
static int check_tags(const json_t *tags, const char *path)
{
    size_t i;
    json_t *t;
    char p[PATH_MAX_LEN];

    if (json_array_size(tags) > TAGS_MAX)
        return fail_at(path, bsnap_fail(-EINVAL, "TagLimitExceeded", "at most %d tags per resource",
                                        TAGS_MAX));
    json_array_foreach (tags, i, t) {
        const char *k = str(t, "Key"), *v = str(t, "Value");
        long klen = k ? utf8_length(k, strlen(k)) : -1;

        snprintf(p, sizeof p, "%.200s[%zu].Key", path, i);
        if (!k)
            return fail_at(p, bsnap_fail(-EINVAL, "InvalidParameterValue", "tag key missing"));
        if (klen < 1 || klen > TAG_KEY_MAX)
            return fail_at(p, bsnap_fail(-EINVAL, "InvalidParameterValue",
                                         "tag key must be 1 to %d characters", TAG_KEY_MAX));
        if (strncmp(k, "aws:", 4) == 0)
            return fail_at(p,
                           bsnap_fail(-EINVAL, "InvalidParameterValue",
                                      "tag key '%s': keys starting with 'aws:' are reserved", k));
        snprintf(p, sizeof p, "%.200s[%zu].Value", path, i);
        if (v) {
            long vlen = utf8_length(v, strlen(v));
            if (vlen < 0 || vlen > TAG_VALUE_MAX)
                return fail_at(p, bsnap_fail(-EINVAL, "InvalidParameterValue",
                                             "tag '%s': value must be UTF-8 of at most %d "
                                             "characters",
                                             k, TAG_VALUE_MAX));
        }
    }
    return 0;
}

static int check_tag_specs(const json_t *specs)
{
    static const char *const types[] = {"instance", "volume", "network-interface",
                                        "spot-instances-request", NULL};
    size_t i;
    json_t *spec;
    char p[PATH_MAX_LEN];

    json_array_foreach (specs, i, spec) {
        const char *type = str(spec, "ResourceType");
        int r;

        snprintf(p, sizeof p, "LaunchTemplateData.TagSpecifications[%zu].ResourceType", i);
        if (!type)
            return fail_at(p, bsnap_fail(-EINVAL, "MissingParameter",
                                         "a tag specification needs its ResourceType"));
        if (!one_of(type, types))
            return fail_at(p, bsnap_fail(-EINVAL, "InvalidParameterValue",
                                         "'%.64s' is not a valid taggable resource type for "
                                         "this operation.",
                                         type));
        snprintf(p, sizeof p, "LaunchTemplateData.TagSpecifications[%zu].Tags", i);
        if ((r = check_tags(json_object_get(spec, "Tags"), p)) < 0)
            return r;
    }
    return 0;
}

static int check_mappings(const json_t *bdms)
{
    static const char *const vtypes[] = {"standard", "io1", "io2", "gp2",
                                         "gp3",      "sc1", "st1", NULL};
    size_t i;
    json_t *m;
    char p[PATH_MAX_LEN];

    json_array_foreach (bdms, i, m) {
        const char *dev = str(m, "DeviceName");
        const json_t *ebs = json_object_get(m, "Ebs");

        snprintf(p, sizeof p, "LaunchTemplateData.BlockDeviceMappings[%zu].DeviceName", i);
        if (!dev)
            return fail_at(p, bsnap_fail(-EINVAL, "InvalidBlockDeviceMapping",
                                         "Missing device name in block device mapping %zu", i));
        if (!device_name_valid(dev, true))
            return fail_at(p, bsnap_fail(-EINVAL, "InvalidBlockDeviceMapping",
                                         "Invalid device name %.64s", dev));
        for (size_t j = 0; j < i; j++)
            if (strcmp(dev, str(json_array_get(bdms, j), "DeviceName")) == 0)
                return fail_at(p, bsnap_fail(-EINVAL, "InvalidBlockDeviceMapping",
                                             "the device %s is mapped twice", dev));
        if (!ebs)
            continue;
        const char *snap = str(ebs, "SnapshotId"), *type = str(ebs, "VolumeType");
        const json_t *size = json_object_get(ebs, "VolumeSize");
        snprintf(p, sizeof p, "LaunchTemplateData.BlockDeviceMappings[%zu].Ebs.SnapshotId", i);
        if (snap && !id_valid(snap, "snap"))
            return fail_at(p, bsnap_fail(-EINVAL, "InvalidSnapshotID.Malformed",
                                         "invalid id: \"%.64s\" (expecting \"snap-...\")", snap));
        snprintf(p, sizeof p, "LaunchTemplateData.BlockDeviceMappings[%zu].Ebs.VolumeSize", i);
        if (size &&
            (json_integer_value(size) < 1 || json_integer_value(size) > TEMPLATE_VOLUME_SIZE_MAX))
            return fail_at(p, bsnap_fail(-EINVAL, "InvalidParameterValue",
                                         "volume size %lld of %s is not 1 to %d GiB",
                                         (long long)json_integer_value(size), dev,
                                         TEMPLATE_VOLUME_SIZE_MAX));
        snprintf(p, sizeof p, "LaunchTemplateData.BlockDeviceMappings[%zu].Ebs.VolumeType", i);
        if (type && !one_of(type, vtypes))
            return fail_at(p, bsnap_fail(-EINVAL, "InvalidParameterValue",
                                         "volume type '%.32s' of %s is not one of standard, io1, "
                                         "io2, gp2, gp3, sc1, st1",
                                         type, dev));
    }
    return 0;
}

/* The values with rules of their own. */
static int check_values(const json_t *d)
{
    static const char *const shutdown[] = {"stop", "terminate", NULL};
    static const char *const tokens[] = {"optional", "required", NULL};
    static const char *const endpoint[] = {"enabled", "disabled", NULL};
    const char *image = str(d, "ImageId"), *type = str(d, "InstanceType");
    const char *ud = str(d, "UserData"), *key = str(d, "KeyName");
    const char *sb = str(d, "InstanceInitiatedShutdownBehavior");
    const json_t *md = json_object_get(d, "MetadataOptions");
    int r;

    if (image && strncmp(image, "resolve:ssm:", 12) == 0)
        return fail_at("LaunchTemplateData.ImageId",
                       bsnap_fail(-EINVAL, "InvalidParameterValue",
                                  "ImageId %.128s: blocksnap has no Systems Manager parameters",
                                  image));
    if (image && !id_valid(image, "ami"))
        return fail_at("LaunchTemplateData.ImageId",
                       bsnap_fail(-EINVAL, "InvalidAMIID.Malformed",
                                  "invalid id: \"%.64s\" (expecting \"ami-...\")", image));
    if (type && !instance_type_find(type))
        return fail_at("LaunchTemplateData.InstanceType",
                       bsnap_fail(-EINVAL, "InvalidParameterValue",
                                  "Invalid value '%.64s' for InstanceType", type));
    if (key && (strlen(key) < 1 || strlen(key) > 255))
        return fail_at(
            "LaunchTemplateData.KeyName",
            bsnap_fail(-EINVAL, "InvalidParameterValue", "KeyName must be 1 to 255 characters"));
    if (ud) {
        size_t n;
        if (!base64_valid(ud, &n))
            return fail_at("LaunchTemplateData.UserData",
                           bsnap_fail(-EINVAL, "InvalidUserData.Malformed",
                                      "Invalid BASE64 encoding of user data."));
        if (n > TEMPLATE_USER_DATA_MAX)
            return fail_at("LaunchTemplateData.UserData",
                           bsnap_fail(-EINVAL, "InvalidParameterValue",
                                      "user data of %zu bytes: at most %d bytes", n,
                                      TEMPLATE_USER_DATA_MAX));
    }
    if (sb && !one_of(sb, shutdown))
        return fail_at("LaunchTemplateData.InstanceInitiatedShutdownBehavior",
                       bsnap_fail(-EINVAL, "InvalidParameterValue",
                                  "InstanceInitiatedShutdownBehavior '%.32s' is not stop or "
                                  "terminate",
                                  sb));
    if (md && str(md, "HttpTokens") && !one_of(str(md, "HttpTokens"), tokens))
        return fail_at(
            "LaunchTemplateData.MetadataOptions.HttpTokens",
            bsnap_fail(-EINVAL, "InvalidParameterValue", "HttpTokens is not optional or required"));
    if (md && str(md, "HttpEndpoint") && !one_of(str(md, "HttpEndpoint"), endpoint))
        return fail_at("LaunchTemplateData.MetadataOptions.HttpEndpoint",
                       bsnap_fail(-EINVAL, "InvalidParameterValue",
                                  "HttpEndpoint is not enabled or disabled"));
    if ((r = check_tag_specs(json_object_get(d, "TagSpecifications"))) < 0)
        return r;
    return check_mappings(json_object_get(d, "BlockDeviceMappings"));
}

int template_data_parse(const char *text, size_t len, json_t **ret_data)
{
    json_error_t jerr;
    json_t *d;
    int r;

    if (len > TEMPLATE_DATA_MAX)
        return fail_at("LaunchTemplateData", bsnap_fail(-EINVAL, "InvalidParameterValue",
                                                        "LaunchTemplateData is larger than 1 MiB"));
    /* JSON_REJECT_DUPLICATES: one value per field, as a request has. */
    d = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!d)
        return fail_at("LaunchTemplateData",
                       bsnap_fail(-EINVAL, "InvalidParameterValue",
                                  "LaunchTemplateData is not JSON: %s (line %d, column %d)",
                                  jerr.text, jerr.line, jerr.column));
    if (!json_is_object(d))
        r = fail_at("LaunchTemplateData", bsnap_fail(-EINVAL, "InvalidParameterValue",
                                                     "LaunchTemplateData must be an object"));
    else if ((r = check_shape(d, f_data, "LaunchTemplateData", 0)) == 0)
        r = check_values(d);
    if (r < 0) {
        json_decref(d);
        return r;
    }
    *ret_data = d;
    return 0;
}

/* The smallest volume, in GiB, that holds @bytes. */
static uint64_t gib_of(uint64_t bytes)
{
    return (bytes + (1ull << 30) - 1) >> 30;
}

/* The snapshot @snap of mapping @i is readable by the caller and fits in
 * @size GiB (0: the snapshot's size). */
static int check_size(meta_txn *txn, const bsnap_store *s, const char *snap, int64_t size, size_t i)
{
    struct snapshot_rec rec = {0};
    int r = catalog_snapshot_load(txn, snap, &rec);
    uint64_t min;

    if (r == 0)
        r = owner_read_snapshot(s, &rec);
    if (r < 0)
        return error_set_parameter("LaunchTemplateData.BlockDeviceMappings[%zu].Ebs.SnapshotId", i);
    min = gib_of(rec.size);
    snapshot_rec_clear(&rec);
    if (size > 0 && (uint64_t)size < min) {
        bsnap_fail(-EINVAL, "InvalidBlockDeviceMapping",
                   "Volume of size %lldGB is smaller than snapshot '%s', expect size >= %lluGB",
                   (long long)size, snap, (unsigned long long)min);
        return error_set_parameter("LaunchTemplateData.BlockDeviceMappings[%zu].Ebs.VolumeSize", i);
    }
    return 0;
}

int template_data_check_store(const bsnap_store *s, meta_txn *txn, const json_t *data)
{
    const char *image = str(data, "ImageId");
    const json_t *bdms = json_object_get(data, "BlockDeviceMappings");
    struct image_rec img = {0};
    bool have_image = false;
    size_t i;
    json_t *m;
    int r = 0;

    if (image) {
        r = image_load(txn, image, &img);
        if (r == 0)
            r = owner_read_image(s, &img); /* the owner's, or launch permission */
        if (r < 0)
            return error_set_parameter("LaunchTemplateData.ImageId");
        have_image = true;
        if (img.state != BSNAP_IMAGE_AVAILABLE) {
            image_rec_clear(&img);
            bsnap_fail(-ESTALE, "InvalidAMIID.Unavailable",
                       "The image id '[%s]' is no longer available", image);
            return error_set_parameter("LaunchTemplateData.ImageId");
        }
    }
    json_array_foreach (bdms, i, m) {
        const json_t *ebs = json_object_get(m, "Ebs");
        const char *dev = str(m, "DeviceName"), *snap = ebs ? str(ebs, "SnapshotId") : NULL;
        int64_t size = ebs ? json_integer_value(json_object_get(ebs, "VolumeSize")) : 0;

        if (!ebs)
            continue;
        /* A mapping without a snapshot of its own resizes the image's
         * volume of that device, which must still hold its snapshot. */
        for (size_t k = 0; !snap && have_image && k < img.nbdm; k++)
            if (strcmp(img.bdm[k].device, dev) == 0 && img.bdm[k].kind == BDM_EBS &&
                img.bdm[k].snapshot_id[0])
                snap = img.bdm[k].snapshot_id;
        if (snap && (r = check_size(txn, s, snap, size, i)) < 0)
            break;
    }
    image_rec_clear(&img);
    return r;
}

json_t *template_data_merge(const json_t *source, const json_t *over)
{
    json_t *d = json_deep_copy(source);
    json_t *bdms, *m;
    size_t i;

    if (!d)
        return NULL;
    /* EC2 drops the snapshots of inherited mappings unless the new version
     * gives mappings of its own. */
    bdms = json_object_get(d, "BlockDeviceMappings");
    if (!json_object_get(over, "BlockDeviceMappings"))
        json_array_foreach (bdms, i, m)
            json_object_del(json_object_get(m, "Ebs"), "SnapshotId");
    if (json_object_update(d, (json_t *)over) < 0) {
        json_decref(d);
        return NULL;
    }
    return d;
}

bool template_name_valid(const char *name)
{
    size_t n = strlen(name);

    if (n < TEMPLATE_NAME_MIN || n > TEMPLATE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("().-/_", c)))
            return false;
    }
    return true;
}
