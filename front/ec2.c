/* ec2.c - EC2's query actions, each one engine call made from one
 * request's typed parameters.
 *
 * The CLI's verbs read options and call the engine; this file reads an
 * EC2 query request (ec2-request.c) and makes the same engine calls, so
 * that a front end that speaks EC2's protocol (the API server) is a table
 * lookup: bsf_ec2_run() finds the action, checks that every parameter is
 * one it takes (UnknownParameter otherwise, as EC2), reads them into the
 * engine's options and returns the engine's document.  Each action is a
 * short function over the readers of ec2.h; an action's parameters are
 * listed next to it by their wire names' first part ("SnapshotId" covers
 * "SnapshotId.3", "Filter" every "Filter.N.…").
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec2.h"
#include "front.h"

#define EC2_VERSION "2016-11-15"

typedef int (*ec2_action_fn)(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc);

struct ec2_action {
    const char *name;
    ec2_action_fn run;
    const char *const *params; /* the first parts of its parameters' names */
};

/* The engine's failure as this library's record (one record for the
 * caller to read), returning its errno. */
static int engine_error(int r)
{
    const bsnap_error *e = bsnap_last_error();
    return front_fail(r, e->code[0] ? e->code : "InternalError", "%s", e->message);
}

/* A document {"Return": true}: EC2's answer of a call that returns nothing. */
static int return_true(int r, json_t **ret_doc)
{
    if (r < 0)
        return engine_error(r);
    if (!(*ret_doc = json_pack("{s:b}", "Return", 1)))
        return ec2_nomem();
    return 0;
}

static int doc_or_error(int r, json_t *doc, json_t **ret_doc)
{
    if (r < 0)
        return engine_error(r);
    *ret_doc = doc;
    return 0;
}

/* "self" as the calling account. */
static int resolve_self(const bsf_ec2_env *env, bsf_ec2_request *q, const char **v, size_t n)
{
    (void)q;
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], "self") == 0)
            v[i] = bsnap_store_account(env->store);
    return 0;
}

/* Add filter @name with values @v to @o's (the filters are copied into a
 * block the request holds). */
static int add_filter(bsf_ec2_request *q, bsnap_describe_options *o, const char *name,
                      const char *const *v, size_t n)
{
    bsnap_filter *f = ec2_hold(q, calloc(o->nfilters + 1, sizeof *f));

    if (!f)
        return ec2_nomem();
    if (o->nfilters)
        memcpy(f, o->filters, o->nfilters * sizeof *f);
    f[o->nfilters++] = (bsnap_filter){name, v, n};
    o->filters = f;
    return 0;
}

/* The ids of @ids_name, Filter.N, MaxResults and NextToken.  Ids answer in
 * one page: the aws CLI adds MaxResults=1000 to a describe of given ids
 * too, which EC2 itself takes. */
static int describe_options(bsf_ec2_request *q, const char *ids_name, bsnap_describe_options *o)
{
    bsnap_filter *f = NULL;
    uint64_t max;
    int r;

    memset(o, 0, sizeof *o);
    if ((r = ec2_list(q, ids_name, (const char ***)&o->ids, &o->nids)) < 0 ||
        (r = ec2_filters(q, &f, &o->nfilters)) < 0 ||
        (r = ec2_uint(q, "MaxResults", UINT32_MAX, &max)) < 0)
        return r;
    o->filters = f;
    o->next_token = bsf_ec2_get(q, "NextToken");
    if (!o->nids || o->next_token)
        o->max_results = (uint32_t)max;
    return 0;
}

/* A permission change: @attr.Add.N.UserId / .Group and @attr.Remove.N.…,
 * or the flat OperationType with UserId.N and UserGroup.N. */
static int permission_change(bsf_ec2_request *q, const char *attr, bsnap_permission_change *c)
{
    const char *op = bsf_ec2_get(q, "OperationType");
    const char **users = NULL, **groups = NULL;
    size_t nusers = 0, ngroups = 0;
    char prefix[96];
    int r;

    memset(c, 0, sizeof *c);
    if ((r = ec2_list(q, "UserId", &users, &nusers)) < 0 ||
        (r = ec2_list(q, "UserGroup", &groups, &ngroups)) < 0)
        return r;
    if (op) {
        bool add = strcmp(op, "add") == 0;
        if (!add && strcmp(op, "remove") != 0)
            return front_fail(-EINVAL, "InvalidParameterValue",
                              "Value (%.*s) for parameter OperationType is invalid. Expected: "
                              "'add' or 'remove'.",
                              SHOWN(op));
        if (add) {
            c->add_users = users, c->nadd_users = nusers;
            c->add_groups = groups, c->nadd_groups = ngroups;
        } else {
            c->remove_users = users, c->nremove_users = nusers;
            c->remove_groups = groups, c->nremove_groups = ngroups;
        }
    } else if (nusers || ngroups) {
        return front_fail(-EINVAL, "MissingParameter",
                          "The request must contain the parameter OperationType");
    }
    for (int add = 0; add < 2; add++) {
        const char **u, **g;
        unsigned long *idx;
        size_t n, nu = 0, ng = 0;
        char name[128];

        /* @attr.Add.N.UserId, @attr.Add.N.Group */
        snprintf(prefix, sizeof prefix, "%s.%s", attr, add ? "Add" : "Remove");
        if ((r = ec2_groups(q, prefix, &idx, &n)) < 0)
            return r;
        if (!n) {
            free(idx);
            continue;
        }
        u = ec2_hold(q, calloc(n, sizeof *u));
        g = u ? ec2_hold(q, calloc(n, sizeof *g)) : NULL;
        if (!g) {
            free(idx);
            return ec2_nomem();
        }
        for (size_t i = 0; i < n; i++) {
            snprintf(name, sizeof name, "%s.%lu.UserId", prefix, idx[i]);
            if ((u[nu] = bsf_ec2_get(q, name)))
                nu++;
            snprintf(name, sizeof name, "%s.%lu.Group", prefix, idx[i]);
            if ((g[ng] = bsf_ec2_get(q, name)))
                ng++;
        }
        free(idx);
        if (add) {
            c->add_users = u, c->nadd_users = nu, c->add_groups = g, c->nadd_groups = ng;
        } else {
            c->remove_users = u, c->nremove_users = nu;
            c->remove_groups = g, c->nremove_groups = ng;
        }
    }
    return 0;
}

/* ---- snapshots ------------------------------------------------------------ */

