/* instance.h - instances: their records, their states and the volumes they
 * own (EC2's RunInstances, DescribeInstances and the state changes).
 *
 * An instance is a record in T_INSTANCES ("i" + id), a JSON document
 * private to instance.c: the image and type it was launched with, its
 * reservation, its launch index, its tags, its state with the reason of
 * the last change, the launch template it came from, its user data, its
 * volumes (device, volume id, DeleteOnTermination) and what the process
 * side (the front-end library, which starts and stops the machines)
 * recorded of its processes ("runtime", opaque here).  A ClientToken is an
 * entry ("c" + owner + NUL + token) naming the instances of that run and
 * the request they answered.  Each volume of an instance is a writable
 * volume (cow.h) whose record carries the attachment (record.h), so that
 * describe-volumes shows it in-use and delete-volume refuses it.
 *
 * This module guarantees:
 *  - every check of a run (the image, the type, the template version, the
 *    counts, the mappings, the tags) is made before the first volume is
 *    created; a failure after that deletes the volumes it created, so a
 *    refused run leaves the store as it was;
 *  - states change only along EC2's transitions (instance_transition_ok());
 *    terminated is the end: the volumes marked DeleteOnTermination are
 *    deleted and the others detached (available) in the same transaction;
 *  - a terminated instance is shown for INSTANCE_TERMINATED_KEEP_MS, then
 *    forgotten (its record deleted by the next run);
 *  - another account's instance is never seen (NotFound).
 */
#ifndef BSNAP_INSTANCE_H
#define BSNAP_INSTANCE_H

#include <stdbool.h>

#include "blocksnap.h"

#define INSTANCE_TOKEN_MAX 64
/* How many instances (not terminated) an account may have: a machine of a
 * few cores runs a handful of guests at best. */
#define INSTANCE_LIMIT 20
/* How long a terminated instance stays visible (EC2: about an hour). */
#define INSTANCE_TERMINATED_KEEP_MS (60 * 60 * 1000)

/* EC2's state code of state @name (0 pending, 16 running, 32
 * shutting-down, 48 terminated, 64 stopping, 80 stopped), -1 for a name
 * that is none of them. */
int instance_state_code(const char *name);

/* Whether an instance may go from state @from to state @to (both names of
 * instance_state_code()): EC2's machine, pending -> running <-> (stopping
 * -> stopped -> pending), running|stopped|pending|stopping ->
 * shutting-down -> terminated; staying in a state is allowed but for
 * terminated, which nothing leaves. */
bool instance_transition_ok(const char *from, const char *to);

#endif
