/* share.c - create-volume permissions of snapshots (EC2's
 * Modify/Describe/ResetSnapshotAttribute) and launch permissions of images
 * (Modify/ResetImageAttribute launchPermission).
 *
 * The permissions live in the snapshot and image records (struct shares
 * in record.h), so that the describe walk decides visibility from the record
 * it has loaded anyway; who may read what is decided in owner.c.  A change
 * is checked whole before the record is loaded, then applied in one write
 * transaction: all or nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "error.h"
#include "image.h"
#include "keys.h"
#include "lineage.h"
#include "meta.h"
#include "owner.h"
#include "record.h"
#include "store-handle.h"
#include "util.h"

/* EC2's limits: changes in one call, accounts an image is shared with,
 * public images of an account in a region. */
#define CHANGES_MAX 500
#define IMAGE_SHARES_MAX 1000
#define PUBLIC_IMAGES_MAX 5

static bool account_ok(const char *a)
{
    return strlen(a) == 12 && strspn(a, "0123456789") == 12;
}

static int check_attribute(const char *attribute, bool describe)
{
    if (strcmp(attribute, "createVolumePermission") == 0 ||
        (describe && strcmp(attribute, "productCodes") == 0))
        return 0;
    bsnap_fail(-EINVAL, "InvalidParameterValue", "the attribute '%.64s' is not %s of a snapshot",
               attribute,
               describe ? "createVolumePermission or productCodes" : "createVolumePermission");
    return error_set_parameter("Attribute");
}

/* Check every item of @c before anything changes; @param names the
 * request's parameter (CreateVolumePermission, LaunchPermission), @both
 * whether adds and removes may come in one call (images: yes). */
static int check_change(const bsnap_permission_change *c, const char *param, bool both)
{
    const struct {
        const char *const *v;
        size_t n;
        bool user;
        const char *what;
    } lists[] = {
        {c->add_users, c->nadd_users, true, "Add[%zu].UserId"},
        {c->add_groups, c->nadd_groups, false, "Add[%zu].Group"},
        {c->remove_users, c->nremove_users, true, "Remove[%zu].UserId"},
        {c->remove_groups, c->nremove_groups, false, "Remove[%zu].Group"},
    };
    bool add = c->nadd_users || c->nadd_groups, remove = c->nremove_users || c->nremove_groups;

    if (add && remove && !both) {
        bsnap_fail(-EINVAL, "InvalidParameterCombination",
                   "permissions can be added or removed in one call, not both");
        return error_set_parameter("%s", param);
    }
    if (!add && !remove) {
        bsnap_fail(-EINVAL, "MissingParameter", "no permission to add or remove");
        return error_set_parameter("%s", param);
    }
    if (c->nadd_users + c->nadd_groups + c->nremove_users + c->nremove_groups > CHANGES_MAX) {
        bsnap_fail(
            -EINVAL, "InvalidParameterValue", "%zu permission changes in one call: at most %d",
            c->nadd_users + c->nadd_groups + c->nremove_users + c->nremove_groups, CHANGES_MAX);
        return error_set_parameter("%s", param);
    }
    for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++)
        for (size_t i = 0; i < lists[k].n; i++) {
            const char *v = lists[k].v[i];
            char where[64];
            if (lists[k].user ? account_ok(v) : strcmp(v, "all") == 0)
                continue;
            bsnap_fail(-EINVAL, "InvalidAMIAttributeItemValue",
                       "Invalid attribute item value \"%.64s\" for %s item type.", v,
                       lists[k].user ? "userId" : "UserGroup");
            snprintf(where, sizeof where, lists[k].what, i);
            return error_set_parameter("%s.%s", param, where);
        }
    return 0;
}

/* Apply @c (NULL: clear) to @sh: removes first, so that one call may
 * replace an entry.  -ENOMEM (recorded). */
static int shares_apply(struct shares *sh, const bsnap_permission_change *c)
{
    int r = 0;

    if (!c) {
        shares_clear(sh);
        return 0;
    }
    for (size_t i = 0; i < c->nremove_users; i++)
        shares_remove(sh, c->remove_users[i]);
    if (c->nremove_groups)
        sh->all = false;
    for (size_t i = 0; i < c->nadd_users && r >= 0; i++)
        r = shares_add(sh, c->add_users[i]);
    if (c->nadd_groups)
        sh->all = true;
    return r < 0 ? bsnap_fail(-ENOMEM, "InternalError", "out of memory") : 0;
}

/* EC2's rules for sharing encrypted data, for an add of @c to something
 * that holds snapshot @rec: an encrypted snapshot is never public
 * (UnsupportedOperation), and one under an AWS-managed key is shared with
 * no one (InvalidParameter).  One under a customer key may be shared: the
 * account it is shared with uses it only with a grant of the key
 * (keys_data_key_open()).  @param names the request's parameter. */
