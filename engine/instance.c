/* instance.c - instances: run (records and volumes), describe, state
 * changes and termination (instance.h).  The machines themselves (QEMU,
 * nbdkit) are the front-end library's: it records what it started through
 * bsnap_instance_set_state() and reads the record back with
 * bsnap_instance_get().
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "cleanup.h"
#include "cow-files.h"
#include "error.h"
#include "image.h"
#include "instance-type.h"
#include "instance.h"
#include "owner.h"
#include "record.h"
#include "store-handle.h"
#include "template.h"
#include "util.h"

#define KEY_MAX 256
/* RunInstances' default type is EC2's m1.small, a type blocksnap does
 * not size; the smallest current general-purpose type stands in. */
#define DEFAULT_TYPE "t3.micro"

/* ---- states ---- */

static const struct {
    const char *name;
    int code;
} states[] = {
    {"pending", 0},     {"running", 16},  {"shutting-down", 32},
    {"terminated", 48}, {"stopping", 64}, {"stopped", 80},
};

int instance_state_code(const char *name)
{
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        if (strcmp(states[i].name, name) == 0)
            return states[i].code;
    return -1;
}

bool instance_transition_ok(const char *from, const char *to)
{
    static const char *const ok[][2] = {
        {"pending", "running"},       {"pending", "stopping"},      {"pending", "stopped"},
        {"pending", "shutting-down"}, {"running", "stopping"},      {"running", "stopped"},
        {"running", "shutting-down"}, {"stopping", "stopped"},      {"stopping", "shutting-down"},
        {"stopped", "pending"},       {"stopped", "shutting-down"}, {"shutting-down", "terminated"},
    };

    if (instance_state_code(from) < 0 || instance_state_code(to) < 0)
        return false;
    if (strcmp(from, to) == 0)
        return strcmp(from, "terminated") != 0;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(ok[i][0], from) == 0 && strcmp(ok[i][1], to) == 0)
            return true;
    return false;
}

/* ---- records ---- */

static size_t key_instance(const char *id, char out[KEY_MAX])
{
    return (size_t)snprintf(out, KEY_MAX, "i%s", id);
}

static size_t key_token(const char *owner, const char *token, char out[KEY_MAX])
{
    int n = snprintf(out, KEY_MAX, "c%s", owner);

    snprintf(out + n + 1, KEY_MAX - (size_t)n - 1, "%s", token);
    return (size_t)n + 1 + strlen(token);
}

static int nomem(void)
{
    return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
}

static int put_json(meta_txn *txn, const char *key, size_t klen, const json_t *doc)
{
    _cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);

    if (!text)
        return nomem();
    return meta_put(txn, T_INSTANCES, key, klen, text, strlen(text));
}

static int parse_json(const void *v, size_t vlen, const char *what, json_t **ret)
{
    json_t *doc = json_loadb(v, vlen, 0, NULL);

    if (!json_is_object(doc)) {
        json_decref(doc);
        return bsnap_fail(-EIO, "Store.Corrupt", "instance record %s does not parse", what);
    }
    *ret = doc;
    return 0;
}

static const char *rstr(const json_t *rec, const char *key)
{
    const char *v = json_string_value(json_object_get(rec, key));
    return v ? v : "";
}

static int64_t rnum(const json_t *rec, const char *key)
{
    return (int64_t)json_integer_value(json_object_get(rec, key));
}

static int not_found(const char *id)
{
    return bsnap_fail(-ENOENT, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist",
                      id);
}

static int check_id(const char *id)
{
    if (!id_valid(id, "i"))
        return bsnap_fail(-EINVAL, "InvalidInstanceID.Malformed",
                          "Invalid id: \"%.64s\" (expecting \"i-...\")", id);
    return 0;
}

/* Whether @rec is a terminated instance past its time to be seen. */
static bool forgotten(const json_t *rec, int64_t now)
{
    return strcmp(rstr(rec, "state"), "terminated") == 0 &&
           now - rnum(rec, "state-ms") > INSTANCE_TERMINATED_KEEP_MS;
}

/* Load instance @id of the caller: -ENOENT (InvalidInstanceID.NotFound)
 * for none, another account's or a forgotten one. */
static int load(const bsnap_store *s, meta_txn *txn, const char *id, json_t **ret)
{
    char key[KEY_MAX];
    const void *v;
    size_t vlen;
    json_t *rec = NULL;
    int r = meta_get(txn, T_INSTANCES, key, key_instance(id, key), &v, &vlen);

    if (r == -ENOENT)
        return not_found(id);
    if (r < 0 || (r = parse_json(v, vlen, id, &rec)) < 0)
        return r;
    if (!owner_visible(s, rstr(rec, "owner")) || forgotten(rec, time_now_ms())) {
        json_decref(rec);
        return not_found(id);
    }
    *ret = rec;
    return 0;
}

/* ---- EC2 documents ---- */

static json_t *time_json(int64_t ms)
{
    char t[32];

    time_format_ms(ms, t, sizeof t);
    return json_string(t);
}

static json_t *state_json(const char *name)
{
    return json_pack("{s:i, s:s}", "Code", instance_state_code(name), "Name", name);
}

