/* fuzz-ranges.c - libFuzzer harness for the changed-block list parser.
 *
 * The input is the file's text.  Checks the parser's promises: it returns;
 * on success the ranges are sorted, disjoint, non-empty and end at or before
 * INT64_MAX, and the base of a "# blocksnap diff" header is "", "-" or a
 * snapshot id; on failure the error is InvalidParameterValue and names the
 * input and a line. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blocksnap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bsnap_range *r = NULL;
    size_t n = 0;
    char base[BSNAP_ID_MAX] = "unset";
    int ret = bsnap_ranges_parse((const char *)data, size, "fuzz", &r, &n, base);

    if (ret < 0) {
        const bsnap_error *e = bsnap_last_error();
        if (ret != -EINVAL || strcmp(e->code, "InvalidParameterValue") != 0 ||
            strncmp(e->message, "fuzz line ", 10) != 0 || r != NULL || strcmp(base, "unset") != 0)
            abort();
        return 0;
    }
    if (!r || !(base[0] == '\0' || strcmp(base, "-") == 0 || strncmp(base, "snap-", 5) == 0))
        abort();
    for (size_t i = 0; i < n; i++) {
        if (r[i].length == 0 || r[i].offset > (uint64_t)INT64_MAX ||
            r[i].length > (uint64_t)INT64_MAX - r[i].offset)
            abort();
        if (i > 0 && r[i].offset < r[i - 1].offset + r[i - 1].length)
            abort();
    }
    free(r);
    return 0;
}