static const char *const create_snapshot_params[] = {"VolumeId", "Description", "TagSpecification",
                                                     NULL};

static int create_snapshot(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    bsnap_snapshot_options o = {0};
    bsnap_tag *tags = NULL;
    char id[BSNAP_ID_MAX];
    json_t *doc = NULL;
    int r;

    if ((r = ec2_required(q, "VolumeId", &o.volume_id)) < 0 ||
        (r = ec2_tag_specs(q, "snapshot", &tags, &o.ntags)) < 0)
        return r;
    o.tags = tags;
    o.description = bsf_ec2_get(q, "Description");
    o.run.cancel = env->cancel;
    if ((r = bsnap_snapshot_create(env->store, &o, id, NULL)) < 0)
        return engine_error(r);
    r = bsnap_snapshot_describe_one(env->store, id, &doc);
    return doc_or_error(r, doc, ret_doc);
}

static const char *const describe_snapshots_params[] = {
    "SnapshotId", "Owner", "RestorableBy", "Filter", "MaxResults", "NextToken", NULL};

static int describe_snapshots(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    bsnap_describe_options o;
    const char **owners = NULL, **rest = NULL;
    size_t nowners = 0, nrest = 0;
    json_t *doc = NULL;
    int r;

    if ((r = describe_options(q, "SnapshotId", &o)) < 0 ||
        (r = ec2_list(q, "Owner", &owners, &nowners)) < 0 ||
        (r = ec2_list(q, "RestorableBy", &rest, &nrest)) < 0)
        return r;
    resolve_self(env, q, owners, nowners);
    resolve_self(env, q, rest, nrest);
    if ((nowners && (r = add_filter(q, &o, "owner-id", owners, nowners)) < 0) ||
        (nrest && (r = add_filter(q, &o, "restorable-by", rest, nrest)) < 0))
        return r;
    r = bsnap_snapshot_describe(env->store, &o, &doc);
    return doc_or_error(r, doc, ret_doc);
}

static const char *const delete_snapshot_params[] = {"SnapshotId", NULL};

static int delete_snapshot(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    const char *id;
    int r;

    if ((r = ec2_required(q, "SnapshotId", &id)) < 0)
        return r;
    return return_true(bsnap_snapshot_delete(env->store, id), ret_doc);
}

/* The store of @region for a copy's source: this one, or another the
 * front end serves. */
static int source_store(const bsf_ec2_env *env, const char *region, bsnap_store **ret,
                        bool *ret_own)
{
    *ret_own = false;
    if (strcmp(region, env->region) == 0) {
        *ret = env->store;
        return 0;
    }
    if (!env->region_store || env->region_store(env->ud, region, ret) < 0)
        return front_fail(-EINVAL, "InvalidRegion", "the region '%.*s' is not served here",
                          SHOWN(region));
    *ret_own = true;
    return 0;
}

static const char *const copy_snapshot_params[] = {
    "SourceRegion",     "SourceSnapshotId",  "Description",  "Encrypted", "KmsKeyId",
    "TagSpecification", "DestinationRegion", "PresignedUrl", NULL};

/* A copy that answers once it is recorded pending and goes on in the
 * front end's background (EC2's CopySnapshot): the request and the
 * background thread share it, the last one frees it. */
struct copy_job {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int refs;
    bool started, done;
    int r;
    char code[64], message[512];
    char id[BSNAP_ID_MAX];
    bsnap_store *dst, *src;
    bsnap_copy_options o;
    char *strings[4]; /* what o's strings point to */
    bsnap_tag *tags;
    char **tag_strings;
    size_t ntags;
};

static void copy_job_release(struct copy_job *j)
{
    bool last;

    pthread_mutex_lock(&j->lock);
    last = --j->refs == 0;
    pthread_mutex_unlock(&j->lock);
    if (!last)
        return;
    bsnap_store_close(j->src);
    bsnap_store_close(j->dst);
    for (size_t i = 0; i < ARRAY_SIZE(j->strings); i++)
        free(j->strings[i]);
    for (size_t i = 0; i < 2 * j->ntags; i++)
        free(j->tag_strings[i]);
    free(j->tag_strings);
    free(j->tags);
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->cond);
    free(j);
}

static void copy_started(void *ud, const char *id)
{
    struct copy_job *j = ud;

    pthread_mutex_lock(&j->lock);
    snprintf(j->id, sizeof j->id, "%s", id);
    j->started = true;
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->lock);
}

static void copy_run(void *arg)
{
    struct copy_job *j = arg;
    char id[BSNAP_ID_MAX];
    int r = bsnap_snapshot_copy(j->dst, j->src, &j->o, id, NULL);
    const bsnap_error *e = bsnap_last_error();

    pthread_mutex_lock(&j->lock);
    j->done = true;
    j->r = r;
    if (r < 0) {
        snprintf(j->code, sizeof j->code, "%s", e->code[0] ? e->code : "InternalError");
        snprintf(j->message, sizeof j->message, "%s", e->message);
    } else if (!j->started) {
        snprintf(j->id, sizeof j->id, "%s", id);
    }
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->lock);
    copy_job_release(j);
}

/* Copy @s (NULL stays NULL) into slot @i of @j's strings. */
static const char *job_string(struct copy_job *j, size_t i, const char *s, bool *nomem)
{
    if (!s)
        return NULL;
    if (!(j->strings[i] = strdup(s)))
        *nomem = true;
    return j->strings[i];
}

static int copy_job_new(const bsf_ec2_env *env, const char *region, const bsnap_copy_options *o,
                        struct copy_job **ret)
{
    struct copy_job *j = calloc(1, sizeof *j);
    bool nomem = false, own;
    int r;