/* The Instance object of record @rec. */
static json_t *instance_doc(const bsnap_store *s, const json_t *rec)
{
    char az[80];
    const char *state = rstr(rec, "state");
    const struct instance_type *t = instance_type_find(rstr(rec, "type"));
    json_t *doc, *bdms = json_array(), *v;
    size_t i;

    snprintf(az, sizeof az, "%sa", s->region);
    doc =
        json_pack("{s:s, s:s, s:o, s:s, s:o, s:{s:s, s:s}, s:s, s:s, s:s, s:s, s:s, s:I, s:s, "
                  "s:s, s:[], s:{s:i, s:i}}",
                  "InstanceId", rstr(rec, "id"), "ImageId", rstr(rec, "image"), "State",
                  state_json(state), "InstanceType", rstr(rec, "type"), "LaunchTime",
                  time_json(rnum(rec, "launch-ms")), "Placement", "AvailabilityZone", az, "Tenancy",
                  "default", "Architecture", rstr(rec, "architecture"), "VirtualizationType", "hvm",
                  "RootDeviceName", rstr(rec, "root-device"), "RootDeviceType", "ebs", "Hypervisor",
                  "xen", "AmiLaunchIndex", (json_int_t)rnum(rec, "index"), "StateTransitionReason",
                  rstr(rec, "transition"), "PrivateDnsName", "", "SecurityGroups", "CpuOptions",
                  "CoreCount", t ? (int)t->vcpus : 1, "ThreadsPerCore", 1);
    if (!doc || !bdms) {
        json_decref(doc);
        json_decref(bdms);
        return NULL;
    }
    if (*rstr(rec, "boot-mode"))
        json_object_set_new(doc, "BootMode", json_string(rstr(rec, "boot-mode")));
    if (*rstr(rec, "key-name"))
        json_object_set_new(doc, "KeyName", json_string(rstr(rec, "key-name")));
    if (*rstr(rec, "reason-code"))
        json_object_set_new(doc, "StateReason",
                            json_pack("{s:s, s:s}", "Code", rstr(rec, "reason-code"), "Message",
                                      rstr(rec, "reason-message")));
    json_array_foreach (json_object_get(rec, "volumes"), i, v) {
        bool gone = strcmp(state, "terminated") == 0;
        if (gone)
            continue; /* EC2 lists no mappings of a terminated instance */
        json_array_append_new(bdms, json_pack("{s:s, s:{s:s, s:s, s:o, s:O}}", "DeviceName",
                                              rstr(v, "device"), "Ebs", "VolumeId",
                                              rstr(v, "volume"), "Status", "attached", "AttachTime",
                                              time_json(rnum(rec, "launch-ms")),
                                              "DeleteOnTermination", json_object_get(v, "delete")));
    }
    json_object_set_new(doc, "BlockDeviceMappings", bdms);
    if (json_array_size(json_object_get(rec, "tags")))
        json_object_set(doc, "Tags", json_object_get(rec, "tags"));
    return doc;
}

static json_t *reservation_doc(const bsnap_store *s, const char *rid, const char *owner)
{
    return json_pack("{s:s, s:s, s:[], s:[]}", "ReservationId", rid, "OwnerId", owner_of(s, owner),
                     "Groups", "Instances");
}

/* ---- run: the request ---- */

static const char *const request_fields[] = {
    "ImageId", "InstanceType",      "LaunchTemplate",      "MinCount",    "MaxCount", "UserData",
    "KeyName", "TagSpecifications", "BlockDeviceMappings", "ClientToken", NULL,
};
/* The fields a launch template's data gives a run (others are accepted
 * in the template and not used by a machine of this host). */
static const char *const launch_fields[] = {
    "ImageId",           "InstanceType",        "UserData", "KeyName",
    "TagSpecifications", "BlockDeviceMappings", NULL,
};

static bool in_list(const char *const *l, const char *s)
{
    for (; *l; l++)
        if (strcmp(*l, s) == 0)
            return true;
    return false;
}

static int bad_value(const char *param, const char *fmt, const char *what)
{
    bsnap_fail(-EINVAL, "InvalidParameterValue", fmt, what);
    return error_set_parameter("%s", param);
}

/* The data of the template version the request's LaunchTemplate names:
 * *@ret (new), *@ret_id and *@ret_version (the version's number, as
 * text) filled.  Errors: the template's, naming LaunchTemplate. */
static int template_data(bsnap_store *s, const json_t *lt, json_t **ret, char ret_id[BSNAP_ID_MAX],
                         char ret_version[24])
{
    bsnap_template_versions_options o = {0};
    const char *version = "$Default";
    json_t *doc = NULL, *v;
    const json_t *jv = json_object_get(lt, "Version");
    char num[24];
    const char *key;
    json_t *val;
    int r;

    if (!json_is_object(lt))
        return bad_value("LaunchTemplate", "%s is not an object", "LaunchTemplate");
    json_object_foreach ((json_t *)lt, key, val) {
        if (strcmp(key, "LaunchTemplateId") && strcmp(key, "LaunchTemplateName") &&
            strcmp(key, "Version")) {
            bsnap_fail(-EINVAL, "UnknownParameter", "LaunchTemplate has no field %.64s", key);
            return error_set_parameter("LaunchTemplate.%.64s", key);
        }
        if (!json_is_string(val) && !(strcmp(key, "Version") == 0 && json_is_integer(val)))
            return bad_value("LaunchTemplate", "%s: a field is not a string", "LaunchTemplate");
    }
    o.ref.id = json_string_value(json_object_get(lt, "LaunchTemplateId"));
    o.ref.name = json_string_value(json_object_get(lt, "LaunchTemplateName"));
    if (json_is_integer(jv)) {
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(jv));
        version = num;
    } else if (json_is_string(jv)) {
        version = json_string_value(jv);
    }
    if (!o.ref.id && !o.ref.name) {
        bsnap_fail(-EINVAL, "MissingParameter",
                   "The request must contain the parameter launch template ID or launch "
                   "template name");
        return error_set_parameter("LaunchTemplate");
    }
    o.versions = &version;
    o.nversions = 1;
    r = bsnap_template_versions_describe(s, &o, &doc);
    if (r < 0) {
        const char *p = bsnap_last_error()->parameter;
        if (strncmp(p, "LaunchTemplate", 14) != 0)
            error_set_parameter("LaunchTemplate.Version");
        return r;
    }
    v = json_array_get(json_object_get(doc, "LaunchTemplateVersions"), 0);
    if (!v) {
        json_decref(doc);
        bsnap_fail(-ENOENT, "InvalidLaunchTemplateId.VersionNotFound",
                   "The launch template version %.32s is not found for the specified launch "
                   "template.",
                   version);
        return error_set_parameter("LaunchTemplate.Version");
    }
    snprintf(ret_id, BSNAP_ID_MAX, "%s", rstr(v, "LaunchTemplateId"));
    snprintf(ret_version, 24, "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(v, "VersionNumber")));
    *ret = json_deep_copy(json_object_get(v, "LaunchTemplateData"));
    json_decref(doc);
    if (!*ret)
        *ret = json_object();
    return *ret ? 0 : nomem();
}

/* Merge list @over into list @base by the string member @key (an entry
 * of @over replaces @base's of the same key): a new array. */
static json_t *merge_by(const json_t *base, const json_t *over, const char *key)
{
    json_t *out = json_array(), *e;
    size_t i, k;

    if (!out)
        return NULL;
    json_array_foreach (base, i, e) {
        bool replaced = false;
        json_t *o;
        json_array_foreach (over, k, o)
            replaced |= json_equal(json_object_get(e, key), json_object_get(o, key));
        if (!replaced)
            json_array_append(out, e);
    }
    json_array_foreach (over, i, e)
        json_array_append(out, e);
    return out;
}

/* Tag specifications merged by resource type and tag key (the request's
 * value wins). */
