/* template.h - launch templates: records, versions and their data.
 *
 * A launch template is a record in T_TEMPLATES ("t" + id), its versions
 * records beside it ("v" + id + ":" + ten-digit number, so that a prefix
 * walk gives them in number order), its name an index entry ("n" + owner
 * account + NUL + name -> id) that keeps names unique per account, and a
 * ClientToken an entry ("c" + owner + NUL + token -> id and request).
 * All of them, as JSON documents, are written in the one write
 * transaction of each call, so a crash leaves a template and its versions
 * whole or absent.
 *
 * This module guarantees:
 *  - version numbers are given in creation order from 1 and never again
 *    (the record keeps the next number), and versions never change;
 *  - the default version always exists: it cannot be deleted;
 *  - every check of the data (template-data.c) runs before anything is
 *    written, the store's part (image, snapshots) in the writing
 *    transaction, so what a version names existed when it was made;
 *  - another account's template is never seen nor changed (NotFound).
 */
#ifndef BSNAP_TEMPLATE_H
#define BSNAP_TEMPLATE_H

#include <stddef.h>

#include "blocksnap.h"
#include "meta.h"

#define TEMPLATE_NAME_MIN 3
#define TEMPLATE_NAME_MAX 128
#define TEMPLATE_DESCRIPTION_MAX 255
#define TEMPLATE_DATA_MAX (1u << 20)
#define TEMPLATE_USER_DATA_MAX 16384
#define TEMPLATE_VOLUME_SIZE_MAX 16384 /* GiB */
#define TEMPLATE_LIMIT 5000            /* templates per account */
#define TEMPLATE_VERSION_LIMIT 10000   /* versions per template */
#define TEMPLATE_DELETE_MAX 200        /* versions per DeleteLaunchTemplateVersions */
#define TEMPLATE_TOKEN_MAX 64

/* ---- template-data.c ---- */

/* Parse @len bytes of @text as LaunchTemplateData and check everything
 * that needs no store: only EC2's fields (UnknownParameter), each of its
 * type (InvalidParameterValue), ImageId well formed
 * (InvalidAMIID.Malformed; an SSM reference InvalidParameterValue), a
 * known InstanceType, UserData base64 of at most 16 KiB
 * (InvalidUserData.Malformed, InvalidParameterValue), tag specifications,
 * block device mappings (InvalidBlockDeviceMapping: missing, malformed or
 * repeated device names; InvalidSnapshotID.Malformed; sizes 1 to 16384,
 * volume types), the enumerations.  Each failure names its parameter,
 * "LaunchTemplateData.Field[i].Sub".  Pure: any thread.  @ret_data out: a
 * new reference. */
int template_data_parse(const char *text, size_t len, json_t **ret_data);

/* The checks that need the store, in @txn: the image exists, is
 * available and the caller may launch it (InvalidAMIID.NotFound,
 * InvalidAMIID.Unavailable); each snapshot a mapping names exists and is
 * the caller's or shared with it (InvalidSnapshot.NotFound); no volume is
 * smaller than its snapshot, the image's own for a device it maps
 * (InvalidBlockDeviceMapping). */
int template_data_check_store(const bsnap_store *s, meta_txn *txn, const json_t *data);

/* A new version's data from its source's and the given ones: each field of
 * @over replaces the source's; without BlockDeviceMappings in @over the
 * source's mappings lose their SnapshotId.  A new reference, NULL when out
 * of memory. */
json_t *template_data_merge(const json_t *source, const json_t *over);

/* Whether @name is a well-formed template name. */
bool template_name_valid(const char *name);

#endif
