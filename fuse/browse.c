/* browse.c - the volumes/ and tags/ trees of the FUSE view: ways to find a
 * snapshot without knowing its id.
 *
 *   volumes/VOL/TIME.img   -> ../../snapshots/snap-….img, one per completed
 *                             snapshot of the volume, TIME its start time
 *                             (2026-12-07T10:00:00Z; .123Z with the
 *                             milliseconds when two share a second, and
 *                             _snap-… after that when two share those too)
 *   volumes/VOL/latest     -> TIME.img of the newest
 *   tags/KEY/VALUE/snap-….img -> ../../../snapshots/snap-….img
 *
 * VOL is the volume's Name tag when it has one that no other volume has,
 * that is safe as a file name (not empty, not "." or "..", no '/', no
 * control character, at most 255 bytes) and that does not start with
 * "vol-" (so it cannot be taken for an id); else the volume id.  A tag KEY
 * or VALUE is escaped: '%' is %25, '/' is %2F, a control character
 * (0x01 to 0x1f, 0x7f) is %XX in upper-case hex, "." is %2E, ".." is
 * %2E%2E, and the empty string is a lone %.
 *
 * Like snapshots/, both trees are computed from the store (one describe of
 * the snapshots and volumes the mounting account may see: its own and those
 * shared with it; another account's snapshot is under its volume id and
 * under no tag, as its tags are the owner's alone): afresh at every
 * opendir, and for a lookup from the last catalog loaded when it is younger
 * than CATALOG_TTL_MS and has the name (else afresh), so that `ls -l` of a
 * folder of N links costs one load, not N.  So snapshots taken while
 * mounted appear at once (and latest, looked up afresh every time, names
 * them), and deleted ones vanish within ENTRY_TIMEOUT plus CATALOG_TTL_MS.  Encrypted snapshots whose key is not at
 * hand are left out, as in snapshots/.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs.h"

#define NAME_MAX_BYTES 255

/* A JSON string's value, "" for anything else. */
static const char *jstr(const json_t *v)
{
    const char *s = json_string_value(v);
    return s ? s : "";
}
/* "2026-12-07T10:00:00.123Z_" + id + ".img" */
#define TIME_NAME_MAX (48 + BSNAP_ID_MAX)

struct cat_snap {
    char id[BSNAP_ID_MAX];
    char vol[BSNAP_ID_MAX];
    int64_t ms;
    json_t *tags; /* borrowed from the catalog's document; NULL: none */
    char name[TIME_NAME_MAX];
};

struct cat_vol {
    char id[BSNAP_ID_MAX];
    char *name;      /* the folder's name (malloc'd) */
    size_t first, n; /* its snapshots: cat.snaps[first .. first + n), oldest first */
};

/* How long a lookup may use the last catalog loaded. */
#define CATALOG_TTL_MS 1000

/* A writable volume: volumes/ID.img. */
struct cat_rw {
    char name[BSNAP_ID_MAX + 4]; /* "vol-….img" */
    char id[BSNAP_ID_MAX];
    uint64_t size;
    int64_t ms; /* CreateTime */
};

struct catalog {
    unsigned refs; /* under fs->lock */
    struct cat_rw *rws;
    size_t nrws;
    int64_t loaded_ms; /* CLOCK_MONOTONIC */
    json_t *doc;
    struct cat_snap *snaps;
    size_t nsnaps;
    struct cat_vol *vols;
    size_t nvols;
};

static void catalog_free(struct catalog *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nvols; i++)
        free(c->vols[i].name);
    free(c->vols);
    free(c->rws);
    free(c->snaps);
    json_decref(c->doc);
    free(c);
}