    if (!j)
        return ec2_nomem();
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->cond, NULL);
    j->refs = 1;
    j->o = *o;
    j->o.source_snapshot_id = job_string(j, 0, o->source_snapshot_id, &nomem);
    j->o.description = job_string(j, 1, o->description, &nomem);
    j->o.kms_key_id = job_string(j, 2, o->kms_key_id, &nomem);
    j->o.started = copy_started;
    j->o.started_ud = j;
    if (o->ntags && (!(j->tags = calloc(o->ntags, sizeof *j->tags)) ||
                     !(j->tag_strings = calloc(2 * o->ntags, sizeof *j->tag_strings))))
        nomem = true;
    for (size_t i = 0; !nomem && i < o->ntags; i++) {
        j->ntags = i + 1;
        j->tag_strings[2 * i] = strdup(o->tags[i].key);
        j->tag_strings[2 * i + 1] = o->tags[i].value ? strdup(o->tags[i].value) : NULL;
        nomem = !j->tag_strings[2 * i] || (o->tags[i].value && !j->tag_strings[2 * i + 1]);
        j->tags[i] = (bsnap_tag){j->tag_strings[2 * i], j->tag_strings[2 * i + 1]};
    }
    j->o.tags = j->tags;
    if (nomem) {
        copy_job_release(j);
        return ec2_nomem();
    }
    /* views of their own: the request's go when it is answered */
    if ((r = bsnap_store_view(env->store, bsnap_store_account(env->store), &j->dst)) < 0) {
        copy_job_release(j);
        return engine_error(r);
    }
    if ((r = source_store(env, region, &j->src, &own)) < 0) {
        copy_job_release(j);
        return r;
    }
    if (!own && (r = bsnap_store_view(env->store, bsnap_store_account(env->store), &j->src)) < 0) {
        j->src = NULL;
        copy_job_release(j);
        return engine_error(r);
    }
    *ret = j;
    return 0;
}

static int copy_snapshot(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    bsnap_copy_options o = {0};
    const char *region, *dest = bsf_ec2_get(q, "DestinationRegion");
    bsnap_store *src = NULL;
    struct copy_job *j = NULL;
    bsnap_tristate enc;
    bsnap_tag *tags = NULL;
    char id[BSNAP_ID_MAX];
    bool own;
    int r;

    if ((r = ec2_required(q, "SourceRegion", &region)) < 0 ||
        (r = ec2_required(q, "SourceSnapshotId", &o.source_snapshot_id)) < 0 ||
        (r = ec2_bool(q, "Encrypted", &enc)) < 0 ||
        (r = ec2_tag_specs(q, "snapshot", &tags, &o.ntags)) < 0)
        return r;
    if (dest && strcmp(dest, env->region) != 0)
        return front_fail(-EINVAL, "InvalidParameterValue",
                          "DestinationRegion '%.*s' is not the region of the request (%s)",
                          SHOWN(dest), env->region);
    o.tags = tags;
    o.description = bsf_ec2_get(q, "Description");
    o.encrypted = enc == BSNAP_TRUE;
    o.kms_key_id = bsf_ec2_get(q, "KmsKeyId");
    o.run.cancel = env->cancel;
    /* In the background when the front end has one: the answer is the
     * copy's id once it is recorded pending (or its error before). */
    if (env->background && !env->dry_run && (r = copy_job_new(env, region, &o, &j)) == 0) {
        j->refs = 2;
        if (env->background(env->ud, copy_run, j) < 0) {
            j->refs = 1;
            copy_job_release(j);
            j = NULL;
        }
    } else if (env->background && !env->dry_run) {
        return r;
    }
    if (j) {
        pthread_mutex_lock(&j->lock);
        while (!j->started && !j->done)
            pthread_cond_wait(&j->cond, &j->lock);
        r = j->started || j->r >= 0 ? 0 : front_fail(j->r, j->code, "%s", j->message);
        snprintf(id, sizeof id, "%s", j->id);
        pthread_mutex_unlock(&j->lock);
        copy_job_release(j);
    } else {
        if ((r = source_store(env, region, &src, &own)) < 0)
            return r;
        r = bsnap_snapshot_copy(env->store, src, &o, id, NULL);
        if (r < 0)
            r = engine_error(r);
        if (own)
            bsnap_store_close(src);
    }
    if (r < 0)
        return r;
    if (!(*ret_doc = json_pack("{s:s}", "SnapshotId", id)))
        return ec2_nomem();
    return 0;
}

static const char *const modify_snapshot_attribute_params[] = {
    "SnapshotId", "Attribute", "CreateVolumePermission", "OperationType", "UserId",
    "UserGroup",  NULL};

static int modify_snapshot_attribute(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    const char *id, *attr = bsf_ec2_get(q, "Attribute");
    bsnap_permission_change c;
    int r;

    if ((r = ec2_required(q, "SnapshotId", &id)) < 0 ||
        (r = permission_change(q, "CreateVolumePermission", &c)) < 0)
        return r;
    r = bsnap_snapshot_attribute_modify(env->store, id, attr ? attr : "createVolumePermission", &c);
    return return_true(r, ret_doc);
}

static const char *const snapshot_attribute_params[] = {"SnapshotId", "Attribute", NULL};

static int describe_snapshot_attribute(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    const char *id, *attr;
    json_t *doc = NULL;
    int r;

    if ((r = ec2_required(q, "SnapshotId", &id)) < 0 ||
        (r = ec2_required(q, "Attribute", &attr)) < 0)
        return r;
    r = bsnap_snapshot_attribute_describe(env->store, id, attr, &doc);
    return doc_or_error(r, doc, ret_doc);
}

static int reset_snapshot_attribute(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    const char *id, *attr;
    int r;

    if ((r = ec2_required(q, "SnapshotId", &id)) < 0 ||
        (r = ec2_required(q, "Attribute", &attr)) < 0)
        return r;
    return return_true(bsnap_snapshot_attribute_reset(env->store, id, attr), ret_doc);
}

/* ---- volumes -------------------------------------------------------------- */

static const char *const create_volume_params[] = {
    "AvailabilityZone",   "SnapshotId",  "Size", "VolumeType", "Encrypted",
    "TagSpecification",   "ClientToken", "Iops", "Throughput", "KmsKeyId",
    "MultiAttachEnabled", NULL};

static int create_volume(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    bsnap_writable_volume_options o = {0};
    const char *snap = bsf_ec2_get(q, "SnapshotId");
    bsnap_tristate enc;
    bsnap_tag *tags = NULL;
    json_t *doc = NULL;
    int r;

    if (!snap)
        return front_fail(-EINVAL, "MissingParameter",
                          "The request must contain the parameter SnapshotId (a volume is made "
                          "from a snapshot here)");
    if ((r = ec2_uint(q, "Size", BSNAP_VOLUME_SIZE_MAX, &o.size_gib)) < 0 ||
        (r = ec2_bool(q, "Encrypted", &enc)) < 0 ||
        (r = ec2_tag_specs(q, "volume", &tags, &o.ntags)) < 0)
        return r;
    o.tags = tags;
    o.volume_type = bsf_ec2_get(q, "VolumeType");
    o.encrypted = enc == BSNAP_TRUE;
    o.kms_key_id = bsf_ec2_get(q, "KmsKeyId");
    r = bsnap_volume_create_writable(env->store, snap, &o, &doc);
    return doc_or_error(r, doc, ret_doc);
}

