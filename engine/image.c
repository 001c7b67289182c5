/* image.c - machine images: records, validation, the boot check and
 * register; see image.h.  create-image is in image-create.c, describe,
 * deregister and attributes in image-describe.c. */
#include "image.h"
#include "owner.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "error.h"
#include "reader.h"
#include "snapshot.h"
#include "store.h"
#include "util.h"
#include "xref.h"

/* ---- names and ids ---- */

int check_image_id(const char *id)
{
    if (!id_valid(id, "ami"))
        return bsnap_fail(-EINVAL, "InvalidAMIID.Malformed",
                          "invalid id: \"%s\" (expecting \"ami-...\")", id);
    return 0;
}

bool image_name_valid(const char *name)
{
    size_t n = strlen(name);

    if (n < IMAGE_NAME_MIN || n > IMAGE_NAME_MAX)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("()[] ./-'@_", *p)))
            return false;
    return true;
}

/* "N" with N from 1 to 15, and nothing after. */
static bool part_suffix(const char *s)
{
    if (s[0] < '1' || s[0] > '9')
        return false;
    if (!s[1])
        return true;
    return s[0] == '1' && s[1] >= '0' && s[1] <= '5' && !s[2];
}

static bool lower(char c)
{
    return c >= 'a' && c <= 'z';
}

bool device_name_valid(const char *name, bool hvm)
{
    if (strncmp(name, "/dev/", 5) != 0)
        return false;
    name += 5;
    if (strncmp(name, "xvd", 3) == 0) {
        const char *p = name + 3;
        if (lower(p[0]) && !p[1])
            return true;
        if ((p[0] == 'b' || p[0] == 'c') && lower(p[1]) && !p[2])
            return true;
        return !hvm && lower(p[0]) && part_suffix(p + 1);
    }
    if (strncmp(name, "sd", 2) == 0 || (!hvm && strncmp(name, "hd", 2) == 0)) {
        const char *p = name + 2;
        if (!lower(p[0]))
            return false;
        if (!p[1])
            return true;
        if (hvm) /* the root device names of HVM images */
            return p[0] == 'a' && (strcmp(p + 1, "1") == 0 || strcmp(p + 1, "2") == 0);
        return part_suffix(p + 1);
    }
    return false;
}

/* ---- records ---- */

int image_load(meta_txn *txn, const char *id, struct image_rec *ret)
{
    const void *v;
    size_t vlen;
    int r = meta_get(txn, T_IMAGES, id, strlen(id), &v, &vlen);

    if (r == -ENOENT)
        return bsnap_fail(-ENOENT, "InvalidAMIID.NotFound", "the image id '[%s]' does not exist",
                          id);
    if (r < 0)
        return r;
    return image_rec_decode(v, vlen, ret);
}

int image_get(bsnap_store *s, const char *id, struct image_rec *ret)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    int r = check_image_id(id);

    if (r < 0)
        return r;
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    r = image_load(txn, id, ret);
    return r < 0 ? r : owner_read_image(s, ret);
}

static int image_require(const bsnap_store *s, struct image_rec *rec, bool act)
{
    int r = owner_require(s, rec->owner, &rec->lp, act, &owner_image, rec->id);

    if (r < 0)
        image_rec_clear(rec);
    return r;
}

int owner_check_image(const bsnap_store *s, struct image_rec *rec)
{
    return image_require(s, rec, true);
}

int owner_read_image(const bsnap_store *s, struct image_rec *rec)
{
    return image_require(s, rec, false);
}

/* ---- cross-references (xref.h): tags, and the snapshots live images map ---- */

static bool maps(const struct image_rec *r, size_t i)
{
    return r->state != BSNAP_IMAGE_DEREGISTERED && r->bdm[i].kind == BDM_EBS &&
           r->bdm[i].snapshot_id[0];
}