static json_t *merge_tag_specs(const json_t *base, const json_t *over)
{
    json_t *out = json_array(), *spec;
    size_t i;
    const json_t *lists[2] = {base, over};

    if (!out)
        return NULL;
    for (int l = 0; l < 2; l++)
        json_array_foreach (lists[l], i, spec) {
            const json_t *type = json_object_get(spec, "ResourceType");
            json_t *into = NULL, *e;
            size_t j;
            json_array_foreach (out, j, e)
                if (json_equal(json_object_get(e, "ResourceType"), type))
                    into = e;
            if (!into) {
                into = json_pack("{s:O, s:[]}", "ResourceType", type, "Tags");
                json_array_append_new(out, into);
            }
            json_t *merged =
                merge_by(json_object_get(into, "Tags"), json_object_get(spec, "Tags"), "Key");
            json_object_set_new(into, "Tags", merged);
        }
    return out;
}

/* What the run launches: the request over the template's data. */
static int effective_data(const json_t *req, const json_t *tdata, json_t **ret)
{
    json_t *d = json_object(), *v;

    if (!d)
        return nomem();
    for (const char *const *f = launch_fields; *f; f++) {
        const json_t *tv = json_object_get(tdata, *f), *rv = json_object_get(req, *f);
        if (strcmp(*f, "TagSpecifications") == 0 && tv && rv)
            v = merge_tag_specs(tv, rv);
        else if (strcmp(*f, "BlockDeviceMappings") == 0 && tv && rv)
            v = merge_by(tv, rv, "DeviceName");
        else if (rv || tv)
            v = json_deep_copy(rv ? rv : tv);
        else
            continue;
        if (!v || json_object_set_new(d, *f, v) < 0) {
            json_decref(d);
            return nomem();
        }
    }
    *ret = d;
    return 0;
}

/* Check @data as a template's data is checked (template-data.c), naming
 * the run's parameters instead of LaunchTemplateData's. */
static int check_data(const json_t *data, bool from_template)
{
    _cleanup_free_ char *text = json_dumps(data, JSON_COMPACT);
    json_t *parsed = NULL;
    const json_t *specs;
    json_t *spec;
    size_t i;
    int r;

    if (!text)
        return nomem();
    r = template_data_parse(text, strlen(text), &parsed);
    json_decref(parsed);
    if (r < 0) {
        const char *p = bsnap_last_error()->parameter;
        if (!from_template && strncmp(p, "LaunchTemplateData.", 19) == 0) {
            char keep[256];
            snprintf(keep, sizeof keep, "%s", p + 19);
            error_set_parameter("%s", keep);
        }
        return r;
    }
    specs = json_object_get(data, "TagSpecifications");
    json_array_foreach (specs, i, spec) {
        const char *type = rstr(spec, "ResourceType");
        if (strcmp(type, "instance") && strcmp(type, "volume")) {
            bsnap_fail(-EINVAL, "InvalidParameterValue",
                       "'%.64s' is not a valid taggable resource type for this operation.", type);
            return error_set_parameter("TagSpecifications[%zu].ResourceType", i);
        }
    }
    return 0;
}

static int count_arg(const json_t *req, const char *name, int64_t *ret)
{
    const json_t *v = json_object_get(req, name);

    if (!v) {
        *ret = 1;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 100000) {
        bsnap_fail(-EINVAL, "InvalidParameterValue", "%s must be a number from 1", name);
        return error_set_parameter("%s", name);
    }
    *ret = json_integer_value(v);
    return 0;
}

/* ---- run: the volumes ---- */

struct mapping {
    char device[BSNAP_DEVICE_NAME_MAX];
    char snapshot[BSNAP_ID_MAX];
    uint64_t size_gib;
    char type[16];
    bool dot;
};

/* The effective mappings: the image's EBS ones overlaid by @bdms (per
 * DeviceName; NoDevice drops one).  *@ret malloc'd. */
static int mappings(const struct image_rec *img, const json_t *bdms, struct mapping **ret,
                    size_t *ret_n)
{
    size_t n = 0, cap = img->nbdm + json_array_size(bdms) + 1, i;
    struct mapping *m = calloc(cap, sizeof *m);
    json_t *b;

    if (!m)
        return nomem();
    for (i = 0; i < img->nbdm; i++) {
        const struct image_bdm *ib = &img->bdm[i];
        if (ib->kind != BDM_EBS)
            continue;
        snprintf(m[n].device, sizeof m[n].device, "%s", ib->device);
        snprintf(m[n].snapshot, sizeof m[n].snapshot, "%s", ib->snapshot_id);
        m[n].size_gib = ib->volume_size;
        snprintf(m[n].type, sizeof m[n].type, "%s", ib->volume_type);
        m[n].dot = ib->delete_on_termination < 0 ? strcmp(ib->device, img->root_device) == 0
                                                 : ib->delete_on_termination == 1;
        n++;
    }
    json_array_foreach (bdms, i, b) {
        const char *dev = rstr(b, "DeviceName");
        const json_t *ebs = json_object_get(b, "Ebs");
        size_t k;
        for (k = 0; k < n && strcmp(m[k].device, dev) != 0; k++)
            ;
        if (json_object_get(b, "NoDevice")) {
            if (k < n)
                memmove(&m[k], &m[k + 1], (n - k - 1) * sizeof *m), n--;
            continue;
        }
        if (!ebs)
            continue; /* an instance store (VirtualName): no volume */
        if (k == n) {
            memset(&m[n], 0, sizeof m[n]);
            snprintf(m[n].device, sizeof m[n].device, "%s", dev);
            n++;
        }
        if (json_is_string(json_object_get(ebs, "SnapshotId")))
            snprintf(m[k].snapshot, sizeof m[k].snapshot, "%s", rstr(ebs, "SnapshotId"));
        if (json_is_integer(json_object_get(ebs, "VolumeSize")))
            m[k].size_gib = (uint64_t)rnum(ebs, "VolumeSize");
        if (json_is_string(json_object_get(ebs, "VolumeType")))
            snprintf(m[k].type, sizeof m[k].type, "%s", rstr(ebs, "VolumeType"));
        if (json_is_boolean(json_object_get(ebs, "DeleteOnTermination")))
            m[k].dot = json_is_true(json_object_get(ebs, "DeleteOnTermination"));
        if (!m[k].snapshot[0]) {
            free(m);
            bsnap_fail(-EINVAL, "InvalidBlockDeviceMapping",
                       "%s: an instance's volumes are made from snapshots: give a SnapshotId "
                       "(empty volumes are not supported yet)",
                       dev);
            return error_set_parameter("BlockDeviceMappings[%zu].Ebs.SnapshotId", i);
        }
    }
    if (n == 0) {
        free(m);
        bsnap_fail(-EINVAL, "InvalidBlockDeviceMapping", "the launch maps no volume");
        return error_set_parameter("BlockDeviceMappings");
    }
    *ret = m;
    *ret_n = n;
    return 0;
}