static const char *const describe_volumes_params[] = {"VolumeId", "Filter", "MaxResults",
                                                      "NextToken", NULL};

static int describe_volumes(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    bsnap_describe_options o;
    json_t *doc = NULL;
    int r;

    if ((r = describe_options(q, "VolumeId", &o)) < 0)
        return r;
    r = bsnap_volume_describe(env->store, &o, &doc);
    return doc_or_error(r, doc, ret_doc);
}

static const char *const delete_volume_params[] = {"VolumeId", NULL};

static int delete_volume(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    const char *id;
    int r;

    if ((r = ec2_required(q, "VolumeId", &id)) < 0)
        return r;
    return return_true(bsnap_volume_delete(env->store, id), ret_doc);
}

/* ---- images --------------------------------------------------------------- */

/* BlockDeviceMapping.N.{DeviceName, VirtualName, NoDevice, Ebs.…}. */
static int mappings(bsf_ec2_request *q, bsnap_block_device_mapping **ret, size_t *ret_n)
{
    bsnap_block_device_mapping *m = NULL;
    unsigned long *idx;
    size_t n;
    char name[96];
    int r;

    if ((r = ec2_groups(q, "BlockDeviceMapping", &idx, &n)) < 0)
        return r;
    if (n > BSNAP_IMAGE_MAPPINGS_MAX) {
        free(idx);
        return front_fail(-EINVAL, "InvalidBlockDeviceMapping",
                          "more than %d block device mappings", BSNAP_IMAGE_MAPPINGS_MAX);
    }
    if (!(m = ec2_hold(q, calloc(n ? n : 1, sizeof *m)))) {
        free(idx);
        return ec2_nomem();
    }
    for (size_t i = 0; i < n && r == 0; i++) {
        bsnap_block_device_mapping *b = &m[i];
        uint64_t size = 0, iops = 0;
        char ebs[64];

#define FIELD(f) (snprintf(name, sizeof name, "BlockDeviceMapping.%lu.%s", idx[i], f), name)
        snprintf(ebs, sizeof ebs, "BlockDeviceMapping.%lu.Ebs", idx[i]);
        b->device_name = bsf_ec2_get(q, FIELD("DeviceName"));
        if ((b->virtual_name = bsf_ec2_get(q, FIELD("VirtualName"))))
            b->kind = BSNAP_MAPPING_VIRTUAL;
        else if (bsf_ec2_get(q, FIELD("NoDevice")))
            b->kind = BSNAP_MAPPING_NODEVICE;
        for (size_t j = 0; j < q->n; j++)
            if (strncmp(q->p[j].name, ebs, strlen(ebs)) == 0 && q->p[j].name[strlen(ebs)] == '.')
                b->kind = BSNAP_MAPPING_EBS;
        b->snapshot_id = bsf_ec2_get(q, FIELD("Ebs.SnapshotId"));
        b->volume_type = bsf_ec2_get(q, FIELD("Ebs.VolumeType"));
        if ((r = ec2_uint(q, FIELD("Ebs.VolumeSize"), BSNAP_VOLUME_SIZE_MAX * 2ull, &size)) < 0 ||
            (r = ec2_uint(q, FIELD("Ebs.Iops"), BSNAP_IOPS_MAX * 2ull, &iops)) < 0 ||
            (r = ec2_bool(q, FIELD("Ebs.DeleteOnTermination"), &b->delete_on_termination)) < 0 ||
            (r = ec2_bool(q, FIELD("Ebs.Encrypted"), &b->encrypted)) < 0)
            break;
#undef FIELD
        b->volume_size = size;
        b->iops = iops;
    }
    free(idx);
    if (r < 0)
        return r;
    *ret = m;
    *ret_n = n;
    return 0;
}

static const char *const register_image_params[] = {"Name",
                                                    "Description",
                                                    "Architecture",
                                                    "RootDeviceName",
                                                    "BlockDeviceMapping",
                                                    "VirtualizationType",
                                                    "BootMode",
                                                    "EnaSupport",
                                                    "TagSpecification",
                                                    "SriovNetSupport",
                                                    "ImageLocation",
                                                    "KernelId",
                                                    "RamdiskId",
                                                    "TpmSupport",
                                                    "UefiData",
                                                    "ImdsSupport",
                                                    "BillingProduct",
                                                    NULL};

static int register_image(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    bsnap_image_options o = {0};
    bsnap_block_device_mapping *m = NULL;
    bsnap_tag *tags = NULL;
    char id[BSNAP_ID_MAX];
    int r;

    if ((r = ec2_required(q, "Name", &o.name)) < 0 || (r = mappings(q, &m, &o.nmappings)) < 0 ||
        (r = ec2_bool(q, "EnaSupport", &o.ena_support)) < 0 ||
        (r = ec2_tag_specs(q, "image", &tags, &o.ntags)) < 0)
        return r;
    if (bsf_ec2_get(q, "ImageLocation") || bsf_ec2_get(q, "KernelId") ||
        bsf_ec2_get(q, "RamdiskId") || bsf_ec2_get(q, "BillingProduct.1"))
        return front_fail(-EINVAL, "UnsupportedOperation",
                          "ImageLocation, KernelId, RamdiskId and BillingProduct are not "
                          "supported: register an image from snapshots");
    o.mappings = m;
    o.tags = tags;
    o.description = bsf_ec2_get(q, "Description");
    o.architecture = bsf_ec2_get(q, "Architecture");
    o.virtualization = bsf_ec2_get(q, "VirtualizationType");
    o.root_device_name = bsf_ec2_get(q, "RootDeviceName");
    o.boot_mode = bsf_ec2_get(q, "BootMode");
    if ((r = bsnap_image_register(env->store, &o, id)) < 0)
        return engine_error(r);
    if (!(*ret_doc = json_pack("{s:s}", "ImageId", id)))
        return ec2_nomem();
    return 0;
}

static const char *const describe_images_params[] = {
    "ImageId",    "Owner",     "ExecutableBy",      "Filter",
    "MaxResults", "NextToken", "IncludeDeprecated", "IncludeDisabled",
    NULL};

