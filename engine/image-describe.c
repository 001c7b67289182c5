/* image-describe.c - describe-images, deregister-image, the image
 * attributes, and the image facts the FUSE view reads; see image.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "catalog.h"
#include "image.h"
#include "owner.h"
#include "page.h"
#include "store.h"
#include "util.h"
#include "xref.h"

/* ---- describe ---- */

static int check_owners(const bsnap_store *s, const char *const *owners, size_t n, bool *ret_match)
{
    bool match = n == 0;

    for (size_t i = 0; i < n; i++) {
        const char *o = owners[i];
        bool account = strlen(o) == 12 && strspn(o, "0123456789") == 12;
        if (!account && strcmp(o, "self") != 0 && strcmp(o, "amazon") != 0 &&
            strcmp(o, "aws-marketplace") != 0 && strcmp(o, "aws-backup-vault") != 0)
            return error_param(bsnap_fail(-EINVAL, "InvalidUserID.Malformed",
                                          "invalid owner '%s' (expecting self, an account id, "
                                          "amazon or aws-marketplace)",
                                          o),
                               "Owners[%zu]", i);
        /* an account's images (the caller's, or shared with it) may be
         * there; amazon's and the marketplace's never are */
        if (strcmp(o, "self") == 0 || account)
            match = true;
    }
    *ret_match = match;
    return 0;
}

static const struct catalog_index image_index = {
    .group = XREF_IMAGES,
    .records = T_IMAGES,
    .tags = T_IMAGE_TAGS,
    .id_filter = "image-id",
    /* deregistered images are left out anyway, and only live ones are in
     * that table */
    .by = {{"block-device-mapping.snapshot-id", T_IMAGE_BY_SNAP}},
};

/* A live image's record; 0 for a deregistered or absent one. */
static int live_load(meta_txn *txn, const char *id, void *ret)
{
    struct image_rec *rec = ret;
    int r = image_load(txn, id, rec);

    if (r == -ENOENT) {
        bsnap_error_clear();
        return 0;
    }
    return r < 0 ? r : rec->state != BSNAP_IMAGE_DEREGISTERED;
}

static void image_clear_v(void *rec)
{
    image_rec_clear(rec);
}

static int image_describe_with(bsnap_store *s, const bsnap_describe_options *o0,
                               const bsnap_describe_options *o, const char *const *owners,
                               size_t nowners, bool owner_ok, json_t **ret_doc);

int bsnap_image_describe(bsnap_store *s, const bsnap_describe_options *o, const char *const *owners,
                         size_t nowners, json_t **ret_doc)
{
    const char *const *ids = o ? o->ids : NULL;
    size_t nids = o ? o->nids : 0;
    bsnap_describe_options lo = {0};
    bsnap_filter *flt = NULL;
    const char **vals = NULL;
    bool owner_ok = false;
    int r;

    bsnap_error_clear();
    for (size_t i = 0; i < nids; i++) {
        r = check_image_id(ids[i]);
        if (r < 0)
            return error_set_parameter("ImageIds[%zu]", i);
    }
    r = check_owners(s, owners, nowners, &owner_ok);
    if (r < 0)
        return r;
    /* the owners are the owner-id filter, "self" the calling account */
    if (nowners) {
        size_t nf = o ? o->nfilters : 0;
        vals = calloc(nowners, sizeof *vals);
        flt = calloc(nf + 1, sizeof *flt);
        if (!vals || !flt) {
            free(vals);
            free(flt);
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        }
        for (size_t i = 0; i < nowners; i++)
            vals[i] = strcmp(owners[i], "self") == 0 ? bsnap_store_account(s) : owners[i];
        if (nf)
            memcpy(flt, o->filters, nf * sizeof *flt);
        flt[nf] = (bsnap_filter){"owner-id", vals, nowners};
        if (o)
            lo = *o;
        lo.filters = flt;
        lo.nfilters = nf + 1;
    }
    r = image_describe_with(s, o, nowners ? &lo : o, owners, nowners, owner_ok, ret_doc);
    free(vals);
    free(flt);
    return r;
}

