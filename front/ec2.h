/* ec2.h - what ec2-request.c (one request's parameters) and ec2.c (the
 * actions) share.
 *
 * A request keeps copies of its name=value pairs; the readers below read
 * them as the engine's types and fail with EC2's codes naming the wire
 * parameter.  What a reader allocates (lists, filters, tags) is held by
 * the request (ec2_hold()) and freed with it, so an action reads freely
 * and frees nothing.
 */
#ifndef BSF_EC2_H
#define BSF_EC2_H

#include <stdbool.h>
#include <stdint.h>

#include "bsfront.h"

struct ec2_pair {
    char *name, *value;
};

struct bsf_ec2_request {
    struct ec2_pair *p;
    size_t n;
    void **held; /* what the readers allocated, freed with the request */
    size_t nheld;
};

/* Keep @p until the request is freed; returns @p, or NULL (and @p freed)
 * when out of memory. */
void *ec2_hold(bsf_ec2_request *q, void *p);
/* Record InternalError "out of memory" and return -ENOMEM. */
int ec2_nomem(void);

/* The value of @name, or MissingParameter. */
int ec2_required(bsf_ec2_request *q, const char *name, const char **ret);
/* "true"/"false" or absent (BSNAP_UNSET); anything else InvalidParameterValue. */
int ec2_bool(bsf_ec2_request *q, const char *name, bsnap_tristate *ret);
/* Whether @name is "true" (a malformed value counts as false: read it
 * with ec2_bool() first where that matters). */
bool ec2_flag(bsf_ec2_request *q, const char *name);
/* A decimal integer up to @max; 0 when absent. */
int ec2_uint(bsf_ec2_request *q, const char *name, uint64_t max, uint64_t *ret);
/* The values of "@prefix.1", "@prefix.2"…, in the order of their numbers. */
int ec2_list(bsf_ec2_request *q, const char *prefix, const char ***ret, size_t *ret_n);
/* The distinct N of every "@prefix.N.…" parameter, sorted: *@ret is
 * malloc'd (the caller frees it). */
int ec2_groups(bsf_ec2_request *q, const char *prefix, unsigned long **ret, size_t *ret_n);
/* Filter.N.Name with Filter.N.Value.M. */
int ec2_filters(bsf_ec2_request *q, bsnap_filter **ret, size_t *ret_n);
/* "@prefix.N.Key" / "@prefix.N.Value" tags: a missing value is "" for a
 * create, NULL (any value) with @for_delete. */
int ec2_tags(bsf_ec2_request *q, const char *prefix, bool for_delete, bsnap_tag **ret,
             size_t *ret_n);
/* The tags of TagSpecification.N whose ResourceType must be @type (any
 * other is InvalidParameterValue, as EC2 says it). */
int ec2_tag_specs(bsf_ec2_request *q, const char *type, bsnap_tag **ret, size_t *ret_n);

#endif
