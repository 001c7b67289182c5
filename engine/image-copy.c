/* image-copy.c - copy-image: an image of another store (region) into this
 * one: every snapshot it maps copied (copy.c: only the chunks this store
 * lacks, incremental against earlier copies), then a new image with new
 * ids registered over the copies.
 *
 * Resumable and idempotent as copy-snapshot: the call's token (the client
 * token, or "=" and the hash of its parameters) is recorded in T_COPIES
 * ("image-token" \0 TOKEN -> "ami-ID PARAMS-HASH") with the new image's id,
 * chosen before anything is copied; each snapshot copy uses the token
 * "ami-ID:DEVICE", so a run killed at any point and run again copies on
 * from where it stopped, and registers the image under the same id
 * (image_register_as() refuses an id that exists: a completed image is
 * returned as it is). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "copy.h"
#include "error.h"
#include "image.h"
#include "owner.h"
#include "store.h"
#include "util.h"
#include "xref.h"

#define IMAGE_TOKEN_MAX 64

/* The token of copy-image call @o (request_hash_end()). */
static const char *image_call_token(const bsnap_store *dst, const bsnap_store *src,
                                    const bsnap_image_copy_options *o, char hash[33],
                                    char autotok[40])
{
    struct request_hash h;

    request_hash_begin(&h, dst, src);
    request_hash_str(&h, o->source_image_id);
    request_hash_str(&h, o->name);
    request_hash_str(&h, o->description);
    request_hash_str(&h, o->copy_image_tags ? "t" : "f");
    if (o->encrypted) {
        request_hash_str(&h, "encrypted");
        request_hash_str(&h, o->kms_key_id);
    }
    return request_hash_end(&h, o->client_token, hash, autotok);
}

/* The image id the token @tok chose, or "" (a new call). */
static int token_lookup(bsnap_store *s, const char *tok, const char *hash, bool explicit_token,
                        char ret_id[BSNAP_ID_MAX])
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    char k[XREF_KEY_MAX], v[BSNAP_ID_MAX + 40], *sp;
    size_t klen = xref_key("image-token", tok, k);
    const void *val;
    size_t vlen;
    int r;

    ret_id[0] = 0;
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    r = meta_get(txn, T_COPIES, k, klen, &val, &vlen);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    if (vlen >= sizeof v)
        return bsnap_fail(-EIO, "Store.Corrupt", "copies table: an entry of %zu bytes", vlen);
    memcpy(v, val, vlen);
    v[vlen] = 0;
    sp = strchr(v, ' ');
    if (!sp || (size_t)(sp - v) >= BSNAP_ID_MAX)
        return bsnap_fail(-EIO, "Store.Corrupt", "copies table: a bad image token entry");
    *sp++ = 0;
    if (explicit_token && strcmp(sp, hash) != 0) {
        bsnap_fail(-EINVAL, "IdempotentParameterMismatch",
                   "the client token '%s' was used for a copy with other parameters", tok);
        return error_set_parameter("ClientToken");
    }
    memcpy(ret_id, v, (size_t)(sp - 1 - v) + 1); /* with its NUL */
    return 0;
}

/* Record token @tok for the new image id @id, unless another run of the
 * same call recorded one since token_lookup() (two runs started together
 * both found nothing there): then -EAGAIN (no error set), and the caller
 * looks again and takes that run's image id. */
static int token_record(bsnap_store *s, const char *tok, const char *hash, const char *id)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    char k[XREF_KEY_MAX], v[BSNAP_ID_MAX + 40];
    size_t klen = xref_key("image-token", tok, k);
    const void *val;
    size_t vlen;
    int r = meta_txn_begin(s->meta, true, &txn);

    if (r < 0)
        return r;
    r = meta_get(txn, T_COPIES, k, klen, &val, &vlen);
    if (r == 0)
        return -EAGAIN;
    if (r != -ENOENT)
        return r;
    bsnap_error_clear();
    snprintf(v, sizeof v, "%s %s", id, hash);
    r = meta_put(txn, T_COPIES, k, klen, v, strlen(v));
    if (r < 0)
        return r;
    return meta_txn_commit(steal_ptr(txn));
}