/* Tags of resource type @type in the merged specifications, as an array
 * of {"Key","Value"} (borrowed from @data) or NULL. */
static const json_t *tags_of(const json_t *data, const char *type)
{
    json_t *spec;
    size_t i;

    json_array_foreach (json_object_get(data, "TagSpecifications"), i, spec)
        if (strcmp(rstr(spec, "ResourceType"), type) == 0)
            return json_object_get(spec, "Tags");
    return NULL;
}

/* Delete volumes @ids[0..n) after a failed run, keeping the failure's
 * error record. */
static int undo_volumes(bsnap_store *s, char (*ids)[BSNAP_ID_MAX], size_t n, int r)
{
    error_saved e;

    error_save(&e);
    for (size_t i = 0; i < n; i++)
        if (bsnap_volume_delete(s, ids[i]) < 0)
            bsnap_log(BSNAP_LOG_WARNING, "instance", "volume %s of a failed run: %s", ids[i],
                      bsnap_last_error()->message);
    error_restore(&e);
    return r;
}

/* ---- run ---- */

struct run {
    json_t *req, *data;
    char template_id[BSNAP_ID_MAX], template_version[24];
    bool from_template;
    int64_t min, max;
    struct image_rec img;
    struct mapping *maps;
    size_t nmaps;
    const char *type, *token;
    char *request_text;
};

static void run_clear(struct run *w)
{
    json_decref(w->data);
    image_rec_clear(&w->img);
    free(w->maps);
    free(w->request_text);
}

static int run_check(bsnap_store *s, const json_t *req, struct run *w)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    json_t *tdata = NULL;
    const char *key, *image;
    json_t *v;
    int r;

    if (!json_is_object(req))
        return bad_value("", "%s is not a JSON object", "the request");
    json_object_foreach ((json_t *)req, key, v)
        if (!in_list(request_fields, key)) {
            bsnap_fail(-EINVAL, "UnknownParameter", "RunInstances has no parameter %.64s", key);
            return error_set_parameter("%.64s", key);
        }
    w->token = json_string_value(json_object_get(req, "ClientToken"));
    if (json_object_get(req, "ClientToken") &&
        (!w->token || !w->token[0] || strlen(w->token) > INSTANCE_TOKEN_MAX))
        return bad_value("ClientToken", "a client token is 1 to 64 characters%s", "");
    if ((r = count_arg(req, "MinCount", &w->min)) < 0 ||
        (r = count_arg(req, "MaxCount", &w->max)) < 0)
        return r;
    if (!json_object_get(req, "MaxCount"))
        w->max = w->min;
    if (w->min > w->max) {
        bsnap_fail(-EINVAL, "InvalidParameterValue",
                   "MinCount (%" PRId64 ") is more than MaxCount (%" PRId64 ")", w->min, w->max);
        return error_set_parameter("MinCount");
    }
    if (json_object_get(req, "LaunchTemplate")) {
        w->from_template = true;
        if ((r = template_data(s, json_object_get(req, "LaunchTemplate"), &tdata, w->template_id,
                               w->template_version)) < 0)
            return r;
    }
    {
        json_t *sub = json_object();
        for (const char *const *f = launch_fields; sub && *f; f++)
            if (json_object_get(req, *f))
                json_object_set(sub, *f, json_object_get(req, *f));
        r = sub ? check_data(sub, false) : nomem();
        json_decref(sub);
    }
    if (r == 0)
        r = effective_data(req, tdata, &w->data);
    json_decref(tdata);
    if (r < 0 || (r = check_data(w->data, true)) < 0)
        return r;
    image = json_string_value(json_object_get(w->data, "ImageId"));
    if (!image) {
        bsnap_fail(-EINVAL, "MissingParameter", "The request must contain the parameter ImageId");
        return error_set_parameter("ImageId");
    }
    w->type = json_string_value(json_object_get(w->data, "InstanceType"));
    if (!w->type)
        w->type = DEFAULT_TYPE;
    if (!instance_type_find(w->type))
        return bad_value("InstanceType", "The instance type '%.64s' does not exist", w->type);
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0)
        return r;
    r = image_load(txn, image, &w->img);
    if (r == 0)
        r = owner_read_image(s, &w->img);
    if (r < 0)
        return error_set_parameter("ImageId");
    if (w->img.state != BSNAP_IMAGE_AVAILABLE) {
        bsnap_fail(-ESTALE, "InvalidAMIID.Unavailable",
                   "The image id '[%s]' is no longer available", image);
        return error_set_parameter("ImageId");
    }
    if (strcmp(w->img.architecture, instance_type_find(w->type)->architecture) != 0) {
        bsnap_fail(-EINVAL, "InvalidParameterValue",
                   "The architecture '%s' of the specified instance type does not match the "
                   "architecture '%s' of the specified AMI.",
                   instance_type_find(w->type)->architecture, w->img.architecture);
        return error_set_parameter("InstanceType");
    }
    r = mappings(&w->img, json_object_get(w->data, "BlockDeviceMappings"), &w->maps, &w->nmaps);
    if (r < 0)
        return r;
    w->req = (json_t *)req;
    if (w->token && !(w->request_text = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS)))
        return nomem();
    return 0;
}

/* The live (not terminated) instances of the caller; terminated ones past
 * their time are deleted when @purge (a write transaction). */