/* Move image @id's entries from @old to @new (either NULL). */
static int image_xref(meta_txn *txn, const char *id, const struct image_rec *old,
                      const struct image_rec *new)
{
    int r = 0;

    /* Few mappings: take all of the old ones back, then add the new. */
    for (size_t i = 0; old && r >= 0 && i < old->nbdm; i++)
        if (maps(old, i))
            r = xref_set(txn, T_IMAGE_BY_SNAP, old->bdm[i].snapshot_id, id, NULL, false);
    for (size_t i = 0; new &&r >= 0 && i < new->nbdm; i++)
        if (maps(new, i))
            r = xref_set(txn, T_IMAGE_BY_SNAP, new->bdm[i].snapshot_id, id, NULL, true);
    if (r >= 0)
        r = xref_tags_update(txn, T_IMAGE_TAGS, id, old ? &old->tags : NULL,
                             new ? &new->tags : NULL);
    return r;
}

int image_xref_build(meta_txn *txn)
{
    meta_cursor *cur = NULL;
    const void *k, *v;
    size_t klen, vlen;
    int r = xref_clear(txn, T_IMAGE_BY_SNAP);

    if (r >= 0)
        r = xref_clear(txn, T_IMAGE_TAGS);
    if (r >= 0)
        r = meta_cursor_open(txn, T_IMAGES, &cur);
    if (r < 0)
        return r;
    for (r = meta_cursor_get(cur, CUR_FIRST, &k, &klen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        struct image_rec im = {0};
        /* A record that does not decode is verify's to name. */
        if (image_rec_decode(v, vlen, &im) == 0)
            r = image_xref(txn, im.id, NULL, &im);
        image_rec_clear(&im);
        if (r < 0)
            break;
    }
    meta_cursor_close(cur);
    bsnap_error_clear();
    if (r < 0 && r != -ENOENT)
        return r;
    return xref_mark(txn, XREF_IMAGES);
}

static int image_xref_ensure(meta_txn *txn)
{
    int r = xref_ready(txn, XREF_IMAGES);

    return r != 0 ? (r < 0 ? r : 0) : image_xref_build(txn);
}

int image_save(meta_txn *txn, const struct image_rec *rec)
{
    _cleanup_free_ char *json = NULL;
    struct image_rec old = {0};
    const void *v;
    size_t len, vlen;
    int r = image_rec_encode(rec, &json, &len);
    bool had = false;

    if (r < 0 || (r = image_xref_ensure(txn)) < 0)
        return r;
    r = meta_get(txn, T_IMAGES, rec->id, strlen(rec->id), &v, &vlen);
    if (r < 0 && r != -ENOENT)
        return r;
    if (r == 0) {
        had = image_rec_decode(v, vlen, &old) == 0;
        bsnap_error_clear(); /* a damaged old record has no entries to take back */
    }
    r = image_xref(txn, rec->id, had ? &old : NULL, rec);
    image_rec_clear(&old);
    if (r < 0)
        return r;
    return meta_put(txn, T_IMAGES, rec->id, strlen(rec->id), json, len);
}

void image_recs_free(struct image_rec *recs, size_t n)
{
    for (size_t i = 0; recs && i < n; i++)
        image_rec_clear(&recs[i]);
    free(recs);
}

/* Every image record, sorted by id. */
int image_all(meta_txn *txn, struct image_rec **ret, size_t *ret_n)
{
    meta_cursor *cur = NULL;
    struct image_rec *arr = NULL;
    size_t n = 0, cap = 0;
    const void *k, *v;
    size_t klen, vlen;
    int r = meta_cursor_open(txn, T_IMAGES, &cur);

    if (r < 0)
        return r;
    for (r = meta_cursor_get(cur, CUR_FIRST, &k, &klen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        struct image_rec *na = array_grow(arr, n, &cap, sizeof *na, 16);
        if (!na) {
            r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            break;
        }
        arr = na;
        memset(&arr[n], 0, sizeof arr[n]);
        r = image_rec_decode(v, vlen, &arr[n]);
        if (r < 0)
            break;
        n++;
    }
    meta_cursor_close(cur);
    if (r < 0 && r != -ENOENT) {
        image_recs_free(arr, n);
        return r;
    }
    *ret = arr;
    *ret_n = n;
    return 0;
}

int image_snapshot_user(meta_txn *txn, const char *snap_id, char ret_image[BSNAP_ID_MAX])
{
    struct xref_walk *w = NULL;
    int r = image_xref_ensure(txn);

    /* The live images that map it, in id order: the first one. */
    if (r >= 0)
        r = xref_walk_new(txn, NULL, &w);
    if (r >= 0)
        r = xref_walk_add(w, T_IMAGE_BY_SNAP, snap_id);
    if (r >= 0)
        r = xref_walk_next(w, ret_image);
    xref_walk_free(w);
    return r;
}

int image_tags_update(const bsnap_store *s, meta_txn *txn, const char *id, const bsnap_tag *tags,
                      size_t ntags, bool add)
{
    struct image_rec rec = {0};
    int r = image_load(txn, id, &rec);

    if (r == 0)
        r = owner_check_image(s, &rec);
    if (r < 0)
        return r;
    if (add) {
        for (size_t j = 0; j < ntags && r >= 0; j++)
            r = tags_set(&rec.tags, tags[j].key, tags[j].value ? tags[j].value : "");
    } else if (ntags == 0) {
        tags_clear(&rec.tags);
    } else {
        for (size_t j = 0; j < ntags; j++)
            tags_remove(&rec.tags, tags[j].key, tags[j].value);
    }
    if (r >= 0)
        r = image_save(txn, &rec);
    image_rec_clear(&rec);
    return r;
}

/* ---- the request: flags over --cli-input-json ---- */

static int set_str(char **dst, const char *v)
{
    if (!v)
        return 0;
    free(*dst);
    *dst = strdup(v);
    return *dst ? 0 : bsnap_fail(-ENOMEM, "InternalError", "out of memory");
}

#define BDM_FAIL(...) bsnap_fail(-EINVAL, "InvalidBlockDeviceMapping", __VA_ARGS__)

/* Copy string @v into a fixed field; false when it does not fit. */
static bool copy_field(char *dst, size_t cap, const char *v)
{
    if (strlen(v) >= cap)
        return false;
    strcpy(dst, v);
    return true;
}

static bool tristate_valid(bsnap_tristate t)
{
    return t == BSNAP_UNSET || t == BSNAP_FALSE || t == BSNAP_TRUE;
}

int image_bdm_from_mapping(const bsnap_block_device_mapping *m, struct image_bdm *b)
{
    memset(b, 0, sizeof *b);
    b->delete_on_termination = b->encrypted = -1;
    if (!m->device_name || !m->device_name[0])
        return BDM_FAIL("missing device name in a block device mapping");
    if (!copy_field(b->device, sizeof b->device, m->device_name))
        return BDM_FAIL("invalid device name");
    switch (m->kind) {
    case BSNAP_MAPPING_VIRTUAL:
        b->kind = BDM_VIRTUAL;
        if (!m->virtual_name ||
            !copy_field(b->virtual_name, sizeof b->virtual_name, m->virtual_name))
            return BDM_FAIL("invalid virtual name");
        return 0;
    case BSNAP_MAPPING_NODEVICE:
        b->kind = BDM_NODEVICE;
        return 0;
    case BSNAP_MAPPING_EBS:
        break;
    default:
        return BDM_FAIL("%s: a mapping needs exactly one of Ebs, VirtualName or NoDevice",
                        b->device);
    }
    b->kind = BDM_EBS;
    if (m->snapshot_id && !copy_field(b->snapshot_id, sizeof b->snapshot_id, m->snapshot_id))
        return bsnap_fail(-EINVAL, "InvalidSnapshotID.Malformed", "%s: invalid snapshot id",
                          b->device);
    if (m->volume_size > BSNAP_VOLUME_SIZE_MAX)
        return BDM_FAIL("%s: VolumeSize must be 1 to %u (GiB)", b->device, BSNAP_VOLUME_SIZE_MAX);
    b->volume_size = m->volume_size;
    if (m->volume_type && (utf8_length(m->volume_type, strlen(m->volume_type)) < 0 ||
                           !copy_field(b->volume_type, sizeof b->volume_type, m->volume_type)))
        return BDM_FAIL("%s: invalid volume type", b->device);
    if (m->iops > BSNAP_IOPS_MAX)
        return BDM_FAIL("%s: invalid Iops", b->device);
    b->iops = m->iops;
    if (!tristate_valid(m->delete_on_termination) || !tristate_valid(m->encrypted))
        return BDM_FAIL("%s: DeleteOnTermination and Encrypted must be BSNAP_UNSET, BSNAP_FALSE "
                        "or BSNAP_TRUE",
                        b->device);
    if (m->delete_on_termination != BSNAP_UNSET)
        b->delete_on_termination = m->delete_on_termination == BSNAP_TRUE;
    if (m->encrypted != BSNAP_UNSET)
        b->encrypted = m->encrypted == BSNAP_TRUE;
    return 0;
}

static int build_request(const bsnap_image_options *o, struct image_request *q)
{
    int r = 0;

    memset(q, 0, sizeof *q);
    q->ena_support = -1;
    if (o->ena_support != BSNAP_UNSET && o->ena_support != BSNAP_FALSE &&
        o->ena_support != BSNAP_TRUE)
        return error_param(bsnap_fail(-EINVAL, "InvalidParameterValue",
                                      "EnaSupport: %d is not BSNAP_UNSET, BSNAP_FALSE or "
                                      "BSNAP_TRUE",
                                      (int)o->ena_support),
                           "EnaSupport");
    if (o->nmappings > BSNAP_IMAGE_MAPPINGS_MAX)
        return error_param(BDM_FAIL("at most %d block device mappings", BSNAP_IMAGE_MAPPINGS_MAX),
                           "BlockDeviceMappings");
    if (o->nmappings) {
        if (!(q->bdm = calloc(o->nmappings, sizeof *q->bdm)))
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        q->have_bdm = true;
    }
    for (size_t i = 0; i < o->nmappings && r >= 0; i++)
        if ((r = image_bdm_from_mapping(&o->mappings[i], &q->bdm[i])) >= 0)
            q->nbdm++;
        else
            error_set_parameter("BlockDeviceMappings[%zu]", i);
    if (r >= 0)
        r = set_str(&q->name, o->name);
    if (r >= 0)
        r = set_str(&q->description, o->description);
    if (r >= 0)
        r = set_str(&q->architecture, o->architecture);
    if (r >= 0)
        r = set_str(&q->virtualization, o->virtualization);
    if (r >= 0)
        r = set_str(&q->root_device, o->root_device_name);
    if (r >= 0)
        r = set_str(&q->boot_mode, o->boot_mode);
    if (o->ena_support != BSNAP_UNSET)
        q->ena_support = o->ena_support == BSNAP_TRUE;
    for (size_t i = 0; i < o->ntags && r >= 0; i++) {
        const bsnap_tag *t = &o->tags[i];
        long klen = t->key ? utf8_length(t->key, strlen(t->key)) : -1;
        long vlen = t->value ? utf8_length(t->value, strlen(t->value)) : 0;
        bool key_bad = klen < 1 || klen > TAG_KEY_MAX || strncmp(t->key, "aws:", 4) == 0;
        if (key_bad || vlen < 0 || vlen > TAG_VALUE_MAX)
            r = error_param(bsnap_fail(-EINVAL, "InvalidParameterValue", "invalid tag '%s'",
                                       t->key ? t->key : ""),
                            key_bad ? "Tags[%zu].Key" : "Tags[%zu].Value", i);
        else
            r = error_param(tags_set(&q->tags, t->key, t->value), "Tags");
    }
    if (r < 0)
        image_request_clear(q);
    return r;
}

static bool one_of(const char *v, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(v, *set) == 0)
            return true;
    return false;
}

#define PARAM_MAX 64

/* The checks that need no store: fill @rec from @q.  @param is set to the
 * EC2 parameter each check looks at, as it goes (check_request() names it
 * in the error). */
static int check_fields(const struct image_request *q, struct image_rec *rec, char param[PARAM_MAX])
{
    static const char *const archs[] = {"i386", "x86_64", "arm64", "x86_64_mac", "arm64_mac", NULL};
    static const char *const virts[] = {"hvm", "paravirtual", NULL};
    static const char *const modes[] = {"legacy-bios", "uefi", "uefi-preferred", NULL};
    bool hvm;

    snprintf(param, PARAM_MAX, "Name");
    if (!q->name)
        return bsnap_fail(-EINVAL, "MissingParameter",
                          "the request must contain the parameter "
                          "name");
    if (!image_name_valid(q->name))
        return bsnap_fail(-EINVAL, "InvalidAMIName.Malformed",
                          "AMI names must be between 3 and 128 characters long, and may only "
                          "contain letters, numbers, and the following special characters: "
                          "()[] ./-'@_ (got '%s')",
                          q->name);
    snprintf(param, PARAM_MAX, "Description");
    if (q->description) {
        int r = bsnap_text_check("description", q->description, DESCRIPTION_MAX);
        if (r < 0)
            return r;
    }
    snprintf(param, PARAM_MAX, "Architecture");
    if (q->architecture && !one_of(q->architecture, archs))
        return bsnap_fail(-EINVAL, "InvalidParameterValue",
                          "architecture '%s' is not one of i386, x86_64, arm64, x86_64_mac, "
                          "arm64_mac",
                          q->architecture);
    snprintf(param, PARAM_MAX, "VirtualizationType");
    if (q->virtualization && !one_of(q->virtualization, virts))
        return bsnap_fail(-EINVAL, "InvalidParameterValue",
                          "virtualization type '%s' is not hvm or paravirtual", q->virtualization);
    snprintf(param, PARAM_MAX, "BootMode");
    if (q->boot_mode && !one_of(q->boot_mode, modes))
        return bsnap_fail(-EINVAL, "InvalidParameterValue",
                          "boot mode '%s' is not legacy-bios, uefi or uefi-preferred",
                          q->boot_mode);
    snprintf(rec->architecture, sizeof rec->architecture, "%s",
             q->architecture ? q->architecture : "x86_64");
    snprintf(rec->virtualization, sizeof rec->virtualization, "%s",
             q->virtualization ? q->virtualization : "hvm");
    hvm = strcmp(rec->virtualization, "hvm") == 0;
    if (q->boot_mode && strcmp(q->boot_mode, "legacy-bios") == 0 &&
        strncmp(rec->architecture, "arm64", 5) == 0)
        return bsnap_fail(-EINVAL, "InvalidParameterValue",
                          "boot mode legacy-bios is not possible on %s", rec->architecture);
    snprintf(param, PARAM_MAX, "EnaSupport");
    if (q->ena_support > 0 && !hvm)
        return bsnap_fail(-EINVAL, "InvalidParameterCombination",
                          "ENA support needs hvm virtualization");
    snprintf(param, PARAM_MAX, "BlockDeviceMappings");
    if (q->nbdm == 0)
        return bsnap_fail(-EINVAL, "MissingParameter",
                          "the request must contain block device mappings");
    for (size_t i = 0; i < q->nbdm; i++) {
        const struct image_bdm *b = &q->bdm[i];
        snprintf(param, PARAM_MAX, "BlockDeviceMappings[%zu].DeviceName", i);
        if (!device_name_valid(b->device, hvm))
            return bsnap_fail(-EINVAL, "InvalidBlockDeviceMapping", "Invalid device name %s",
                              b->device);
        for (size_t j = 0; j < i; j++)
            if (strcmp(q->bdm[j].device, b->device) == 0)
                return bsnap_fail(-EINVAL, "InvalidBlockDeviceMapping",
                                  "the device name %s is mapped twice", b->device);
        snprintf(param, PARAM_MAX, "BlockDeviceMappings[%zu].VirtualName", i);
        if (b->kind == BDM_VIRTUAL &&
            (strncmp(b->virtual_name, "ephemeral", 9) != 0 || !b->virtual_name[9] ||
             strspn(b->virtual_name + 9, "0123456789") != strlen(b->virtual_name + 9)))
            return bsnap_fail(-EINVAL, "InvalidBlockDeviceMapping",
                              "%s: virtual name '%s' is not ephemeralN", b->device,
                              b->virtual_name);
        if (b->kind != BDM_EBS)
            continue;
        snprintf(param, PARAM_MAX, "BlockDeviceMappings[%zu].Ebs", i);
        if (!b->snapshot_id[0] && !b->volume_size)
            return bsnap_fail(-EINVAL, "InvalidBlockDeviceMapping",
                              "Either snapshot ID or volume size must be provided for: %s",
                              b->device);
        if (b->snapshot_id[0]) {
            snprintf(param, PARAM_MAX, "BlockDeviceMappings[%zu].Ebs.SnapshotId", i);
            int r = check_snapshot_id(b->snapshot_id);
            if (r < 0)
                return r;
            /* EC2 wants Encrypted omitted with a snapshot; false is what
             * describe-images prints, so a manifest may say so. */
            snprintf(param, PARAM_MAX, "BlockDeviceMappings[%zu].Ebs.Encrypted", i);
            if (b->encrypted > 0)
                return bsnap_fail(-EINVAL, "InvalidParameterCombination",
                                  "%s: Encrypted cannot be set with a snapshot (the volume "
                                  "follows the snapshot, encrypted or not)",
                                  b->device);
        }
    }
    snprintf(param, PARAM_MAX, "RootDeviceName");
    snprintf(rec->root_device, sizeof rec->root_device, "%s",
             q->root_device ? q->root_device : q->bdm[0].device);
    for (size_t i = 0; i < q->nbdm; i++)
        if (strcmp(q->bdm[i].device, rec->root_device) == 0) {
            if (q->bdm[i].kind != BDM_EBS || !q->bdm[i].snapshot_id[0])
                return bsnap_fail(-EINVAL, "InvalidParameterValue",
                                  "the root device %s has no snapshot", rec->root_device);
            return 0;
        }
    return bsnap_fail(-EINVAL, "InvalidParameterValue",
                      "the root device %s is not among the block device mappings",
                      rec->root_device);
}

static int check_request(const struct image_request *q, struct image_rec *rec)
{
    char param[PARAM_MAX] = "";
    int r = check_fields(q, rec, param);

    return r < 0 && param[0] ? error_set_parameter("%s", param) : r;
}

/* Snapshots exist, are completed, and fit their volume sizes.  Fills the
 * sizes not given.  With @root_size, returns the root snapshot's size. */
/* The snapshot @id among create-image's pending ones, or NULL. */
static const struct snapshot_taken *taken_find(const struct snapshot_taken *taken, size_t ntaken,
                                               const char *id)
{
    for (size_t i = 0; i < ntaken; i++)
        if (strcmp(taken[i].rec.id, id) == 0)
            return &taken[i];
    return NULL;
}

/* Every snapshot @rec maps exists and is completed (or is one of @taken,
 * which the register transaction completes); fill in volume sizes. */
static int check_snapshots(const bsnap_store *s, meta_txn *txn, struct image_rec *rec,
                           const struct snapshot_taken *taken, size_t ntaken)
{
    for (size_t i = 0; i < rec->nbdm; i++) {
        struct image_bdm *b = &rec->bdm[i];
        struct snapshot_rec sr = {0};
        uint64_t gib;
        int r;

        if (b->kind != BDM_EBS || !b->snapshot_id[0])
            continue;
        r = catalog_snapshot_load(txn, b->snapshot_id, &sr);
        if (r == 0)
            r = owner_check_snapshot(s, &sr);
        if (r < 0)
            return error_param(r, "BlockDeviceMappings[%zu].Ebs.SnapshotId", i);
        gib = DIV_ROUND_UP(sr.size, 1ull << 30);
        if (sr.state != BSNAP_SNAPSHOT_COMPLETED && !taken_find(taken, ntaken, sr.id)) {
            snapshot_rec_clear(&sr);
            bsnap_fail(-EBUSY, "IncorrectState", "the snapshot '%s' is not completed",
                       b->snapshot_id);
            return error_set_parameter("BlockDeviceMappings[%zu].Ebs.SnapshotId", i);
        }
        /* The volume follows the snapshot: an encrypted snapshot's mapping
         * is encrypted, as EC2 reports it (false given for it is ignored,
         * as EC2 ignores Encrypted=false on an encrypted source). */
        if (sr.encrypted)
            b->encrypted = 1;
        snapshot_rec_clear(&sr);
        if (gib == 0)
            gib = 1;
        if (b->volume_size && b->volume_size < gib) {
            bsnap_fail(-EINVAL, "InvalidBlockDeviceMapping",
                       "Volume of size %lluGB is smaller than snapshot '%s', expect size "
                       ">= %lluGB",
                       (unsigned long long)b->volume_size, b->snapshot_id, (unsigned long long)gib);
            return error_set_parameter("BlockDeviceMappings[%zu].Ebs.VolumeSize", i);
        }
        if (!b->volume_size)
            b->volume_size = gib;
    }
    return 0;
}

/* The live image called @name, if any: 1 and its id. */
static int name_user(meta_txn *txn, const char *name, char ret_id[BSNAP_ID_MAX])
{
    struct image_rec *all = NULL;
    size_t n = 0;
    int r = image_all(txn, &all, &n), found = 0;

    if (r < 0)
        return r;
    for (size_t i = 0; i < n && !found; i++)
        if (all[i].state != BSNAP_IMAGE_DEREGISTERED && strcmp(all[i].name, name) == 0) {
            snprintf(ret_id, BSNAP_ID_MAX, "%s", all[i].id);
            found = 1;
        }
    image_recs_free(all, n);
    return found;
}

int image_precheck(bsnap_store *s, const bsnap_image_options *o)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct image_request q;
    struct image_rec rec = {0};
    char other[BSNAP_ID_MAX];
    int r = build_request(o, &q);

    if (r < 0)
        return r;
    r = check_request(&q, &rec);
    if (r >= 0)
        r = meta_txn_begin(s->meta, false, &txn);
    if (r >= 0 && (r = name_user(txn, q.name, other)) > 0) {
        bsnap_fail(-EEXIST, "InvalidAMIName.Duplicate", "AMI name %s is already in use by AMI %s",
                   q.name, other);
        r = error_set_parameter("Name");
    }
    image_request_clear(&q);
    image_rec_clear(&rec);
    return r < 0 ? r : 0;
}

