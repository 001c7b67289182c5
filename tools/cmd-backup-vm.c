/* cmd-backup-vm.c - backup-vm: snapshots of a running QEMU machine's disks.
 *
 * A front end over QMP (qmp.c) and the engine's NBD source: per disk a
 * dirty bitmap for the next run and a point-in-time view (image fleecing:
 * blockdev-backup sync=none into a temporary qcow2 overlay whose backing is
 * the disk), all in one QMP transaction, so several disks are one instant;
 * the views exported by QEMU's NBD server on a private socket; each read by
 * bsnap_snapshot_create() in full or, from the previous run's bitmap,
 * only its dirty extents; then everything torn down.
 *
 * The tie between a bitmap and a snapshot lives in the store as tags: the
 * snapshot taken when bitmap NAME was added carries blocksnap:vm-bitmap=NAME
 * (its parent for the next incremental), and the volume of a VM disk
 * carries blocksnap:vm-disk=KEY (KEY: the VM's UUID, else its name, then
 * "/" and the node name; without either, the image's file name), so a full
 * read after the bitmap was lost continues the same volume. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "bsfront-vm.h"

extern char **environ;

#define QMP_TIMEOUT_S 30 /* default of --qmp-timeout */
#define QMP_TIMEOUT_MAX 86400
#define BITMAP_PREFIX "blocksnap-"
#define TAG_BITMAP "blocksnap:vm-bitmap"
#define TAG_DISK "blocksnap:vm-disk"
#define DISKS_MAX 64

struct disk {
    char node[128];
    char key[512];
    char file[PATH_MAX];
    uint64_t size;
    bool persistent;           /* the format keeps bitmaps (qcow2) */
    char prev[128];            /* the previous run's bitmap, tied to @parent */
    char parent[BSNAP_ID_MAX]; /* the snapshot taken when @prev was added */
    char volume[BSNAP_ID_MAX]; /* the disk's volume, when it has one */
    bool lost;                 /* the volume has snapshots but no bitmap is left */
    char stale[4][128];        /* bitmaps of ours QEMU marks inconsistent */
    size_t nstale;
    char next[128]; /* this run's bitmap */
    char fleece[64], job[64], export_id[64];
    char overlay[PATH_MAX];
    bool added, fleeced, started, exported; /* what to tear down */
    char snap[BSNAP_ID_MAX];
    bool new_volume, incremental;
    bsnap_snapshot_stats stats;
};

struct run {
    struct cli *cli;
    struct bsf_qmp *q;
    int timeout_ms; /* --qmp-timeout: for each answer and each awaited event */
    char dir[1024]; /* the private temporary directory */
    char sock[PATH_MAX];
    bool server;
    struct disk d[DISKS_MAX];
    size_t n;
    char vm[128];             /* the VM's UUID or name:NAME, "" when it has neither */
    char image[BSNAP_ID_MAX]; /* --register-image's */
    char uuid[64];
    char name[256];
};