/* A live image of this store other than @self named @name: its id. */
static int name_taken(bsnap_store *s, const char *name, const char *self, char ret[BSNAP_ID_MAX])
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct image_rec *recs = NULL;
    size_t n = 0;
    int r = meta_txn_begin(s->meta, false, &txn);

    ret[0] = 0;
    if (r < 0)
        return r;
    r = image_all(txn, &recs, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++)
        if (recs[i].state != BSNAP_IMAGE_DEREGISTERED && recs[i].name &&
            strcmp(recs[i].name, name) == 0 && strcmp(recs[i].id, self) != 0)
            snprintf(ret, BSNAP_ID_MAX, "%s", recs[i].id);
    image_recs_free(recs, n);
    return 0;
}

static bsnap_tristate tristate(int v)
{
    return v < 0 ? BSNAP_UNSET : v ? BSNAP_TRUE : BSNAP_FALSE;
}

static int check_copy_options(const bsnap_image_copy_options *o)
{
    int r;

    if (!o->source_image_id || !o->source_image_id[0]) {
        bsnap_fail(-EINVAL, "MissingParameter", "the source image id is missing");
        return error_set_parameter("SourceImageId");
    }
    r = check_image_id(o->source_image_id);
    if (r < 0)
        return error_set_parameter("SourceImageId");
    if (!o->name || !o->name[0]) {
        bsnap_fail(-EINVAL, "MissingParameter", "the name of the new image is missing");
        return error_set_parameter("Name");
    }
    if (!image_name_valid(o->name)) {
        bsnap_fail(-EINVAL, "InvalidAMIName.Malformed",
                   "AMI names must be 3 to 128 characters of letters, numbers and ( ) [ ] space "
                   ". / - ' @ _, not '%s'",
                   o->name);
        return error_set_parameter("Name");
    }
    if (o->description &&
        (r = bsnap_text_check("description", o->description, BSNAP_DESCRIPTION_MAX)) < 0)
        return error_set_parameter("Description");
    if (o->kms_key_id && !o->encrypted) {
        bsnap_fail(-EINVAL, "InvalidParameterDependency",
                   "The parameter [KmsKeyId] requires the parameter Encrypted to be set.");
        return error_set_parameter("KmsKeyId");
    }
    if (o->client_token) {
        size_t n = strlen(o->client_token);
        bool ok = n > 0 && n <= IMAGE_TOKEN_MAX;
        for (size_t i = 0; ok && i < n; i++)
            ok = (unsigned char)o->client_token[i] > 0x20 &&
                 (unsigned char)o->client_token[i] < 0x7f;
        if (!ok) {
            bsnap_fail(-EINVAL, "InvalidParameterValue",
                       "the client token must be 1 to %d printable ASCII characters without "
                       "spaces",
                       IMAGE_TOKEN_MAX);
            return error_set_parameter("ClientToken");
        }
    }
    return 0;
}

