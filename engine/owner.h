/* owner.h - who owns a resource, and who may see and act on it.
 *
 * Every snapshot, volume and image record carries its owner account; a
 * record written before owners were kept has none and belongs to the
 * store's account.  The calling account is the store handle's
 * (bsnap_store_set_account(), by default the store's account).  For now a
 * caller sees and acts on only what it owns: another account's resource is
 * *.NotFound, as EC2 answers for a resource one cannot see.  This is the one
 * place that rule lives, so that launch and create-volume permissions can
 * widen it (owner_visible() taking the record's permissions too).  The
 * checks on loaded records that fail as if the record did not exist are
 * owner_check_snapshot() and owner_check_volume() (catalog.h) and
 * owner_check_image() (image.h), each a call of owner_visible().
 */
#ifndef BSNAP_OWNER_H
#define BSNAP_OWNER_H

#include <stdbool.h>

#include "blocksnap.h"

/* The account of a record whose owner field is @owner ("" : the store's).
 * Borrowed from @s or @owner. */
const char *owner_of(const bsnap_store *s, const char *owner);
/* Whether the calling account may see (and act on) a resource of @owner. */
bool owner_visible(const bsnap_store *s, const char *owner);
/* Stamp @ret_owner (a new record's owner field) with the calling account. */
void owner_stamp(const bsnap_store *s, char ret_owner[13]);

#endif
