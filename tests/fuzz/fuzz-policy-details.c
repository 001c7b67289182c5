/* fuzz-policy-details.c - libFuzzer harness for PolicyDetails, the
 * untrusted JSON a lifecycle policy holds (lifecycle.c).
 *
 * The input is the details' text.  Checks: lifecycle_details_parse()
 * returns; a failure is -EINVAL with InvalidRequestException and a
 * parameter under PolicyDetails; a success is an object that parses again,
 * the same, from its own compact text (what the record stores), whose
 * schedules read back with intervals that divide a day, a time of day
 * within it, and one retain rule, whose slots hold the time they are
 * asked about. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "lifecycle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lc_schedule sc[LIFECYCLE_SCHEDULES_MAX];
    json_t *d = NULL, *again = NULL;
    char *text;
    size_t n;
    int r;

    bsnap_error_clear();
    r = lifecycle_details_parse((const char *)data, size, &d);
    if (r < 0) {
        const bsnap_error *e = bsnap_last_error();
        if (r != -EINVAL || strcmp(e->code, "InvalidRequestException") != 0 ||
            strncmp(e->parameter, "PolicyDetails", 13) != 0 || d)
            abort();
        return 0;
    }
    if (!json_is_object(d))
        abort();
    text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text || lifecycle_details_parse(text, strlen(text), &again) < 0 || !json_equal(d, again))
        abort();
    n = lifecycle_schedules(d, sc, LIFECYCLE_SCHEDULES_MAX);
    if (n < 1 || n > LIFECYCLE_SCHEDULES_MAX)
        abort();
    for (size_t i = 0; i < n; i++) {
        int64_t now = INT64_C(1796665546945), start = lifecycle_slot_start(&sc[i], now);
        bsnap_retention k;

        if (!sc[i].name || sc[i].interval_ms <= 0 || 86400000 % sc[i].interval_ms != 0 ||
            sc[i].offset_ms < 0 || sc[i].offset_ms >= 86400000 || start > now ||
            now - start >= sc[i].interval_ms)
            abort();
        lifecycle_retention(&sc[i], now, &k);
        if (!k.last == !k.within_ms || k.within_ms < 0)
            abort();
    }
    json_decref(again);
    json_decref(d);
    free(text);
    return 0;
}