/* "2026-12-07T10:00:00.123Z" as Unix ms; 0 (the mount's start) if not. */
static int64_t iso_ms(const char *s)
{
    struct tm tm = {0};
    int ms = 0;
    if (sscanf(s, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void catalog_unref(struct fs *fs, struct catalog *c)
{
    bool last;
    if (!c)
        return;
    pthread_mutex_lock(&fs->lock);
    last = --c->refs == 0;
    pthread_mutex_unlock(&fs->lock);
    if (last)
        catalog_free(c);
}

static int snap_order(const void *a, const void *b)
{
    const struct cat_snap *x = a, *y = b;
    int c = strcmp(x->vol, y->vol);
    if (c)
        return c;
    if (x->ms != y->ms)
        return x->ms < y->ms ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* @s's start time as a name: level 0 to the second, 1 to the millisecond,
 * 2 the millisecond and the id. */
static void time_name(const struct cat_snap *s, int level, char *out, size_t cap)
{
    time_t t = (time_t)(s->ms / 1000);
    struct tm tm;
    char base[32];
    gmtime_r(&t, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    if (level == 0)
        snprintf(out, cap, "%sZ.img", base);
    else if (level == 1)
        snprintf(out, cap, "%s.%03dZ.img", base, (int)(s->ms % 1000));
    else
        snprintf(out, cap, "%s.%03dZ_%s.img", base, (int)(s->ms % 1000), s->id);
}

/* Whether @name is safe as a folder of volumes/. */
static bool volume_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > NAME_MAX_BYTES || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
        strncmp(name, "vol-", 4) == 0)
        return false;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p == '/' || *p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* The Name tag of a described volume or snapshot, or NULL. */
static const char *name_tag(json_t *o)
{
    size_t i;
    json_t *t;
    json_array_foreach (json_object_get(o, "Tags"), i, t) {
        if (strcmp(jstr(json_object_get(t, "Key")), "Name") == 0)
            return json_string_value(json_object_get(t, "Value"));
    }
    return NULL;
}

/* The folder name of volume @id: its Name tag when that is safe and no
 * other volume has it, else @id. */
static char *volume_dir_name(json_t *vols, const char *id)
{
    size_t i;
    json_t *v;
    const char *mine = NULL;
    json_array_foreach (vols, i, v) {
        if (strcmp(jstr(json_object_get(v, "VolumeId")), id) == 0)
            mine = name_tag(v);
    }
    if (mine && volume_name_ok(mine)) {
        unsigned same = 0;
        json_array_foreach (vols, i, v) {
            const char *other = name_tag(v);
            same += other && strcmp(other, mine) == 0;
        }
        if (same == 1)
            return strdup(mine);
    }
    return strdup(id);
}

/* The completed snapshots the account may see (and read), by volume. */
static int catalog_fill(struct fs *fs, struct catalog *c)
{
    json_t *vdoc = NULL, *o;
    size_t i, cap;
    int e;

    c->loaded_ms = now_ms();
    if (bsnap_snapshot_describe(fs->store, NULL, &c->doc) < 0)
        return -EIO;
    json_t *arr = json_object_get(c->doc, "Snapshots");
    cap = json_array_size(arr);
    if (cap && !(c->snaps = calloc(cap, sizeof(*c->snaps))))
        return -ENOMEM;
    json_array_foreach (arr, i, o) {
        const char *id = json_string_value(json_object_get(o, "SnapshotId"));
        bsnap_snapshot_info info;
        if (!id || strcmp(jstr(json_object_get(o, "State")), "completed") != 0)
            continue;
        if (bsnap_snapshot_get(fs->store, id, &info) < 0 ||
            info.state != BSNAP_SNAPSHOT_COMPLETED || tree_key_check(fs, &info) < 0)
            continue; /* gone meanwhile, or its key is not at hand */
        struct cat_snap *s = &c->snaps[c->nsnaps++];
        snprintf(s->id, sizeof(s->id), "%s", info.id);
        snprintf(s->vol, sizeof(s->vol), "%s", info.volume_id);
        s->ms = info.start_time_ms;
        s->tags = json_object_get(o, "Tags");
    }
    if (c->nsnaps)
        qsort(c->snaps, c->nsnaps, sizeof(*c->snaps), snap_order);
    for (i = 0; i < c->nsnaps; i++) {
        struct cat_snap *s = &c->snaps[i];
        for (int level = 0; level < 3; level++) {
            char mine[TIME_NAME_MAX], other[TIME_NAME_MAX];
            bool clash = false;
            time_name(s, level, mine, sizeof(mine));
            for (size_t k = i ? i - 1 : i; k <= i + 1 && k < c->nsnaps && !clash; k++) {
                if (k == i || strcmp(c->snaps[k].vol, s->vol) != 0)
                    continue;
                time_name(&c->snaps[k], level, other, sizeof(other));
                clash = strcmp(mine, other) == 0;
            }
            memcpy(s->name, mine, sizeof(mine));
            if (!clash)
                break;
        }
    }
    if (bsnap_volume_describe(fs->store, NULL, &vdoc) < 0)
        return -EIO;
    json_t *vols = json_object_get(vdoc, "Volumes");
    e = 0;
    cap = json_array_size(vols);
    if (cap && !(c->rws = calloc(cap, sizeof(*c->rws))))
        e = -ENOMEM;
    json_array_foreach (vols, i, o) {
        if (e < 0 || !json_is_true(json_object_get(o, "Writable")))
            continue;
        struct cat_rw *w = &c->rws[c->nrws++];
        snprintf(w->id, sizeof(w->id), "%s", jstr(json_object_get(o, "VolumeId")));
        snprintf(w->name, sizeof(w->name), "%s.img", w->id);
        w->size = (uint64_t)json_integer_value(json_object_get(o, "SizeBytes"));
        w->ms = iso_ms(jstr(json_object_get(o, "CreateTime")));
    }
    if (c->nsnaps && !(c->vols = calloc(c->nsnaps, sizeof(*c->vols))))
        e = -ENOMEM;
    for (i = 0; i < c->nsnaps && e == 0; i++) {
        if (c->nvols && strcmp(c->vols[c->nvols - 1].id, c->snaps[i].vol) == 0) {
            c->vols[c->nvols - 1].n++;
            continue;
        }
        struct cat_vol *v = &c->vols[c->nvols];
        snprintf(v->id, sizeof(v->id), "%s", c->snaps[i].vol);
        v->first = i;
        v->n = 1;
        if (!(v->name = volume_dir_name(vols, v->id)))
            e = -ENOMEM;
        else
            c->nvols++;
    }
    json_decref(vdoc);
    return e;
}

/* A catalog loaded now, which also replaces the one kept for lookups.
 * Returns a new reference. */
static int catalog_load(struct fs *fs, struct catalog **ret)
{
    struct catalog *c = calloc(1, sizeof(*c)), *old;
    int e = c ? catalog_fill(fs, c) : -ENOMEM;
    if (e < 0) {
        catalog_free(c);
        return e;
    }
    c->refs = 2; /* the caller's and fs->browse's */
    pthread_mutex_lock(&fs->lock);
    old = fs->browse;
    fs->browse = c;
    pthread_mutex_unlock(&fs->lock);
    catalog_unref(fs, old);
    *ret = c;
    return 0;
}

/* The catalog kept for lookups while younger than CATALOG_TTL_MS (a new
 * reference), or NULL. */
static struct catalog *catalog_recent(struct fs *fs)
{
    struct catalog *c;
    pthread_mutex_lock(&fs->lock);
    c = fs->browse;
    if (c && now_ms() - c->loaded_ms < CATALOG_TTL_MS)
        c->refs++;
    else
        c = NULL;
    pthread_mutex_unlock(&fs->lock);
    return c;
}

void browse_free(struct fs *fs)
{
    pthread_mutex_lock(&fs->lock);
    struct catalog *c = fs->browse;
    fs->browse = NULL;
    pthread_mutex_unlock(&fs->lock);
    catalog_unref(fs, c);
}

static const struct cat_vol *find_volume(const struct catalog *c, const char *name)
{
    for (size_t i = 0; i < c->nvols; i++)
        if (strcmp(c->vols[i].name, name) == 0)
            return &c->vols[i];
    return NULL;
}

/* ---- tag names ---- */

/* @s escaped as a tags/ folder name (see the top of the file). */
static void tag_escape(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    if (!*s) {
        snprintf(out, cap, "%%");
        return;
    }
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
        snprintf(out, cap, "%s", s[1] ? "%2E%2E" : "%2E");
        return;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 4 < cap; p++) {
        if (*p == '%' || *p == '/' || *p < 0x20 || *p == 0x7f)
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", *p);
        else
            out[o++] = (char)*p;
    }
    out[o] = '\0';
}

/* A tag key or value escaped: at most 256 characters, each at most 3. */
#define TAG_ESC_MAX (256 * 3 + 8)

/* Whether snapshot @s has a tag whose escaped key is @key and, unless NULL,
 * whose escaped value is @value. */
static bool has_tag(const struct cat_snap *s, const char *key, const char *value)
{
    size_t i;
    json_t *t;
    char ek[TAG_ESC_MAX], ev[TAG_ESC_MAX];
    json_array_foreach (s->tags, i, t) {
        tag_escape(jstr(json_object_get(t, "Key")), ek, sizeof(ek));
        if (strcmp(ek, key) != 0)
            continue;
        if (!value)
            return true;
        tag_escape(jstr(json_object_get(t, "Value")), ev, sizeof(ev));
        if (strcmp(ev, value) == 0)
            return true;
    }
    return false;
}

/* ---- lookup ---- */

static int symlink_node(struct fs *fs, struct node *dir, const char *name, const char *target,
                        int64_t ms, struct node **ret)
{
    *ret = tree_dyn_node(fs, dir->ino, name, NODE_SYMLINK, target, strlen(target), ms);
    return *ret ? 0 : -ENOMEM;
}

static int dir_node(struct fs *fs, struct node *dir, const char *name, enum node_kind kind,
                    int64_t ms, struct node **ret)
{
    *ret = tree_dyn_node(fs, dir->ino, name, kind, NULL, 0, ms);
    return *ret ? 0 : -ENOMEM;
}

static int lookup_in_catalog(struct fs *fs, struct catalog *c, struct node *dir, const char *name,
                             struct node **ret)
{
    char target[BSNAP_ID_MAX + 32];
    const struct cat_vol *v;
    const struct node *up;

    switch (dir->kind) {
    case NODE_VOLUMES:
        for (size_t i = 0; i < c->nrws; i++)
            if (strcmp(c->rws[i].name, name) == 0) {
                *ret = tree_dyn_node(fs, dir->ino, name, NODE_RWVOL, c->rws[i].id,
                                     strlen(c->rws[i].id), c->rws[i].ms);
                if (!*ret)
                    return -ENOMEM;
                pthread_mutex_lock(&fs->lock);
                (*ret)->length = c->rws[i].size;
                pthread_mutex_unlock(&fs->lock);
                return 0;
            }
        if (!(v = find_volume(c, name)))
            return -ENOENT;
        return dir_node(fs, dir, name, NODE_VOLUME, c->snaps[v->first + v->n - 1].ms, ret);
    case NODE_VOLUME:
        if (!(v = find_volume(c, dir->name)))
            return -ENOENT;
        if (strcmp(name, "latest") == 0) {
            const struct cat_snap *s = &c->snaps[v->first + v->n - 1];
            return symlink_node(fs, dir, name, s->name, s->ms, ret);
        }
        for (size_t i = v->first; i < v->first + v->n; i++)
            if (strcmp(c->snaps[i].name, name) == 0) {
                snprintf(target, sizeof(target), "../../snapshots/%s.img", c->snaps[i].id);
                return symlink_node(fs, dir, name, target, c->snaps[i].ms, ret);
            }
        return -ENOENT;
    case NODE_TAGS:
        for (size_t i = 0; i < c->nsnaps; i++)
            if (has_tag(&c->snaps[i], name, NULL))
                return dir_node(fs, dir, name, NODE_TAGKEY, 0, ret);
        return -ENOENT;
    case NODE_TAGKEY:
        for (size_t i = 0; i < c->nsnaps; i++)
            if (has_tag(&c->snaps[i], dir->name, name))
                return dir_node(fs, dir, name, NODE_TAGVALUE, 0, ret);
        return -ENOENT;
    case NODE_TAGVALUE:
        if (!(up = tree_node(fs, dir->parent)))
            return -ENOENT;
        for (size_t i = 0; i < c->nsnaps; i++) {
            const struct cat_snap *s = &c->snaps[i];
            snprintf(target, sizeof(target), "%s.img", s->id);
            if (strcmp(target, name) != 0 || !has_tag(s, up->name, dir->name))
                continue;
            snprintf(target, sizeof(target), "../../../snapshots/%s.img", s->id);
            return symlink_node(fs, dir, name, target, s->ms, ret);
        }
        return -ENOENT;
    default:
        return -ENOTDIR;
    }
}

int browse_lookup(struct fs *fs, struct node *dir, const char *name, struct node **ret)
{
    /* latest is always answered from a fresh catalog: the newest may be
     * a snapshot taken a moment ago */
    bool fresh = dir->kind == NODE_VOLUME && strcmp(name, "latest") == 0;
    struct catalog *c = fresh ? NULL : catalog_recent(fs);
    int e = c ? lookup_in_catalog(fs, c, dir, name, ret) : -ENOENT;
    if (!c || e == -ENOENT) {
        catalog_unref(fs, c);
        c = NULL;
        e = catalog_load(fs, &c);
        if (e == 0)
            e = lookup_in_catalog(fs, c, dir, name, ret);
    }
    catalog_unref(fs, c);
    return e;
}

/* ---- listings ---- */

/* Add @name unless the listing has it already (tag folders). */
static int listing_add_once(struct listing *l, size_t *cap, const char *name, mode_t type)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->ents[i].name, name) == 0)
            return 0;
    return listing_add(l, cap, name, type, 0);
}

