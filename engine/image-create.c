/* image-create.c - create-image: snapshot every volume of a machine, in
 * parallel, then register them as one image; all or nothing (image.h).
 *
 * The snapshots stay pending until the one transaction that registers the
 * image completes them all; the store lock is held shared from the first
 * snapshot to that commit, so gc cannot remove them meanwhile.  A failure
 * drops their records; a crash leaves them pending, and gc removes them
 * and their chunks: no completed snapshot outlives an unregistered image. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "image.h"
#include "snapshot.h"
#include "store.h"
#include "util.h"

/* One volume's snapshot, taken in its own thread. */
struct job {
    bsnap_store *s;
    const bsnap_image_volume *vol;
    const bsnap_image_options *o;
    char description[128];
    struct snapshot_taken taken; /* pending until the image is registered */
    _Atomic uint64_t done, total;
    atomic_bool finished;
    int r;
    error_saved err; /* the failure, recorded in the job's thread */
};

static void job_progress(void *ud, uint64_t done, uint64_t total)
{
    struct job *j = ud;
    atomic_store(&j->done, done);
    atomic_store(&j->total, total);
}

static void *job_run(void *arg)
{
    struct job *j = arg;
    bsnap_snapshot_options so = {0};

    so.volume_path = j->vol->path;
    so.description = j->description;
    so.threads = j->o->threads;
    so.run.cancel = j->o->run.cancel;
    so.run.progress = job_progress;
    so.run.progress_ud = j;
    j->r = snapshot_take_pending(j->s, &so, &j->taken);
    if (j->r < 0) {
        bsnap_fail_prefix("%s (%s)", j->vol->device, j->vol->path);
        error_save(&j->err);
    }
    atomic_store(&j->finished, true);
    return NULL;
}

/* The checks that can fail before any snapshot is taken. */
static int check_volumes(bsnap_store *s, const bsnap_image_options *o, const char **ret_root)
{
    const char *root = o->root_device_name ? o->root_device_name : NULL;
    bool root_found = false;

    if (o->nvolumes == 0)
        return error_param(bsnap_fail(-EINVAL, "MissingParameter",
                                      "@{CreateImage} needs the machine's volumes "
                                      "(DEVICE=PATH)"),
                           "Volumes");
    if (o->nmappings)
        return error_param(bsnap_fail(-EINVAL, "InvalidParameterCombination",
                                      "@{CreateImage} takes volumes, not block device mappings"),
                           "BlockDeviceMappings");
    if (o->nvolumes > BSNAP_IMAGE_MAPPINGS_MAX)
        return error_param(bsnap_fail(-EINVAL, "InvalidBlockDeviceMapping", "at most %d volumes",
                                      BSNAP_IMAGE_MAPPINGS_MAX),
                           "Volumes");
    if (!o->name)
        return error_param(
            bsnap_fail(-EINVAL, "MissingParameter", "the request must contain the parameter name"),
            "Name");
    if (o->name && !image_name_valid(o->name))
        return error_param(
            bsnap_fail(-EINVAL, "InvalidAMIName.Malformed",
                       "AMI names must be between 3 and 128 characters long, and may only "
                       "contain letters, numbers, and the following special characters: "
                       "()[] ./-'@_ (got '%s')",
                       o->name),
            "Name");
    bool hvm = !o->virtualization || strcmp(o->virtualization, "hvm") == 0;
    for (size_t i = 0; i < o->nvolumes; i++) {
        const bsnap_image_volume *v = &o->volumes[i];
        char real_i[PATH_MAX], real_j[PATH_MAX];
        if (!v->device || !device_name_valid(v->device, hvm))
            return error_param(bsnap_fail(-EINVAL, "InvalidBlockDeviceMapping",
                                          "Invalid device name %s", v->device ? v->device : ""),
                               "Volumes[%zu].Device", i);
        if (!v->path || !*v->path)
            return error_param(
                bsnap_fail(-EINVAL, "MissingParameter", "%s: no volume path", v->device),
                "Volumes[%zu].Path", i);
        if (!realpath(v->path, real_i))
            return error_param(
                bsnap_fail(-errno,
                           errno == ENOENT ? "InvalidVolume.NotFound" : "InvalidParameterValue",
                           "%s: %s: %m", v->device, v->path),
                "Volumes[%zu].Path", i);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(o->volumes[j].device, v->device) == 0)
                return error_param(bsnap_fail(-EINVAL, "InvalidParameterValue",
                                              "the device name %s is given twice", v->device),
                                   "Volumes[%zu].Device", i);
            if (realpath(o->volumes[j].path, real_j) && strcmp(real_i, real_j) == 0)
                return error_param(bsnap_fail(-EINVAL, "InvalidParameterValue",
                                              "%s and %s are the same file (%s)",
                                              o->volumes[j].device, v->device, real_i),
                                   "Volumes[%zu].Path", i);
        }
        if (!root)
            root = v->device;
        if (strcmp(root, v->device) == 0)
            root_found = true;
    }
    if (!root_found)
        return error_param(bsnap_fail(-EINVAL, "InvalidParameterValue",
                                      "the root device %s is not among the volumes", root),
                           "RootDeviceName");
    (void)s;
    *ret_root = root;
    return 0;
}

