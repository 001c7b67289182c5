/* request.c - a RegisterImage request put together from what a front end
 * was given: a whole request document (the CLI's --cli-input-json, a
 * manifest as describe-images prints it), block device mapping arguments
 * (shorthand or JSON), tags, and then the front end's own options.
 *
 * The result is the engine's typed bsnap_image_options: the engine never
 * sees shorthand or JSON text.  Strings in it are borrowed from the parsed
 * documents, which the request keeps until it is freed.  Only the form is
 * checked here (types, known fields, numbers that fit); what makes a
 * request valid (device names, sizes, the root device, snapshots) is the
 * engine's to say.
 */
#include <errno.h>
#include <string.h>

#include "front.h"

/* Largest request document or mapping argument accepted. */
#define REQUEST_MAX (1u << 20)

struct bsf_image_request {
    bsnap_image_options opts;
    json_t **docs; /* every parsed document: the strings of opts point into them */
    size_t ndocs;
    bsnap_block_device_mapping *mappings;
    size_t nmappings;
    bsnap_tag *tags;
    size_t ntags;
};

#define BDM_FAIL(...) front_fail(-EINVAL, "InvalidBlockDeviceMapping", __VA_ARGS__)
#define NOMEM() front_fail(-ENOMEM, "InternalError", "out of memory")

int bsf_image_request_new(bsf_image_request **ret)
{
    bsf_image_request *q = calloc(1, sizeof *q);

    front_error_clear();
    if (!q)
        return NOMEM();
    *ret = q;
    return 0;
}

void bsf_image_request_free(bsf_image_request *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->ndocs; i++)
        json_decref(q->docs[i]);
    free(q->docs);
    free(q->mappings);
    free(q->tags);
    free(q);
}

bsnap_image_options *bsf_image_request_options(bsf_image_request *q)
{
    q->opts.mappings = q->mappings;
    q->opts.nmappings = q->nmappings;
    q->opts.tags = q->tags;
    q->opts.ntags = q->ntags;
    return &q->opts;
}

/* Keep @doc (a reference is taken over) for as long as @q lives. */
static int keep(bsf_image_request *q, json_t *doc)
{
    json_t **v = realloc(q->docs, (q->ndocs + 1) * sizeof *v);

    if (!v) {
        json_decref(doc);
        return NOMEM();
    }
    q->docs = v;
    q->docs[q->ndocs++] = doc;
    return 0;
}

/* ---- mappings ------------------------------------------------------------ */

/* An integer given as a JSON number or a decimal string (shorthand). */
static bool uint_value(json_t *v, uint64_t max, uint64_t *ret)
{
    uint64_t n = 0;

    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
            return false;
        *ret = (uint64_t)json_integer_value(v);
        return true;
    }
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    if (!*s || strlen(s) > 12)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        n = n * 10 + (uint64_t)(*s - '0');
    }
    if (n > max)
        return false;
    *ret = n;
    return true;
}

/* A boolean given as true/false or "true"/"false" (shorthand). */
static bool bool_value(json_t *v, bsnap_tristate *ret)
{
    const char *s = json_string_value(v);

    if (json_is_boolean(v) || (s && (strcmp(s, "true") == 0 || strcmp(s, "false") == 0))) {
        *ret = json_is_true(v) || (s && s[0] == 't') ? BSNAP_TRUE : BSNAP_FALSE;
        return true;
    }
    return false;
}

/* A string member, or NULL; a member that is not a string fails. */
static bool str_value(json_t *v, const char **ret)
{
    *ret = json_string_value(v);
    return *ret != NULL;
}

static int ebs_from_json(json_t *ebs, bsnap_block_device_mapping *m)
{
    const char *key, *dev = m->device_name;
    json_t *v;

    if (!json_is_object(ebs))
        return BDM_FAIL("%s: Ebs must be an object", dev);
    json_object_foreach (ebs, key, v) {
        if (strcmp(key, "SnapshotId") == 0) {
            if (!str_value(v, &m->snapshot_id))
                return front_fail(-EINVAL, "InvalidSnapshotID.Malformed", "%s: invalid snapshot id",
                                  dev);
        } else if (strcmp(key, "VolumeSize") == 0) {
            /* 0 cannot be said: in the engine's options it means "not given" */
            if (!uint_value(v, BSNAP_VOLUME_SIZE_MAX, &m->volume_size) || m->volume_size == 0)
                return BDM_FAIL("%s: VolumeSize must be 1 to %u (GiB)", dev, BSNAP_VOLUME_SIZE_MAX);
        } else if (strcmp(key, "VolumeType") == 0) {
            if (!str_value(v, &m->volume_type))
                return BDM_FAIL("%s: invalid volume type", dev);
        } else if (strcmp(key, "Iops") == 0) {
            if (!uint_value(v, BSNAP_IOPS_MAX, &m->iops))
                return BDM_FAIL("%s: invalid Iops", dev);
        } else if (strcmp(key, "DeleteOnTermination") == 0) {
            if (!bool_value(v, &m->delete_on_termination))
                return BDM_FAIL("%s: %s must be true or false", dev, key);
        } else if (strcmp(key, "Encrypted") == 0) {
            if (!bool_value(v, &m->encrypted))
                return BDM_FAIL("%s: %s must be true or false", dev, key);
        } else if (strcmp(key, "Throughput") == 0 || strcmp(key, "KmsKeyId") == 0 ||
                   strcmp(key, "OutpostArn") == 0) {
            continue; /* launch-time settings: nothing to keep locally */
        } else {
            return BDM_FAIL("%s: unknown Ebs field '%s'", dev, key);
        }
    }
    return 0;
}

