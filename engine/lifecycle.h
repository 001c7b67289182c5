/* lifecycle.h - lifecycle policies (Amazon DLM's shapes): their records,
 * the check of their PolicyDetails, and the clock arithmetic of a run.
 *
 * A policy is one JSON record in T_LIFECYCLE under "p" + its id (format.md,
 * "Lifecycle policies"), written in the one write transaction of each call,
 * so a crash leaves it whole or absent.  Its PolicyDetails are stored as
 * lifecycle_details_parse() returned them (defaults filled in) and checked
 * again when a record is read, so a damaged record is refused, never run.
 *
 * This module guarantees:
 *  - every field of PolicyDetails is checked before anything is written;
 *    what blocksnap does not do (cron schedules, other policy types, copy
 *    and share rules) is refused, never silently ignored;
 *  - another account's policy is never seen, run nor changed (NotFound);
 *  - the schedule arithmetic (slots, retention ages) is pure: it reads no
 *    clock, so tests drive it through years in milliseconds;
 *  - a run (lifecycle-run.c) deletes only snapshots that carry both of its
 *    schedule's tags (aws:dlm:lifecycle-policy-id and
 *    aws:dlm:lifecycle-schedule-name), which users cannot set.
 */
#ifndef BSNAP_LIFECYCLE_H
#define BSNAP_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blocksnap.h"
#include "meta.h"

#define LIFECYCLE_DETAILS_MAX (64u * 1024u)
#define LIFECYCLE_DESCRIPTION_MAX 500
#define LIFECYCLE_POLICY_LIMIT 100 /* per account, as DLM */
#define LIFECYCLE_SCHEDULES_MAX 4
#define LIFECYCLE_SCHEDULE_NAME_MAX 120
#define LIFECYCLE_RETAIN_MAX 1000
#define LIFECYCLE_TAGS_TO_ADD_MAX 45
#define LIFECYCLE_TARGETS_MAX 1000

/* The tags a run puts on the snapshots it takes, as DLM does. */
#define LIFECYCLE_TAG_POLICY "aws:dlm:lifecycle-policy-id"
#define LIFECYCLE_TAG_SCHEDULE "aws:dlm:lifecycle-schedule-name"

/* One schedule of a checked PolicyDetails.  Strings and the TagsToAdd
 * array are borrowed from the details object. */
struct lc_schedule {
    const char *name;
    int64_t interval_ms;       /* CreateRule Interval, in ms: divides a day */
    int64_t offset_ms;         /* CreateRule Times[0]: where the day's slots start */
    uint32_t retain_count;     /* RetainRule Count, or 0: by age */
    uint32_t retain_interval;  /* RetainRule Interval (by age) */
    char retain_unit;          /* 'D'AYS, 'W'EEKS, 'M'ONTHS, 'Y'EARS */
    const json_t *tags_to_add; /* array of {Key, Value}, or NULL */
    bool copy_tags;
};

/* Check PolicyDetails @text (@len bytes, not NUL-terminated) and return it
 * with its defaults filled in (PolicyType, ResourceTypes) in *@ret (a new
 * object).  Errors: -EINVAL (InvalidRequestException, the field named in
 * bsnap_error.parameter as PolicyDetails.Schedules[0].RetainRule.Count);
 * -ENOMEM.  Pure; any thread. */
int lifecycle_details_parse(const char *text, size_t len, json_t **ret);

/* Schedule @i of details @d (as lifecycle_details_parse() returned them:
 * no check is made again).  Returns the number of schedules. */
size_t lifecycle_schedules(const json_t *d, struct lc_schedule *ret, size_t cap);

/* The start of the slot holding @now_ms: slots are @sc's interval long and
 * one starts at @sc's time of day.  A snapshot is due when the schedule
 * has none at or after it. */
int64_t lifecycle_slot_start(const struct lc_schedule *sc, int64_t now_ms);

/* The retain rule of @sc at time @now_ms as keep rules of
 * bsnap_retention_plan(): Count as last, an age as within_ms from @now_ms
 * (months and years on the UTC calendar, a day clamped to the month's
 * end: 31 March less one month is 28 or 29 February). */
void lifecycle_retention(const struct lc_schedule *sc, int64_t now_ms, bsnap_retention *ret);

/* Whether @id is a well-formed policy id (policy- + 17 hex). */
bool lifecycle_id_valid(const char *id);

/* The caller's policy @id's record (a new object) in @txn.
 * Errors: -EINVAL (InvalidRequestException) malformed id; -ENOENT
 * (ResourceNotFoundException) absent or another account's; -EIO (a record
 * that does not decode or whose details no longer pass the check). */
int lifecycle_policy_load(const bsnap_store *s, meta_txn *txn, const char *id, json_t **ret);

/* Every policy record of the caller, in id order (a new array). */
int lifecycle_policy_all(const bsnap_store *s, meta_txn *txn, json_t **ret);

#endif
