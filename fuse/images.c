/* images.c - the images/ tree of the FUSE view.
 *
 *   images/ami-…/manifest.json   the image as describe-images prints it
 *   images/ami-…/DEVICE.img      each mapped snapshot ("/dev/xvda" -> xvda.img)
 *   images/ami-…/DEVICE.pN       each partition of it
 *   images/by-name/NAME          -> ../ami-…  ('/' in a name is spelt %2F)
 *
 * Like snapshots/, everything is computed from the store at lookup and
 * opendir, so images registered or deregistered while mounted appear or
 * vanish within ENTRY_TIMEOUT.  DEVICE.img files are the same windows of
 * the same snap objects as snapshots/ has (tree_window_node()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bsfront.h"
#include "fs.h"

/* "/dev/xvda" -> "xvda". */
static const char *device_base(const char *dev)
{
    const char *slash = strrchr(dev, '/');
    return slash ? slash + 1 : dev;
}

/* A name as a by-name entry: '/' (allowed in image names) becomes %2F,
 * which cannot occur otherwise ('%' is not allowed). */
static void name_escape(const char *name, char *out, size_t cap)
{
    size_t o = 0;
    for (; *name && o + 4 < cap; name++) {
        if (*name == '/') {
            memcpy(out + o, "%2F", 3);
            o += 3;
        } else {
            out[o++] = *name;
        }
    }
    out[o] = '\0';
}

/* The live image @id, or -ENOENT. */
static int image_live(struct fs *fs, const char *id, bsnap_image_info *info)
{
    int e = bsnap_image_get(fs->store, id, info);
    if (e == -ENOENT || e == -EINVAL)
        return -ENOENT;
    if (e < 0)
        return -EIO;
    if (info->state == BSNAP_IMAGE_DEREGISTERED || strcmp(info->id, id) != 0)
        return -ENOENT;
    return 0;
}

static int lookup_in_image(struct fs *fs, struct node *dir, const char *name, struct node **ret)
{
    bsnap_image_info info;
    char dev[BSNAP_DEVICE_NAME_MAX];
    unsigned part;
    int e = image_live(fs, dir->name, &info);

    if (e < 0)
        return e;
    if (strcmp(name, "manifest.json") == 0) {
        char *doc = NULL;
        json_t *obj = NULL;
        if (bsnap_image_describe_one(fs->store, info.id, &obj) < 0)
            return -EIO;
        /* pretty, as `describe-images --output json` prints an image */
        e = bsf_render(obj, "json", NULL, &doc);
        json_decref(obj);
        if (e < 0)
            return -EIO;
        *ret = tree_dyn_node(fs, dir->ino, name, NODE_MEMFILE, doc, strlen(doc),
                             info.creation_time_ms);
        free(doc);
        return *ret ? 0 : -ENOMEM;
    }
    if (!tree_parse_file_name(name, dev, sizeof(dev), &part))
        return -ENOENT;
    for (size_t i = 0; i < info.nmappings; i++)
        if (info.mappings[i].snapshot_id[0] &&
            strcmp(device_base(info.mappings[i].device), dev) == 0)
            return tree_window_node(fs, dir->ino, name, info.mappings[i].snapshot_id, part, ret);
    return -ENOENT;
}

static int lookup_by_name(struct fs *fs, struct node *dir, const char *name, struct node **ret)
{
    bsnap_image_info *infos;
    size_t n;
    char esc[BSNAP_IMAGE_NAME_MAX * 3], target[BSNAP_ID_MAX + 4];
    int e = bsnap_image_list(fs->store, &infos, &n);

    if (e < 0)
        return -EIO;
    e = -ENOENT;
    for (size_t i = 0; i < n && e == -ENOENT; i++) {
        name_escape(infos[i].name, esc, sizeof(esc));
        if (strcmp(esc, name) != 0)
            continue;
        snprintf(target, sizeof(target), "../%s", infos[i].id);
        *ret = tree_dyn_node(fs, dir->ino, name, NODE_SYMLINK, target, strlen(target),
                             infos[i].creation_time_ms);
        e = *ret ? 0 : -ENOMEM;
    }
    free(infos);
    return e;
}

int images_lookup(struct fs *fs, struct node *dir, const char *name, struct node **ret)
{
    bsnap_image_info info;
    struct node *n;
    int e;

    switch (dir->kind) {
    case NODE_IMAGES:
        if (strcmp(name, "by-name") == 0) {
            if (!(n = tree_node(fs, INO_BYNAME)))
                return -ENOENT;
            *ret = n;
            return 0;
        }
        if (strncmp(name, "ami-", 4) != 0)
            return -ENOENT;
        e = image_live(fs, name, &info);
        if (e < 0)
            return e;
        n = tree_dyn_node(fs, dir->ino, name, NODE_IMAGE, NULL, 0, info.creation_time_ms);
        if (!n)
            return -ENOMEM;
        *ret = n;
        return 0;
    case NODE_IMAGE:
        return lookup_in_image(fs, dir, name, ret);
    case NODE_BYNAME:
        return lookup_by_name(fs, dir, name, ret);
    default:
        return -ENOTDIR;
    }
}

int images_list(struct fs *fs, const struct node *dir, struct listing *l, size_t *cap)
{
    bsnap_image_info *infos = NULL, one;
    size_t n = 0;
    char name[BSNAP_IMAGE_NAME_MAX * 3];
    int e = 0;

    if (dir->kind == NODE_IMAGE) {
        e = image_live(fs, dir->name, &one);
        if (e < 0)
            return e;
        e = listing_add(l, cap, "manifest.json", S_IFREG, 0);
        for (size_t i = 0; i < one.nmappings && e == 0; i++) {
            const bsnap_image_mapping *m = &one.mappings[i];
            bsnap_snapshot_info si;
            if (!m->snapshot_id[0])
                continue;
            /* An image shared with the account lists the devices whose
             * snapshots it may read too (its own, or shared with it), as
             * lookup finds them, and whose keys are at hand; the others are
             * left out. */
            e = bsnap_snapshot_get(fs->store, m->snapshot_id, &si);
            if (e == -ENOENT || (e == 0 && tree_key_check(fs, &si) < 0)) {
                e = 0; /* not the account's to read, or its key is not at hand */
                continue;
            }
            e = 0;
            snprintf(name, sizeof(name), "%s.img", device_base(m->device));
            e = listing_add(l, cap, name, S_IFREG, 0);
            if (e == 0)
                e = tree_list_parts(fs, l, cap, m->snapshot_id, device_base(m->device));
        }
        return e;
    }
    if (bsnap_image_list(fs->store, &infos, &n) < 0)
        return -EIO;
    if (dir->kind == NODE_IMAGES)
        e = listing_add(l, cap, "by-name", S_IFDIR, INO_BYNAME);
    for (size_t i = 0; i < n && e == 0; i++) {
        if (dir->kind == NODE_IMAGES) {
            e = listing_add(l, cap, infos[i].id, S_IFDIR, 0);
        } else {
            name_escape(infos[i].name, name, sizeof(name));
            e = listing_add(l, cap, name, S_IFLNK, 0);
        }
    }
    free(infos);
    return e;
}