static int qmp_fail(struct run *w)
{
    output_line("blocksnap: error: %s", bsf_qmp_error(w->q));
    return EXIT_FAILED;
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* The VM's identity: query-uuid, query-name. */
static int vm_identity(struct run *w)
{
    json_t *r = NULL;

    if (bsf_qmp_execute(w->q, "query-uuid", NULL, &r) < 0)
        return qmp_fail(w);
    snprintf(w->uuid, sizeof w->uuid, "%s", str(r, "UUID") ? str(r, "UUID") : "");
    json_decref(r);
    if (bsf_qmp_execute(w->q, "query-name", NULL, &r) < 0)
        return qmp_fail(w);
    snprintf(w->name, sizeof w->name, "%s", str(r, "name") ? str(r, "name") : "");
    json_decref(r);
    if (w->uuid[0] && strspn(w->uuid, "0-") != strlen(w->uuid))
        snprintf(w->vm, sizeof w->vm, "%s", w->uuid);
    else if (w->name[0])
        snprintf(w->vm, sizeof w->vm, "name:%.120s", w->name);
    return EXIT_OK;
}

static const json_t *find_node(const json_t *nodes, const char *name)
{
    const json_t *n;
    size_t i;

    json_array_foreach (nodes, i, n)
        if (str(n, "node-name") && strcmp(str(n, "node-name"), name) == 0)
            return n;
    return NULL;
}

static bool is_protocol(const char *drv)
{
    static const char *const p[] = {"file",     "host_device",       "host_cdrom", "nbd", "null-co",
                                    "null-aio", "copy-before-write", "throttle",   NULL};
    for (size_t i = 0; p[i]; i++)
        if (strcmp(drv, p[i]) == 0)
            return true;
    return false;
}

static int add_disk(struct run *w, const json_t *node)
{
    struct disk *d;
    const json_t *bm;
    size_t i;

    for (i = 0; i < w->n; i++)
        if (strcmp(w->d[i].node, str(node, "node-name")) == 0)
            return EXIT_OK;
    if (w->n == DISKS_MAX) {
        output_line("blocksnap: error: the VM has more than %d disks (InvalidParameterValue)",
                    DISKS_MAX);
        return EXIT_FAILED;
    }
    d = &w->d[w->n++];
    snprintf(d->node, sizeof d->node, "%s", str(node, "node-name"));
    snprintf(d->file, sizeof d->file, "%s", str(node, "file") ? str(node, "file") : "");
    d->size = (uint64_t)json_integer_value(
        json_object_get(json_object_get(node, "image"), "virtual-size"));
    d->persistent = str(node, "drv") && strcmp(str(node, "drv"), "qcow2") == 0;
    if (w->vm[0]) {
        char vm[sizeof w->vm];
        memcpy(vm, w->vm, sizeof vm);
        snprintf(d->key, sizeof d->key, "%s/%.300s", vm, str(node, "node-name"));
    } else {
        snprintf(d->key, sizeof d->key, "file:%.500s", str(node, "file") ? str(node, "file") : "");
    }
    (void)bm;
    return EXIT_OK;
}

static int disk_cmp(const void *a, const void *b)
{
    return strcmp(((const struct disk *)a)->node, ((const struct disk *)b)->node);
}

/* The disks: --disks, else every drive with writable media (query-block),
 * else (a machine without devices, such as -machine none) every writable
 * format node nothing else is built on. */
static int pick_disks(struct run *w, const struct args *a, const json_t *nodes)
{
    size_t nd = 0, i;
    const char *const *want = arg_list(a, "disks", &nd);
    json_t *blk = NULL, *b;
    int r;

    for (i = 0; i < nd; i++) {
        char *copy = strdup(want[i]), *save = NULL;
        if (!copy)
            return output_error_nomem();
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            const json_t *n = find_node(nodes, t);
            if (!n) {
                output_line("blocksnap: error: the VM has no block node named %s (see QMP "
                            "query-named-block-nodes) (InvalidParameterValue)",
                            t);
                free(copy);
                return EXIT_FAILED;
            }
            if ((r = add_disk(w, n)) != EXIT_OK) {
                free(copy);
                return r;
            }
        }
        free(copy);
    }
    if (nd)
        return EXIT_OK;
    if (bsf_qmp_execute(w->q, "query-block", NULL, &blk) < 0)
        return qmp_fail(w);
    json_array_foreach (blk, i, b) {
        json_t *ins = json_object_get(b, "inserted");
        const json_t *n;
        if (!ins || json_is_true(json_object_get(ins, "ro")) || !str(ins, "node-name"))
            continue; /* an empty drive, a CD-ROM */
        if ((n = find_node(nodes, str(ins, "node-name"))) && (r = add_disk(w, n)) != EXIT_OK) {
            json_decref(blk);
            return r;
        }
    }
    json_decref(blk);
    if (w->n)
        return EXIT_OK;
    json_array_foreach (nodes, i, b) {
        const char *nn = str(b, "node-name"), *drv = str(b, "drv");
        if (!nn || !drv || nn[0] == '#' || strncmp(nn, BITMAP_PREFIX, strlen(BITMAP_PREFIX)) == 0 ||
            is_protocol(drv) || json_is_true(json_object_get(b, "ro")))
            continue;
        if ((r = add_disk(w, b)) != EXIT_OK)
            return r;
    }
    /* QEMU lists the nodes newest first: the order of their names instead */
    qsort(w->d, w->n, sizeof *w->d, disk_cmp);
    if (!w->n) {
        output_line("blocksnap: error: the VM has no writable disk to back up "
                    "(InvalidParameterValue)");
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

/* The first completed snapshot of disk @disk (or volume, @snapshots
 * false) whose tag @key is @value: its id into @ret_id, and its volume
 * into @ret_vol. */
static int find_tagged(struct run *w, bool snapshots, const char *key, const char *value,
                       const char *disk, char ret_id[BSNAP_ID_MAX], char ret_vol[BSNAP_ID_MAX])
{
    char fname[128];
    const char *vals[1] = {value}, *dvals[1] = {disk};
    bsnap_filter f[3] = {{fname, vals, 1},
                         {"tag:" TAG_DISK, dvals, 1},
                         {"status", (const char *[]){"completed"}, 1}};
    bsnap_describe_options o = {.filters = f, .nfilters = snapshots ? 3 : 1};
    json_t *doc = NULL, *item;
    int r;

    snprintf(fname, sizeof fname, "tag:%s", key);
    r = snapshots ? bsnap_snapshot_describe(w->cli->store, &o, &doc)
                  : bsnap_volume_describe(w->cli->store, &o, &doc);
    if (r < 0)
        return output_engine_error();
    item = json_array_get(json_object_get(doc, snapshots ? "Snapshots" : "Volumes"), 0);
    ret_id[0] = ret_vol[0] = '\0';
    if (item) {
        snprintf(ret_id, BSNAP_ID_MAX, "%s",
                 str(item, snapshots ? "SnapshotId" : "VolumeId") ?: "");
        snprintf(ret_vol, BSNAP_ID_MAX, "%s", str(item, "VolumeId") ?: "");
    }
    json_decref(doc);
    return EXIT_OK;
}

/* What each disk's previous run left: a bitmap of ours tied to a snapshot
 * (an incremental), else the disk's volume (a full read that dedups). */
static int find_previous(struct run *w, const json_t *nodes, bool full)
{
    for (size_t i = 0; i < w->n; i++) {
        struct disk *d = &w->d[i];
        const json_t *node = find_node(nodes, d->node), *bm;
        char id[BSNAP_ID_MAX], vol[BSNAP_ID_MAX];
        size_t j;
        int r;

        json_array_foreach (json_object_get(node, "dirty-bitmaps"), j, bm) {
            const char *name = str(bm, "name");
            if (!name || strncmp(name, BITMAP_PREFIX, strlen(BITMAP_PREFIX)) != 0)
                continue;
            /* a persistent bitmap QEMU did not store on close (killed):
             * useless, removed after a successful run */
            if (json_is_true(json_object_get(bm, "inconsistent"))) {
                if (d->nstale < 4)
                    snprintf(d->stale[d->nstale++], sizeof d->stale[0], "%s", name);
                continue;
            }
            if (!json_is_true(json_object_get(bm, "recording")))
                continue;
            if ((r = find_tagged(w, true, TAG_BITMAP, name, d->key, id, vol)) != EXIT_OK)
                return r;
            if (id[0] && !full) {
                snprintf(d->prev, sizeof d->prev, "%s", name);
                snprintf(d->parent, sizeof d->parent, "%s", id);
                snprintf(d->volume, sizeof d->volume, "%s", vol);
                break;
            }
            if (id[0]) /* --full: read it all, still drop the old bitmap after */
                snprintf(d->prev, sizeof d->prev, "%s", name);
        }
        if (d->parent[0])
            continue;
        if ((r = find_tagged(w, false, TAG_DISK, d->key, d->key, id, vol)) != EXIT_OK)
            return r;
        snprintf(d->volume, sizeof d->volume, "%s", id);
        d->lost = id[0] && !full && !d->prev[0];
    }
    return EXIT_OK;
}

/* qemu-img create -f qcow2 PATH SIZE: the fleecing overlay (its backing,
 * the disk, is given when QEMU opens it). */
static int make_overlay(const struct disk *d)
{
    char size[32];
    char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", (char *)d->overlay, size, NULL};
    pid_t pid;
    int st, e;

    snprintf(size, sizeof size, "%" PRIu64, d->size);
    if ((e = posix_spawnp(&pid, "qemu-img", NULL, NULL, argv, environ)) != 0) {
        output_line("blocksnap: error: cannot run qemu-img to make the fleecing overlay: %s "
                    "(InternalError)",
                    strerror(e));
        return EXIT_FAILED;
    }
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return EXIT_FAILED;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        output_line("blocksnap: error: qemu-img create %s failed (InternalError)", d->overlay);
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

/* @in percent-encoded into @out (@cap bytes, at least 3 * strlen(@in) + 1):
 * every byte but RFC 3986's unreserved ones and those in @keep. */
static void uri_escape(const char *in, const char *keep, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)in; *p && n + 4 <= cap; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p) || strchr(keep, *p)) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
}

