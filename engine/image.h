/* image.h - machine images (AMI manifests): records, validation, the boot
 * check, and create-image from several volumes.
 *
 * An image record lives in T_IMAGES under its id, as JSON (json.c does the
 * JSON, so jansson stays there).  This module guarantees:
 *  - a registered image names only snapshots that exist and are completed:
 *    the record is written in the write transaction that checks them, and
 *    bsnap_snapshot_delete() refuses (InvalidSnapshot.InUse) a snapshot any
 *    live image maps (image_snapshot_user(), a lookup in T_IMAGE_BY_SNAP);
 *  - image_save() keeps the images' cross-reference tables (xref.h: tags,
 *    the snapshots live images map) in the record's own transaction;
 *  - names are unique among live images (checked in that same transaction);
 *  - every rejection happens before anything is written: a failed register
 *    or create leaves the store as it was (create's snapshots stay pending
 *    until the transaction that registers the image completes them, so a
 *    failed or killed create leaves only pending snapshots, which it drops
 *    or gc removes);
 *  - the root volume's partition table is read through a snapshot reader
 *    and parsed by bootsect.c, which trusts nothing it reads.
 *
 * Deregistered images stay as tombstones (state "deregistered"), so that a
 * second deregister is InvalidAMIID.Unavailable, as in EC2.
 */
#ifndef BSNAP_IMAGE_H
#define BSNAP_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blocksnap.h"
#include "meta.h"
#include "record.h"

#define IMAGE_NAME_MIN 3
#define IMAGE_NAME_MAX 128

enum bdm_kind { BDM_EBS = 0, BDM_VIRTUAL = 1, BDM_NODEVICE = 2 };

/* One block device mapping. */
struct image_bdm {
    char device[BSNAP_DEVICE_NAME_MAX];
    enum bdm_kind kind;
    char snapshot_id[BSNAP_ID_MAX]; /* Ebs; "" for an empty volume */
    uint64_t volume_size;           /* Ebs: GiB; 0: not given (the snapshot's) */
    char volume_type[16];           /* Ebs: "" not given */
    int delete_on_termination;      /* Ebs: 1, 0, -1 not given (true) */
    int encrypted;                  /* Ebs: 1, 0, -1 not given */
    uint64_t iops;                  /* Ebs: 0 not given */
    char virtual_name[32];          /* VIRTUAL: "ephemeral0" */
};

struct image_rec {
    char id[BSNAP_ID_MAX];
    char *name;
    char *description;
    bsnap_image_state state;
    char architecture[16];
    char virtualization[16];
    char root_device[BSNAP_DEVICE_NAME_MAX];
    char boot_mode[16]; /* EC2's BootMode, "" when none */
    char detected[16];  /* what the boot check found: none, legacy-bios, uefi, hybrid */
    bool ena_support;
    int64_t creation_ms;
    int64_t deregistered_ms;
    char *reason_code; /* StateReason, NULL when none */
    char *reason_message;
    struct image_bdm *bdm;
    size_t nbdm;
    struct tags tags;
    char owner[13]; /* as snapshot_rec's (record.h) */
    /* Its launch permissions ("launch-permission", as a snapshot's
     * create-volume permissions; absent when private). */
    struct shares lp;
    /* SourceInstanceId: the instance create-image made it of, or NULL */
    char *source_instance;
};

void image_rec_clear(struct image_rec *r);

/* A RegisterImage request, checked and copied from bsnap_image_options.
 * Strings are malloc'd (NULL: not given); image_request_clear() frees
 * them. */
struct image_request {
    char *name, *description, *architecture, *virtualization, *root_device, *boot_mode;
    int ena_support; /* -1 not given */
    struct image_bdm *bdm;
    size_t nbdm;
    bool have_bdm;
    struct tags tags;
};
void image_request_clear(struct image_request *q);

/* ---- json.c ---- */

/* Stored form.  Decoding errors are -EIO (Store.Corrupt, naming the image). */
int image_rec_encode(const struct image_rec *r, char **ret_json, size_t *ret_len);
int image_rec_decode(const void *buf, size_t len, struct image_rec *ret);

/* One image as its EC2 DescribeImages object, as JSON text (the list:
 * describe_new() in record.h). */
int json_describe_image(const bsnap_store *s, const struct image_rec *rec, json_t **ret_doc);
/* DescribeImageAttribute's document: {"ImageId":…, @key: value} where the
 * value is {"Value": @value} (@value NULL: {}), or [] with @list. */
int json_image_attribute(const char *id, const char *key, const char *value, bool list,
                         json_t **ret_doc);