static int image_describe_with(bsnap_store *s, const bsnap_describe_options *o0,
                               const bsnap_describe_options *o, const char *const *owners,
                               size_t nowners, bool owner_ok, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    const char *const *ids = o ? o->ids : NULL;
    size_t nids = o ? o->nids : 0;
    struct xref_walk *w = NULL;
    struct page pg;
    int r;

    r = page_begin(s, PAGE_IMAGES, o0, owners, nowners, &pg);
    if (r < 0)
        return r;
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    if (nids) {
        /* EC2 names every missing id in one message. */
        char missing[1024] = "";
        size_t nmissing = 0, used = 0;
        for (size_t i = 0; i < nids; i++) {
            const void *v;
            size_t vlen;
            r = meta_get(txn, T_IMAGES, ids[i], strlen(ids[i]), &v, &vlen);
            if (r < 0 && r != -ENOENT)
                return r;
            /* Another account's image is missing to this one. */
            if (r == 0) {
                struct image_rec rec = {0};
                r = image_rec_decode(v, vlen, &rec);
                if (r < 0)
                    return r;
                if (owner_read_image(s, &rec) < 0)
                    r = -ENOENT;
                image_rec_clear(&rec);
            }
            if (r == -ENOENT && used < sizeof missing) {
                used += (size_t)snprintf(missing + used, sizeof missing - used, "%s%s",
                                         nmissing ? ", " : "", ids[i]);
                nmissing++;
            }
        }
        if (nmissing)
            return error_param(bsnap_fail(-ENOENT, "InvalidAMIID.NotFound",
                                          nmissing == 1 ? "the image id '[%s]' does not exist"
                                                        : "the image ids '[%s]' do not exist",
                                          missing),
                               "ImageIds");
    }
    /* The live images asked for, in id order (an owner that is not the
     * store's: none). */
    r = xref_walk_new(txn, pg.after, &w);
    if (r >= 0 && owner_ok)
        r = nids ? xref_walk_add_ids(w, ids, nids)
                 : catalog_walk_sources(txn, w, o ? o->filters : NULL, o ? o->nfilters : 0,
                                        &image_index);
    if (r >= 0)
        r = page_describe_walk(s, &pg, o, txn, w, sizeof(struct image_rec), live_load,
                               image_clear_v, ret_doc);
    xref_walk_free(w);
    return r;
}

int bsnap_image_describe_one(bsnap_store *s, const char *id, json_t **ret_doc)
{
    struct image_rec rec = {0};
    int r;

    bsnap_error_clear();
    r = image_get(s, id, &rec);
    if (r < 0)
        return error_param(r, "ImageId");
    r = json_describe_image(s, &rec, ret_doc);
    image_rec_clear(&rec);
    return r;
}

static int unavailable(const char *id)
{
    return bsnap_fail(-ESTALE, "InvalidAMIID.Unavailable",
                      "the image id '[%s]' is no longer "
                      "available",
                      id);
}

/* Open a write transaction (@ret_txn) and load image @id into @ret_rec for
 * a change; a deregistered image is refused (InvalidAMIID.Unavailable). */
static int load_for_update(bsnap_store *s, const char *id, meta_txn **ret_txn,
                           struct image_rec *ret_rec)
{
    int r = meta_txn_begin(s->meta, true, ret_txn);

    if (r < 0)
        return r;
    r = image_load(*ret_txn, id, ret_rec);
    if (r == 0)
        r = owner_check_image(s, ret_rec);
    if (r < 0)
        return r;
    if (ret_rec->state == BSNAP_IMAGE_DEREGISTERED) {
        image_rec_clear(ret_rec);
        return unavailable(id);
    }
    return 0;
}

/* ---- deregister ---- */

