/* lifecycle-run.c - bsnap_lifecycle_run(): what a timer calls to take the
 * snapshots policies say are due and delete those they no longer retain.
 *
 * A run reads the policies, the caller's volumes and snapshots, and the
 * images' snapshots in one read transaction, then works volume by volume
 * through the public calls (bsnap_snapshot_create()'s take, with the run's
 * time as StartTime, and bsnap_snapshot_delete()), each of which is its own
 * transaction: a failure of one is a result, and the others go on.  Runs
 * are serialised by STORE/lifecycle.lock, taken before the read: a second
 * run waits for the first and then reads what it did, so it finds nothing
 * due at the same time.  The retention plan is bsnap_retention_plan()'s
 * over the schedule's own snapshots of the volume only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "catalog.h"
#include "cleanup.h"
#include "error.h"
#include "image.h"
#include "lifecycle.h"
#include "owner.h"
#include "record.h"
#include "snapshot.h"
#include "store-handle.h"
#include "util.h"
#include "xref.h"

/* One of the caller's completed snapshots that a policy made. */
struct lc_snap {
    char id[BSNAP_ID_MAX];
    char volume_id[BSNAP_ID_MAX];
    const char *policy; /* its tags' values, borrowed from the records */
    const char *schedule;
    int64_t time_ms;
    bool in_use;
};

struct run {
    bsnap_store *s;
    int64_t now;
    struct snapshot_rec *recs;
    size_t nrecs;
    struct volume_rec *vols;
    size_t nvols;
    struct lc_snap *snaps;
    size_t nsnaps, capsnaps;
    json_t *results;
    size_t failed;
};

static const char *tag_value(const struct tags *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].key, key) == 0)
            return t->v[i].value;
    return NULL;
}

static int lock_runs(bsnap_store *s, int *ret_fd)
{
    _cleanup_free_ char *path = NULL;
    int fd;

    if (asprintf(&path, "%s/lifecycle.lock", s->path) < 0)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, s->file_mode);
    if (fd < 0)
        return bsnap_fail(-errno, "InternalError", "%s: %m", path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        bsnap_log(5, "lifecycle", "another lifecycle run holds %s: waiting for it", path);
        while (flock(fd, LOCK_EX) < 0)
            if (errno != EINTR) {
                int e = -errno;
                close(fd);
                return bsnap_fail(e, "InternalError", "%s: lock: %s", path, strerror(-e));
            }
    }
    *ret_fd = fd;
    return 0;
}

/* Load the caller's volumes and the snapshots policies made, with whether
 * an image uses each, in one read transaction. */
static int load(struct run *run)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct image_rec *images = NULL;
    size_t nimages = 0;
    int ready, r;

    if ((r = meta_txn_begin(run->s->meta, false, &txn)) < 0 ||
        (r = catalog_snapshot_all(txn, &run->recs, &run->nrecs)) < 0 ||
        (r = catalog_volume_all(txn, &run->vols, &run->nvols)) < 0)
        return r;
    ready = xref_ready(txn, XREF_IMAGES);
    if (ready == 0)
        ready = image_all(txn, &images, &nimages);
    if (ready < 0)
        return ready;
    run->snaps = calloc(run->nrecs + 1, sizeof *run->snaps);
    run->capsnaps = run->nrecs + 1;
    if (!run->snaps) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < run->nrecs; i++) {
        const struct snapshot_rec *rec = &run->recs[i];
        const char *p = tag_value(&rec->tags, LIFECYCLE_TAG_POLICY);
        const char *sc = tag_value(&rec->tags, LIFECYCLE_TAG_SCHEDULE);
        struct lc_snap *x = &run->snaps[run->nsnaps];
        char user[BSNAP_ID_MAX];

        if (!p || !sc || rec->state != BSNAP_SNAPSHOT_COMPLETED ||
            !owner_visible(run->s, rec->owner))
            continue;
        if (ready == 1) {
            r = image_snapshot_user(txn, rec->id, user);
            if (r < 0)
                goto out;
        } else {
            r = 0;
            for (size_t k = 0; k < nimages && !r; k++)
                for (size_t b = 0;
                     images[k].state != BSNAP_IMAGE_DEREGISTERED && b < images[k].nbdm && !r; b++)
                    r = images[k].bdm[b].kind == BDM_EBS &&
                        strcmp(images[k].bdm[b].snapshot_id, rec->id) == 0;
        }
        snprintf(x->id, sizeof x->id, "%s", rec->id);
        snprintf(x->volume_id, sizeof x->volume_id, "%s", rec->volume_id);
        x->policy = p;
        x->schedule = sc;
        x->time_ms = rec->start_ms;
        x->in_use = r > 0;
        run->nsnaps++;
    }
    r = 0;
