/* key-deletion.c - scheduled key deletion (KMS ScheduleKeyDeletion,
 * CancelKeyDeletion) and the deletion itself.
 *
 * A scheduled key is PendingDeletion: it wraps and unwraps nothing
 * (KMSInvalidStateException) until its deletion date, 7 to 30 days on, or
 * until the deletion is cancelled (the key is then Disabled, as in KMS).
 * Once the date has passed, keys_expire() deletes it, its record, aliases,
 * grants and key file, the next time the store's keys are used through a
 * key call or by gc.  Deleting a key makes everything encrypted under it
 * unreadable for good, so, unlike KMS, a key that a snapshot still needs
 * stays PendingDeletion past its date (a log line says which snapshot
 * holds it) unless it was scheduled with delete_in_use.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "cleanup.h"
#include "error.h"
#include "keys.h"
#include "meta.h"
#include "owner.h"
#include "store.h"
#include "util.h"

#define DAY_MS (24LL * 3600 * 1000)
#define WINDOW_MIN 7
#define WINDOW_MAX 30

struct schedule_ctx {
    const char *ref;
    unsigned days; /* 0: cancel */
    bool delete_in_use;
    struct key_rec k;
};

static int schedule_txn(bsnap_store *s, meta_txn *txn, void *ud)
{
    struct schedule_ctx *c = ud;
    char arn[256];
    int r = keys_resolve(s, txn, c->ref, false, &c->k);

    if (r < 0)
        return r;
    keys_arn(s, &c->k, arn, sizeof arn);
    if ((r = keys_owned(s, &c->k, c->days ? "kms:ScheduleKeyDeletion" : "kms:CancelKeyDeletion")) <
        0)
        return r;
    if (c->k.manager == KEY_AWS)
        return bsnap_fail(-EPERM, "KMSInvalidStateException",
                          "%s is an AWS managed key: it cannot be scheduled for deletion", arn);
    if (c->days && c->k.deletion_ms)
        return bsnap_fail(-EPERM, "KMSInvalidStateException", "%s is pending deletion.", arn);
    if (!c->days && !c->k.deletion_ms)
        return bsnap_fail(-EPERM, "KMSInvalidStateException", "%s is not pending deletion.", arn);
    c->k.deletion_ms = c->days ? time_now_ms() + (int64_t)c->days * DAY_MS : 0;
    c->k.delete_in_use = c->days && c->delete_in_use;
    /* KMS: a cancelled deletion leaves the key Disabled */
    c->k.state = KEY_DISABLED;
    return keys_save(txn, &c->k);
}

int bsnap_key_deletion_schedule(bsnap_store *s, const char *key_id, unsigned pending_window_days,
                                bool delete_in_use, json_t **ret_doc)
{
    struct schedule_ctx c = {.ref = key_id,
                             .days = pending_window_days ? pending_window_days : WINDOW_MAX,
                             .delete_in_use = delete_in_use};
    char arn[256], date[32];
    json_t *doc;
    int r;

    bsnap_error_clear();
    if (c.days < WINDOW_MIN || c.days > WINDOW_MAX) {
        bsnap_fail(-EINVAL, "ValidationException",
                   "the pending window of a key deletion is %d to %d days, not %u", WINDOW_MIN,
                   WINDOW_MAX, c.days);
        return error_set_parameter("PendingWindowInDays");
    }
    keys_expire(s);
    r = keys_in_write(s, schedule_txn, &c);
    if (r < 0) {
        key_rec_clear(&c.k);
        return error_param(r, "KeyId");
    }
    keys_arn(s, &c.k, arn, sizeof arn);
    time_format_ms(c.k.deletion_ms, date, sizeof date);
    bsnap_debug("keys", "key %s: deletion scheduled for %s%s", c.k.id, date,
                delete_in_use ? ", even if in use" : "");
    key_rec_clear(&c.k);
    doc = json_pack("{s:s, s:s, s:s, s:i}", "KeyId", arn, "DeletionDate", date, "KeyState",
                    "PendingDeletion", "PendingWindowInDays", (int)c.days);
    if (!doc)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    *ret_doc = doc;
    return 0;
}

int bsnap_key_deletion_cancel(bsnap_store *s, const char *key_id, json_t **ret_doc)
{
    struct schedule_ctx c = {.ref = key_id};
    char arn[256];
    json_t *doc;
    int r;

    bsnap_error_clear();
    keys_expire(s);
    r = keys_in_write(s, schedule_txn, &c);
    if (r < 0) {
        key_rec_clear(&c.k);
        return error_param(r, "KeyId");
    }
    keys_arn(s, &c.k, arn, sizeof arn);
    key_rec_clear(&c.k);
    if (!(doc = json_pack("{s:s}", "KeyId", arn)))
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    *ret_doc = doc;
    return 0;
}

/* ---- the deletion ---- */

/* The id of a snapshot that still needs key @id (any account's, any
 * state: a pending one will) into @ret_snap (1), or 0. */