/* One mapping object, of the JSON form or made from shorthand. */
static int mapping_from_json(json_t *o, bsnap_block_device_mapping *m)
{
    const char *key;
    json_t *v, *ebs = NULL;
    int kinds = 0;

    memset(m, 0, sizeof *m);
    if (!json_is_object(o))
        return BDM_FAIL("a block device mapping must be an object");
    json_object_foreach (o, key, v) {
        if (strcmp(key, "DeviceName") == 0) {
            if (!str_value(v, &m->device_name))
                return BDM_FAIL("invalid device name");
        } else if (strcmp(key, "VirtualName") == 0) {
            if (!str_value(v, &m->virtual_name))
                return BDM_FAIL("invalid virtual name");
            m->kind = BSNAP_MAPPING_VIRTUAL;
            kinds++;
        } else if (strcmp(key, "NoDevice") == 0) {
            if (!json_is_string(v))
                return BDM_FAIL("NoDevice must be a string");
            m->kind = BSNAP_MAPPING_NODEVICE;
            kinds++;
        } else if (strcmp(key, "Ebs") == 0) {
            ebs = v;
            m->kind = BSNAP_MAPPING_EBS;
            kinds++;
        } else {
            return BDM_FAIL("unknown block device mapping field '%s'", key);
        }
    }
    if (!m->device_name || !m->device_name[0])
        return BDM_FAIL("missing device name in a block device mapping");
    if (kinds != 1)
        return BDM_FAIL("%s: a mapping needs exactly one of Ebs, VirtualName or NoDevice",
                        m->device_name);
    return ebs ? ebs_from_json(ebs, m) : 0;
}

/* Append the mappings of @doc (an array of mapping objects, or one) to
 * @q, which keeps @doc. */
static int add_mappings(bsf_image_request *q, json_t *doc)
{
    size_t n = json_is_array(doc) ? json_array_size(doc) : 1;
    bsnap_block_device_mapping *v;
    int r;

    if ((r = keep(q, doc)) < 0)
        return r;
    if (!json_is_array(doc) && !json_is_object(doc))
        return BDM_FAIL("block device mappings must be a JSON array of objects");
    if (q->nmappings + n > BSNAP_IMAGE_MAPPINGS_MAX)
        return BDM_FAIL("at most %d block device mappings", BSNAP_IMAGE_MAPPINGS_MAX);
    if (!(v = realloc(q->mappings, (q->nmappings + n + 1) * sizeof *v)))
        return NOMEM();
    q->mappings = v;
    for (size_t i = 0; i < n; i++) {
        r = mapping_from_json(json_is_array(doc) ? json_array_get(doc, i) : doc,
                              &q->mappings[q->nmappings]);
        if (r < 0)
            return r;
        q->nmappings++;
    }
    return 0;
}

int bsf_image_request_set_mappings(bsf_image_request *q, const char *const *args, size_t nargs)
{
    static const struct sh_syntax sx = {"block device mapping", "InvalidBlockDeviceMapping",
                                        "DeviceName", true};

    front_error_clear();
    q->nmappings = 0;
    for (size_t i = 0; i < nargs; i++) {
        const char *arg = args[i], *p = arg;
        json_t *doc = NULL;
        json_error_t jerr;
        int r;

        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (strlen(arg) > REQUEST_MAX)
            return BDM_FAIL("a mapping argument over %u bytes", REQUEST_MAX);
        if (*p == '[' || *p == '{') {
            if (!(doc = json_loads(arg, 0, &jerr)))
                return BDM_FAIL("block device mappings: malformed JSON: %s (line %d column %d)",
                                jerr.text, jerr.line, jerr.column);
        } else {
            if (bsnap_utf8_length(arg, strlen(arg)) < 0)
                return BDM_FAIL("a block device mapping argument is not valid UTF-8");
            if ((r = shorthand_parse(arg, &sx, &doc)) < 0)
                return r;
        }
        if ((r = add_mappings(q, doc)) < 0)
            return r;
    }
    return 0;
}

/* ---- tags ------------------------------------------------------------------ */

int bsf_image_request_add_tags(bsf_image_request *q, const bsnap_tag *tags, size_t ntags)
{
    bsnap_tag *v = realloc(q->tags, (q->ntags + ntags + 1) * sizeof *v);

    front_error_clear();
    if (!v)
        return NOMEM();
    q->tags = v;
    if (ntags)
        memcpy(q->tags + q->ntags, tags, ntags * sizeof *tags);
    q->ntags += ntags;
    return 0;
}