#ifdef BSNAP_FAULT_INJECTION
/* Test hooks: with the environment variable @var (BLOCKSNAP_TEST_VM_PAUSE:
 * once the point-in-time views are exported, so that a test writes to the
 * disks during the backup; BLOCKSNAP_TEST_VM_FROZEN: once the guest agent
 * froze the guest, before the views are taken, so that a test sees a
 * guest's write wait for the thaw) set to PATH, say PATH.ready and wait
 * (at most 60 s) for PATH.go. */
static void test_pause(const char *var)
{
    const char *p = getenv(var);
    char path[PATH_MAX];
    FILE *f;

    if (!p || !p[0])
        return;
    snprintf(path, sizeof path, "%s.ready", p);
    if ((f = fopen(path, "w")))
        fclose(f);
    snprintf(path, sizeof path, "%s.go", p);
    for (int i = 0; i < 600 && access(path, F_OK) != 0; i++)
        nanosleep(&(struct timespec){0, 100000000}, NULL);
}
#endif

/* Set up the views: overlays, one transaction (bitmaps + fleecing jobs),
 * the NBD server and one export a disk. */
static int set_up(struct run *w)
{
    json_t *actions = json_array();
    unsigned char rnd[4] = {0};
    int r = EXIT_OK;

    if (!actions)
        return output_error_nomem();
    if (getrandom(rnd, sizeof rnd, 0) < 0)
        memset(rnd, 0, sizeof rnd);
    for (size_t i = 0; i < w->n && r == EXIT_OK; i++) {
        struct disk *d = &w->d[i];
        snprintf(d->next, sizeof d->next, BITMAP_PREFIX "%lld-%02x%02x%02x%02x-%zu",
                 (long long)time(NULL), rnd[0], rnd[1], rnd[2], rnd[3], i);
        snprintf(d->fleece, sizeof d->fleece, BITMAP_PREFIX "fleece-%ld-%zu", (long)getpid(), i);
        snprintf(d->job, sizeof d->job, BITMAP_PREFIX "job-%ld-%zu", (long)getpid(), i);
        snprintf(d->export_id, sizeof d->export_id, BITMAP_PREFIX "export-%ld-%zu", (long)getpid(),
                 i);
        snprintf(d->overlay, sizeof d->overlay, "%s/fleece-%zu.qcow2", w->dir, i);
        if ((r = make_overlay(d)) != EXIT_OK)
            break;
        if (bsf_qmp_executef(w->q, "blockdev-add", NULL, "{s:s, s:s, s:{s:s, s:s}, s:s}", "driver",
                             "qcow2", "node-name", d->fleece, "file", "driver", "file", "filename",
                             d->overlay, "backing", d->node) < 0) {
            r = qmp_fail(w);
            break;
        }
        d->fleeced = true;
        json_array_append_new(actions, json_pack("{s:s, s:{s:s, s:s, s:b}}", "type",
                                                 "block-dirty-bitmap-add", "data", "node", d->node,
                                                 "name", d->next, "persistent", d->persistent));
        json_array_append_new(actions,
                              json_pack("{s:s, s:{s:s, s:s, s:s, s:s}}", "type", "blockdev-backup",
                                        "data", "device", d->node, "target", d->fleece, "sync",
                                        "none", "job-id", d->job));
    }
    if (r == EXIT_OK &&
        bsf_qmp_executef(w->q, "transaction", NULL, "{s:O}", "actions", actions) < 0)
        r = qmp_fail(w);
    json_decref(actions);
    if (r != EXIT_OK)
        return r;
    for (size_t i = 0; i < w->n; i++)
        w->d[i].added = w->d[i].started = true;
    if (bsf_qmp_executef(w->q, "nbd-server-start", NULL, "{s:{s:s, s:{s:s}}}", "addr", "type",
                         "unix", "data", "path", w->sock) < 0)
        return qmp_fail(w);
    w->server = true;
    for (size_t i = 0; i < w->n; i++) {
        struct disk *d = &w->d[i];
        json_t *bitmaps = d->parent[0] ? json_pack("[{s:s, s:s}]", "node", d->node, "name", d->prev)
                                       : json_array();
        int e = bsf_qmp_executef(w->q, "block-export-add", NULL, "{s:s, s:s, s:s, s:s, s:o}",
                                 "type", "nbd", "id", d->export_id, "node-name", d->fleece, "name",
                                 d->node, "bitmaps", bitmaps);
        if (e < 0)
            return qmp_fail(w);
        d->exported = true;
    }
    return EXIT_OK;
}