out:
    image_recs_free(images, nimages);
    return r;
}

/* Add a result {PolicyId, ScheduleName, VolumeId, Action, SnapshotId} and,
 * when @failed, the last error. */
static int result(struct run *run, const char *policy, const char *schedule, const char *volume,
                  const char *action, const char *snapshot, bool failed)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "PolicyId", policy, "ScheduleName", schedule,
                          "VolumeId", volume, "Action", failed ? "failed" : action);

    if (o && snapshot && snapshot[0])
        json_object_set_new(o, "SnapshotId", json_string(snapshot));
    if (o && failed) {
        const bsnap_error *e = bsnap_last_error();
        run->failed++;
        json_object_set_new(o, "Error",
                            json_pack("{s:s, s:s}", "Code", e->code[0] ? e->code : "InternalError",
                                      "Message", e->message ? e->message : ""));
    }
    if (!o || json_array_append_new(run->results, o) < 0)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    bsnap_error_clear();
    return 0;
}

/* Take the snapshot of @vol that schedule @sc of @policy is due for. */
static int take(struct run *run, const char *policy, const struct lc_schedule *sc,
                const struct volume_rec *vol)
{
    bsnap_tag tags[LIFECYCLE_TAGS_TO_ADD_MAX + 50 + 2];
    size_t n = 0, i;
    json_t *t;
    char desc[256], id[BSNAP_ID_MAX] = "";
    bsnap_snapshot_options o = {.volume_id = vol->id};
    int r;

    /* Later tags of a key replace earlier ones: the volume's, then
     * TagsToAdd, then the policy's own two. */
    for (i = 0; sc->copy_tags && i < vol->tags.n; i++)
        if (strncmp(vol->tags.v[i].key, "aws:", 4) != 0)
            tags[n++] = (bsnap_tag){vol->tags.v[i].key, vol->tags.v[i].value};
    json_array_foreach ((json_t *)sc->tags_to_add, i, t)
        tags[n++] = (bsnap_tag){json_string_value(json_object_get(t, "Key")),
                                json_string_value(json_object_get(t, "Value"))};
    tags[n++] = (bsnap_tag){LIFECYCLE_TAG_POLICY, policy};
    tags[n++] = (bsnap_tag){LIFECYCLE_TAG_SCHEDULE, sc->name};
    /* Drop the earlier of two tags of one key (the snapshot's tags are a
     * set): at most 50 remain, since TagsToAdd is at most 45 and a volume
     * has at most 50 (a volume's beyond what fits are left out). */
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n; b++)
            if (tags[a].key && tags[b].key && strcmp(tags[a].key, tags[b].key) == 0) {
                tags[a].key = NULL;
                break;
            }
    {
        size_t m = 0;
        for (size_t a = 0; a < n; a++)
            if (tags[a].key)
                tags[m++] = tags[a];
        /* keep the last 50: the policy's two and TagsToAdd come last */
        o.tags = m > 50 ? tags + (m - 50) : tags;
        o.ntags = m > 50 ? 50 : m;
    }
    snprintf(desc, sizeof desc, "Created for policy: %s schedule: %.120s", policy, sc->name);
    o.description = desc;
    r = snapshot_create_at(run->s, &o, run->now, id);
    if (r == 0) {
        struct lc_snap *x;
        if (run->nsnaps == run->capsnaps) {
            void *p = array_grow(run->snaps, run->nsnaps, &run->capsnaps, sizeof *run->snaps, 16);
            if (!p)
                return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            run->snaps = p;
        }
        x = &run->snaps[run->nsnaps++];
        memset(x, 0, sizeof *x);
        snprintf(x->id, sizeof x->id, "%s", id);
        snprintf(x->volume_id, sizeof x->volume_id, "%s", vol->id);
        x->policy = policy;
        x->schedule = sc->name;
        x->time_ms = run->now;
    }
    return result(run, policy, sc->name, vol->id, "created", id, r < 0);
}