/* ---- the boot check ---- */

static const char *detect_name(bool bios, bool uefi)
{
    return bios && uefi ? "hybrid" : bios ? "legacy-bios" : uefi ? "uefi" : "none";
}

/* Read the root snapshot's boot sectors; decide BootMode. */
static int boot_check(bsnap_store *s, const struct image_request *q, struct image_rec *rec,
                      bool no_check, const struct snapshot_taken *taken, size_t ntaken)
{
    const struct snapshot_taken *t;
    bsnap_reader *reader = NULL;
    bsnap_boot_info info;
    const char *root_snap = NULL;
    bool bios, uefi;
    int r;

    for (size_t i = 0; i < rec->nbdm; i++)
        if (strcmp(rec->bdm[i].device, rec->root_device) == 0)
            root_snap = rec->bdm[i].snapshot_id;
    t = root_snap ? taken_find(taken, ntaken, root_snap) : NULL;
    r = t ? reader_open_pending(s, &t->rec, &reader) : bsnap_reader_open(s, root_snap, &reader);
    if (r < 0)
        return r;
    r = bsnap_boot_inspect(reader, &info);
    bsnap_reader_close(reader);
    if (r < 0)
        return bsnap_fail_prefix("root volume %s (%s)", rec->root_device, root_snap);
    /* BIOS runs the MBR's code: a signature over an empty code area (a
     * GPT's usual protective MBR, or a broken GPT's) cannot boot. */
    bios = info.mbr_signature && (info.mbr_boot_code || info.bios_boot_partition);
    uefi = info.has_esp;
    snprintf(rec->detected, sizeof rec->detected, "%s", detect_name(bios, uefi));
    if (q->boot_mode) {
        bool ok = strcmp(q->boot_mode, "uefi") == 0          ? uefi
                  : strcmp(q->boot_mode, "legacy-bios") == 0 ? bios
                                                             : bios || uefi;
        if (!ok && !no_check)
            return bsnap_fail(-EINVAL, "Image.NotBootable",
                              "boot mode %s contradicts the root volume %s (%s): %s", q->boot_mode,
                              rec->root_device, root_snap,
                              !bios && !uefi ? "it is not bootable"
                              : bios         ? "it boots legacy-bios only (no EFI system "
                                               "partition)"
                                             : "it boots uefi only (no MBR boot code)");
        snprintf(rec->boot_mode, sizeof rec->boot_mode, "%s", q->boot_mode);
        return 0;
    }
    if (!bios && !uefi) {
        if (no_check)
            return 0;
        return bsnap_fail(-EINVAL, "Image.NotBootable",
                          "the root volume %s (%s) is not bootable: no MBR boot sector (0x55AA "
                          "signature and boot code) and no EFI system partition in a valid GPT; "
                          "give @{NoBootCheck} to register it anyway",
                          rec->root_device, root_snap);
    }
    if (strncmp(rec->architecture, "arm64", 5) == 0 && !uefi && !no_check)
        return bsnap_fail(-EINVAL, "Image.NotBootable",
                          "the root volume %s (%s) boots legacy-bios only, which %s cannot",
                          rec->root_device, root_snap, rec->architecture);
    snprintf(rec->boot_mode, sizeof rec->boot_mode, "%s",
             bios && uefi ? "uefi-preferred"
             : uefi       ? "uefi"
                          : "legacy-bios");
    return 0;
}