static int describe_images(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    bsnap_describe_options o;
    const char **owners = NULL, **exec = NULL;
    size_t nowners = 0, nexec = 0;
    bsnap_tristate t;
    json_t *doc = NULL;
    int r;

    if ((r = describe_options(q, "ImageId", &o)) < 0 ||
        (r = ec2_list(q, "Owner", &owners, &nowners)) < 0 ||
        (r = ec2_list(q, "ExecutableBy", &exec, &nexec)) < 0 ||
        (r = ec2_bool(q, "IncludeDeprecated", &t)) < 0 ||
        (r = ec2_bool(q, "IncludeDisabled", &t)) < 0)
        return r;
    resolve_self(env, q, exec, nexec);
    if (nexec && (r = add_filter(q, &o, "executable-by", exec, nexec)) < 0)
        return r;
    r = bsnap_image_describe(env->store, &o, owners, nowners, &doc);
    return doc_or_error(r, doc, ret_doc);
}

static const char *const deregister_image_params[] = {"ImageId", "DeleteAssociatedSnapshots", NULL};

static int deregister_image(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    const char *id;
    bsnap_tristate del;
    json_t *doc = NULL;
    int r;

    if ((r = ec2_required(q, "ImageId", &id)) < 0 ||
        (r = ec2_bool(q, "DeleteAssociatedSnapshots", &del)) < 0)
        return r;
    r = bsnap_image_deregister(env->store, id, del == BSNAP_TRUE, &doc);
    return doc_or_error(r, doc, ret_doc);
}

static const char *const copy_image_params[] = {
    "SourceRegion", "SourceImageId", "Name",          "Description",      "Encrypted",
    "KmsKeyId",     "ClientToken",   "CopyImageTags", "TagSpecification", NULL};

static int copy_image(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    bsnap_image_copy_options o = {0};
    const char *region;
    bsnap_store *src = NULL;
    bsnap_tristate enc, tags;
    char id[BSNAP_ID_MAX];
    bool own;
    int r;

    if ((r = ec2_required(q, "SourceRegion", &region)) < 0 ||
        (r = ec2_required(q, "SourceImageId", &o.source_image_id)) < 0 ||
        (r = ec2_required(q, "Name", &o.name)) < 0 || (r = ec2_bool(q, "Encrypted", &enc)) < 0 ||
        (r = ec2_bool(q, "CopyImageTags", &tags)) < 0)
        return r;
    if (bsf_ec2_get(q, "TagSpecification.1.ResourceType"))
        return front_fail(-EINVAL, "UnsupportedOperation",
                          "TagSpecification is not supported by CopyImage here: tag the copy "
                          "with CreateTags, or give CopyImageTags");
    o.description = bsf_ec2_get(q, "Description");
    o.client_token = bsf_ec2_get(q, "ClientToken");
    o.copy_image_tags = tags == BSNAP_TRUE;
    o.encrypted = enc == BSNAP_TRUE;
    o.kms_key_id = bsf_ec2_get(q, "KmsKeyId");
    o.run.cancel = env->cancel;
    if ((r = source_store(env, region, &src, &own)) < 0)
        return r;
    r = bsnap_image_copy(env->store, src, &o, id, NULL);
    if (r < 0)
        r = engine_error(r);
    if (own)
        bsnap_store_close(src);
    if (r < 0)
        return r;
    if (!(*ret_doc = json_pack("{s:s}", "ImageId", id)))
        return ec2_nomem();
    return 0;
}

static const char *const modify_image_attribute_params[] = {
    "ImageId",     "Attribute",   "Description", "LaunchPermission", "OperationType",
    "UserId",      "UserGroup",   "Value",       "OrganizationArn",  "OrganizationalUnitArn",
    "ProductCode", "ImdsSupport", NULL};

static int modify_image_attribute(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    const char *id, *attr = bsf_ec2_get(q, "Attribute"), *value = bsf_ec2_get(q, "Value");
    const char *desc = bsf_ec2_get(q, "Description.Value");
    bsnap_permission_change c;
    int r;

    if ((r = ec2_required(q, "ImageId", &id)) < 0)
        return r;
    if (bsf_ec2_get(q, "OrganizationArn.1") || bsf_ec2_get(q, "OrganizationalUnitArn.1"))
        return front_fail(-EINVAL, "UnsupportedOperation",
                          "organizations are not supported: share with account ids or all");
    if (desc || (attr && strcmp(attr, "description") == 0)) {
        if (!desc && !value)
            return front_fail(-EINVAL, "MissingParameter",
                              "The request must contain the parameter Description.Value");
        return return_true(
            bsnap_image_modify_attribute(env->store, id, "description", desc ? desc : value),
            ret_doc);
    }
    if (attr && strcmp(attr, "launchPermission") != 0)
        return return_true(bsnap_image_modify_attribute(env->store, id, attr, value ? value : ""),
                           ret_doc);
    if ((r = permission_change(q, "LaunchPermission", &c)) < 0)
        return r;
    return return_true(bsnap_image_permission_modify(env->store, id, &c), ret_doc);
}

static const char *const image_attribute_params[] = {"ImageId", "Attribute", NULL};

static int describe_image_attribute(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    const char *id, *attr;
    json_t *doc = NULL;
    int r;

    if ((r = ec2_required(q, "ImageId", &id)) < 0 || (r = ec2_required(q, "Attribute", &attr)) < 0)
        return r;
    r = bsnap_image_describe_attribute(env->store, id, attr, &doc);
    return doc_or_error(r, doc, ret_doc);
}

static int reset_image_attribute(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    const char *id, *attr;
    int r;

    if ((r = ec2_required(q, "ImageId", &id)) < 0 || (r = ec2_required(q, "Attribute", &attr)) < 0)
        return r;
    return return_true(bsnap_image_attribute_reset(env->store, id, attr), ret_doc);
}

/* ---- tags ----------------------------------------------------------------- */

static const char *const tags_params[] = {"ResourceId", "Tag", NULL};

static int create_tags(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    const char **res = NULL;
    size_t nres = 0, ntags = 0;
    bsnap_tag *tags = NULL;
    int r;

    if ((r = ec2_list(q, "ResourceId", &res, &nres)) < 0 ||
        (r = ec2_tags(q, "Tag", false, &tags, &ntags)) < 0)
        return r;
    if (!nres)
        return front_fail(-EINVAL, "MissingParameter",
                          "The request must contain the parameter ResourceId.1");
    if (!ntags)
        return front_fail(-EINVAL, "MissingParameter",
                          "The request must contain the parameter Tag.1.Key");
    return return_true(bsnap_tags_create(env->store, res, nres, tags, ntags), ret_doc);
}