/* Schedule @sc of @policy on volume @vol_id: take what is due, then retain. */
static int run_schedule(struct run *run, const char *policy, const struct lc_schedule *sc,
                        const struct volume_rec *vol, const char *vol_id)
{
    bsnap_retention_item *items = NULL;
    bsnap_retention rules;
    int64_t slot = lifecycle_slot_start(sc, run->now);
    bool due = true;
    size_t n = 0;
    int r;

    for (size_t i = 0; i < run->nsnaps; i++) {
        const struct lc_snap *x = &run->snaps[i];
        if (strcmp(x->volume_id, vol_id) == 0 && strcmp(x->policy, policy) == 0 &&
            strcmp(x->schedule, sc->name) == 0 && x->time_ms >= slot)
            due = false;
    }
    if (due && vol && (r = take(run, policy, sc, vol)) < 0)
        return r;
    items = calloc(run->nsnaps + 1, sizeof *items);
    if (!items)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    for (size_t i = 0; i < run->nsnaps; i++) {
        const struct lc_snap *x = &run->snaps[i];
        if (strcmp(x->volume_id, vol_id) != 0 || strcmp(x->policy, policy) != 0 ||
            strcmp(x->schedule, sc->name) != 0 || x->id[0] == '\0')
            continue;
        snprintf(items[n].id, sizeof items[n].id, "%s", x->id);
        items[n].time_ms = x->time_ms;
        items[n].in_use = x->in_use;
        n++;
    }
    lifecycle_retention(sc, run->now, &rules);
    r = bsnap_retention_plan(&rules, items, n);
    for (size_t i = 0; r == 0 && i < n; i++) {
        if (items[i].keep)
            continue;
        int d = bsnap_snapshot_delete(run->s, items[i].id);
        r = result(run, policy, sc->name, vol_id, "deleted", items[i].id, d < 0);
        /* forget it, so that another pass over this volume skips it */
        for (size_t k = 0; d == 0 && k < run->nsnaps; k++)
            if (strcmp(run->snaps[k].id, items[i].id) == 0)
                run->snaps[k].id[0] = '\0';
    }
    free(items);
    return r;
}

/* Whether volume @v is tagged with one of the policy's TargetTags. */
static bool targeted(const struct volume_rec *v, const json_t *target_tags)
{
    size_t i;
    json_t *t;

    json_array_foreach ((json_t *)target_tags, i, t) {
        const char *val = tag_value(&v->tags, json_string_value(json_object_get(t, "Key")));
        if (val && strcmp(val, json_string_value(json_object_get(t, "Value"))) == 0)
            return true;
    }
    return false;
}