int bsnap_image_copy(bsnap_store *s, bsnap_store *src, const bsnap_image_copy_options *o,
                     char ret_id[BSNAP_ID_MAX], bsnap_snapshot_stats *ret_stats)
{
    struct image_rec srec = {0}, have = {0};
    bsnap_block_device_mapping *maps = NULL;
    char(*copies)[BSNAP_ID_MAX] = NULL;
    bsnap_tag *tags = NULL;
    bsnap_snapshot_stats total = {0};
    char hash[33], autotok[40], id[BSNAP_ID_MAX], other[BSNAP_ID_MAX];
    const char *tok;
    bool retried = false;
    int r;

    bsnap_error_clear();
    r = check_copy_options(o);
    if (r < 0)
        return r;
    r = image_get(src, o->source_image_id, &srec);
    if (r < 0)
        return error_param(r, "SourceImageId");
    if (srec.state != BSNAP_IMAGE_AVAILABLE) {
        r = srec.state == BSNAP_IMAGE_DEREGISTERED
                ? bsnap_fail(-ENOENT, "InvalidAMIID.NotFound", "the image '%s' does not exist",
                             srec.id)
                : bsnap_fail(-EBUSY, "IncorrectState", "the image '%s' is not available", srec.id);
        error_set_parameter("SourceImageId");
        goto out;
    }
    /* An image shared with the caller copies only when its snapshots are
     * shared with it too (sharing an image does not share its storage). */
    for (size_t i = 0; !owner_visible(src, srec.owner) && i < srec.nbdm; i++) {
        struct snapshot_rec sr = {0};
        if (srec.bdm[i].kind != BDM_EBS || !srec.bdm[i].snapshot_id[0])
            continue;
        r = catalog_snapshot_get(src, srec.bdm[i].snapshot_id, &sr);
        snapshot_rec_clear(&sr);
        if (r == -ENOENT) {
            r = bsnap_fail(-EACCES, "AuthFailure",
                           "You do not have permission to access the storage of this ami: its "
                           "snapshot %s is not shared with this account",
                           srec.bdm[i].snapshot_id);
            error_set_parameter("SourceImageId");
        }
        if (r < 0)
            goto out;
    }
    tok = image_call_token(s, src, o, hash, autotok);
again:
    image_rec_clear(&have);
    memset(&have, 0, sizeof have);
    r = token_lookup(s, tok, hash, o->client_token != NULL, id);
    if (r < 0)
        goto out;
    if (id[0]) {
        r = image_get(s, id, &have);
        if (r == 0 && !owner_visible(s, have.owner)) { /* shared with, not copied by, the caller */
            image_rec_clear(&have);
            r = bsnap_fail(-ENOENT, "InvalidAMIID.NotFound", "the image id '[%s]' does not exist",
                           id);
        }
        if (r == 0 && have.state != BSNAP_IMAGE_DEREGISTERED) {
            bsnap_debug("copy", "image %s: copied already as %s", srec.id, id);
            snprintf(ret_id, BSNAP_ID_MAX, "%s", id);
            if (ret_stats)
                *ret_stats = total;
            r = 0;
            goto out;
        }
        if (r < 0 && r != -ENOENT)
            goto out;
        bsnap_error_clear();
        if (r == 0) /* deregistered since: a new copy */
            id[0] = 0;
    }
    r = name_taken(s, o->name, id, other);
    if (r < 0)
        goto out;
    if (other[0] && !id[0] && !retried) {
        /* maybe the image of the same call, run at the same time, which
         * registered it since token_lookup(): look once more */
        retried = true;
        goto again;
    }
    if (other[0]) {
        bsnap_fail(-EEXIST, "InvalidAMIName.Duplicate", "AMI name %s is already in use by AMI %s",
                   o->name, other);
        r = error_set_parameter("Name");
        goto out;
    }
    if (!id[0]) {
        r = id_generate("ami", id);
        if (r < 0) {
            r = bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
            goto out;
        }
        r = token_record(s, tok, hash, id);
        if (r == -EAGAIN) {
            bsnap_debug("copy", "image %s: another run of the same call started first", srec.id);
            goto again;
        }
        if (r < 0)
            goto out;
    } else {
        bsnap_debug("copy", "image %s: continuing its copy %s", srec.id, id);
    }

    maps = calloc(srec.nbdm ? srec.nbdm : 1, sizeof *maps);
    copies = calloc(srec.nbdm ? srec.nbdm : 1, sizeof *copies);
    if (!maps || !copies) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < srec.nbdm; i++) {
        const struct image_bdm *b = &srec.bdm[i];
        bsnap_block_device_mapping *m = &maps[i];

        m->device_name = b->device;
        m->kind = b->kind == BDM_VIRTUAL    ? BSNAP_MAPPING_VIRTUAL
                  : b->kind == BDM_NODEVICE ? BSNAP_MAPPING_NODEVICE
                                            : BSNAP_MAPPING_EBS;
        m->virtual_name = b->virtual_name[0] ? b->virtual_name : NULL;
        m->volume_size = b->volume_size;
        m->volume_type = b->volume_type[0] ? b->volume_type : NULL;
        m->iops = b->iops;
        m->delete_on_termination = tristate(b->delete_on_termination);
        if (b->kind == BDM_EBS && b->snapshot_id[0]) {
            char desc[200], stok[BSNAP_ID_MAX + BSNAP_DEVICE_NAME_MAX + 2];
            bsnap_snapshot_stats st = {0};
            bsnap_copy_options co = {
                .source_snapshot_id = b->snapshot_id,
                .description = desc,
                .client_token = stok,
                .threads = o->threads,
                .run = o->run,
                .encrypted = o->encrypted,
                .kms_key_id = o->kms_key_id,
            };
            snprintf(desc, sizeof desc,
                     "Copied for DestinationAmi %s from SourceAmi %s for SourceSnapshot %s", id,
                     srec.id, b->snapshot_id);
            snprintf(stok, sizeof stok, "%s:%s", id, b->device);
            r = bsnap_snapshot_copy(s, src, &co, copies[i], &st);
            if (r < 0) {
                bsnap_fail_prefix("image %s, device %s", srec.id, b->device);
                goto out;
            }
            total.volume_bytes += st.volume_bytes;
            total.read_bytes += st.read_bytes;
            total.new_chunks += st.new_chunks;
            total.new_bytes += st.new_bytes;
            total.reused_chunks += st.reused_chunks;
            total.zero_chunks += st.zero_chunks;
            total.new_pages += st.new_pages;
            m->snapshot_id = copies[i];
        } else if (b->kind == BDM_EBS) {
            m->encrypted = tristate(b->encrypted);
        }
    }
    /* EC2 copies only the tags the caller attached, and tags are their
     * image's owner's: another account's copy of a shared image gets none
     * of them (they stay private to the owner). */
    if (o->copy_image_tags && srec.tags.n && owner_visible(src, srec.owner)) {
        tags = calloc(srec.tags.n, sizeof *tags);
        if (!tags) {
            r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            goto out;
        }
        for (size_t i = 0; i < srec.tags.n; i++)
            tags[i] = (bsnap_tag){srec.tags.v[i].key, srec.tags.v[i].value};
    }
    {
        bsnap_image_options io = {
            .name = o->name,
            .description = o->description ? o->description : "",
            .architecture = srec.architecture[0] ? srec.architecture : NULL,
            .virtualization = srec.virtualization[0] ? srec.virtualization : NULL,
            .root_device_name = srec.root_device[0] ? srec.root_device : NULL,
            .boot_mode = srec.boot_mode[0] ? srec.boot_mode : NULL,
            .ena_support = srec.ena_support ? BSNAP_TRUE : BSNAP_FALSE,
            /* the source was checked when it was registered; its copy
             * reads the same */
            .no_boot_check = true,
            .mappings = maps,
            .nmappings = srec.nbdm,
            .tags = tags,
            .ntags = tags ? srec.tags.n : 0,
        };
        r = image_register_as(s, &io, id, NULL, 0);
        if (r == -EEXIST) {
            /* the same call, run at the same time, registered it first:
             * its image is this call's answer too */
            struct image_rec done = {0};
            error_saved why;
            error_save(&why);
            if (image_get(s, id, &done) == 0 && done.state != BSNAP_IMAGE_DEREGISTERED) {
                bsnap_error_clear();
                r = 0;
            } else {
                error_restore(&why); /* another image has the name */
            }
            image_rec_clear(&done);
        }
        if (r < 0)
            goto out;
    }
    bsnap_debug("copy", "image %s copied as %s: %llu bytes read", srec.id, id,
                (unsigned long long)total.read_bytes);
    snprintf(ret_id, BSNAP_ID_MAX, "%s", id);
    if (ret_stats)
        *ret_stats = total;
    r = 0;
out:
    free(tags);
    free(maps);
    free(copies);
    image_rec_clear(&srec);
    image_rec_clear(&have);
    return r;
}
