/* fault.h - failure injection for tests.
 *
 * With BSNAP_FAULT_INJECTION compiled in, the environment variable
 * BLOCKSNAP_FAULT="POINT:N[,POINT:N...]" makes the Nth passage through the
 * named point fail (or, with POINT:N:kill, SIGKILL the process there), so
 * crash and error paths can be tested deterministically.  Points:
 * pack-append, pack-sync, meta-commit, snapshot-batch, gc-step, pack-record
 * (each record appended), index-decref (each reference released: delete's
 * cascade, gc), restore-chunk (each chunk create-volume reads),
 * restore-rename (create-volume putting its recorded file in place),
 * restore-direct (each direct write of create-volume: a hit is a write the
 * file system refuses), restore-tmpfile (create-volume's O_TMPFILE open: a
 * hit plays a file system without it, so a named temporary file is used),
 * repair-swap (verify --repair between keeping the old
 * metadata file and renaming the new one over it), ebs-put (an EBS direct
 * put between its pack sync and its commit), ebs-complete (CompleteSnapshot
 * after the block map is stored, before the transaction that completes).  Without the define,
 * fault_hit() is a constant false and costs nothing.
 */
#ifndef BSNAP_FAULT_H
#define BSNAP_FAULT_H

#include <stdbool.h>

#ifdef BSNAP_FAULT_INJECTION
bool fault_hit(const char *point);
#else
static inline bool fault_hit(const char *point)
{
    (void)point;
    return false;
}
#endif

#endif
