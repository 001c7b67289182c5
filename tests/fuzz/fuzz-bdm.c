/* fuzz-bdm.c - libFuzzer harness for what register-image parses: block
 * device mappings in the AWS CLI shorthand and as JSON, whole request
 * documents (--cli-input-json, manifests), and stored image records.
 *
 * The first byte picks the parser (mod 4), the rest is its input:
 *   0  bdm_shorthand_to_json(), then bdm_parse_json() of what it produced
 *   1  bdm_parse_json()
 *   2  image_request_parse()
 *   3  image_rec_decode()
 * Checks: every call returns; failures are -EINVAL (-EIO for records) with
 * nothing handed back; shorthand that converts always turns into JSON that
 * jansson reads (never rejected for syntax: the converter refuses input
 * that is not UTF-8 itself); parsed mappings
 * have a device name and are at most BSNAP_IMAGE_MAPPINGS_MAX; and every
 * mapping list or record that parses survives a stored round trip
 * (image_rec_encode, image_rec_decode) unchanged. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void check_bdm(struct image_bdm *b, size_t n)
{
    struct image_rec r = {.name = "fuzz", .description = "", .bdm = b, .nbdm = n};

    if (n > BSNAP_IMAGE_MAPPINGS_MAX)
        abort();
    for (size_t i = 0; i < n; i++)
        if (!b[i].device[0] || b[i].kind > BDM_NODEVICE)
            abort();
    snprintf(r.id, sizeof r.id, "ami-0123456789abcdef0");
    roundtrip(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;
    struct image_bdm *b = NULL;
    size_t n = 0;
    int r;

    if (size < 1)
        return 0;
    text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    switch (data[0] % 4) {
    case 0: {
        char *json = NULL;
        r = bdm_shorthand_to_json(text, &json);
        if (r < 0) {
            if (r != -EINVAL || json)
                abort();
            break;
        }
        r = bdm_parse_json(json, strlen(json), &b, &n);
        if (r < 0) {
            /* the mapping may be wrong, never the JSON's syntax */
            if (r != -EINVAL || b)
                abort();
            if (strncmp(bsnap_last_error()->message, "block device mappings: malformed JSON", 37) ==
                0)
                abort();
        } else {
            check_bdm(b, n);
        }
        free(json);
        break;
    }
    case 1:
        r = bdm_parse_json(text, size - 1, &b, &n);
        if (r < 0 && (r != -EINVAL || b))
            abort();
        if (r == 0)
            check_bdm(b, n);
        break;
    case 2: {
        struct image_request q;
        r = image_request_parse(text, size - 1, &q);
        if (r < 0 && r != -EINVAL)
            abort();
        if (r == 0) {
            check_bdm(q.bdm, q.nbdm);
            image_request_clear(&q);
        }
        break;
    }
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
    free(b);
    free(text);
    return 0;
}