int bsnap_image_deregister(bsnap_store *s, const char *id, bool delete_snapshots, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct image_rec rec = {0};
    char(*snaps)[BSNAP_ID_MAX] = NULL;
    const char **codes = NULL;
    size_t nsnaps = 0;
    int r;

    bsnap_error_clear();
    r = check_image_id(id);
    if (r < 0)
        return error_set_parameter("ImageId");
    r = load_for_update(s, id, &txn, &rec);
    if (r < 0)
        return error_param(r, "ImageId");
    rec.state = BSNAP_IMAGE_DEREGISTERED;
    rec.deregistered_ms = time_now_ms();
    r = image_save(txn, &rec);
    if (r >= 0)
        r = meta_txn_commit(steal_ptr(txn));
    if (r < 0 || !delete_snapshots)
        goto done;

    snaps = calloc(rec.nbdm + 1, sizeof *snaps);
    codes = calloc(rec.nbdm + 1, sizeof *codes);
    if (!snaps || !codes) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto done;
    }
    for (size_t i = 0; i < rec.nbdm; i++) {
        const struct image_bdm *b = &rec.bdm[i];
        if (b->kind != BDM_EBS || !b->snapshot_id[0])
            continue;
        snprintf(snaps[nsnaps], BSNAP_ID_MAX, "%s", b->snapshot_id);
        /* A snapshot another live image maps is refused with InUse:
         * "skipped", as EC2 reports it. */
        int d = bsnap_snapshot_delete(s, b->snapshot_id);
        codes[nsnaps++] = d == 0         ? "success"
                          : d == -EBUSY  ? "skipped"
                          : d == -ENOENT ? "missing"
                                         : "client-error";
    }
    bsnap_error_clear();
    r = 0;
done:
    if (r >= 0 && ret_doc)
        r = json_deregister_result((const char(*)[BSNAP_ID_MAX])snaps, (const char *const *)codes,
                                   nsnaps, delete_snapshots, ret_doc);
    free(snaps);
    free(codes);
    image_rec_clear(&rec);
    return r;
}

/* ---- attributes ---- */

int bsnap_image_describe_attribute(bsnap_store *s, const char *id, const char *attribute,
                                   json_t **ret_doc)
{
    static const struct {
        const char *attr, *key;
    } valued[] = {
        {"description", "Description"},
        {"bootMode", "BootMode"},
        {"kernel", "KernelId"},
        {"ramdisk", "RamdiskId"},
        {"sriovNetSupport", "SriovNetSupport"},
        {"tpmSupport", "TpmSupport"},
        {"uefiData", "UefiData"},
        {"imdsSupport", "ImdsSupport"},
        {"lastLaunchedTime", "LastLaunchedTime"},
        {"deregistrationProtection", "DeregistrationProtection"},
    };
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct image_rec rec = {0};
    int r;

    bsnap_error_clear();
    r = check_image_id(id);
    if (r < 0)
        return error_set_parameter("ImageId");
    if (strcmp(attribute, "blockDeviceMapping") == 0)
        return bsnap_fail(-EACCES, "AuthFailure",
                          "Unauthorized attempt to access restricted resource (use "
                          "@{DescribeImages} for the block device mappings)");
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    r = image_load(txn, id, &rec);
    if (r == 0)
        r = owner_check_image(s, &rec);
    if (r == -EACCES) /* shared with the caller: the attributes are the owner's */
        r = bsnap_fail(-EACCES, "AuthFailure", "not authorized for image '%s'", id);
    if (r < 0)
        return error_param(r, "ImageId");
    if (rec.state == BSNAP_IMAGE_DEREGISTERED) {
        r = error_param(unavailable(id), "ImageId");
    } else if (strcmp(attribute, "launchPermission") == 0) {
        json_t *list = NULL;
        r = image_permissions_json(&rec, &list);
        if (r >= 0)
            r = json_image_attribute(id, "LaunchPermissions", NULL, true, ret_doc);
        if (r >= 0)
            json_object_set_new(*ret_doc, "LaunchPermissions", list);
        else
            json_decref(list);
    } else if (strcmp(attribute, "productCodes") == 0) {
        r = json_image_attribute(id, "ProductCodes", NULL, true, ret_doc);
    } else {
        r = bsnap_fail(-EINVAL, "InvalidRequest",
                       "The request received was invalid (unknown attribute '%s')", attribute);
        error_set_parameter("Attribute");
        for (size_t i = 0; i < ARRAY_SIZE(valued); i++) {
            if (strcmp(attribute, valued[i].attr) != 0)
                continue;
            /* {} for an unset value, as EC2's (no description included) */
            const char *v = i == 0 && rec.description && rec.description[0] ? rec.description
                            : i == 1 && rec.boot_mode[0]                    ? rec.boot_mode
                                                                            : NULL;
            bsnap_error_clear();
            r = json_image_attribute(id, valued[i].key, v, false, ret_doc);
        }
    }
    image_rec_clear(&rec);
    return r;
}