static int count_live(const bsnap_store *s, meta_txn *txn, bool purge, size_t *ret)
{
    meta_cursor *cur = NULL;
    const void *k, *v;
    size_t klen, vlen, n = 0;
    int64_t now = time_now_ms();
    char(*old)[BSNAP_ID_MAX] = NULL;
    size_t nold = 0;
    int r = meta_cursor_open(txn, T_INSTANCES, &cur);

    if (r < 0)
        return r;
    k = "i", klen = 1;
    for (r = meta_cursor_get(cur, CUR_SET_RANGE, &k, &klen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        json_t *rec = NULL;
        if (klen < 1 || ((const char *)k)[0] != 'i')
            break;
        if ((r = parse_json(v, vlen, "(walk)", &rec)) < 0)
            break;
        if (forgotten(rec, now) && purge) {
            void *p = realloc(old, (nold + 1) * sizeof *old);
            if (p) {
                old = p;
                snprintf(old[nold++], BSNAP_ID_MAX, "%s", rstr(rec, "id"));
            }
        } else if (strcmp(rstr(rec, "state"), "terminated") != 0 &&
                   strcmp(rstr(rec, "owner"), s->caller) == 0) {
            n++;
        }
        json_decref(rec);
    }
    meta_cursor_close(cur);
    if (r == -ENOENT)
        r = 0;
    for (size_t i = 0; r == 0 && i < nold; i++) {
        char key[KEY_MAX];
        r = meta_del(txn, T_INSTANCES, key, key_instance(old[i], key));
    }
    free(old);
    if (r == 0)
        *ret = n;
    return r;
}

/* An earlier run with the same token: 1 and its reservation, 0 when none. */
static int token_answer(bsnap_store *s, meta_txn *txn, const struct run *w, json_t **ret_doc)
{
    char key[KEY_MAX];
    const void *v;
    size_t vlen;
    json_t *tok = NULL, *res, *id;
    size_t i;
    int r = meta_get(txn, T_INSTANCES, key, key_token(s->caller, w->token, key), &v, &vlen);

    if (r == -ENOENT)
        return 0;
    if (r < 0 || (r = parse_json(v, vlen, "client token", &tok)) < 0)
        return r;
    if (strcmp(rstr(tok, "request"), w->request_text) != 0) {
        json_decref(tok);
        bsnap_fail(-EINVAL, "IdempotentParameterMismatch",
                   "the client token %s was used with other parameters", w->token);
        return error_set_parameter("ClientToken");
    }
    res = reservation_doc(s, rstr(tok, "reservation"), s->caller);
    json_array_foreach (json_object_get(tok, "instances"), i, id) {
        json_t *rec;
        if (load(s, txn, json_string_value(id), &rec) == 0) {
            json_array_append_new(json_object_get(res, "Instances"), instance_doc(s, rec));
            json_decref(rec);
        }
    }
    bsnap_error_clear();
    json_decref(tok);
    *ret_doc = res;
    return 1;
}

static json_t *tag_array(const json_t *tags, const struct run *w)
{
    json_t *out = tags ? json_deep_copy(tags) : json_array();

    if (out && w->from_template) {
        json_array_append_new(out, json_pack("{s:s, s:s}", "Key", "aws:ec2launchtemplate:id",
                                             "Value", w->template_id));
        json_array_append_new(out, json_pack("{s:s, s:s}", "Key", "aws:ec2launchtemplate:version",
                                             "Value", w->template_version));
    }
    return out;
}

/* Writable-volume options for mapping @m with the volume tags @tags. */
static int make_volume(bsnap_store *s, const struct mapping *m, const json_t *tags,
                       char ret_id[BSNAP_ID_MAX])
{
    bsnap_writable_volume_options o = {0};
    bsnap_tag t[TAGS_MAX];
    json_t *doc = NULL, *tag;
    size_t i;
    int r;

    json_array_foreach (tags, i, tag) {
        if (i >= TAGS_MAX)
            break;
        t[i].key = rstr(tag, "Key");
        t[i].value = rstr(tag, "Value");
        o.ntags = i + 1;
    }
    o.tags = t;
    o.size_gib = m->size_gib;
    o.volume_type = m->type[0] ? m->type : NULL;
    r = bsnap_volume_create_writable(s, m->snapshot, &o, &doc);
    if (r < 0)
        return r;
    snprintf(ret_id, BSNAP_ID_MAX, "%s", rstr(doc, "VolumeId"));
    json_decref(doc);
    return 0;
}

static int run_write(bsnap_store *s, struct run *w, size_t count, char (*vols)[BSNAP_ID_MAX],
                     json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    char rid[BSNAP_ID_MAX], key[KEY_MAX];
    json_t *res, *ids = json_array(), *itags = tag_array(tags_of(w->data, "instance"), w);
    int64_t now = time_now_ms();
    size_t live;
    int r;

    res = NULL;
    if (!ids || !itags) {
        r = nomem();
        goto out;
    }
    if ((r = id_generate("r", rid)) < 0) {
        r = bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
        goto out;
    }
    if ((r = meta_txn_begin(s->meta, true, &txn)) < 0 || (r = count_live(s, txn, true, &live)) < 0)
        goto out;
    res = reservation_doc(s, rid, s->caller);
    for (size_t i = 0; i < count; i++) {
        char id[BSNAP_ID_MAX];
        json_t *rec, *vl = json_array();
        if ((r = id_generate("i", id)) < 0) {
            r = bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
            json_decref(vl);
            goto out;
        }
        for (size_t k = 0; k < w->nmaps; k++) {
            struct volume_rec vol = {0};
            const char *vid = vols[i * w->nmaps + k];
            json_array_append_new(vl, json_pack("{s:s, s:s, s:b}", "device", w->maps[k].device,
                                                "volume", vid, "delete", w->maps[k].dot));
            if ((r = catalog_volume_load(txn, vid, &vol)) == 0) {
                snprintf(vol.attach_instance, sizeof vol.attach_instance, "%s", id);
                snprintf(vol.attach_device, sizeof vol.attach_device, "%s", w->maps[k].device);
                vol.attach_delete = w->maps[k].dot;
                vol.attach_ms = now;
                r = catalog_volume_save(txn, &vol);
            }
            volume_rec_clear(&vol);
            if (r < 0) {
                json_decref(vl);
                goto out;
            }
        }
        rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:s, s:s, s:s, s:s, s:o, "
                        "s:O}",
                        "id", id, "reservation", rid, "owner", s->caller, "image", w->img.id,
                        "type", w->type, "launch-ms", (json_int_t)now, "index", (json_int_t)i,
                        "state", "pending", "state-ms", (json_int_t)now, "architecture",
                        w->img.architecture, "boot-mode",
                        w->img.boot_mode[0] ? w->img.boot_mode : w->img.detected, "root-device",
                        w->img.root_device, "transition", "", "volumes", vl, "tags", itags);
        if (rec && json_object_get(w->data, "UserData"))
            json_object_set(rec, "user-data", json_object_get(w->data, "UserData"));
        if (rec && json_object_get(w->data, "KeyName"))
            json_object_set(rec, "key-name", json_object_get(w->data, "KeyName"));
        if (rec && w->from_template)
            json_object_set_new(
                rec, "template",
                json_pack("{s:s, s:s}", "id", w->template_id, "version", w->template_version));
        if (!rec) {
            r = nomem();
            goto out;
        }
        r = put_json(txn, key, key_instance(id, key), rec);
        if (r == 0)
            r = json_array_append_new(json_object_get(res, "Instances"), instance_doc(s, rec));
        json_array_append_new(ids, json_string(id));
        json_decref(rec);
        if (r < 0)
            goto out;
    }
    if (w->token) {
        json_t *tok = json_pack("{s:s, s:s, s:O}", "reservation", rid, "request", w->request_text,
                                "instances", ids);
        r = tok ? put_json(txn, key, key_token(s->caller, w->token, key), tok) : nomem();
        json_decref(tok);
        if (r < 0)
            goto out;
    }
    if ((r = meta_txn_commit(steal_ptr(txn))) < 0)
        goto out;
    *ret_doc = steal_ptr(res);
out:
    json_decref(res);
    json_decref(ids);
    json_decref(itags);
    return r;
}

