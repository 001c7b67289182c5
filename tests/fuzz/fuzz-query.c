/* fuzz-query.c - libFuzzer harness for --query's JMESPath parser and
 * interpreter (bsf_query_compile(), bsf_query_run()).
 *
 * The input's first line is the expression; the rest, when it is JSON, the
 * document it runs on (else a small describe-snapshots-like one).
 * Checks: compiling returns, with -EINVAL (or -ENOMEM) and an error code
 * on failure; a compiled expression runs on the document and returns a
 * value or -EINVAL; the document is left as it was (the interpreter only
 * reads it); nothing leaks, and no input recurses without bound. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bsfront.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char default_doc[] =
    "{\"Snapshots\":[{\"SnapshotId\":\"snap-1\",\"State\":\"completed\",\"VolumeSize\":8,"
    "\"StartTime\":\"2026-01-02T00:00:00.000Z\",\"Tags\":[{\"Key\":\"env\",\"Value\":\"prod\"}]},"
    "{\"SnapshotId\":\"snap-2\",\"State\":\"pending\",\"VolumeSize\":16,\"Tags\":[]},"
    "[1,[2,3]],null,true,\"s\",{\"a\":{\"b\":[0,-1.5]}}],\"NextToken\":null}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *nl, *before = NULL, *after = NULL;
    json_t *doc = NULL, *r = NULL;
    bsf_query *q = NULL;
    int rc;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if ((nl = strchr(text, '\n'))) {
        *nl = '\0';
        doc = json_loads(nl + 1, JSON_DECODE_ANY, NULL);
    }
    if (!doc)
        doc = json_loads(default_doc, 0, NULL);
    if (!doc)
        abort();
    rc = bsf_query_compile(text, &q);
    if (rc < 0) {
        if ((rc != -EINVAL && rc != -ENOMEM) || !bsf_last_error()->code[0])
            abort();
        goto out;
    }
    before = json_dumps(doc, JSON_ENCODE_ANY | JSON_COMPACT);
    rc = bsf_query_run(q, doc, &r);
    if (rc < 0 ? rc != -EINVAL && rc != -ENOMEM : !r)
        abort();
    after = json_dumps(doc, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!before || !after || strcmp(before, after) != 0)
        abort();
out:
    free(before);
    free(after);
    json_decref(r);
    json_decref(doc);
    bsf_query_free(q);
    free(text);
    return 0;
}
