/* error.h - failure records and logging.
 *
 * Every engine call that fails does so through bsnap_fail(), which stores the
 * errno, the EC2-style code and a message in a thread-local record that front
 * ends read once with bsnap_last_error().  The engine never prints: messages
 * go to the callback set with bsnap_set_log_func().  Callers pass a negative
 * return up unchanged; only a caller that knows more adds context with
 * bsnap_fail_prefix().
 */
#ifndef BSNAP_ERROR_H
#define BSNAP_ERROR_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "blocksnap.h"

/* Record a failure and return @err (a negative errno), so that a failing
 * path reads: return bsnap_fail(-ENOENT, "InvalidSnapshot.NotFound",
 * "snapshot %s not found", id);
 *
 * A message names EC2 parameters and API operations, never a front end's
 * flags or verbs, and marks each such name in the format as @{Name}
 * ("give @{NoBootCheck} to register it anyway"): the message then says
 * Name, and the record's refs say where, for the front end to put its own
 * word there (blocksnap.h: bsnap_error_ref).  Only the format's markers
 * count: an argument (a path, a name a user gave) that holds "@{" is
 * text. */
int bsnap_fail(int err, const char *code, const char *fmt, ...) BSNAP_PRINTF(3, 4);

/* Put "PREFIX: " in front of the current message (keeping errno and code)
 * and return the record's err.  For callers that know what the callee did
 * not, e.g. which file a read was for. */
int bsnap_fail_prefix(const char *fmt, ...) BSNAP_PRINTF(1, 2);

/* Format @fmt (with @{Name} markers, as bsnap_fail()) into @out of @cap
 * bytes; the spans of the names go to @refs (room for
 * BSNAP_ERROR_REFS_MAX).  Returns how many.  For messages kept before they
 * are reported (meta.c's damage). */
size_t error_vformat(char *out, size_t cap, bsnap_error_ref *refs, const char *fmt, va_list ap)
    BSNAP_PRINTF(4, 0);
/* Name the EC2 parameter the current failure is about
 * ("BlockDeviceMappings[1].DeviceName"), for callers that know which one
 * (the same check serves several parameters).  The message is unchanged.
 * Returns the record's err, so that a failing path reads
 * return error_set_parameter("Name"); after the check that failed. */
int error_set_parameter(const char *fmt, ...) BSNAP_PRINTF(1, 2);

/* Give the current failure the EBS direct API's Reason (INVALID_BLOCK),
 * kept until the next failure.  Returns the record's err. */
int error_set_reason(const char *reason);

/* For a public call's result @r: when it is a failure about an input (its
 * code is a *.Malformed, *.NotFound, *.InUse or *.Unavailable, InvalidParameterValue,
 * InvalidParameterCombination, MissingParameter, TagLimitExceeded,
 * IncorrectState, VolumeInUse or InvalidID) and no
 * callee named the parameter already, name it @fmt (error_set_parameter()).
 * A damaged store, a full disk or an out-of-memory keep "".  Returns @r, so
 * that a call reads: return error_param(r, "SnapshotId"); */
int error_param(int r, const char *fmt, ...) BSNAP_PRINTF(2, 3);

/* Record a failure whose message was formatted already, with its refs. */
int bsnap_fail_text(int err, const char *code, const char *text, const bsnap_error_ref *refs,
                    size_t nrefs);

/* Clear the calling thread's record (done on entry to public calls that
 * report through it). */
void bsnap_error_clear(void);
/* The answer of a dry run at the first write of an operation that passed
 * its checks: -ENOEXEC, EC2's DryRunOperation and its message. */
int error_dry_run(void);

/* Copy/restore the current record: used where cleanup code may fail again
 * after the first, more useful, failure. */
typedef struct error_saved {
    int err;
    char code[64];
    char message[1024];
    size_t nrefs;
    bsnap_error_ref refs[BSNAP_ERROR_REFS_MAX];
    bool param_set;
    char parameter[64];
    char reason[40];
} error_saved;
void error_save(error_saved *s);
void error_restore(const error_saved *s);

/* Logging.  @cat is a debug category ("pack", "snapshot", ...). */
void bsnap_log(int level, const char *cat, const char *fmt, ...) BSNAP_PRINTF(3, 4);
bool bsnap_debug_enabled(const char *cat);
#define bsnap_debug(cat, ...)                             \
    do {                                                  \
        if (bsnap_debug_enabled(cat))                     \
            bsnap_log(BSNAP_LOG_DEBUG, cat, __VA_ARGS__); \
    } while (0)

/* The noun for a count in a message: "1 page", "2 pages", "0 pages". */
static inline const char *plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

#endif
