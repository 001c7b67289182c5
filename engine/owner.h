/* owner.h - who owns a resource, and who may see and act on it.
 *
 * Every snapshot, volume and image record carries its owner account; a
 * record written before owners were kept has none and belongs to the
 * store's account.  The calling account is the store handle's
 * (bsnap_store_set_account(), by default the store's account).  Two rules,
 * both here:
 *  - acting on a resource (delete, tag, modify, deregister, being the
 *    parent of one's own snapshot) is for its owner only: owner_visible();
 *  - reading one (describe, restore, copy, diff, the FUSE view) is for its
 *    owner and for whom it is shared with (a snapshot's create-volume
 *    permissions: an account id or the group all): owner_shared().
 * Another account's resource that is not shared with the caller is
 * *.NotFound, as EC2 answers for a resource one cannot see; one shared
 * with the caller that it tries to act on is UnauthorizedOperation.  The
 * checks on loaded records are owner_check_snapshot() (act) and
 * owner_read_snapshot() (read), owner_check_volume() (catalog.h) and
 * owner_check_image() (image.h), all through owner_require().
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
struct shares;
/* Whether the calling account may read a resource of @owner shared as @sh
 * says (NULL: not shared): it owns it, or @sh names it or the group all. */
bool owner_shared(const bsnap_store *s, const char *owner, const struct shares *sh);
/* Stamp @ret_owner (a new record's owner field) with the calling account. */
void owner_stamp(const bsnap_store *s, char ret_owner[13]);

/* How the checks name a kind of resource in their errors. */
struct owner_kind {
    const char *noun;     /* "snapshot" */
    const char *notfound; /* its *.NotFound code */
    const char *change;   /* what only the owner may do: "change or delete it" */
    bool bracket;         /* not found, it is "the NOUN id '[ID]'", as EC2 says of images */
};
extern const struct owner_kind owner_snapshot, owner_volume, owner_image;

/* 0 when the calling account may act on (@act: owner_visible()) or read
 * (owner_shared()) the resource @id of @owner shared as @sh; else its
 * kind's NotFound (-ENOENT), or UnauthorizedOperation (-EACCES) for
 * acting on a resource shared with the caller.  The callers clear the
 * record they checked when it fails. */
int owner_require(const bsnap_store *s, const char *owner, const struct shares *sh, bool act,
                  const struct owner_kind *k, const char *id);

#endif
