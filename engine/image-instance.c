/* image-instance.c - create-image of an instance: a snapshot of each of its
 * writable volumes, then one image of them (bsnap_image_create_instance()).
 *
 * Every check runs before the first snapshot: the request (name, its
 * uniqueness, description, tags, the mappings the image will have, with
 * stand-in snapshot ids) through image_precheck(), the overrides against
 * the instance's devices, and each volume's record.  Then, between the
 * caller's freeze and thaw, one snapshot per volume: in this process
 * (snapshot_take_pending_volume(): pending until the registration's one
 * transaction completes them all, and dropped on any failure, so that all
 * or nothing is kept), or through the caller's function when another
 * process holds the volume (the nbdkit plugin of a running instance:
 * those come back completed).  Each reads only the chunks its volume
 * wrote since its last snapshot: the volume's map knows them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cow.h"
#include "error.h"
#include "image.h"
#include "snapshot.h"
#include "store-handle.h"
#include "store.h"
#include "util.h"

/* A well-formed id that names nothing: what the early check's mappings
 * name before the snapshots exist. */
#define STAND_IN "snap-00000000000000000"

/* The request's mapping for @device, or NULL. */
static const bsnap_block_device_mapping *override_of(const bsnap_instance_image_options *in,
                                                     const char *device)
{
    for (size_t i = 0; i < in->nmappings; i++)
        if (in->mappings[i].device_name && strcmp(in->mappings[i].device_name, device) == 0)
            return &in->mappings[i];
    return NULL;
}

static const bsnap_instance_volume *volume_of(const bsnap_instance_image_options *in,
                                              const char *device)
{
    for (size_t i = 0; i < in->nvolumes; i++)
        if (strcmp(in->volumes[i].device, device) == 0)
            return &in->volumes[i];
    return NULL;
}

/* A mapping of a device of the instance may change DeleteOnTermination
 * and nothing else, or drop the device. */
static int check_override(const bsnap_block_device_mapping *m, size_t i)
{
    if (m->kind == BSNAP_MAPPING_NODEVICE)
        return 0;
    if (m->kind != BSNAP_MAPPING_EBS || m->snapshot_id || m->volume_size || m->volume_type ||
        m->iops || m->encrypted != BSNAP_UNSET)
        return error_param(bsnap_fail(-EINVAL, "InvalidBlockDeviceMapping",
                                      "%s is a device of the instance: a mapping of it may only "
                                      "change DeleteOnTermination or drop it (NoDevice); its "
                                      "snapshot, size, type and encryption are the volume's",
                                      m->device_name),
                           "BlockDeviceMappings[%zu]", i);
    return 0;
}

static int check_instance(const bsnap_image_options *o, const bsnap_instance_image_options *in)
{
    if (!in->instance_id || !*in->instance_id)
        return error_param(bsnap_fail(-EINVAL, "MissingParameter",
                                      "the request must contain the parameter InstanceId"),
                           "InstanceId");
    if (!id_valid(in->instance_id, "i"))
        return error_param(bsnap_fail(-EINVAL, "InvalidInstanceID.Malformed",
                                      "Invalid id: \"%s\" (expecting \"i-...\")", in->instance_id),
                           "InstanceId");
    if (o->nmappings || o->nvolumes)
        return bsnap_fail(-EINVAL, "InvalidParameterCombination",
                          "@{CreateImage} of an instance takes its volumes and the request's "
                          "mappings, not an image's");
    if (in->nvolumes == 0)
        return error_param(bsnap_fail(-EINVAL, "MissingParameter", "instance %s has no EBS volume",
                                      in->instance_id),
                           "InstanceId");
    if (in->nvolumes + in->nmappings > BSNAP_IMAGE_MAPPINGS_MAX)
        return error_param(bsnap_fail(-EINVAL, "InvalidBlockDeviceMapping", "at most %d devices",
                                      BSNAP_IMAGE_MAPPINGS_MAX),
                           "BlockDeviceMappings");
    for (size_t i = 0; i < in->nvolumes; i++) {
        const bsnap_instance_volume *v = &in->volumes[i];
        if (!v->device || !v->volume_id)
            return bsnap_fail(-EINVAL, "InvalidParameterValue",
                              "volume %zu of the instance has no device or no volume id", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(in->volumes[j].device, v->device) == 0)
                return bsnap_fail(-EINVAL, "InvalidBlockDeviceMapping",
                                  "the instance has two volumes at %s", v->device);
    }
    for (size_t i = 0; i < in->nmappings; i++) {
        const bsnap_block_device_mapping *m = &in->mappings[i];
        if (m->device_name && volume_of(in, m->device_name)) {
            int r = check_override(m, i);
            if (r < 0)
                return r;
        }
        for (size_t j = 0; j < i; j++)
            if (m->device_name && in->mappings[j].device_name &&
                strcmp(in->mappings[j].device_name, m->device_name) == 0)
                return error_param(bsnap_fail(-EINVAL, "InvalidBlockDeviceMapping",
                                              "the device name %s is given twice", m->device_name),
                                   "BlockDeviceMappings[%zu]", i);
    }
    return 0;
}