/* ---- whole requests ---------------------------------------------------------- */

/* Fields of an image object that describe-images prints but a request
 * does not set: accepted and ignored, so a manifest registers as it is. */
static const char *const output_fields[] = {
    "ImageId",
    "ImageLocation",
    "State",
    "OwnerId",
    "CreationDate",
    "Public",
    "ImageType",
    "RootDeviceType",
    "Hypervisor",
    "PlatformDetails",
    "UsageOperation",
    "DetectedBootMode",
    "StateReason",
    "ImageOwnerAlias",
    "DeprecationTime",
    "SourceInstanceId",
    "ProductCodes",
    "Platform",
    "DryRun",
    "SriovNetSupport",
    "ImdsSupport",
    "TpmSupport",
    "KernelId",
    "RamdiskId",
    "DeregistrationProtection",
};

#define REQ_FAIL(...) front_fail(-EINVAL, "InvalidParameterValue", __VA_ARGS__)

static int req_tags(bsf_image_request *q, json_t *a, const char *name)
{
    size_t i;
    json_t *e;

    if (!json_is_array(a))
        return REQ_FAIL("%s: Tags must be an array", name);
    json_array_foreach (a, i, e) {
        bsnap_tag t = {json_string_value(json_object_get(e, "Key")),
                       json_string_value(json_object_get(e, "Value"))};
        int r;
        if (!t.key)
            return REQ_FAIL("%s: a tag without a Key", name);
        if (!t.value)
            t.value = "";
        if ((r = bsf_image_request_add_tags(q, &t, 1)) < 0)
            return r;
    }
    return 0;
}

/* Fill @q from the request object @o, which @q keeps. */
static int request_from(bsf_image_request *q, json_t *o, const char *name)
{
    static const struct {
        const char *key;
        size_t offset;
    } strings[] = {
        {"Name", offsetof(bsnap_image_options, name)},
        {"Description", offsetof(bsnap_image_options, description)},
        {"Architecture", offsetof(bsnap_image_options, architecture)},
        {"VirtualizationType", offsetof(bsnap_image_options, virtualization)},
        {"RootDeviceName", offsetof(bsnap_image_options, root_device_name)},
        {"BootMode", offsetof(bsnap_image_options, boot_mode)},
    };
    const char *key;
    json_t *v;
    int r = 0;

    json_object_foreach (o, key, v) {
        bool done = false;

        for (size_t i = 0; i < ARRAY_SIZE(output_fields) && !done; i++)
            done = strcmp(key, output_fields[i]) == 0;
        for (size_t i = 0; i < ARRAY_SIZE(strings) && !done; i++) {
            if (strcmp(key, strings[i].key) != 0)
                continue;
            done = true;
            if (!json_is_string(v))
                r = REQ_FAIL("%s: %s must be a string", name, key);
            else
                *(const char **)((char *)&q->opts + strings[i].offset) = json_string_value(v);
        }
        if (done) {
            /* nothing more */
        } else if (strcmp(key, "EnaSupport") == 0) {
            if (!bool_value(v, &q->opts.ena_support))
                r = REQ_FAIL("%s: EnaSupport must be true or false", name);
        } else if (strcmp(key, "BlockDeviceMappings") == 0) {
            q->nmappings = 0;
            r = add_mappings(q, json_incref(v));
        } else if (strcmp(key, "Tags") == 0) {
            r = req_tags(q, v, name);
        } else if (strcmp(key, "TagSpecifications") == 0) {
            size_t i;
            json_t *e;
            if (!json_is_array(v))
                r = REQ_FAIL("%s: TagSpecifications must be an array", name);
            json_array_foreach (v, i, e) {
                const char *t = json_string_value(json_object_get(e, "ResourceType"));
                if (r < 0)
                    break;
                if (!t || strcmp(t, "image") != 0)
                    r = REQ_FAIL("'%s' is not a valid taggable resource type for this operation.",
                                 t ? t : "");
                else
                    r = req_tags(q, json_object_get(e, "Tags"), name);
            }
        } else {
            r = REQ_FAIL("%s: unknown parameter '%s'", name, key);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

int bsf_image_request_load(bsf_image_request *q, const char *json, size_t len, const char *name)
{
    json_error_t jerr;
    json_t *o, *images;
    int r;

    front_error_clear();
    if (len > REQUEST_MAX)
        return REQ_FAIL("%s: more than %u bytes", name, REQUEST_MAX);
    if (!(o = json_loadb(json, len, 0, &jerr)))
        return REQ_FAIL("%s: malformed JSON: %s (line %d column %d)", name, jerr.text, jerr.line,
                        jerr.column);
    if ((r = keep(q, o)) < 0)
        return r;
    images = json_object_get(o, "Images");
    if (images) {
        if (!json_is_array(images) || json_array_size(images) != 1 || json_object_size(o) != 1)
            return REQ_FAIL("%s: a describe-images document must hold exactly one image", name);
        o = json_array_get(images, 0);
    }
    if (!json_is_object(o))
        return REQ_FAIL("%s: expected a JSON object", name);
    return request_from(q, o, name);
}
