/* fuzz-filters.c - libFuzzer harness for bsnap_filters_parse().
 *
 * The input is split at newlines into arguments.  Checks: it returns; on
 * success every filter has a non-empty name and its values, written back as
 * Name="…",Values=["…",…] shorthand, parse to the same filter; on failure the
 * error is -EINVAL. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocksnap.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *quote(char *out, const char *s)
{
    *out++ = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            *out++ = '\\';
        *out++ = *s;
    }
    *out++ = '"';
    *out = '\0';
    return out;
}

static void check_round_trip(const bsnap_filter *f)
{
    size_t len = 2 * strlen(f->name) + 32;
    bsnap_filter *f2 = NULL;
    size_t n2;
    char *buf, *p;

    for (size_t k = 0; k < f->nvalues; k++)
        len += 2 * strlen(f->values[k]) + 4;
    if (!(p = buf = malloc(len)))
        abort();
    p += sprintf(p, "Name=");
    p = quote(p, f->name);
    p += sprintf(p, ",Values=[");
    for (size_t k = 0; k < f->nvalues; k++) {
        if (k)
            *p++ = ',';
        p = quote(p, f->values[k]);
    }
    strcpy(p, "]");
    const char *one[1] = {buf};
    if (bsnap_filters_parse(one, 1, &f2, &n2) < 0 || n2 != 1 || strcmp(f2->name, f->name) != 0 ||
        f2->nvalues != f->nvalues)
        abort();
    for (size_t k = 0; k < f->nvalues; k++)
        if (strcmp(f2->values[k], f->values[k]) != 0)
            abort();
    free(f2);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *args[MAX_ARGS];
    size_t nargs = 0, n = 0;
    bsnap_filter *f = NULL;
    int r;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (char *p = text; nargs < MAX_ARGS;) {
        args[nargs++] = p;
        if (!(p = strchr(p, '\n')))
            break;
        *p++ = '\0';
    }
    r = bsnap_filters_parse((const char *const *)args, nargs, &f, &n);
    if (r < 0) {
        if (r != -EINVAL || f)
            abort();
        free(text);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!f[i].name[0])
            abort();
        check_round_trip(&f[i]);
    }
    free(f);
    free(text);
    return 0;
}
