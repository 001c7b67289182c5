/* share.c - create-volume permissions of snapshots (EC2's
 * Modify/Describe/ResetSnapshotAttribute).
 *
 * The permissions live in the snapshot record (struct shares in
 * record.h), so that the describe walk decides visibility from the record
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
#include "meta.h"
#include "owner.h"
#include "record.h"
#include "store-handle.h"
#include "util.h"

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

/* Check every item of @c before anything changes. */
static int check_change(const bsnap_permission_change *c)
{
    const struct {
        const char *const *v;
        size_t n;
        bool user;
        const char *param;
    } lists[] = {
        {c->add_users, c->nadd_users, true, "CreateVolumePermission.Add[%zu].UserId"},
        {c->add_groups, c->nadd_groups, false, "CreateVolumePermission.Add[%zu].Group"},
        {c->remove_users, c->nremove_users, true, "CreateVolumePermission.Remove[%zu].UserId"},
        {c->remove_groups, c->nremove_groups, false, "CreateVolumePermission.Remove[%zu].Group"},
    };
    bool add = c->nadd_users || c->nadd_groups, remove = c->nremove_users || c->nremove_groups;

    if (add && remove) {
        bsnap_fail(-EINVAL, "InvalidParameterCombination",
                   "permissions can be added or removed in one call, not both");
        return error_set_parameter("CreateVolumePermission");
    }
    if (!add && !remove) {
        bsnap_fail(-EINVAL, "MissingParameter", "no permission to add or remove");
        return error_set_parameter("CreateVolumePermission");
    }
    for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++)
        for (size_t i = 0; i < lists[k].n; i++) {
            const char *v = lists[k].v[i];
            if (lists[k].user ? account_ok(v) : strcmp(v, "all") == 0)
                continue;
            bsnap_fail(-EINVAL, "InvalidAMIAttributeItemValue",
                       "Invalid attribute item value \"%.64s\" for %s item type.", v,
                       lists[k].user ? "userId" : "UserGroup");
            return error_set_parameter(lists[k].param, i);
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
    if (!c) {
        shares_clear(&rec.cvp);
    } else {
        for (size_t i = 0; i < c->nadd_users && r >= 0; i++)
            r = shares_add(&rec.cvp, c->add_users[i]);
        for (size_t i = 0; i < c->nremove_users; i++)
            shares_remove(&rec.cvp, c->remove_users[i]);
        if (c->nadd_groups)
            rec.cvp.all = true;
        if (c->nremove_groups)
            rec.cvp.all = false;
        if (r < 0)
            r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
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
        r = check_change(c);
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