/* DeregisterImage's result: {"Return":true} and, when @n > 0 or @with,
 * DeleteSnapshotResults from parallel arrays. */
int json_deregister_result(const char (*snaps)[BSNAP_ID_MAX], const char *const *codes, size_t n,
                           bool with, json_t **ret_doc);

/* ---- image.c ---- */

/* bsnap_image_register() with a known id (create-image makes it first, to
 * name it in its snapshots' descriptions).  @taken: create-image's pending
 * snapshots (snapshot_take_pending()), which the mappings may name: the
 * boot check reads them unpinned, and the one write transaction that
 * registers the image first completes them all, so that a failure or a
 * crash before its commit leaves them pending (gc removes them) and no
 * image.  Does not clear the error record. */
struct snapshot_taken;
int image_register_as(bsnap_store *s, const bsnap_image_options *o, const char *id,
                      struct snapshot_taken *taken, size_t ntaken);
/* The checks of bsnap_image_register() that need no snapshot: every
 * field of @o (its mappings may name snapshots that do not exist yet) and
 * that the name is free.  Errors as bsnap_image_register(). */
int image_precheck(bsnap_store *s, const bsnap_image_options *o);
/* image_register_as() of an image create-image made of instance
 * @source_instance (recorded as its SourceInstanceId). */
int image_register_instance(bsnap_store *s, const bsnap_image_options *o, const char *id,
                            struct snapshot_taken *taken, size_t ntaken,
                            const char *source_instance);

/* Image records in T_IMAGES.  image_load: InvalidAMIID.NotFound when
 * absent; image_all: every record, sorted by id (free with
 * image_recs_free). */
int image_load(meta_txn *txn, const char *id, struct image_rec *ret);
/* Check @id, then load its record in a short read transaction; the image
 * must be the caller's or shared with it (owner_read_image()). */
int image_get(bsnap_store *s, const char *id, struct image_rec *ret);
/* As owner_check_snapshot() and owner_read_snapshot() (catalog.h), with
 * the launch permissions: InvalidAMIID.NotFound, or UnauthorizedOperation
 * for an image shared with the caller that it tries to change. */
int owner_check_image(const bsnap_store *s, struct image_rec *rec);
int owner_read_image(const bsnap_store *s, struct image_rec *rec);
/* The launch permissions of @rec as DescribeImageAttribute lists them
 * ([{"Group":"all"}, {"UserId":…}]) (share.c).  -ENOMEM. */
int image_permissions_json(const struct image_rec *rec, json_t **ret_list);
int image_save(meta_txn *txn, const struct image_rec *rec);
/* The images' cross-reference tables rebuilt from the records in @txn (a
 * write transaction) and marked ready. */
int image_xref_build(meta_txn *txn);
int image_all(meta_txn *txn, struct image_rec **ret, size_t *ret_n);
void image_recs_free(struct image_rec *recs, size_t n);

/* InvalidAMIID.Malformed unless @id is ami-(8|17 hex). */
int check_image_id(const char *id);

/* The first live image (not deregistered) that maps snapshot @snap_id:
 * 1 and its id in @ret_image, 0 when none.  One lookup (T_IMAGE_BY_SNAP);
 * in a write transaction (an older store's table is built first).
 * Errors: -EIO. */
int image_snapshot_user(meta_txn *txn, const char *snap_id, char ret_image[BSNAP_ID_MAX]);

/* Tags of image @id inside the caller's write transaction (create-tags /
 * delete-tags): add or set each of @tags (@add), else remove them (all when
 * @ntags is 0).  Errors: InvalidAMIID.NotFound, TagLimitExceeded, -EIO. */
int image_tags_update(const bsnap_store *s, meta_txn *txn, const char *id, const bsnap_tag *tags,
                      size_t ntags, bool add);

/* One typed mapping as the record keeps it: the device name and strings
 * fit their fields, numbers and tristates are in range (the rules that
 * need the whole request or the store come later).  Pure; fuzzed through
 * the front-end library's parser.  Errors: -EINVAL
 * (InvalidBlockDeviceMapping, InvalidSnapshotID.Malformed). */
int image_bdm_from_mapping(const bsnap_block_device_mapping *m, struct image_bdm *ret);

/* Whether @name is a well-formed device name for the virtualization type
 * (@hvm: /dev/sd[a-z], /dev/sda1, /dev/sda2, /dev/xvd[a-z], /dev/xvd[bc][a-z];
 * paravirtual also /dev/sd[a-z]N, /dev/hd[a-z], /dev/hd[a-z]N, N 1-15). */
bool device_name_valid(const char *name, bool hvm);

/* Whether @name follows EC2's image name rules. */
bool image_name_valid(const char *name);

#endif