static int list_tags(const struct catalog *c, const struct node *dir, const struct node *up,
                     struct listing *l, size_t *cap)
{
    char esc[TAG_ESC_MAX];
    int e = 0;
    for (size_t i = 0; i < c->nsnaps && e == 0; i++) {
        const struct cat_snap *s = &c->snaps[i];
        size_t k;
        json_t *t;
        if (dir->kind == NODE_TAGVALUE) {
            if (has_tag(s, up->name, dir->name)) {
                snprintf(esc, sizeof(esc), "%s.img", s->id);
                e = listing_add(l, cap, esc, S_IFLNK, 0);
            }
            continue;
        }
        json_array_foreach (s->tags, k, t) {
            const char *key = jstr(json_object_get(t, "Key"));
            if (dir->kind == NODE_TAGS) {
                tag_escape(key, esc, sizeof(esc));
            } else {
                tag_escape(key, esc, sizeof(esc));
                if (strcmp(esc, dir->name) != 0)
                    continue;
                tag_escape(jstr(json_object_get(t, "Value")), esc, sizeof(esc));
            }
            if ((e = listing_add_once(l, cap, esc, S_IFDIR)) < 0)
                break;
        }
    }
    return e;
}

int browse_list(struct fs *fs, const struct node *dir, struct listing *l, size_t *cap)
{
    struct catalog *c = NULL;
    const struct cat_vol *v;
    const struct node *up = NULL;
    int e = catalog_load(fs, &c);

    if (e == 0 && dir->kind == NODE_TAGVALUE && !(up = tree_node(fs, dir->parent)))
        e = -ENOENT;
    if (e < 0) {
        catalog_unref(fs, c);
        return e;
    }
    switch (dir->kind) {
    case NODE_VOLUMES:
        for (size_t i = 0; i < c->nvols && e == 0; i++)
            e = listing_add(l, cap, c->vols[i].name, S_IFDIR, 0);
        for (size_t i = 0; i < c->nrws && e == 0; i++)
            e = listing_add(l, cap, c->rws[i].name, S_IFREG, 0);
        break;
    case NODE_VOLUME:
        if (!(v = find_volume(c, dir->name))) {
            e = -ENOENT;
            break;
        }
        for (size_t i = v->first; i < v->first + v->n && e == 0; i++)
            e = listing_add(l, cap, c->snaps[i].name, S_IFLNK, 0);
        if (e == 0)
            e = listing_add(l, cap, "latest", S_IFLNK, 0);
        break;
    default:
        e = list_tags(c, dir, up, l, cap);
        break;
    }
    catalog_unref(fs, c);
    return e;
}