/* ---- register ---- */

static int register_as(bsnap_store *s, const bsnap_image_options *o, const char *id,
                       struct snapshot_taken *taken, size_t ntaken, const char *source_instance)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct image_request q;
    struct image_rec rec = {0};
    char other[BSNAP_ID_MAX];
    int r = build_request(o, &q);

    if (r < 0)
        return r;
    r = check_request(&q, &rec);
    if (r < 0)
        goto out;
    snprintf(rec.id, sizeof rec.id, "%s", id);
    owner_stamp(s, rec.owner);
    rec.bdm = q.bdm;
    rec.nbdm = q.nbdm;
    q.bdm = NULL;
    rec.tags = q.tags;
    q.tags = (struct tags){0};
    rec.name = steal_ptr(q.name);
    rec.description = q.description ? steal_ptr(q.description) : strdup("");
    rec.ena_support = q.ena_support > 0;
    rec.state = BSNAP_IMAGE_AVAILABLE;
    if (source_instance)
        rec.source_instance = strdup(source_instance);
    if (!rec.description || (source_instance && !rec.source_instance)) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }

    /* A first look, to fail early with the right error ... */
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        goto out;
    r = check_snapshots(s, txn, &rec, taken, ntaken);
    meta_txn_abort(steal_ptr(txn));
    if (r < 0)
        goto out;
    r = boot_check(s, &q, &rec, o->no_boot_check, taken, ntaken);
    if (r < 0)
        goto out;

    /* ... and the decisive one, in the transaction that writes. */
    r = meta_txn_begin(s->meta, true, &txn);
    if (r < 0)
        goto out;
    for (size_t i = 0; i < ntaken; i++) {
        r = snapshot_complete(s, txn, &taken[i]);
        if (r < 0)
            goto out;
    }
    r = check_snapshots(s, txn, &rec, NULL, 0);
    if (r < 0)
        goto out;
    r = name_user(txn, rec.name, other);
    if (r > 0) {
        bsnap_fail(-EEXIST, "InvalidAMIName.Duplicate", "AMI name %s is already in use by AMI %s",
                   rec.name, other);
        r = error_set_parameter("Name");
    }
    if (r < 0)
        goto out;
    if (meta_get(txn, T_IMAGES, rec.id, strlen(rec.id), &(const void *){0}, &(size_t){0}) == 0) {
        r = bsnap_fail(-EEXIST, "InternalError", "image id %s exists already", rec.id);
        goto out;
    }
    rec.creation_ms = time_now_ms();
    r = image_save(txn, &rec);
    if (r < 0)
        goto out;
    r = meta_txn_commit(steal_ptr(txn));
out:
    image_request_clear(&q);
    image_rec_clear(&rec);
    return r;
}

int image_register_as(bsnap_store *s, const bsnap_image_options *o, const char *id,
                      struct snapshot_taken *taken, size_t ntaken)
{
    return register_as(s, o, id, taken, ntaken, NULL);
}

int image_register_instance(bsnap_store *s, const bsnap_image_options *o, const char *id,
                            struct snapshot_taken *taken, size_t ntaken,
                            const char *source_instance)
{
    return register_as(s, o, id, taken, ntaken, source_instance);
}

int bsnap_image_register(bsnap_store *s, const bsnap_image_options *o, char ret_id[BSNAP_ID_MAX])
{
    char id[BSNAP_ID_MAX];
    int r;

    bsnap_error_clear();
    if (o->nvolumes) {
        bsnap_fail(-EINVAL, "InvalidParameterCombination",
                   "@{RegisterImage} takes snapshots (block device mappings), not volumes");
        return error_set_parameter("Volumes");
    }
    r = id_generate("ami", id);
    if (r < 0)
        return bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
    r = image_register_as(s, o, id, NULL, 0);
    if (r < 0)
        return r;
    snprintf(ret_id, BSNAP_ID_MAX, "%s", id);
    return 0;
}