/* Tear down what set_up() made, all of it whatever fails; EXIT_OK when
 * all went. */
static int tear_down(struct run *w)
{
    int r = EXIT_OK;

    /* a connection gone is said once: nothing more can be undone in QEMU */
#define TRY(call)                                                                   \
    do {                                                                            \
        bool was_gone = bsf_qmp_gone(w->q);                                         \
        if ((call) < 0) {                                                           \
            if (!was_gone)                                                          \
                output_line("blocksnap: error: clean-up: %s", bsf_qmp_error(w->q)); \
            r = EXIT_FAILED;                                                        \
        }                                                                           \
    } while (0)
    if (bsf_qmp_gone(w->q))
        output_line("blocksnap: error: QEMU's QMP connection is gone: nothing to undo in it");
    for (size_t i = 0; i < w->n; i++) {
        struct disk *d = &w->d[i];
        if (d->exported) {
            TRY(bsf_qmp_executef(w->q, "block-export-del", NULL, "{s:s, s:s}", "id", d->export_id,
                                 "mode", "hard"));
            TRY(bsf_qmp_wait_event(w->q, "BLOCK_EXPORT_DELETED", d->export_id, w->timeout_ms));
            d->exported = false;
        }
    }
    if (w->server) {
        TRY(bsf_qmp_execute(w->q, "nbd-server-stop", NULL, NULL));
        w->server = false;
    }
    for (size_t i = 0; i < w->n; i++) {
        struct disk *d = &w->d[i];
        if (d->started) {
            TRY(bsf_qmp_executef(w->q, "block-job-cancel", NULL, "{s:s, s:b}", "device", d->job,
                                 "force", 1));
            TRY(bsf_qmp_wait_event(w->q, "BLOCK_JOB_CANCELLED", d->job, w->timeout_ms));
            d->started = false;
        }
        if (d->fleeced) {
            TRY(bsf_qmp_executef(w->q, "blockdev-del", NULL, "{s:s}", "node-name", d->fleece));
            d->fleeced = false;
        }
        if (d->overlay[0] && unlink(d->overlay) < 0 && errno != ENOENT)
            output_line("blocksnap: warning: cannot remove %s: %s", d->overlay, strerror(errno));
    }
    /* QEMU removes its socket at nbd-server-stop; not when it went away */
    if (w->sock[0] && unlink(w->sock) < 0 && errno != ENOENT)
        output_line("blocksnap: warning: cannot remove %s: %s", w->sock, strerror(errno));
#undef TRY
    return r;
}