int bsnap_image_modify_attribute(bsnap_store *s, const char *id, const char *attribute,
                                 const char *value)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct image_rec rec = {0};
    char *d;
    int r;

    bsnap_error_clear();
    r = check_image_id(id);
    if (r < 0)
        return error_set_parameter("ImageId");
    if (strcmp(attribute, "description") != 0) {
        bsnap_fail(-EINVAL, "InvalidRequest",
                   "The request received was invalid (attribute '%s' cannot be modified "
                   "here: only description)",
                   attribute);
        return error_set_parameter("Attribute");
    }
    r = bsnap_text_check("description", value, DESCRIPTION_MAX);
    if (r < 0)
        return error_set_parameter("Description");
    r = load_for_update(s, id, &txn, &rec);
    if (r < 0)
        return error_param(r, "ImageId");
    d = strdup(value);
    if (!d) {
        image_rec_clear(&rec);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    free(rec.description);
    rec.description = d;
    r = image_save(txn, &rec);
    image_rec_clear(&rec);
    if (r < 0)
        return r;
    return meta_txn_commit(steal_ptr(txn));
}

/* ---- info for the FUSE view ---- */

static void info_from_rec(const struct image_rec *r, bsnap_image_info *info)
{
    memset(info, 0, sizeof *info);
    snprintf(info->id, sizeof info->id, "%s", r->id);
    snprintf(info->name, sizeof info->name, "%s", r->name ? r->name : "");
    info->state = r->state;
    info->creation_time_ms = r->creation_ms;
    snprintf(info->root_device, sizeof info->root_device, "%s", r->root_device);
    for (size_t i = 0; i < r->nbdm && i < BSNAP_IMAGE_MAPPINGS_MAX; i++) {
        snprintf(info->mappings[i].device, sizeof info->mappings[i].device, "%s", r->bdm[i].device);
        if (r->bdm[i].kind == BDM_EBS)
            snprintf(info->mappings[i].snapshot_id, sizeof info->mappings[i].snapshot_id, "%s",
                     r->bdm[i].snapshot_id);
        info->nmappings++;
    }
}

int bsnap_image_get(bsnap_store *s, const char *id, bsnap_image_info *ret_info)
{
    struct image_rec rec = {0};
    int r;

    bsnap_error_clear();
    r = image_get(s, id, &rec);
    if (r < 0)
        return error_param(r, "ImageId");
    info_from_rec(&rec, ret_info);
    image_rec_clear(&rec);
    return 0;
}

int bsnap_image_list(bsnap_store *s, bsnap_image_info **ret_infos, size_t *ret_n)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct image_rec *all = NULL;
    bsnap_image_info *infos = NULL;
    size_t n = 0, k = 0;
    int r;

    bsnap_error_clear();
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    r = image_all(txn, &all, &n);
    if (r < 0)
        return r;
    if (n && !(infos = calloc(n, sizeof *infos))) {
        image_recs_free(all, n);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        if (all[i].state != BSNAP_IMAGE_DEREGISTERED && owner_shared(s, all[i].owner, &all[i].lp))
            info_from_rec(&all[i], &infos[k++]);
    image_recs_free(all, n);
    if (k == 0) {
        free(infos);
        infos = NULL;
    }
    *ret_infos = infos;
    *ret_n = k;
    return 0;
}