static int key_needed(meta_txn *txn, const char *id, char ret_snap[BSNAP_ID_MAX])
{
    struct snapshot_rec *recs = NULL;
    size_t n = 0, il = strlen(id);
    int r = catalog_snapshot_all(txn, &recs, &n), found = 0;

    for (size_t i = 0; r >= 0 && i < n && !found; i++) {
        const char *arn = recs[i].kms_key_id;
        size_t al = arn ? strlen(arn) : 0;
        if (recs[i].encrypted && al > il + 4 && strcmp(arn + al - il, id) == 0 &&
            memcmp(arn + al - il - 4, "key/", 4) == 0) {
            snprintf(ret_snap, BSNAP_ID_MAX, "%s", recs[i].id);
            found = 1;
        }
    }
    snapshot_recs_free(recs, n);
    return r < 0 ? r : found;
}

struct due {
    int64_t now;
    char (*ids)[KEYS_ID_TEXT];
    size_t n, cap;
};

static int collect_due(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    struct due *d = ud;
    void *na;

    if (klen != 36 || vlen < 8 || (int64_t)le64_get(val) > d->now)
        return 0;
    if (!(na = array_grow(d->ids, d->n, &d->cap, sizeof *d->ids, 4)))
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    d->ids = na;
    memcpy(d->ids[d->n], key, 36);
    d->ids[d->n++][36] = '\0';
    return 0;
}

struct expire_ctx {
    struct due *d;
    bool *gone;     /* per id: dropped */
    bool *has_file; /* per id: its material is in a key file */
};

static int expire_txn(bsnap_store *s, meta_txn *txn, void *ud)
{
    struct expire_ctx *c = ud;
    char snap[BSNAP_ID_MAX];
    int r = 0;

    (void)s;
    for (size_t i = 0; r >= 0 && i < c->d->n; i++) {
        struct key_rec k = {0};
        const char *id = c->d->ids[i];
        c->gone[i] = false;
        if ((r = keys_load(txn, id, &k)) == -ENOENT) {
            r = 0;
            continue;
        }
        if (r < 0)
            break;
        /* cancelled or rescheduled since the read */
        if (!k.deletion_ms || k.deletion_ms > c->d->now) {
            key_rec_clear(&k);
            continue;
        }
        r = k.delete_in_use ? 0 : key_needed(txn, id, snap);
        if (r > 0) {
            bsnap_log(BSNAP_LOG_WARNING, "keys",
                      "key %s: its deletion date has passed, but snapshot %s still needs it: "
                      "kept, pending deletion",
                      id, snap);
            r = 0;
        } else if (r == 0 && (r = keys_drop(txn, id)) >= 0) {
            c->gone[i] = true;
            c->has_file[i] = k.kdf_iterations == 0;
        }
        key_rec_clear(&k);
    }
    return r;
}

int keys_expire(bsnap_store *s)
{
    _cleanup_free_ bool *gone = NULL, *has_file = NULL;
    struct due d = {.now = time_now_ms()};
    struct expire_ctx c = {&d, NULL, NULL};
    meta_txn *txn;
    int r, n = 0;

    /* most calls find nothing due, in a read transaction */
    if ((r = meta_txn_begin(s->meta, false, &txn)) >= 0) {
        r = keys_walk(txn, 'd', collect_due, &d);
        meta_txn_abort(txn);
    }
    if (r >= 0 && d.n && (!(gone = calloc(d.n, 1)) || !(has_file = calloc(d.n, 1))))
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    c.gone = gone;
    c.has_file = has_file;
    if (r >= 0 && d.n && !(s->flags & BSNAP_STORE_RDONLY))
        r = keys_in_write(s, expire_txn, &c);
    for (size_t i = 0; r >= 0 && i < d.n; i++) {
        if (!gone[i])
            continue;
        n++;
        /* after the commit: a crash before this leaves a file of a key
         * that no record names, which unwraps nothing here */
        if (has_file[i] && keys_file_remove(s, d.ids[i]) < 0)
            bsnap_log(BSNAP_LOG_WARNING, "keys", "key %s: deleted, but %s", d.ids[i],
                      bsnap_last_error()->message);
        bsnap_log(BSNAP_LOG_INFO, "keys", "key %s: deleted (its deletion date has passed)",
                  d.ids[i]);
    }
    if (r < 0)
        bsnap_log(BSNAP_LOG_WARNING, "keys", "keys due for deletion are kept for now: %s",
                  bsnap_last_error()->message);
    free(d.ids);
    bsnap_error_clear();
    return r < 0 ? r : n;
}

struct date_ctx {
    const char *id;
    int64_t ms;
};

static int date_txn(bsnap_store *s, meta_txn *txn, void *ud)
{
    struct date_ctx *c = ud;
    struct key_rec k = {0};
    int r = keys_load(txn, c->id, &k);

    (void)s;
    if (r == -ENOENT)
        r = bsnap_fail(-ENOENT, "NotFoundException", "Key '%s' does not exist", c->id);
    if (r >= 0 && !k.deletion_ms)
        r = bsnap_fail(-EPERM, "KMSInvalidStateException", "key %s is not pending deletion", c->id);
    if (r >= 0) {
        k.deletion_ms = c->ms;
        r = keys_save(txn, &k);
    }
    key_rec_clear(&k);
    return r;
}

int keys_deletion_date_set(bsnap_store *s, const char *id, int64_t ms)
{
    struct date_ctx c = {id, ms};

    return keys_in_write(s, date_txn, &c);
}