/* The image's mappings: the instance's devices (their snapshots from
 * @ids, "" for a dropped one, which is left out), then the request's
 * added devices.  @types: each volume's VolumeType.  Returns the count. */
static size_t image_mappings(const bsnap_instance_image_options *in, char (*ids)[BSNAP_ID_MAX],
                             char (*types)[16], bsnap_block_device_mapping *out)
{
    size_t n = 0;

    for (size_t i = 0; i < in->nvolumes; i++) {
        const bsnap_instance_volume *v = &in->volumes[i];
        const bsnap_block_device_mapping *m = override_of(in, v->device);
        if (m && m->kind == BSNAP_MAPPING_NODEVICE)
            continue;
        bool dot = m && m->delete_on_termination != BSNAP_UNSET
                       ? m->delete_on_termination == BSNAP_TRUE
                       : v->delete_on_termination;
        out[n++] = (bsnap_block_device_mapping){
            .device_name = v->device,
            .kind = BSNAP_MAPPING_EBS,
            .snapshot_id = ids[i][0] ? ids[i] : STAND_IN,
            .volume_type = types[i][0] ? types[i] : NULL,
            .delete_on_termination = dot ? BSNAP_TRUE : BSNAP_FALSE,
        };
    }
    for (size_t i = 0; i < in->nmappings; i++)
        if (!in->mappings[i].device_name || !volume_of(in, in->mappings[i].device_name))
            out[n++] = in->mappings[i];
    return n;
}

/* Volume @v's VolumeType into @type, checking that it is a writable volume
 * the caller sees. */
static int volume_type(bsnap_store *s, const bsnap_instance_volume *v, size_t i, char type[16])
{
    json_t *doc = NULL;
    int r = bsnap_volume_describe_one(s, v->volume_id, &doc);

    if (r < 0)
        return bsnap_fail_prefix("%s", v->device);
    if (!json_is_true(json_object_get(doc, "Writable"))) {
        json_decref(doc);
        return error_param(bsnap_fail(-EINVAL, "InvalidParameterValue",
                                      "%s: volume %s is not a writable volume", v->device,
                                      v->volume_id),
                           "Volumes[%zu]", i);
    }
    const char *t = json_string_value(json_object_get(doc, "VolumeType"));
    snprintf(type, 16, "%s", t ? t : "");
    json_decref(doc);
    return 0;
}

/* Snapshot volume @v in this process: pending, into @taken; the handle
 * stays open in *@ret_vh (closed by the caller), for cow_redirty() when
 * the snapshot is dropped. */
static int take_here(bsnap_store *s, const bsnap_instance_volume *v,
                     const bsnap_snapshot_options *so, struct snapshot_taken *taken,
                     bsnap_volume **ret_vh)
{
    bsnap_volume *vh;
    int r = bsnap_volume_open(s, v->volume_id, &vh);

    if (r < 0)
        return bsnap_fail_prefix("%s", v->device);
    r = snapshot_take_pending_volume(vh, so, taken);
    if (r < 0) {
        bsnap_fail_prefix("%s", v->device);
        error_saved saved;
        error_save(&saved);
        (void)bsnap_volume_close(vh);
        error_restore(&saved);
        return r;
    }
    *ret_vh = vh;
    return 0;
}