int bsnap_instance_run(bsnap_store *s, const json_t *req, json_t **ret_doc)
{
    struct run w = {0};
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    char(*vols)[BSNAP_ID_MAX] = NULL;
    size_t live, count, made = 0;
    int r;

    bsnap_error_clear();
    if ((r = run_check(s, req, &w)) < 0)
        goto out;
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0)
        goto out;
    if (w.token && (r = token_answer(s, txn, &w, ret_doc)) != 0) {
        r = r < 0 ? r : 0;
        goto out;
    }
    if ((r = count_live(s, txn, false, &live)) < 0)
        goto out;
    meta_txn_abort(steal_ptr(txn));
    if (live + (size_t)w.min > INSTANCE_LIMIT) {
        r = bsnap_fail(-EDQUOT, "InstanceLimitExceeded",
                       "You have requested more instances (%" PRId64 ") than your current "
                       "instance limit of %d allows (%zu running or stopped).",
                       w.min, INSTANCE_LIMIT, live);
        error_set_parameter("MinCount");
        goto out;
    }
    count = (size_t)w.max < INSTANCE_LIMIT - live ? (size_t)w.max : INSTANCE_LIMIT - live;
    if (!(vols = calloc(count * w.nmaps, sizeof *vols))) {
        r = nomem();
        goto out;
    }
    /* The volume step: a writable volume per mapping, in constant time
     * each (no data is copied).  Its time is logged for the benchmarks. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < count; i++)
        for (size_t k = 0; k < w.nmaps; k++) {
            r = make_volume(s, &w.maps[k], tags_of(w.data, "volume"), vols[made]);
            if (r < 0) {
                error_param(r, "BlockDeviceMappings[%zu]", k);
                r = undo_volumes(s, vols, made, r);
                goto out;
            }
            made++;
        }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (bsnap_debug_enabled("instance"))
        bsnap_log(BSNAP_LOG_DEBUG, "instance", "run: volume step: %zu volumes in %.3f ms", made,
                  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    r = run_write(s, &w, count, vols, ret_doc);
    if (r < 0)
        r = undo_volumes(s, vols, made, r);
out:
    free(vols);
    run_clear(&w);
    return r;
}

/* ---- describe ---- */

static const char *const filter_names[] = {
    "instance-id",
    "instance-state-name",
    "instance-state-code",
    "image-id",
    "instance-type",
    "reservation-id",
    "key-name",
    "architecture",
    "block-device-mapping.volume-id",
    "launch-template-id",
    NULL,
};

static bool values_match(const bsnap_filter *f, const char *v)
{
    for (size_t i = 0; i < f->nvalues; i++)
        if (ec2_wildcard_match(f->values[i], v) == 1)
            return true;
    return false;
}

static bool tag_match(const json_t *rec, const bsnap_filter *f, const char *key)
{
    json_t *t;
    size_t i;

    json_array_foreach (json_object_get(rec, "tags"), i, t) {
        if (key ? strcmp(rstr(t, "Key"), key) == 0 && values_match(f, rstr(t, "Value"))
                : values_match(f, rstr(t, "Key")))
            return true;
    }
    return false;
}

static bool matches(const json_t *rec, const bsnap_filter *fs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const bsnap_filter *f = &fs[i];
        const char *name = f->name;
        char code[8];
        bool ok = false;
        json_t *v;
        size_t k;

        if (strncmp(name, "tag:", 4) == 0)
            ok = tag_match(rec, f, name + 4);
        else if (strcmp(name, "tag-key") == 0)
            ok = tag_match(rec, f, NULL);
        else if (strcmp(name, "instance-id") == 0)
            ok = values_match(f, rstr(rec, "id"));
        else if (strcmp(name, "instance-state-name") == 0)
            ok = values_match(f, rstr(rec, "state"));
        else if (strcmp(name, "instance-state-code") == 0) {
            snprintf(code, sizeof code, "%d", instance_state_code(rstr(rec, "state")));
            ok = values_match(f, code);
        } else if (strcmp(name, "image-id") == 0)
            ok = values_match(f, rstr(rec, "image"));
        else if (strcmp(name, "instance-type") == 0)
            ok = values_match(f, rstr(rec, "type"));
        else if (strcmp(name, "reservation-id") == 0)
            ok = values_match(f, rstr(rec, "reservation"));
        else if (strcmp(name, "key-name") == 0)
            ok = values_match(f, rstr(rec, "key-name"));
        else if (strcmp(name, "architecture") == 0)
            ok = values_match(f, rstr(rec, "architecture"));
        else if (strcmp(name, "launch-template-id") == 0)
            ok = values_match(f, rstr(json_object_get(rec, "template"), "id"));
        else if (strcmp(name, "block-device-mapping.volume-id") == 0)
            json_array_foreach (json_object_get(rec, "volumes"), k, v)
                ok |= values_match(f, rstr(v, "volume"));
        if (!ok)
            return false;
    }
    return true;
}