static int encryption_rules(meta_txn *txn, const struct snapshot_rec *rec,
                            const bsnap_permission_change *c, const char *param)
{
    const char *arn = NULL;
    enum key_manager m = KEY_CUSTOMER;
    bool enc = false;
    int r;

    if (!c || !(c->nadd_users || c->nadd_groups))
        return 0;
    snapshot_encryption(rec, &enc, &arn);
    if (!enc)
        return 0;
    if (c->nadd_groups) {
        bsnap_fail(-EPERM, "UnsupportedOperation",
                   "Encrypted snapshots can't be shared publicly. Specify another snapshot.");
        return error_set_parameter("%s", param);
    }
    r = arn ? keys_manager_of(txn, arn, &m) : -ENOENT;
    if (r < 0 && r != -ENOENT)
        return r;
    if (r == 0 && m == KEY_AWS) {
        bsnap_fail(-EPERM, "InvalidParameter",
                   "Snapshots encrypted with the AWS Managed CMK can't be shared. Specify "
                   "another snapshot.");
        return error_set_parameter("%s", param);
    }
    return 0;
}

/* Load snapshot @id for its owner in @txn: another account's is NotFound,
 * or AuthFailure when it is shared with the caller. */
static int load_owned(bsnap_store *s, meta_txn *txn, const char *id, struct snapshot_rec *rec)
{
    int r = catalog_snapshot_load(txn, id, rec);

    if (r == 0)
        r = owner_check_snapshot(s, rec);
    if (r == -EACCES)
        r = bsnap_fail(-EACCES, "AuthFailure",
                       "not authorized for snapshot '%s': only its owner may see or change its "
                       "permissions",
                       id);
    return r < 0 ? error_param(r, "SnapshotId") : 0;
}

/* Apply @c (NULL: reset) to snapshot @id in one write transaction. */
static int change(bsnap_store *s, const char *id, const bsnap_permission_change *c)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec rec = {0};
    int r = meta_txn_begin(s->meta, true, &txn);

    if (r < 0)
        return r;
    r = load_owned(s, txn, id, &rec);
    if (r < 0)
        return r;
    r = encryption_rules(txn, &rec, c, "CreateVolumePermission");
    if (r >= 0)
        r = shares_apply(&rec.cvp, c);
    if (r >= 0)
        r = catalog_snapshot_save(txn, &rec);
    snapshot_rec_clear(&rec);
    if (r < 0)
        return r;
    r = meta_txn_commit(steal_ptr(txn));
    if (r >= 0)
        bsnap_debug("share", "snapshot %s: create-volume permissions %s", id,
                    c ? "changed" : "reset");
    return r;
}

int bsnap_snapshot_attribute_modify(bsnap_store *s, const char *id, const char *attribute,
                                    const bsnap_permission_change *c)
{
    int r;

    bsnap_error_clear();
    r = check_snapshot_id(id);
    if (r < 0)
        return error_param(r, "SnapshotId");
    r = check_attribute(attribute, false);
    if (r >= 0)
        r = check_change(c, "CreateVolumePermission", false);
    return r < 0 ? r : change(s, id, c);
}

int bsnap_snapshot_attribute_reset(bsnap_store *s, const char *id, const char *attribute)
{
    int r;

    bsnap_error_clear();
    r = check_snapshot_id(id);
    if (r < 0)
        return error_param(r, "SnapshotId");
    r = check_attribute(attribute, false);
    return r < 0 ? r : change(s, id, NULL);
}

int bsnap_snapshot_attribute_describe(bsnap_store *s, const char *id, const char *attribute,
                                      json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec rec = {0};
    json_t *doc, *list;
    bool cvp;
    int r;

    bsnap_error_clear();
    r = check_snapshot_id(id);
    if (r < 0)
        return error_param(r, "SnapshotId");
    r = check_attribute(attribute, true);
    if (r < 0)
        return r;
    cvp = strcmp(attribute, "createVolumePermission") == 0;
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    r = load_owned(s, txn, id, &rec);
    if (r < 0)
        return r;
    doc = json_object();
    list = json_array();
    if (cvp && rec.cvp.all && list)
        json_array_append_new(list, json_pack("{s:s}", "Group", "all"));
    for (size_t i = 0; cvp && list && i < rec.cvp.n; i++)
        json_array_append_new(list, json_pack("{s:s}", "UserId", rec.cvp.users[i]));
    snapshot_rec_clear(&rec);
    if (!doc || !list || json_object_set_new(doc, "SnapshotId", json_string(id)) < 0 ||
        json_object_set_new(doc, cvp ? "CreateVolumePermissions" : "ProductCodes", list) < 0) {
        json_decref(doc);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    *ret_doc = doc;
    return 0;
}

/* ---- images: launch permissions ---- */

/* Load image @id for a change of its permissions by its owner, in write
 * transaction @txn: another account's is NotFound, or AuthFailure when it
 * is shared with the caller; a deregistered one InvalidAMIID.Unavailable. */
static int image_load_owned(bsnap_store *s, meta_txn *txn, const char *id, struct image_rec *rec)
{
    int r = image_load(txn, id, rec);

    if (r == 0)
        r = owner_check_image(s, rec);
    if (r == -EACCES)
        r = bsnap_fail(-EACCES, "AuthFailure",
                       "not authorized for image '%s': only its owner may change its launch "
                       "permissions",
                       id);
    if (r == 0 && rec->state == BSNAP_IMAGE_DEREGISTERED) {
        image_rec_clear(rec);
        r = bsnap_fail(-ESTALE, "InvalidAMIID.Unavailable",
                       "the image id '[%s]' is no longer available", id);
    }
    return r < 0 ? error_param(r, "ImageId") : 0;
}

/* ResourceLimitExceeded when the caller has as many public images as EC2
 * allows in a region. */
static int public_quota(const bsnap_store *s, meta_txn *txn)
{
    struct image_rec *all = NULL;
    size_t n = 0, pub = 0;
    int r = image_all(txn, &all, &n);

    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        pub += all[i].lp.all && all[i].state != BSNAP_IMAGE_DEREGISTERED &&
               owner_visible(s, all[i].owner);
        image_rec_clear(&all[i]);
    }
    free(all);
    if (pub < PUBLIC_IMAGES_MAX)
        return 0;
    bsnap_fail(-EDQUOT, "ResourceLimitExceeded",
               "the account has %zu public images, as many as a region allows (%d)", pub,
               PUBLIC_IMAGES_MAX);
    return error_set_parameter("LaunchPermission");
}

