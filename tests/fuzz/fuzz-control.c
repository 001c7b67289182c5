/* fuzz-control.c - libFuzzer harness for the control channel's parsers
 * (front/control.c): bsf_control_request_parse(), what the nbdkit plugin's
 * control= socket reads from anyone who connects, and
 * bsf_control_answer_parse(), what create-image reads back.
 *
 * The input is one line, parsed both ways.  Checks the promises: each
 * returns; a request that parses is a flush or a snapshot, a flush has no
 * description or tags, and formatted again it parses to the same request;
 * an answer that parses names a well-formed snapshot id or none, and
 * formatted again parses to the same answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bsfront.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const char *in, size_t size)
{
    bsf_control_request r, again;
    char *line = NULL;

    if (bsf_control_request_parse(in, size, &r) < 0)
        return;
    if (r.op != BSF_CONTROL_FLUSH && r.op != BSF_CONTROL_SNAPSHOT)
        abort();
    if (r.op == BSF_CONTROL_FLUSH && (r.description || r.ntags))
        abort();
    if (bsf_control_request_format(&r, &line) < 0)
        abort();
    size_t n = strlen(line);
    if (n == 0 || line[n - 1] != '\n' || memchr(line, '\n', n - 1))
        abort(); /* one line, and only one */
    if (bsf_control_request_parse(line, n - 1, &again) < 0)
        abort();
    if (again.op != r.op || again.ntags != r.ntags || !again.description != !r.description ||
        (r.description && strcmp(again.description, r.description) != 0))
        abort();
    for (size_t i = 0; i < r.ntags; i++)
        if (strcmp(again.tags[i].key, r.tags[i].key) != 0 ||
            strcmp(again.tags[i].value, r.tags[i].value) != 0)
            abort();
    free(line);
    bsf_control_request_clear(&again);
    bsf_control_request_clear(&r);
}

static void check_answer(const char *in, size_t size)
{
    bsf_control_answer a, again;
    char *line = NULL;

    if (bsf_control_answer_parse(in, size, &a) < 0)
        return;
    if (a.snapshot_id[0] && strncmp(a.snapshot_id, "snap-", 5) != 0)
        abort();
    if (bsf_control_answer_format(&a, &line) < 0)
        abort();
    if (bsf_control_answer_parse(line, strlen(line) - 1, &again) < 0)
        abort();
    if (again.ok != a.ok || strcmp(again.snapshot_id, a.snapshot_id) != 0 ||
        (!a.ok && strcmp(again.code, a.code) != 0) ||
        (a.ok && a.snapshot_id[0] && memcmp(&again.stats, &a.stats, sizeof a.stats) != 0))
        abort();
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_request((const char *)data, size);
    check_answer((const char *)data, size);
    return 0;
}
