/* fuzz-template-data.c - libFuzzer harness for LaunchTemplateData, the
 * untrusted JSON a launch template version holds (template-data.c).
 *
 * The input is the data's text.  Checks: template_data_parse() returns;
 * a failure is -EINVAL with an error code and the parameter it names
 * under LaunchTemplateData; a success is an object that parses again, the
 * same, from its own compact text (what the record stores), and merges
 * with itself (as a version over its source) into a copy that parses too,
 * with no SnapshotId left in inherited mappings that were not given. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *d = NULL, *again = NULL, *merged, *empty;
    char *text;
    int r;

    bsnap_error_clear();
    r = template_data_parse((const char *)data, size, &d);
    if (r < 0) {
        const bsnap_error *e = bsnap_last_error();
        if (r != -EINVAL || !e->code[0] || strncmp(e->parameter, "LaunchTemplateData", 18) != 0)
            abort();
        return 0;
    }
    if (!json_is_object(d))
        abort();
    text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text || template_data_parse(text, strlen(text), &again) < 0 || !json_equal(d, again))
        abort();
    merged = template_data_merge(d, d);
    if (!merged || !json_equal(merged, d))
        abort();
    json_decref(merged);
    /* over nothing given: the inherited mappings lose their snapshots */
    empty = json_object();
    merged = template_data_merge(d, empty);
    if (!merged)
        abort();
    {
        size_t i;
        json_t *m;
        json_array_foreach (json_object_get(merged, "BlockDeviceMappings"), i, m)
            if (json_object_get(json_object_get(m, "Ebs"), "SnapshotId"))
                abort();
    }
    json_decref(merged);
    json_decref(empty);
    json_decref(again);
    json_decref(d);
    free(text);
    return 0;
}