int bsnap_image_create_instance(bsnap_store *s, const bsnap_image_options *o,
                                const bsnap_instance_image_options *in, char ret_id[BSNAP_ID_MAX],
                                char (*ret_snapshot_ids)[BSNAP_ID_MAX])
{
    char id[BSNAP_ID_MAX];
    char(*ids)[BSNAP_ID_MAX] = NULL;
    char(*types)[16] = NULL;
    struct snapshot_taken *taken = NULL;
    bsnap_volume **open = NULL; /* the handles of the volumes of @taken */
    bsnap_block_device_mapping *maps = NULL;
    size_t ntaken = 0, nmaps;
    bool frozen = false;
    int lockfd = -1, r;

    bsnap_error_clear();
    if ((r = check_instance(o, in)) < 0)
        return r;
    ids = calloc(in->nvolumes, sizeof *ids);
    types = calloc(in->nvolumes, sizeof *types);
    taken = calloc(in->nvolumes, sizeof *taken);
    open = calloc(in->nvolumes, sizeof *open);
    maps = calloc(in->nvolumes + in->nmappings, sizeof *maps);
    if (!ids || !types || !taken || !open || !maps) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < in->nvolumes; i++)
        if ((r = volume_type(s, &in->volumes[i], i, types[i])) < 0)
            goto out;
    /* The request as it will be registered, with stand-in snapshots. */
    bsnap_image_options ro = *o;
    ro.mappings = maps;
    ro.nmappings = nmaps = image_mappings(in, ids, types, maps);
    if ((r = image_precheck(s, &ro)) < 0)
        goto out;
    for (size_t i = 0; i < in->nsnapshot_tags; i++) {
        const bsnap_tag *t = &in->snapshot_tags[i];
        if (!t->key || !*t->key || strncmp(t->key, "aws:", 4) == 0 || !t->value) {
            r = error_param(bsnap_fail(-EINVAL, "InvalidParameterValue",
                                       "invalid snapshot tag '%s'", t->key ? t->key : ""),
                            "TagSpecifications");
            goto out;
        }
    }
    if (s->dry_run) {
        r = error_dry_run();
        goto out;
    }
    if ((r = id_generate("ami", id)) < 0) {
        r = bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
        goto out;
    }
    /* Held shared from the first pending snapshot to the registration's
     * commit: gc removes pending snapshots, and waits for us. */
    if ((r = store_lock(s, false, &o->run, &lockfd)) < 0)
        goto out;

    char description[128];
    snprintf(description, sizeof description, "Created by CreateImage(%s) for %s", in->instance_id,
             id);
    bsnap_snapshot_options so = {0};
    so.description = description;
    so.tags = in->snapshot_tags;
    so.ntags = in->nsnapshot_tags;
    so.threads = o->threads;
    so.run = o->run;
    if (in->freeze) {
        if ((r = in->freeze(in->ud)) < 0)
            goto out;
        frozen = true;
    }
    for (size_t i = 0; i < in->nvolumes && r == 0; i++) {
        const bsnap_instance_volume *v = &in->volumes[i];
        const bsnap_block_device_mapping *m = override_of(in, v->device);
        if (m && m->kind == BSNAP_MAPPING_NODEVICE)
            continue;
        if (in->snapshot) {
            r = in->snapshot(in->ud, i, &so, ids[i], NULL);
            if (r < 0)
                bsnap_fail_prefix("%s (%s)", v->device, v->volume_id);
        } else if ((r = take_here(s, v, &so, &taken[ntaken], &open[ntaken])) == 0) {
            snprintf(ids[i], sizeof ids[i], "%s", taken[ntaken].rec.id);
            ntaken++;
        }
    }
    if (r == 0) {
        image_mappings(in, ids, types, maps);
        r = image_register_instance(s, &ro, id, taken, ntaken, in->instance_id);
    }

out:
    if (r < 0) {
        /* Nothing is registered: drop the pending snapshots taken here,
         * and what they read is dirty again. */
        error_saved saved;
        error_save(&saved);
        for (size_t i = 0; i < ntaken; i++) {
            snapshot_drop_pending(s, taken[i].rec.id);
            if (cow_redirty(open[i]) < 0)
                bsnap_log(BSNAP_LOG_WARNING, "image", "volume %s: %s", cow_id(open[i]),
                          bsnap_last_error()->message);
        }
        error_restore(&saved);
    }
    store_unlock(lockfd);
    {
        /* Closed before the thaw: a machine started again opens them. */
        error_saved saved;
        error_save(&saved);
        for (size_t i = 0; taken && i < ntaken; i++) {
            snapshot_taken_clear(&taken[i]);
            if (bsnap_volume_close(open[i]) < 0)
                bsnap_log(BSNAP_LOG_WARNING, "image", "%s", bsnap_last_error()->message);
        }
        error_restore(&saved);
    }
    if (frozen) {
        error_saved saved;
        error_save(&saved);
        int t = in->thaw ? in->thaw(in->ud) : 0;
        if (r < 0)
            error_restore(&saved);
        else if (t < 0) /* the image stands, whole: say so */
            r = bsnap_fail_prefix("image %s was registered, but the instance did not resume", id);
    }
    if (r == 0) {
        snprintf(ret_id, BSNAP_ID_MAX, "%s", id);
        if (ret_snapshot_ids)
            memcpy(ret_snapshot_ids, ids, in->nvolumes * sizeof *ids);
    }
    free(open);
    free(maps);
    free(taken);
    free(types);
    free(ids);
    return r;
}