static int delete_tags(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    const char **res = NULL;
    size_t nres = 0, ntags = 0;
    bsnap_tag *tags = NULL;
    int r;

    if ((r = ec2_list(q, "ResourceId", &res, &nres)) < 0 ||
        (r = ec2_tags(q, "Tag", true, &tags, &ntags)) < 0)
        return r;
    if (!nres)
        return front_fail(-EINVAL, "MissingParameter",
                          "The request must contain the parameter ResourceId.1");
    return return_true(bsnap_tags_delete(env->store, res, nres, tags, ntags), ret_doc);
}

/* ---- launch templates ----------------------------------------------------- */

/* Wire names of LaunchTemplateData's lists and their JSON members (the
 * botocore model's RequestLaunchTemplateData); other names are the same. */
static const struct {
    const char *wire, *member;
} data_names[] = {
    {"BlockDeviceMapping", "BlockDeviceMappings"},
    {"NetworkInterface", "NetworkInterfaces"},
    {"SecurityGroupId", "SecurityGroupIds"},
    {"SecurityGroup", "SecurityGroups"},
    {"Ipv4Prefix", "Ipv4Prefixes"},
    {"Ipv6Prefix", "Ipv6Prefixes"},
    {"TagSpecification", "TagSpecifications"},
    {"Tag", "Tags"},
    {"ElasticGpuSpecification", "ElasticGpuSpecifications"},
    {"ElasticInferenceAccelerator", "ElasticInferenceAccelerators"},
    {"LicenseSpecification", "LicenseSpecifications"},
    {"CpuManufacturer", "CpuManufacturers"},
    {"ExcludedInstanceType", "ExcludedInstanceTypes"},
    {"InstanceGeneration", "InstanceGenerations"},
    {"LocalStorageType", "LocalStorageTypes"},
    {"AcceleratorType", "AcceleratorTypes"},
    {"AcceleratorManufacturer", "AcceleratorManufacturers"},
    {"AcceleratorName", "AcceleratorNames"},
    {"AllowedInstanceType", "AllowedInstanceTypes"},
};

/* LaunchTemplateData's members that are numbers (the rest are strings
 * but "true"/"false", which are booleans). */
static const char *const data_numbers[] = {"BlockDurationMinutes",
                                           "CoreCount",
                                           "Count",
                                           "DeviceIndex",
                                           "HttpPutResponseHopLimit",
                                           "Iops",
                                           "Ipv4PrefixCount",
                                           "Ipv6AddressCount",
                                           "Ipv6PrefixCount",
                                           "Max",
                                           "Min",
                                           "NetworkCardIndex",
                                           "OnDemandMaxPricePercentageOverLowestPrice",
                                           "PartitionNumber",
                                           "SecondaryPrivateIpAddressCount",
                                           "SpotMaxPricePercentageOverLowestPrice",
                                           "ThreadsPerCore",
                                           "Throughput",
                                           "VolumeSize",
                                           NULL};

static const char *data_member(const char *wire, size_t len, bool list)
{
    for (size_t i = 0; list && i < ARRAY_SIZE(data_names); i++)
        if (strlen(data_names[i].wire) == len && strncmp(data_names[i].wire, wire, len) == 0)
            return data_names[i].member;
    return NULL;
}

static json_t *data_scalar(const char *key, const char *v)
{
    for (const char *const *n = data_numbers; *n; n++)
        if (strcmp(*n, key) == 0 && v[0] && strspn(v, "0123456789") == strlen(v) && strlen(v) < 19)
            return json_integer(strtoll(v, NULL, 10));
    if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
        return json_boolean(v[0] == 't');
    return json_string(v);
}

/* Put @value at the dotted wire path @path (under @obj): "A.B" an object,
 * "A.N" the N-th item of list A (made an array of its JSON member name),
 * items kept by N in a hidden index while building. */
static int data_put(json_t *obj, const char *path, const char *value)
{
    const char *dot = strchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : strlen(path);
    char key[128];
    bool list = dot && dot[1] >= '1' && dot[1] <= '9';
    const char *member = data_member(path, len, list);

    if (len == 0 || len >= sizeof key)
        return front_fail(-EINVAL, "InvalidParameterValue",
                          "LaunchTemplateData: the parameter name '%.*s' is malformed",
                          SHOWN(path));
    snprintf(key, sizeof key, "%s", member ? member : path);
    key[member ? strlen(member) : len] = '\0';
    if (!dot) {
        if (json_object_get(obj, key))
            return front_fail(-EINVAL, "InvalidParameterValue",
                              "LaunchTemplateData: %s is given twice", key);
        return json_object_set_new(obj, key, data_scalar(key, value)) < 0 ? ec2_nomem() : 0;
    }
    if (list) {
        /* lists are built as objects keyed by N, made arrays at the end */
        char *end;
        unsigned long n = strtoul(dot + 1, &end, 10);
        char idx[24];
        json_t *l = json_object_get(obj, key);
        if (n == 0 || n > BSF_EC2_PARAMS_MAX || (*end && *end != '.'))
            return front_fail(-EINVAL, "InvalidParameterValue",
                              "LaunchTemplateData: the parameter name '%.*s' is malformed",
                              SHOWN(path));
        if (!l && (json_object_set_new(obj, key, l = json_object()) < 0 || !l))
            return ec2_nomem();
        if (!json_is_object(l))
            return front_fail(-EINVAL, "InvalidParameterValue",
                              "LaunchTemplateData: %s is both a list and a value", key);
        snprintf(idx, sizeof idx, "%020lu", n);
        if (!*end) /* a list of scalars */
            return json_object_set_new(l, idx, data_scalar(key, value)) < 0 ? ec2_nomem() : 0;
        json_t *item = json_object_get(l, idx);
        if (!item && (json_object_set_new(l, idx, item = json_object()) < 0 || !item))
            return ec2_nomem();
        return data_put(item, end + 1, value);
    }
    json_t *sub = json_object_get(obj, key);
    if (!sub && (json_object_set_new(obj, key, sub = json_object()) < 0 || !sub))
        return ec2_nomem();
    if (!json_is_object(sub))
        return front_fail(-EINVAL, "InvalidParameterValue",
                          "LaunchTemplateData: %s is both an object and a value", key);
    return data_put(sub, dot + 1, value);
}

/* The lists data_put() built as objects keyed by N, made arrays in N's
 * order (the keys sort as numbers: zero-padded). */