static int snapshot_disk(struct run *w, struct disk *d, const struct args *a)
{
    char uri[4 * PATH_MAX], ctx[160];
    bsnap_snapshot_options o = {0};
    bsnap_tag tags[2 + 50];
    bsnap_tag *user = NULL;
    size_t nuser = 0;
    char desc[256];
    int r;

    if ((r = cli_parse_tags(w->cli, a, true, &user, &nuser)) != EXIT_OK)
        return r;
    if (nuser > 48) {
        free(user);
        output_line("blocksnap: error: at most 48 --tags with backup-vm's own two "
                    "(TagLimitExceeded)");
        return EXIT_FAILED;
    }
    tags[0] = (bsnap_tag){TAG_BITMAP, d->next};
    tags[1] = (bsnap_tag){TAG_DISK, d->key};
    if (nuser)
        memcpy(tags + 2, user, nuser * sizeof *user);
    {
        /* a node name QEMU made up ("#block123") and TMPDIR may hold
         * bytes a URI may not: percent-encoded, libnbd decodes them */
        char node[3 * sizeof d->node], sock[3 * sizeof w->sock];
        uri_escape(d->node, "", node, sizeof node);
        uri_escape(w->sock, "/", sock, sizeof sock);
        snprintf(uri, sizeof uri, "nbd+unix:///%s?socket=%s", node, sock);
    }
    snprintf(desc, sizeof desc, "backup-vm %.120s %.120s", w->name[0] ? w->name : w->vm, d->node);
    o.volume_path = uri;
    o.volume_id = d->volume[0] ? d->volume : NULL;
    o.description = arg_value(a, "description") ? arg_value(a, "description") : desc;
    o.tags = tags;
    o.ntags = 2 + nuser;
    if (d->parent[0]) {
        snprintf(ctx, sizeof ctx, "qemu:dirty-bitmap:%s", d->prev);
        o.changed_context = ctx;
        o.parent_id = d->parent;
        d->incremental = true;
    } else {
        o.full = true;
    }
    if (d->lost && !w->cli->quiet)
        output_line("blocksnap: %s: no bitmap of the last backup is left (QEMU restarted?): "
                    "reading the whole disk, storing only what changed",
                    d->node);
    struct progress prog;
    progress_start(&prog, w->cli, d->node, &o.run);
    r = bsnap_snapshot_create(w->cli->store, &o, d->snap, &d->stats);
    progress_end(&prog);
    free(user);
    if (r < 0) {
        d->snap[0] = '\0';
        return output_engine_error();
    }
    if (!d->volume[0]) {
        /* a new volume: tag it with the disk's key for the next runs */
        json_t *doc = NULL;
        if (bsnap_snapshot_describe_one(w->cli->store, d->snap, &doc) < 0)
            return output_engine_error();
        snprintf(d->volume, sizeof d->volume, "%s", str(doc, "VolumeId") ?: "");
        json_decref(doc);
        d->new_volume = true;
        const char *res[1] = {d->volume};
        bsnap_tag t = {TAG_DISK, d->key};
        if (bsnap_tags_create(w->cli->store, res, 1, &t, 1) < 0)
            return output_engine_error();
    }
    return EXIT_OK;
}