static int run_policy(struct run *run, const json_t *rec)
{
    const char *policy = json_string_value(json_object_get(rec, "PolicyId"));
    const json_t *d = json_object_get(rec, "PolicyDetails");
    const json_t *ids = json_object_get(d, "TargetVolumeIds");
    struct lc_schedule sc[LIFECYCLE_SCHEDULES_MAX];
    size_t nsc = lifecycle_schedules(d, sc, LIFECYCLE_SCHEDULES_MAX);
    int r = 0;

    if (nsc > LIFECYCLE_SCHEDULES_MAX)
        nsc = LIFECYCLE_SCHEDULES_MAX;
    /* Volumes in id order (the catalog's), each once: by tag or by id. */
    for (size_t v = 0; r == 0 && v < run->nvols; v++) {
        const struct volume_rec *vol = &run->vols[v];
        bool named = false;
        size_t i;
        json_t *x;

        if (!owner_visible(run->s, vol->owner))
            continue;
        json_array_foreach ((json_t *)ids, i, x)
            named = named || strcmp(json_string_value(x), vol->id) == 0;
        if (!named && !targeted(vol, json_object_get(d, "TargetTags")))
            continue;
        for (size_t k = 0; r == 0 && k < nsc; k++)
            r = run_schedule(run, policy, &sc[k], vol, vol->id);
    }
    /* A volume named by id that is not (or no longer) one of the caller's:
     * a failed result; the snapshots the policy made of it are still
     * retained as the schedule says. */
    {
        size_t i;
        json_t *x;
        json_array_foreach ((json_t *)ids, i, x) {
            const char *id = json_string_value(x);
            bool found = false;
            for (size_t v = 0; v < run->nvols && !found; v++)
                found =
                    strcmp(run->vols[v].id, id) == 0 && owner_visible(run->s, run->vols[v].owner);
            if (found || r < 0)
                continue;
            bsnap_fail(-ENOENT, "InvalidVolume.NotFound", "volume %s not found", id);
            r = result(run, policy, sc[0].name, id, "created", NULL, true);
            for (size_t k = 0; r == 0 && k < nsc; k++)
                r = run_schedule(run, policy, &sc[k], NULL, id);
        }
    }
    return r;
}

int bsnap_lifecycle_run(bsnap_store *s, const char *const *ids, size_t n, int64_t now_ms,
                        json_t **ret_doc, size_t *ret_failed)
{
    struct run run = {.s = s, .now = now_ms ? now_ms : time_now_ms()};
    json_t *policies = NULL, *doc = NULL, *rec;
    char when[40];
    int lockfd = -1, r;
    size_t i;

    bsnap_error_clear();
    *ret_doc = NULL;
    *ret_failed = 0;
    for (i = 0; i < n; i++)
        if (!lifecycle_id_valid(ids[i])) {
            bsnap_fail(-EINVAL, "InvalidRequestException",
                       "policy id '%.64s' is malformed: policy- and 17 hex digits", ids[i]);
            return error_set_parameter("PolicyIds[%zu]", i);
        }
    if ((r = lock_runs(s, &lockfd)) < 0)
        return r;
    {
        _cleanup_txn_abort_ meta_txn *txn = NULL;
        if ((r = meta_txn_begin(s->meta, false, &txn)) < 0)
            goto out;
        if (n == 0) {
            r = lifecycle_policy_all(s, txn, &policies);
        } else if (!(policies = json_array())) {
            r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        } else {
            for (i = 0; i < n && r == 0; i++) {
                r = lifecycle_policy_load(s, txn, ids[i], &rec);
                if (r == 0 && json_array_append_new(policies, rec) < 0)
                    r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            }
            if (r < 0)
                error_set_parameter("PolicyIds[%zu]", i - 1);
        }
        if (r < 0)
            goto out;
    }
    if ((r = load(&run)) < 0)
        goto out;
    if (!(run.results = json_array())) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    json_array_foreach (policies, i, rec) {
        if (strcmp(json_string_value(json_object_get(rec, "State")), "ENABLED") != 0)
            continue;
        if ((r = run_policy(&run, rec)) < 0)
            goto out;
    }
    time_format_ms(run.now, when, sizeof when);
    doc = json_pack("{s:s, s:O}", "Now", when, "LifecyclePolicyResults", run.results);
    if (!doc) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    bsnap_error_clear();
    *ret_doc = doc;
    *ret_failed = run.failed;
    r = 0;
out:
    if (lockfd >= 0)
        close(lockfd);
    json_decref(run.results);
    json_decref(policies);
    free(run.snaps);
    snapshot_recs_free(run.recs, run.nrecs);
    volume_recs_free(run.vols, run.nvols);
    return r;
}