static json_t *data_finish(json_t *v, bool is_list)
{
    if (!json_is_object(v))
        return json_incref(v);
    if (is_list) {
        json_t *a = json_array();
        const char **keys = calloc(json_object_size(v) + 1, sizeof *keys);
        const char *k;
        json_t *m;
        size_t n = 0;
        if (!a || !keys) {
            free(keys);
            json_decref(a);
            return NULL;
        }
        json_object_foreach (v, k, m)
            keys[n++] = k;
        for (size_t i = 1; i < n; i++)
            for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
                const char *t = keys[j];
                keys[j] = keys[j - 1];
                keys[j - 1] = t;
            }
        for (size_t i = 0; i < n; i++)
            if (json_array_append_new(a, data_finish(json_object_get(v, keys[i]), false)) < 0) {
                free(keys);
                json_decref(a);
                return NULL;
            }
        free(keys);
        return a;
    }
    json_t *o = json_object();
    const char *k;
    json_t *m;
    json_object_foreach (v, k, m) {
        bool list = false;
        for (size_t i = 0; i < ARRAY_SIZE(data_names); i++)
            list = list || strcmp(data_names[i].member, k) == 0;
        /* Ipv6Addresses, PrivateIpAddresses: lists under their own names */
        list = list || (json_is_object(m) && json_object_size(m) &&
                        strspn(json_object_iter_key(json_object_iter(m)), "0123456789") == 20);
        if (json_object_set_new(o, k, data_finish(m, list)) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* LaunchTemplateData.* as the JSON object text the engine takes. */
static int template_data(bsf_ec2_request *q, bool required, const char **ret)
{
    static const char prefix[] = "LaunchTemplateData.";
    json_t *raw = json_object(), *doc;
    char *text;
    size_t n = 0;
    int r = 0;

    if (!raw)
        return ec2_nomem();
    for (size_t i = 0; i < q->n && r == 0; i++)
        if (strncmp(q->p[i].name, prefix, sizeof prefix - 1) == 0) {
            r = data_put(raw, q->p[i].name + sizeof prefix - 1, q->p[i].value);
            n++;
        }
    if (r == 0 && n == 0 && required)
        r = front_fail(-EINVAL, "MissingParameter",
                       "The request must contain the parameter LaunchTemplateData");
    if (r < 0 || (n == 0 && !required)) {
        json_decref(raw);
        *ret = NULL;
        return r;
    }
    doc = data_finish(raw, false);
    json_decref(raw);
    if (!doc || !(text = json_dumps(doc, JSON_COMPACT))) {
        json_decref(doc);
        return ec2_nomem();
    }
    json_decref(doc);
    if (!ec2_hold(q, text))
        return ec2_nomem();
    *ret = text;
    return 0;
}

static bsnap_template_ref template_ref(bsf_ec2_request *q)
{
    return (bsnap_template_ref){bsf_ec2_get(q, "LaunchTemplateId"),
                                bsf_ec2_get(q, "LaunchTemplateName")};
}

static const char *const create_template_params[] = {"LaunchTemplateName", "VersionDescription",
                                                     "LaunchTemplateData", "TagSpecification",
                                                     "ClientToken",        NULL};

static int create_template(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    bsnap_template_options o = {0};
    bsnap_tag *tags = NULL;
    json_t *doc = NULL;
    int r;

    if ((r = ec2_required(q, "LaunchTemplateName", &o.ref.name)) < 0 ||
        (r = template_data(q, true, &o.data)) < 0 ||
        (r = ec2_tag_specs(q, "launch-template", &tags, &o.ntags)) < 0)
        return r;
    o.tags = tags;
    o.version_description = bsf_ec2_get(q, "VersionDescription");
    o.client_token = bsf_ec2_get(q, "ClientToken");
    r = bsnap_template_create(env->store, &o, &doc);
    return doc_or_error(r, doc, ret_doc);
}

static const char *const create_version_params[] = {
    "LaunchTemplateId",   "LaunchTemplateName", "LaunchTemplateData", "SourceVersion",
    "VersionDescription", "ClientToken",        "ResolveAlias",       NULL};

static int create_template_version(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    bsnap_template_options o = {0};
    json_t *doc = NULL;
    int r;

    if ((r = template_data(q, true, &o.data)) < 0)
        return r;
    o.ref = template_ref(q);
    o.source_version = bsf_ec2_get(q, "SourceVersion");
    o.version_description = bsf_ec2_get(q, "VersionDescription");
    o.client_token = bsf_ec2_get(q, "ClientToken");
    r = bsnap_template_version_create(env->store, &o, &doc);
    return doc_or_error(r, doc, ret_doc);
}

static const char *const modify_template_params[] = {"LaunchTemplateId", "LaunchTemplateName",
                                                     "SetDefaultVersion", "ClientToken", NULL};

static int modify_template(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    bsnap_template_ref ref = template_ref(q);
    json_t *doc = NULL;
    int r = bsnap_template_modify(env->store, &ref, bsf_ec2_get(q, "SetDefaultVersion"), &doc);

    return doc_or_error(r, doc, ret_doc);
}

static const char *const describe_templates_params[] = {
    "LaunchTemplateId", "LaunchTemplateName", "Filter", "MaxResults", "NextToken", NULL};

static int describe_templates(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    bsnap_describe_options o;
    const char **names = NULL;
    size_t nnames = 0;
    json_t *doc = NULL;
    int r;

    if ((r = describe_options(q, "LaunchTemplateId", &o)) < 0 ||
        (r = ec2_list(q, "LaunchTemplateName", &names, &nnames)) < 0)
        return r;
    r = bsnap_template_describe(env->store, &o, names, nnames, &doc);
    return doc_or_error(r, doc, ret_doc);
}

static const char *const describe_versions_params[] = {"LaunchTemplateId",
                                                       "LaunchTemplateName",
                                                       "LaunchTemplateVersion",
                                                       "MinVersion",
                                                       "MaxVersion",
                                                       "Filter",
                                                       "MaxResults",
                                                       "NextToken",
                                                       "ResolveAlias",
                                                       NULL};

/* One page: the versions asked for answer whole (MaxResults is taken and
 * not used; no NextToken). */
static int describe_template_versions(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    bsnap_template_versions_options o = {0};
    bsnap_filter *f = NULL;
    const char **versions = NULL;
    json_t *doc = NULL;
    uint64_t max;
    int r;

    if ((r = ec2_list(q, "LaunchTemplateVersion", &versions, &o.nversions)) < 0 ||
        (r = ec2_filters(q, &f, &o.nfilters)) < 0 ||
        (r = ec2_uint(q, "MinVersion", UINT64_MAX >> 1, &o.min_version)) < 0 ||
        (r = ec2_uint(q, "MaxVersion", UINT64_MAX >> 1, &o.max_version)) < 0 ||
        (r = ec2_uint(q, "MaxResults", UINT32_MAX, &max)) < 0)
        return r;
    o.ref = template_ref(q);
    o.versions = versions;
    o.filters = f;
    r = bsnap_template_versions_describe(env->store, &o, &doc);
    return doc_or_error(r, doc, ret_doc);
}

static const char *const delete_template_params[] = {"LaunchTemplateId", "LaunchTemplateName",
                                                     NULL};

static int delete_template(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    bsnap_template_ref ref = template_ref(q);
    json_t *doc = NULL;
    int r = bsnap_template_delete(env->store, &ref, &doc);

    return doc_or_error(r, doc, ret_doc);
}

static const char *const delete_versions_params[] = {"LaunchTemplateId", "LaunchTemplateName",
                                                     "LaunchTemplateVersion", NULL};

static int delete_template_versions(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    bsnap_template_ref ref = template_ref(q);
    const char **versions = NULL;
    size_t n = 0;
    json_t *doc = NULL;
    int r;

    if ((r = ec2_list(q, "LaunchTemplateVersion", &versions, &n)) < 0)
        return r;
    if (!n)
        return front_fail(-EINVAL, "MissingParameter",
                          "The request must contain the parameter LaunchTemplateVersion.1");
    r = bsnap_template_versions_delete(env->store, &ref, versions, n, &doc);
    return doc_or_error(r, doc, ret_doc);
}

/* ---- the table ------------------------------------------------------------ */

#define ACTION(name, fn, params) \
    {                            \
        name, fn, params         \
    }

static const struct ec2_action actions[] = {
    ACTION("CopyImage", copy_image, copy_image_params),
    ACTION("CopySnapshot", copy_snapshot, copy_snapshot_params),
    ACTION("CreateLaunchTemplate", create_template, create_template_params),
    ACTION("CreateLaunchTemplateVersion", create_template_version, create_version_params),
    ACTION("CreateSnapshot", create_snapshot, create_snapshot_params),
    ACTION("CreateTags", create_tags, tags_params),
    ACTION("CreateVolume", create_volume, create_volume_params),
    ACTION("DeleteLaunchTemplate", delete_template, delete_template_params),
    ACTION("DeleteLaunchTemplateVersions", delete_template_versions, delete_versions_params),
    ACTION("DeleteSnapshot", delete_snapshot, delete_snapshot_params),
    ACTION("DeleteTags", delete_tags, tags_params),
    ACTION("DeleteVolume", delete_volume, delete_volume_params),
    ACTION("DeregisterImage", deregister_image, deregister_image_params),
    ACTION("DescribeImageAttribute", describe_image_attribute, image_attribute_params),
    ACTION("DescribeImages", describe_images, describe_images_params),
    ACTION("DescribeLaunchTemplateVersions", describe_template_versions, describe_versions_params),
    ACTION("DescribeLaunchTemplates", describe_templates, describe_templates_params),
    ACTION("DescribeSnapshotAttribute", describe_snapshot_attribute, snapshot_attribute_params),
    ACTION("DescribeSnapshots", describe_snapshots, describe_snapshots_params),
    ACTION("DescribeVolumes", describe_volumes, describe_volumes_params),
    ACTION("ModifyImageAttribute", modify_image_attribute, modify_image_attribute_params),
    ACTION("ModifyLaunchTemplate", modify_template, modify_template_params),
    ACTION("ModifySnapshotAttribute", modify_snapshot_attribute, modify_snapshot_attribute_params),
    ACTION("RegisterImage", register_image, register_image_params),
    ACTION("ResetImageAttribute", reset_image_attribute, image_attribute_params),
    ACTION("ResetSnapshotAttribute", reset_snapshot_attribute, snapshot_attribute_params),
};

static const struct ec2_action *find_action(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
        if (strcmp(actions[i].name, name) == 0)
            return &actions[i];
    return NULL;
}

size_t bsf_ec2_actions(const char **ret_names, size_t max)
{
    for (size_t i = 0; i < ARRAY_SIZE(actions) && i < max; i++)
        ret_names[i] = actions[i].name;
    return ARRAY_SIZE(actions);
}

/* Whether parameter @name is one @a takes (or one every action takes). */
static bool param_known(const struct ec2_action *a, const char *name)
{
    static const char *const common[] = {"Action", "Version", "DryRun", NULL};
    size_t head = strcspn(name, ".");

    if (strncmp(name, "X-Amz-", 6) == 0) /* a presigned request's own */
        return true;
    for (const char *const *p = common; *p; p++)
        if (strcmp(*p, name) == 0)
            return true;
    for (const char *const *p = a->params; *p; p++)
        if (strlen(*p) == head && strncmp(*p, name, head) == 0)
            return true;
    return false;
}

int bsf_ec2_check(const bsf_ec2_request *q, bool *ret_dry_run)
{
    const char *action = bsf_ec2_get(q, "Action"), *version = bsf_ec2_get(q, "Version");
    const struct ec2_action *a;
    bsnap_tristate dry;
    int r;

    front_error_clear();
    if (!action)
        return front_fail(-EINVAL, "MissingAction",
                          "The request must contain the parameter Action");
    if (!(a = find_action(action)))
        return front_fail(-EINVAL, "InvalidAction",
                          "The action %.*s is not valid for this web service", SHOWN(action));
    if (!version)
        return front_fail(-EINVAL, "MissingParameter",
                          "The request must contain the parameter Version");
    if (strcmp(version, EC2_VERSION) != 0)
        return front_fail(-EINVAL, "NoSuchVersion",
                          "The requested version (%.*s) of service AmazonEC2 does not exist",
                          SHOWN(version));
    for (size_t i = 0; i < q->n; i++)
        if (!param_known(a, q->p[i].name))
            return front_fail(-EINVAL, "UnknownParameter", "The parameter %.*s is not recognized",
                              SHOWN(q->p[i].name));
    if ((r = ec2_bool((bsf_ec2_request *)q, "DryRun", &dry)) < 0)
        return r;
    *ret_dry_run = dry == BSNAP_TRUE;
    return 0;
}

int bsf_ec2_run(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
{
    const struct ec2_action *a;
    bool dry;
    int r;

    if ((r = bsf_ec2_check(q, &dry)) < 0)
        return r;
    a = find_action(bsf_ec2_get(q, "Action"));
    front_error_clear();
    return a->run(env, q, ret_doc);
}
