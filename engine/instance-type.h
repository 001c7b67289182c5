/* instance-type.h - the instance types blocksnap knows, in one table.
 *
 * A launch template's InstanceType is checked against this table, and
 * run-instances will size its machines from it: each type's virtual CPUs,
 * memory and architecture are EC2's published figures.  The table is
 * sorted by name and never changes at run time.
 */
#ifndef BSNAP_INSTANCE_TYPE_H
#define BSNAP_INSTANCE_TYPE_H

#include <stddef.h>
#include <stdint.h>

struct instance_type {
    const char *name;         /* "t3.micro" */
    unsigned vcpus;           /* DefaultVCpus */
    uint32_t memory_mib;      /* MemoryInfo.SizeInMiB */
    const char *architecture; /* "x86_64" or "arm64" */
};

/* The type named @name, or NULL when blocksnap does not know it. */
const struct instance_type *instance_type_find(const char *name);

/* The whole table, sorted by name: *@ret_n entries. */
const struct instance_type *instance_type_all(size_t *ret_n);

#endif