int bsnap_instance_describe(bsnap_store *s, const bsnap_describe_options *o, json_t **ret_doc)
{
    static const bsnap_describe_options none;
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    meta_cursor *cur = NULL;
    const void *k, *v;
    size_t klen, vlen, listed = 0;
    int64_t now = time_now_ms();
    json_t *list = NULL, *byres = NULL;
    bool *seen = NULL;
    char last[BSNAP_ID_MAX] = "";
    bool more = false;
    int r;

    bsnap_error_clear();
    if (!o)
        o = &none;
    for (size_t i = 0; i < o->nids; i++)
        if ((r = check_id(o->ids[i])) < 0)
            return error_set_parameter("InstanceIds[%zu]", i);
    for (size_t i = 0; i < o->nfilters; i++)
        if (!o->filters[i].name ||
            (!in_list(filter_names, o->filters[i].name) && strcmp(o->filters[i].name, "tag-key") &&
             strncmp(o->filters[i].name, "tag:", 4))) {
            bsnap_fail(-EINVAL, "InvalidParameterValue", "The filter '%.64s' is invalid",
                       o->filters[i].name ? o->filters[i].name : "");
            return error_set_parameter("Filters[%zu].Name", i);
        }
    if (o->nids && (o->max_results || o->next_token)) {
        bsnap_fail(-EINVAL, "InvalidParameterCombination",
                   "The parameter instancesSet cannot be used with the parameter maxResults");
        return error_set_parameter("MaxResults");
    }
    if (o->next_token && check_id(o->next_token) < 0) {
        bsnap_fail(-EINVAL, "InvalidNextToken", "The token '%.64s' is invalid", o->next_token);
        return error_set_parameter("NextToken");
    }
    list = json_array();
    byres = json_object();
    seen = calloc(o->nids + 1, sizeof *seen);
    if (!list || !byres || !seen) {
        r = nomem();
        goto out;
    }
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0 ||
        (r = meta_cursor_open(txn, T_INSTANCES, &cur)) < 0)
        goto out;
    {
        char start[KEY_MAX];
        size_t slen = o->next_token ? key_instance(o->next_token, start) : 1;
        if (!o->next_token)
            start[0] = 'i';
        k = start, klen = slen;
        r = meta_cursor_get(cur, CUR_SET_RANGE, &k, &klen, &v, &vlen);
    }
    for (; r == 0; r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        json_t *rec = NULL, *res;
        const char *id;
        bool wanted = o->nids == 0;
        if (klen < 1 || ((const char *)k)[0] != 'i')
            break;
        if ((r = parse_json(v, vlen, "(walk)", &rec)) < 0)
            break;
        id = rstr(rec, "id");
        if (o->next_token && strcmp(id, o->next_token) <= 0) {
            json_decref(rec);
            continue;
        }
        if (!owner_visible(s, rstr(rec, "owner")) || forgotten(rec, now)) {
            json_decref(rec);
            continue;
        }
        for (size_t i = 0; i < o->nids; i++)
            if (strcmp(o->ids[i], id) == 0)
                seen[i] = wanted = true;
        if (!wanted || !matches(rec, o->filters, o->nfilters)) {
            json_decref(rec);
            continue;
        }
        if (o->max_results && listed >= o->max_results) {
            more = true;
            json_decref(rec);
            break;
        }
        res = json_object_get(byres, rstr(rec, "reservation"));
        if (!res) {
            res = reservation_doc(s, rstr(rec, "reservation"), rstr(rec, "owner"));
            json_object_set_new(byres, rstr(rec, "reservation"), res);
            json_array_append(list, res);
        }
        json_array_append_new(json_object_get(res, "Instances"), instance_doc(s, rec));
        snprintf(last, sizeof last, "%s", id);
        listed++;
        json_decref(rec);
    }
    if (r == -ENOENT)
        r = 0;
    if (r < 0)
        goto out;
    for (size_t i = 0; i < o->nids; i++)
        if (!seen[i]) {
            r = not_found(o->ids[i]);
            error_set_parameter("InstanceIds[%zu]", i);
            goto out;
        }
    {
        json_t *doc = json_pack("{s:O}", "Reservations", list);
        if (doc && more)
            json_object_set_new(doc, "NextToken", json_string(last));
        if (!doc) {
            r = nomem();
            goto out;
        }
        *ret_doc = doc;
    }
out:
    meta_cursor_close(cur);
    json_decref(list);
    json_decref(byres);
    free(seen);
    return r;
}

/* ---- one instance ---- */

static json_t *launch_doc(const bsnap_store *s, const json_t *rec)
{
    const struct instance_type *t = instance_type_find(rstr(rec, "type"));
    json_t *vols = json_array(), *v, *doc;
    size_t i;

    json_array_foreach (json_object_get(rec, "volumes"), i, v)
        json_array_append_new(vols, json_pack("{s:s, s:s, s:O}", "DeviceName", rstr(v, "device"),
                                              "VolumeId", rstr(v, "volume"), "DeleteOnTermination",
                                              json_object_get(v, "delete")));
    doc = json_pack("{s:i, s:i, s:s, s:s, s:o, s:s}", "VCpus", t ? (int)t->vcpus : 1, "MemoryMiB",
                    t ? (int)t->memory_mib : 512, "BootMode", rstr(rec, "boot-mode"),
                    "RootDeviceName", rstr(rec, "root-device"), "Volumes", vols, "Account",
                    owner_of(s, rstr(rec, "owner")));
    if (doc && json_object_get(rec, "user-data"))
        json_object_set(doc, "UserData", json_object_get(rec, "user-data"));
    return doc;
}

int bsnap_instance_get(bsnap_store *s, const char *id, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    json_t *rec = NULL, *doc;
    int r;

    bsnap_error_clear();
    if ((r = check_id(id)) < 0)
        return error_set_parameter("InstanceId");
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0)
        return r;
    if ((r = load(s, txn, id, &rec)) < 0)
        return error_set_parameter("InstanceId");
    doc = json_pack(
        "{s:o, s:o, s:O}", "Instance", instance_doc(s, rec), "Launch", launch_doc(s, rec),
        "Runtime", json_object_get(rec, "runtime") ? json_object_get(rec, "runtime") : json_null());
    json_decref(rec);
    if (!doc)
        return nomem();
    *ret_doc = doc;
    return 0;
}

/* Terminated: the volumes marked DeleteOnTermination go, the others are
 * detached; *@ret_gone lists the deleted (their files go after commit). */
static int release_volumes(bsnap_store *s, meta_txn *txn, const json_t *rec, json_t *gone,
                           int *lockfds, size_t *nlocks)
{
    json_t *v;
    size_t i;
    int r = 0;

    json_array_foreach (json_object_get(rec, "volumes"), i, v) {
        struct volume_rec vol = {0};
        const char *vid = rstr(v, "volume");
        r = catalog_volume_load(txn, vid, &vol);
        if (r == -ENOENT) {
            bsnap_error_clear();
            r = 0;
            continue; /* gone already */
        }
        if (r < 0)
            return r;
        if (strcmp(vol.attach_instance, rstr(rec, "id")) != 0) {
            volume_rec_clear(&vol);
            continue;
        }
        if (vol.attach_delete) {
            int fd = -1;
            r = cow_lock_for_delete(s, vid, &fd);
            if (r == -ENOENT)
                r = 0, bsnap_error_clear();
            if (r == 0)
                r = catalog_volume_delete(txn, vid, vol.path);
            if (fd >= 0)
                lockfds[(*nlocks)++] = fd;
            if (r == 0)
                json_array_append_new(gone, json_string(vid));
        } else {
            vol.attach_instance[0] = vol.attach_device[0] = '\0';
            vol.attach_delete = false;
            vol.attach_ms = 0;
            r = catalog_volume_save(txn, &vol);
        }
        volume_rec_clear(&vol);
        if (r < 0)
            return r;
    }
    return 0;
}