static int image_change(bsnap_store *s, const char *id, const bsnap_permission_change *c)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct image_rec rec = {0};
    int r = meta_txn_begin(s->meta, true, &txn);

    if (r < 0)
        return r;
    r = image_load_owned(s, txn, id, &rec);
    if (r < 0)
        return r;
    /* EC2: an image with an encrypted snapshot cannot be public, nor
     * shared at all when one is under an AWS-managed key. */
    for (size_t i = 0; c && c->nadd_groups && i < rec.nbdm; i++)
        if (rec.bdm[i].kind == BDM_EBS && rec.bdm[i].encrypted == 1) {
            image_rec_clear(&rec);
            bsnap_fail(-EPERM, "UnsupportedOperation",
                       "Encrypted snapshots can't be shared publicly. Specify another snapshot.");
            return error_set_parameter("LaunchPermission");
        }
    for (size_t i = 0; r >= 0 && i < rec.nbdm; i++) {
        struct snapshot_rec sr = {0};
        if (rec.bdm[i].kind != BDM_EBS || !rec.bdm[i].snapshot_id[0])
            continue;
        r = catalog_snapshot_load(txn, rec.bdm[i].snapshot_id, &sr);
        if (r == -ENOENT) {
            /* gone: the image launches nothing; nothing to refuse */
            bsnap_error_clear();
            r = 0;
            continue;
        }
        if (r >= 0)
            r = encryption_rules(txn, &sr, c, "LaunchPermission");
        snapshot_rec_clear(&sr);
    }
    if (r < 0) {
        image_rec_clear(&rec);
        return r;
    }
    if (c && c->nadd_groups && !rec.lp.all && (r = public_quota(s, txn)) < 0) {
        image_rec_clear(&rec);
        return r;
    }
    r = shares_apply(&rec.lp, c);
    if (r >= 0 && rec.lp.n > IMAGE_SHARES_MAX) {
        bsnap_fail(-EDQUOT, "ResourceLimitExceeded",
                   "image %s would be shared with %zu accounts: at most %d", id, rec.lp.n,
                   IMAGE_SHARES_MAX);
        r = error_set_parameter("LaunchPermission");
    }
    if (r >= 0)
        r = image_save(txn, &rec);
    image_rec_clear(&rec);
    if (r < 0)
        return r;
    r = meta_txn_commit(steal_ptr(txn));
    if (r >= 0)
        bsnap_debug("share", "image %s: launch permissions %s", id, c ? "changed" : "reset");
    return r;
}

int bsnap_image_permission_modify(bsnap_store *s, const char *id, const bsnap_permission_change *c)
{
    int r;

    bsnap_error_clear();
    r = check_image_id(id);
    if (r < 0)
        return error_set_parameter("ImageId");
    r = check_change(c, "LaunchPermission", true);
    return r < 0 ? r : image_change(s, id, c);
}

int bsnap_image_attribute_reset(bsnap_store *s, const char *id, const char *attribute)
{
    int r;

    bsnap_error_clear();
    r = check_image_id(id);
    if (r < 0)
        return error_set_parameter("ImageId");
    if (strcmp(attribute, "launchPermission") != 0) {
        bsnap_fail(-EINVAL, "InvalidParameterValue",
                   "only launchPermission can be reset, not '%.64s'", attribute);
        return error_set_parameter("Attribute");
    }
    return image_change(s, id, NULL);
}

int image_permissions_json(const struct image_rec *rec, json_t **ret_list)
{
    json_t *list = json_array();

    if (list && rec->lp.all)
        json_array_append_new(list, json_pack("{s:s}", "Group", "all"));
    for (size_t i = 0; list && i < rec->lp.n; i++)
        json_array_append_new(list, json_pack("{s:s}", "UserId", rec->lp.users[i]));
    if (!list)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    *ret_list = list;
    return 0;
}
