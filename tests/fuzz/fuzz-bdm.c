/* fuzz-bdm.c - libFuzzer harness for what register-image parses: block
 * device mappings in the AWS CLI shorthand and as JSON, whole request
 * documents (--cli-input-json, manifests) -- all the front-end library's
 * (bsfront.h) -- and the engine's side of them: typed mappings made into
 * records, and stored image records.
 *
 * The first byte picks the parser (mod 4), the rest is its input:
 *   0  bsf_image_request_set_mappings() of the input as one argument
 *   1  the same, the input split at newlines into arguments
 *   2  bsf_image_request_load()
 *   3  image_rec_decode()
 * Checks: every call returns; failures are -EINVAL (-EIO for records);
 * parsed mappings have a device name and are at most
 * BSNAP_IMAGE_MAPPINGS_MAX; every typed mapping the engine takes
 * (image_bdm_from_mapping) and every record that decodes survives a stored
 * round trip (image_rec_encode, image_rec_decode) unchanged. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bsfront.h"
#include "error.h"
#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Encode @r as stored, decode it again: the same mappings and fields. */
static void roundtrip(const struct image_rec *r)
{
    struct image_rec d = {0};
    char *json = NULL;
    size_t len;

    if (image_rec_encode(r, &json, &len) < 0)
        abort();
    if (image_rec_decode(json, len, &d) < 0)
        abort();
    if (d.nbdm != r->nbdm || (r->nbdm && memcmp(d.bdm, r->bdm, r->nbdm * sizeof *r->bdm) != 0))
        abort();
    if (strcmp(d.name, r->name ? r->name : "") != 0 || d.state != r->state ||
        strcmp(d.root_device, r->root_device) != 0 || d.tags.n != r->tags.n)
        abort();
    free(json);
    image_rec_clear(&d);
}

/* The request's mappings as the engine takes them, then stored. */
static void check_request(bsf_image_request *q)
{
    const bsnap_image_options *o = bsf_image_request_options(q);
    struct image_bdm b[BSNAP_IMAGE_MAPPINGS_MAX];
    struct image_rec r = {.name = "fuzz", .description = "", .bdm = b};

    if (o->nmappings > BSNAP_IMAGE_MAPPINGS_MAX)
        abort();
    for (size_t i = 0; i < o->nmappings; i++) {
        if (!o->mappings[i].device_name || !o->mappings[i].device_name[0])
            abort();
        int e = image_bdm_from_mapping(&o->mappings[i], &b[r.nbdm]);
        if (e < 0 && e != -EINVAL)
            abort();
        if (e == 0)
            r.nbdm++;
    }
    snprintf(r.id, sizeof r.id, "ami-0123456789abcdef0");
    roundtrip(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bsf_image_request *q = NULL;
    const char *args[64];
    size_t nargs = 0;
    char *text;
    int r;

    if (size < 1)
        return 0;
    text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    switch (data[0] % 4) {
    case 0:
    case 1:
        for (char *p = text; nargs < 64;) {
            args[nargs++] = p;
            if (data[0] % 4 == 0 || !(p = strchr(p, '\n')))
                break;
            *p++ = '\0';
        }
        if (bsf_image_request_new(&q) < 0)
            abort();
        r = bsf_image_request_set_mappings(q, args, nargs);
        if (r < 0 && r != -EINVAL)
            abort();
        if (r == 0)
            check_request(q);
        bsf_image_request_free(q);
        break;
    case 2:
        if (bsf_image_request_new(&q) < 0)
            abort();
        r = bsf_image_request_load(q, text, size - 1, "fuzz");
        if (r < 0 && r != -EINVAL)
            abort();
        if (r == 0)
            check_request(q);
        bsf_image_request_free(q);
        break;
    case 3: {
        struct image_rec rec = {0};
        r = image_rec_decode(text, size - 1, &rec);
        if (r < 0 && r != -EIO)
            abort();
        if (r == 0) {
            roundtrip(&rec);
            image_rec_clear(&rec);
        }
        break;
    }
    }
    free(text);
    return 0;
}