int bsnap_instance_set_state(bsnap_store *s, const char *id, const bsnap_instance_change *c,
                             json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    char key[KEY_MAX], prev[20];
    json_t *rec = NULL, *gone = json_array(), *doc;
    int locks[64];
    size_t nlocks = 0, i;
    json_t *g;
    int r;

    bsnap_error_clear();
    if (!gone)
        return nomem();
    if ((r = check_id(id)) < 0) {
        json_decref(gone);
        return error_set_parameter("InstanceId");
    }
    if (instance_state_code(c->state) < 0) {
        json_decref(gone);
        return bad_value("State", "%.32s is not an instance state", c->state);
    }
    if ((r = meta_txn_begin(s->meta, true, &txn)) < 0 || (r = load(s, txn, id, &rec)) < 0) {
        json_decref(gone);
        return r == -ENOENT ? error_set_parameter("InstanceId") : r;
    }
    snprintf(prev, sizeof prev, "%s", rstr(rec, "state"));
    if (!instance_transition_ok(prev, c->state)) {
        r = bsnap_fail(-EBUSY, "IncorrectInstanceState",
                       "The instance '%s' is not in a state from which it can be %s (it is %s)", id,
                       c->state, prev);
        error_set_parameter("InstanceId");
        goto out;
    }
    if (strcmp(prev, c->state) != 0)
        json_object_set_new(rec, "state-ms", json_integer(time_now_ms()));
    json_object_set_new(rec, "state", json_string(c->state));
    if (c->reason_code) {
        json_object_set_new(rec, "reason-code", json_string(c->reason_code));
        json_object_set_new(rec, "reason-message",
                            json_string(c->reason_message ? c->reason_message : ""));
    }
    if (c->transition_reason)
        json_object_set_new(rec, "transition", json_string(c->transition_reason));
    if (c->runtime)
        json_object_set(rec, "runtime", (json_t *)c->runtime);
    else if (c->clear_runtime)
        json_object_del(rec, "runtime");
    if (strcmp(c->state, "terminated") == 0 && strcmp(prev, "terminated") != 0 &&
        (json_array_size(json_object_get(rec, "volumes")) > sizeof locks / sizeof locks[0] ||
         (r = release_volumes(s, txn, rec, gone, locks, &nlocks)) < 0))
        goto out;
    if ((r = put_json(txn, key, key_instance(id, key), rec)) < 0 ||
        (r = meta_txn_commit(steal_ptr(txn))) < 0)
        goto out;
    json_array_foreach (gone, i, g)
        cow_remove_files(s, json_string_value(g));
    doc = json_pack("{s:s, s:o, s:o}", "InstanceId", id, "CurrentState", state_json(c->state),
                    "PreviousState", state_json(prev));
    if (!doc) {
        r = nomem();
        goto out;
    }
    *ret_doc = doc;
out:
    for (i = 0; i < nlocks; i++)
        close(locks[i]);
    json_decref(gone);
    json_decref(rec);
    return r;
}

const char *bsnap_store_path(const bsnap_store *s)
{
    return s->path;
}

int bsnap_instance_template_data(bsnap_store *s, const char *id, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    json_t *rec = NULL, *data, *bdms, *tags, *v, *doc;
    size_t i;
    int r;

    bsnap_error_clear();
    if ((r = check_id(id)) < 0)
        return error_set_parameter("InstanceId");
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0)
        return r;
    if ((r = load(s, txn, id, &rec)) < 0)
        return error_set_parameter("InstanceId");
    data =
        json_pack("{s:s, s:s}", "ImageId", rstr(rec, "image"), "InstanceType", rstr(rec, "type"));
    bdms = json_array();
    tags = json_array();
    if (!data || !bdms || !tags) {
        r = nomem();
        goto out;
    }
    if (*rstr(rec, "key-name"))
        json_object_set_new(data, "KeyName", json_string(rstr(rec, "key-name")));
    if (*rstr(rec, "user-data"))
        json_object_set_new(data, "UserData", json_string(rstr(rec, "user-data")));
    /* each volume as its mapping: its device, size and type, and whether
     * termination deletes it (a terminated instance has none left) */
    json_array_foreach (json_object_get(rec, "volumes"), i, v) {
        struct volume_rec vol = {0};
        json_t *ebs;
        if (strcmp(rstr(rec, "state"), "terminated") == 0)
            break;
        ebs = json_pack("{s:O}", "DeleteOnTermination", json_object_get(v, "delete"));
        r = catalog_volume_load(txn, rstr(v, "volume"), &vol);
        if (r == 0 && ebs) {
            json_object_set_new(ebs, "VolumeSize",
                                json_integer((json_int_t)((vol.size + (1ull << 30) - 1) >> 30)));
            if (vol.volume_type[0])
                json_object_set_new(ebs, "VolumeType", json_string(vol.volume_type));
        } else if (r == -ENOENT) {
            bsnap_error_clear();
            r = 0;
        }
        volume_rec_clear(&vol);
        if (r < 0 || !ebs) {
            json_decref(ebs);
            r = r < 0 ? r : nomem();
            goto out;
        }
        json_array_append_new(bdms,
                              json_pack("{s:s, s:o}", "DeviceName", rstr(v, "device"), "Ebs", ebs));
    }
    /* the user's tags: the aws: ones are EC2's own, not launch data */
    json_array_foreach (json_object_get(rec, "tags"), i, v)
        if (strncmp(rstr(v, "Key"), "aws:", 4) != 0)
            json_array_append(tags, v);
    if (json_array_size(bdms))
        json_object_set(data, "BlockDeviceMappings", bdms);
    if (json_array_size(tags))
        json_object_set_new(data, "TagSpecifications",
                            json_pack("[{s:s, s:O}]", "ResourceType", "instance", "Tags", tags));
    doc = json_pack("{s:O}", "LaunchTemplateData", data);
    if (!doc) {
        r = nomem();
        goto out;
    }
    *ret_doc = doc;
out:
    json_decref(data);
    json_decref(bdms);
    json_decref(tags);
    json_decref(rec);
    return r;
}
