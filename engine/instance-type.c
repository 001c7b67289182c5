/* instance-type.c - the table of instance types (instance-type.h).
 *
 * The common general-purpose (t2, t3, t3a, t4g, m5, m5a, m6i, m6g, m7g),
 * compute (c5, c6i, c6g, c7g) and memory (r5, r6i, r6g) families, with
 * EC2's vCPUs and memory.  Kept sorted by name (memcmp order) so that a
 * lookup is a binary search; test-instance-type checks the order.
 */
#include <stdlib.h>
#include <string.h>

#include "instance-type.h"

static const struct instance_type types[] = {
    {"c5.12xlarge", 48, 98304, "x86_64"},   {"c5.18xlarge", 72, 147456, "x86_64"},
    {"c5.24xlarge", 96, 196608, "x86_64"},  {"c5.2xlarge", 8, 16384, "x86_64"},
    {"c5.4xlarge", 16, 32768, "x86_64"},    {"c5.9xlarge", 36, 73728, "x86_64"},
    {"c5.large", 2, 4096, "x86_64"},        {"c5.xlarge", 4, 8192, "x86_64"},
    {"c6g.12xlarge", 48, 98304, "arm64"},   {"c6g.16xlarge", 64, 131072, "arm64"},
    {"c6g.2xlarge", 8, 16384, "arm64"},     {"c6g.4xlarge", 16, 32768, "arm64"},
    {"c6g.8xlarge", 32, 65536, "arm64"},    {"c6g.large", 2, 4096, "arm64"},
    {"c6g.medium", 1, 2048, "arm64"},       {"c6g.xlarge", 4, 8192, "arm64"},
    {"c6i.12xlarge", 48, 98304, "x86_64"},  {"c6i.16xlarge", 64, 131072, "x86_64"},
    {"c6i.24xlarge", 96, 196608, "x86_64"}, {"c6i.2xlarge", 8, 16384, "x86_64"},
    {"c6i.4xlarge", 16, 32768, "x86_64"},   {"c6i.8xlarge", 32, 65536, "x86_64"},
    {"c6i.large", 2, 4096, "x86_64"},       {"c6i.xlarge", 4, 8192, "x86_64"},
    {"c7g.12xlarge", 48, 98304, "arm64"},   {"c7g.16xlarge", 64, 131072, "arm64"},
    {"c7g.2xlarge", 8, 16384, "arm64"},     {"c7g.4xlarge", 16, 32768, "arm64"},
    {"c7g.8xlarge", 32, 65536, "arm64"},    {"c7g.large", 2, 4096, "arm64"},
    {"c7g.medium", 1, 2048, "arm64"},       {"c7g.xlarge", 4, 8192, "arm64"},
    {"m5.12xlarge", 48, 196608, "x86_64"},  {"m5.16xlarge", 64, 262144, "x86_64"},
    {"m5.24xlarge", 96, 393216, "x86_64"},  {"m5.2xlarge", 8, 32768, "x86_64"},
    {"m5.4xlarge", 16, 65536, "x86_64"},    {"m5.8xlarge", 32, 131072, "x86_64"},
    {"m5.large", 2, 8192, "x86_64"},        {"m5.xlarge", 4, 16384, "x86_64"},
    {"m5a.12xlarge", 48, 196608, "x86_64"}, {"m5a.16xlarge", 64, 262144, "x86_64"},
    {"m5a.24xlarge", 96, 393216, "x86_64"}, {"m5a.2xlarge", 8, 32768, "x86_64"},
    {"m5a.4xlarge", 16, 65536, "x86_64"},   {"m5a.8xlarge", 32, 131072, "x86_64"},
    {"m5a.large", 2, 8192, "x86_64"},       {"m5a.xlarge", 4, 16384, "x86_64"},
    {"m6g.12xlarge", 48, 196608, "arm64"},  {"m6g.16xlarge", 64, 262144, "arm64"},
    {"m6g.2xlarge", 8, 32768, "arm64"},     {"m6g.4xlarge", 16, 65536, "arm64"},
    {"m6g.8xlarge", 32, 131072, "arm64"},   {"m6g.large", 2, 8192, "arm64"},
    {"m6g.medium", 1, 4096, "arm64"},       {"m6g.xlarge", 4, 16384, "arm64"},
    {"m6i.12xlarge", 48, 196608, "x86_64"}, {"m6i.16xlarge", 64, 262144, "x86_64"},
    {"m6i.24xlarge", 96, 393216, "x86_64"}, {"m6i.2xlarge", 8, 32768, "x86_64"},
    {"m6i.4xlarge", 16, 65536, "x86_64"},   {"m6i.8xlarge", 32, 131072, "x86_64"},
    {"m6i.large", 2, 8192, "x86_64"},       {"m6i.xlarge", 4, 16384, "x86_64"},
    {"m7g.12xlarge", 48, 196608, "arm64"},  {"m7g.16xlarge", 64, 262144, "arm64"},
    {"m7g.2xlarge", 8, 32768, "arm64"},     {"m7g.4xlarge", 16, 65536, "arm64"},
    {"m7g.8xlarge", 32, 131072, "arm64"},   {"m7g.large", 2, 8192, "arm64"},
    {"m7g.medium", 1, 4096, "arm64"},       {"m7g.xlarge", 4, 16384, "arm64"},
    {"r5.12xlarge", 48, 393216, "x86_64"},  {"r5.16xlarge", 64, 524288, "x86_64"},
    {"r5.24xlarge", 96, 786432, "x86_64"},  {"r5.2xlarge", 8, 65536, "x86_64"},
    {"r5.4xlarge", 16, 131072, "x86_64"},   {"r5.8xlarge", 32, 262144, "x86_64"},
    {"r5.large", 2, 16384, "x86_64"},       {"r5.xlarge", 4, 32768, "x86_64"},
    {"r6g.12xlarge", 48, 393216, "arm64"},  {"r6g.16xlarge", 64, 524288, "arm64"},
    {"r6g.2xlarge", 8, 65536, "arm64"},     {"r6g.4xlarge", 16, 131072, "arm64"},
    {"r6g.8xlarge", 32, 262144, "arm64"},   {"r6g.large", 2, 16384, "arm64"},
    {"r6g.medium", 1, 8192, "arm64"},       {"r6g.xlarge", 4, 32768, "arm64"},
    {"r6i.12xlarge", 48, 393216, "x86_64"}, {"r6i.16xlarge", 64, 524288, "x86_64"},
    {"r6i.24xlarge", 96, 786432, "x86_64"}, {"r6i.2xlarge", 8, 65536, "x86_64"},
    {"r6i.4xlarge", 16, 131072, "x86_64"},  {"r6i.8xlarge", 32, 262144, "x86_64"},
    {"r6i.large", 2, 16384, "x86_64"},      {"r6i.xlarge", 4, 32768, "x86_64"},
    {"t2.2xlarge", 8, 32768, "x86_64"},     {"t2.large", 2, 8192, "x86_64"},
    {"t2.medium", 2, 4096, "x86_64"},       {"t2.micro", 1, 1024, "x86_64"},
    {"t2.nano", 1, 512, "x86_64"},          {"t2.small", 1, 2048, "x86_64"},
    {"t2.xlarge", 4, 16384, "x86_64"},      {"t3.2xlarge", 8, 32768, "x86_64"},
    {"t3.large", 2, 8192, "x86_64"},        {"t3.medium", 2, 4096, "x86_64"},
    {"t3.micro", 2, 1024, "x86_64"},        {"t3.nano", 2, 512, "x86_64"},
    {"t3.small", 2, 2048, "x86_64"},        {"t3.xlarge", 4, 16384, "x86_64"},
    {"t3a.2xlarge", 8, 32768, "x86_64"},    {"t3a.large", 2, 8192, "x86_64"},
    {"t3a.medium", 2, 4096, "x86_64"},      {"t3a.micro", 2, 1024, "x86_64"},
    {"t3a.nano", 2, 512, "x86_64"},         {"t3a.small", 2, 2048, "x86_64"},
    {"t3a.xlarge", 4, 16384, "x86_64"},     {"t4g.2xlarge", 8, 32768, "arm64"},
    {"t4g.large", 2, 8192, "arm64"},        {"t4g.medium", 2, 4096, "arm64"},
    {"t4g.micro", 2, 1024, "arm64"},        {"t4g.nano", 2, 512, "arm64"},
    {"t4g.small", 2, 2048, "arm64"},        {"t4g.xlarge", 4, 16384, "arm64"},
};

static int compare(const void *key, const void *elem)
{
    return strcmp(key, ((const struct instance_type *)elem)->name);
}

const struct instance_type *instance_type_find(const char *name)
{
    return bsearch(name, types, sizeof types / sizeof types[0], sizeof types[0], compare);
}

const struct instance_type *instance_type_all(size_t *ret_n)
{
    *ret_n = sizeof types / sizeof types[0];
    return types;
}
