/* lineage.h - the data keys of encrypted volume lineages.
 *
 * The first encrypted snapshot of a volume starts a lineage: a new data
 * key wrapped under a region key (keys.h), and a random 64-bit slot that
 * its sealed records name (crypt.h).  The snapshot record keeps the key's
 * ARN, the wrapped data key and the slot (record.h); its incremental
 * children carry the same three.  The store also keeps each lineage's
 * wrapped key by slot (table keys, "l" + slot), so that records of a
 * lineage whose snapshots are all gone (gc's cascades, a crashed
 * snapshot's orphans) can still be opened when their key is at hand.
 *
 * Opening a lineage unwraps its data key (the key file, or passphrase, must
 * be at hand and the key enabled) and puts the derived keys in the store
 * handle's ring, where pack_read_chunk() finds them by slot.  Callers open
 * the lineages of what they read before reading, outside any transaction
 * (keys_data_key_open() begins its own).
 */
#ifndef BSNAP_LINEAGE_H
#define BSNAP_LINEAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blocksnap.h"
#include "crypt.h"
#include "record.h"

/* What keys.c's wrap takes as its purpose for lineage data keys. */
#define LINEAGE_PURPOSE "volume-lineage"

/* Whether @r is encrypted, and (when it is) its key's ARN, borrowed from
 * @r.  The accessor for modules that apply rules to encrypted snapshots.
 * Always 0. */
int snapshot_encryption(const struct snapshot_rec *r, bool *ret_enc, const char **ret_key_arn);

/* Start a lineage for @rec under the key @key_ref names (any form; NULL:
 * the store's EBS default key, alias/aws/ebs made on first use): make and
 * wrap a data key, record the lineage, set @rec's encryption fields and
 * open it.  Errors: those of keys_data_key_new() (NotFoundException,
 * DisabledException, KeyUnavailableException,
 * IncorrectKeyMaterialException), -EIO, -ENOMEM. */
int lineage_new(bsnap_store *s, const char *key_ref, struct snapshot_rec *rec,
                const struct crypt_key **ret_key);

/* Give @child @parent's encryption (fields copied; -ENOMEM). */
int lineage_inherit(struct snapshot_rec *child, const struct snapshot_rec *parent);

/* Open @rec's lineage: *ret_key (optional) is its key, or NULL when @rec
 * is plain.  Errors: the key's (KeyUnavailableException,
 * DisabledException, IncorrectKeyMaterialException,
 * InvalidCiphertextException, NotFoundException), each message prefixed
 * with "snapshot ID: ". */
int lineage_open(bsnap_store *s, const struct snapshot_rec *rec, const struct crypt_key **ret_key);
/* lineage_open() with keys_data_key_open_flags()'s @flags: 0 when the
 * calling account reads the data (the key must be its own or granted to
 * it, and not pending deletion), KEYS_OPEN_STORE for the store's upkeep
 * (gc and lineage_open_all() use it; a delete's cascade too).  The ring
 * keeps an opened lineage for the handle's life, however it was opened:
 * the check is made on the first open in a process. */
int lineage_open_flags(bsnap_store *s, const struct snapshot_rec *rec, unsigned flags,
                       const struct crypt_key **ret_key);

/* Open every lineage the store records, as far as their keys are at hand.
 * *ret_closed (optional): how many could not be opened (the first one's
 * error is in the log at debug level).  Errors: -EIO, -ENOMEM only. */
int lineage_open_all(bsnap_store *s, size_t *ret_closed);

/* Open the lineage of every completed snapshot (the first that fails
 * gives its error, naming the snapshot), then every other lineage the
 * store records, as far as their keys are at hand (lineage_open_all()).
 * For the calls that read every block map (gc). */
int lineage_open_snapshots(bsnap_store *s);

/* Writable volumes (cow.h) carry a lineage as snapshots do: copy
 * @from's encryption fields into @vol, or @vol's into @rec (-ENOMEM). */
int lineage_to_volume(struct volume_rec *vol, const struct snapshot_rec *from);
int lineage_from_volume(struct snapshot_rec *rec, const struct volume_rec *vol);
/* Open writable volume @vol's lineage (*ret_key NULL when it is plain).
 * Errors as lineage_open(), prefixed "volume ID: ". */
int lineage_open_volume(bsnap_store *s, const struct volume_rec *vol,
                        const struct crypt_key **ret_key);

/* Remove the lineage record of @slot (a snapshot that started it failed
 * before anything named it).  Best effort. */
void lineage_forget(bsnap_store *s, uint64_t slot);

#endif