/* --register-image NAME: the snapshots as one image, the first disk the
 * root (/dev/xvda), the others /dev/xvdb, ... in disk order. */
static int register_image(struct run *w, const struct args *a)
{
    bsnap_block_device_mapping m[DISKS_MAX] = {{0}};
    char names[DISKS_MAX][16];
    bsnap_image_options o = {0};

    if (w->n > 25) {
        output_line("blocksnap: error: --register-image: at most 25 disks (/dev/xvda to "
                    "/dev/xvdy), the VM has %zu (InvalidBlockDeviceMapping)",
                    w->n);
        return EXIT_FAILED;
    }
    for (size_t i = 0; i < w->n; i++) {
        snprintf(names[i], sizeof names[i], "/dev/xvd%c", (char)('a' + i));
        m[i] = (bsnap_block_device_mapping){.device_name = names[i],
                                            .kind = BSNAP_MAPPING_EBS,
                                            .snapshot_id = w->d[i].snap,
                                            .delete_on_termination = BSNAP_UNSET,
                                            .encrypted = BSNAP_UNSET};
    }
    o.name = arg_value(a, "register-image");
    o.description = arg_value(a, "description");
    o.ena_support = BSNAP_UNSET;
    o.no_boot_check = arg_flag(a, "no-boot-check");
    o.mappings = m;
    o.nmappings = w->n;
    if (bsnap_image_register(w->cli->store, &o, w->image) < 0) {
        w->image[0] = '\0';
        return output_engine_error();
    }
    return EXIT_OK;
}

/* After a failure: the store as before (this run's snapshots and new
 * volumes deleted). */