/* Wait for the jobs, passing their summed progress on from this thread. */
static void wait_jobs(struct job *jobs, size_t n, const bsnap_run_options *run)
{
    for (;;) {
        uint64_t done = 0, total = 0;
        bool all = true;
        for (size_t i = 0; i < n; i++) {
            all = all && atomic_load(&jobs[i].finished);
            done += atomic_load(&jobs[i].done);
            total += atomic_load(&jobs[i].total);
        }
        if (all)
            return;
        if (run->progress && total)
            run->progress(run->progress_ud, done, total);
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
}

int bsnap_image_create(bsnap_store *s, const bsnap_image_options *o, char ret_id[BSNAP_ID_MAX])
{
    char id[BSNAP_ID_MAX];
    const char *root = NULL;
    struct job *jobs = NULL;
    pthread_t *tids = NULL;
    size_t started = 0;
    error_saved first = {0};
    bsnap_block_device_mapping *mappings = NULL;
    int lockfd = -1, r;

    bsnap_error_clear();
    r = check_volumes(s, o, &root);
    if (r < 0)
        return r;
    r = id_generate("ami", id);
    if (r < 0)
        return bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
    jobs = calloc(o->nvolumes, sizeof *jobs);
    tids = calloc(o->nvolumes, sizeof *tids);
    if (!jobs || !tids) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    r = store_lock(s, false, &o->run, &lockfd);
    if (r < 0)
        goto out;

    /* Separate files: one thread each, so the reads overlap. */
    for (size_t i = 0; i < o->nvolumes; i++) {
        struct job *j = &jobs[i];
        j->s = s;
        j->vol = &o->volumes[i];
        j->o = o;
        snprintf(j->description, sizeof j->description, "Created by CreateImage(%s) for %s",
                 j->vol->device, id);
        if (pthread_create(&tids[i], NULL, job_run, j) != 0) {
            r = bsnap_fail(-EAGAIN, "InternalError", "cannot start a snapshot thread");
            break;
        }
        started++;
    }
    wait_jobs(jobs, started, &o->run);
    for (size_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    for (size_t i = 0; i < started && r == 0; i++)
        if (jobs[i].r < 0) {
            r = jobs[i].r;
            error_restore(&jobs[i].err);
        }
    if (r < 0)
        goto out;
    if (o->run.progress) {
        uint64_t total = 0;
        for (size_t i = 0; i < started; i++)
            total += atomic_load(&jobs[i].total);
        o->run.progress(o->run.progress_ud, total, total);
    }

    /* Register them: the sizes the snapshots'. */
    {
        bsnap_image_options ro = *o;

        mappings = calloc(o->nvolumes, sizeof *mappings);
        if (!mappings) {
            r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            goto out;
        }
        for (size_t i = 0; i < o->nvolumes; i++)
            mappings[i] = (bsnap_block_device_mapping){
                .device_name = o->volumes[i].device,
                .kind = BSNAP_MAPPING_EBS,
                .snapshot_id = jobs[i].taken.rec.id,
                .delete_on_termination = BSNAP_TRUE,
            };
        ro.volumes = NULL;
        ro.nvolumes = 0;
        ro.mappings = mappings;
        ro.nmappings = o->nvolumes;
        ro.root_device_name = root;
        if (o->run.cancel && *o->run.cancel)
            r = bsnap_fail(-ECANCELED, "Cancelled", "interrupted");
        else {
            struct snapshot_taken *taken = calloc(o->nvolumes, sizeof *taken);
            if (!taken) {
                r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
                goto out;
            }
            for (size_t i = 0; i < o->nvolumes; i++)
                taken[i] = jobs[i].taken;
            r = image_register_as(s, &ro, id, taken, o->nvolumes);
            free(taken);
        }
    }

out:
    if (r < 0) {
        /* Nothing is registered: drop the pending snapshots this call took. */
        error_save(&first);
        for (size_t i = 0; i < started; i++)
            if (jobs[i].r == 0)
                snapshot_drop_pending(s, jobs[i].taken.rec.id);
        error_restore(&first);
    } else {
        snprintf(ret_id, BSNAP_ID_MAX, "%s", id);
    }
    store_unlock(lockfd);
    for (size_t i = 0; jobs && i < started; i++)
        snapshot_taken_clear(&jobs[i].taken);
    free(mappings);
    free(jobs);
    free(tids);
    return r;
}
