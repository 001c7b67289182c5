/* fuzz-run-request.c - libFuzzer harness for a RunInstances request, the
 * untrusted JSON an API server hands to bsnap_instance_run(), and the
 * front-end library's parts of it (bsf_run_request_add()'s shorthand and
 * JSON, base64 of user data and console output).
 *
 * The input is the request's text.  A store made once (no image in it)
 * takes every request that parses: each must fail, with an EC2 code, an
 * errno and no instance nor volume left (the image can never be found).
 * The same bytes as a mapping argument: bsf_run_request_add() succeeds
 * with a list, or fails -EINVAL with a code.  As base64: a decode that
 * succeeds encodes back to the same text. */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocksnap.h"
#include "bsfront-vm.h"
#include "bsfront.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bsnap_store *store;
static char dir[] = "/tmp/fuzz-run-request.XXXXXX";

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* The store goes with the process. */
static void store_remove(void)
{
    bsnap_store_close(store);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static bsnap_store *store_once(void)
{
    char path[64];

    if (store)
        return store;
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof path, "%s/store", dir);
    if (bsnap_store_open(path, BSNAP_STORE_CREATE, NULL, &store) < 0)
        abort();
    atexit(store_remove);
    return store;
}

static size_t instances(bsnap_store *s)
{
    json_t *doc = NULL;
    size_t n;

    if (bsnap_instance_describe(s, NULL, &doc) < 0)
        abort();
    n = json_array_size(json_object_get(doc, "Reservations"));
    json_decref(doc);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    json_t *req, *doc = NULL, *into;
    size_t n;
    unsigned char *bytes;
    int r;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    req = json_loadb((const char *)data, size, 0, NULL);
    if (req) {
        bsnap_store *s = store_once();
        r = bsnap_instance_run(s, req, &doc);
        if (r == 0 || !bsnap_last_error()->code[0] || r > 0)
            abort();
        if (instances(s) != 0)
            abort();
        json_decref(req);
    }
    into = json_object();
    {
        const char *arg = text;
        r = bsf_run_request_add(into, "BlockDeviceMappings", &arg, 1);
        if (r == 0 && !json_is_array(json_object_get(into, "BlockDeviceMappings")))
            abort();
        if (r < 0 && (r != -EINVAL || !bsf_last_error()->code[0]) && r != -ENOMEM)
            abort();
        r = bsf_run_request_add(into, "LaunchTemplate", &arg, 1);
        if (r == 0 && !json_is_object(json_object_get(into, "LaunchTemplate")))
            abort();
    }
    json_decref(into);
    if (strlen(text) == size && (bytes = bsf_base64_decode(text, &n))) {
        char *again = bsf_base64_encode(bytes, n);
        /* canonical base64 comes back the same */
        if (!again)
            abort();
        free(again);
        free(bytes);
    }
    free(text);
    return 0;
}