static void undo_store(struct run *w)
{
    for (size_t i = 0; i < w->n; i++) {
        struct disk *d = &w->d[i];
        if (d->snap[0] && bsnap_snapshot_delete(w->cli->store, d->snap) < 0)
            output_engine_error();
        if (d->new_volume && bsnap_volume_delete(w->cli->store, d->volume) < 0)
            output_engine_error();
        d->snap[0] = '\0';
    }
}

static json_t *result_doc(struct run *w)
{
    json_t *doc = json_object(), *list = json_array();

    json_object_set_new(doc, "VmUuid", json_string(w->uuid));
    if (w->name[0])
        json_object_set_new(doc, "VmName", json_string(w->name));
    for (size_t i = 0; i < w->n; i++) {
        struct disk *d = &w->d[i];
        json_t *s = NULL;
        if (bsnap_snapshot_describe_one(w->cli->store, d->snap, &s) < 0)
            s = json_object();
        json_object_set_new(s, "NodeName", json_string(d->node));
        json_object_set_new(s, "Incremental", json_boolean(d->incremental));
        if (d->incremental)
            json_object_set_new(s, "ParentSnapshotId", json_string(d->parent));
        json_object_set_new(s, "DirtyBitmap", json_string(d->next));
        json_object_set_new(s, "BytesRead", json_integer((json_int_t)d->stats.read_bytes));
        json_array_append_new(list, s);
    }
    json_object_set_new(doc, "Snapshots", list);
    if (w->image[0])
        json_object_set_new(doc, "ImageId", json_string(w->image));
    return doc;
}

static const char *const backup_sizes[] = {"VolumeSize", "BytesRead", NULL};

