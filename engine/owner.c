/* owner.c - resource owners and the calling account (owner.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "owner.h"
#include "record.h"
#include "store-handle.h"

const char *owner_of(const bsnap_store *s, const char *owner)
{
    return owner && owner[0] ? owner : s->account;
}

bool owner_visible(const bsnap_store *s, const char *owner)
{
    return strcmp(owner_of(s, owner), s->caller) == 0;
}

bool owner_shared(const bsnap_store *s, const char *owner, const struct shares *sh)
{
    return owner_visible(s, owner) || (sh && (sh->all || shares_has(sh, s->caller)));
}

void owner_stamp(const bsnap_store *s, char ret_owner[13])
{
    /* A resource of the store's own account is written with it too: an
     * explicit owner survives a later change of the store's account. */
    snprintf(ret_owner, 13, "%s", s->caller);
}

const struct owner_kind owner_snapshot = {"snapshot", "InvalidSnapshot.NotFound",
                                          "change or delete it", false};
const struct owner_kind owner_volume = {"volume", "InvalidVolume.NotFound", "change or delete it",
                                        false};
const struct owner_kind owner_image = {"image", "InvalidAMIID.NotFound", "change or deregister it",
                                       true};

int owner_require(const bsnap_store *s, const char *owner, const struct shares *sh, bool act,
                  const struct owner_kind *k, const char *id)
{
    const char *o = k->bracket ? "[" : "", *c = k->bracket ? "]" : "";

    if (act ? owner_visible(s, owner) : owner_shared(s, owner, sh))
        return 0;
    if (act && owner_shared(s, owner, sh)) /* the caller sees it, but it is not its own */
        return bsnap_fail(-EACCES, "UnauthorizedOperation",
                          "the %s '%s' is shared with this account, which is not its owner: "
                          "only the owner may %s",
                          k->noun, id, k->change);
    return bsnap_fail(-ENOENT, k->notfound, "the %s%s '%s%s%s' does not exist", k->noun,
                      k->bracket ? " id" : "", o, id, c);
}

int bsnap_store_set_account(bsnap_store *s, const char *account)
{
    if (strlen(account) != 12 || strspn(account, "0123456789") != 12)
        return error_param(bsnap_fail(-EINVAL, "InvalidParameterValue",
                                      "account id '%.64s' is not 12 digits", account),
                           "OwnerId");
    snprintf(s->caller, sizeof s->caller, "%s", account);
    return 0;
}

int bsnap_store_view(bsnap_store *s, const char *account, bsnap_store **ret_view)
{
    bsnap_store *v;
    int r;

    if (!(v = malloc(sizeof *v)))
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    *v = *s; /* the fields never change after the open (store-handle.h) */
    v->base = s->base ? s->base : s;
    v->dry_run = false;
    if ((r = bsnap_store_set_account(v, account)) < 0) {
        free(v);
        return r;
    }
    *ret_view = v;
    return 0;
}

void bsnap_store_set_dry_run(bsnap_store *s, bool on)
{
    s->dry_run = on;
    meta_set_dry_run(s->meta, on);
}

const char *bsnap_store_account(const bsnap_store *s)
{
    return s->caller;
}