int cmd_backup_vm(struct cli *cli, const struct args *a)
{
    struct run *w = calloc(1, sizeof *w);
    const char *qmp = arg_value(a, "qmp"), *qga = arg_value(a, "qga");
    bool freeze = arg_flag(a, "freeze"), ok = false;
    struct bsf_qmp *agent = NULL;
    json_t *nodes = NULL, *doc = NULL;
    char *err = NULL;
    int r, t;

    if (!w)
        return output_error_nomem();
    w->cli = cli;
    if (arg_flag(a, "no-boot-check") && !arg_value(a, "register-image")) {
        free(w);
        return output_usage_error(cli->verb, "InvalidParameterCombination",
                                  "--no-boot-check is for --register-image: give it too");
    }
    if (qga && !freeze) {
        free(w);
        return output_usage_error(cli->verb, "InvalidParameterCombination",
                                  "--qga is the guest agent for --freeze: give --freeze too");
    }
    if (arg_value(a, "description") &&
        (r = cli_check_text(cli, "description", arg_value(a, "description"),
                            BSNAP_DESCRIPTION_MAX)) != EXIT_OK) {
        free(w);
        return r;
    }
    {
        const char *v = arg_value(a, "qmp-timeout");
        unsigned secs = QMP_TIMEOUT_S;
        if (v &&
            (r = arg_uint(cli->verb, "qmp-timeout", v, 1, QMP_TIMEOUT_MAX, &secs)) != EXIT_OK) {
            free(w);
            return r;
        }
        w->timeout_ms = (int)secs * 1000;
    }
    { /* the tags, checked before QEMU is touched */
        bsnap_tag *tags = NULL;
        size_t n = 0;
        r = cli_parse_tags(cli, a, true, &tags, &n);
        free(tags);
        if (r != EXIT_OK) {
            free(w);
            return r;
        }
    }
    if (!(w->q = bsf_qmp_open(qmp, false, w->timeout_ms, &err))) {
        output_line("blocksnap: error: %s", err ? err : "out of memory (InternalError)");
        free(err);
        free(w);
        return EXIT_FAILED;
    }
    if ((r = vm_identity(w)) != EXIT_OK)
        goto out;
    if (bsf_qmp_executef(w->q, "query-named-block-nodes", &nodes, "{s:b}", "flat", 1) < 0) {
        r = qmp_fail(w);
        goto out;
    }
    if ((r = pick_disks(w, a, nodes)) != EXIT_OK || (r = cli_open_store(cli)) != EXIT_OK ||
        (r = find_previous(w, nodes, arg_flag(a, "full"))) != EXIT_OK)
        goto out;
    snprintf(w->dir, sizeof w->dir, "%.900s/blocksnap-vm.XXXXXX",
             getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(w->dir)) {
        output_line("blocksnap: error: cannot make a temporary directory %s: %s (InternalError)",
                    w->dir, strerror(errno));
        w->dir[0] = '\0';
        r = EXIT_FAILED;
        goto out;
    }
    snprintf(w->sock, sizeof w->sock, "%s/nbd.sock", w->dir);

    if (freeze && !qga) {
        if (!cli->quiet)
            output_line("blocksnap: no guest agent given (--qga SOCKET): not freezing the "
                        "guest's file systems");
    } else if (freeze) {
        if (!(agent = bsf_qmp_open(qga, true, w->timeout_ms, &err))) {
            output_line("blocksnap: error: %s", err ? err : "out of memory (InternalError)");
            r = EXIT_FAILED;
            goto out;
        }
        if (bsf_qmp_execute(agent, "guest-fsfreeze-freeze", NULL, NULL) < 0) {
            output_line("blocksnap: error: %s", bsf_qmp_error(agent));
            r = EXIT_FAILED;
            goto thaw;
        }
#ifdef BSNAP_FAULT_INJECTION
        test_pause("BLOCKSNAP_TEST_VM_FROZEN");
#endif
    }
    r = set_up(w);
thaw:
    if (agent && bsf_qmp_execute(agent, "guest-fsfreeze-thaw", NULL, NULL) < 0) {
        output_line("blocksnap: error: %s", bsf_qmp_error(agent));
        r = EXIT_FAILED;
    }
#ifdef BSNAP_FAULT_INJECTION
    if (r == EXIT_OK)
        test_pause("BLOCKSNAP_TEST_VM_PAUSE");
#endif
    for (size_t i = 0; i < w->n && r == EXIT_OK; i++)
        r = snapshot_disk(w, &w->d[i], a);
    if (r == EXIT_OK && arg_value(a, "register-image"))
        r = register_image(w, a);
    ok = r == EXIT_OK;
    t = tear_down(w);
    /* The bitmaps: on success the previous ones go (the new ones mark what
     * changes from this run's snapshots on); on failure the new ones go and
     * the previous ones stay, so the next run is still incremental. */
    for (size_t i = 0; i < w->n; i++) {
        struct disk *d = &w->d[i];
        const char *drop = ok ? d->prev : d->added ? d->next : "";
        if (bsf_qmp_gone(w->q))
            break;
        if (drop[0] && bsf_qmp_executef(w->q, "block-dirty-bitmap-remove", NULL, "{s:s, s:s}",
                                        "node", d->node, "name", drop) < 0) {
            output_line("blocksnap: error: clean-up: %s", bsf_qmp_error(w->q));
            t = EXIT_FAILED;
        }
        for (size_t j = 0; ok && j < d->nstale; j++)
            if (bsf_qmp_executef(w->q, "block-dirty-bitmap-remove", NULL, "{s:s, s:s}", "node",
                                 d->node, "name", d->stale[j]) < 0) {
                output_line("blocksnap: error: clean-up: %s", bsf_qmp_error(w->q));
                t = EXIT_FAILED;
            }
    }
    if (!ok) {
        undo_store(w);
        goto out;
    }
    doc = result_doc(w);
    r = doc ? output_sized_doc(cli, doc, backup_sizes) : output_error_nomem();
    if (!cli->quiet)
        for (size_t i = 0; i < w->n; i++) {
            char vol[32], rd[32];
            output_line("blocksnap: %s: %s %s of %s, read %s", w->d[i].node, w->d[i].snap,
                        w->d[i].incremental ? "incremental" : "full",
                        bsf_size_text(w->d[i].stats.volume_bytes, vol),
                        bsf_size_text(w->d[i].stats.read_bytes, rd));
        }
    if (r == EXIT_OK)
        r = t;
out:
    if (agent)
        bsf_qmp_close(agent);
    if (w->dir[0] && rmdir(w->dir) < 0)
        output_line("blocksnap: warning: cannot remove %s: %s", w->dir, strerror(errno));
    json_decref(doc);
    json_decref(nodes);
    free(err);
    bsf_qmp_close(w->q);
    free(w);
    return r;
}
