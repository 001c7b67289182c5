/* fuzz-filters.c - libFuzzer harness for bsf_filters_parse() and the EC2
 * wildcard matcher the describe calls run the values through.
 *
 * The input is split at newlines into arguments.  Checks: it returns; on
 * success every filter has a non-empty name and its values, written back as
 * Name="…",Values=["…",…] shorthand, parse to the same filter; on failure the
 * error is -EINVAL.  Every value is then matched, as a pattern, against the
 * filter's name and every value; the matcher must stay within its bound of
 * passes over the pattern (2 per character of the text, plus one), which a
 * backtracking matcher breaks exponentially on "*a*a*a*b"-like patterns. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bsfront.h"
#include "record.h"

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
    if (bsf_filters_parse(one, 1, &f2, &n2) < 0 || n2 != 1 || strcmp(f2->name, f->name) != 0 ||
        f2->nvalues != f->nvalues)
        abort();
    for (size_t k = 0; k < f->nvalues; k++)
        if (strcmp(f2->values[k], f->values[k]) != 0)
            abort();
    free(f2);
    free(buf);
}

static void check_match_bound(const char *pattern, const char *text)
{
    uint64_t steps = 0;
    size_t plen = strlen(pattern), tlen = strlen(text);

    if (ec2_wildcard_match_steps(pattern, text, &steps) < 0)
        abort();
    if (steps > 2 * (uint64_t)(plen + 1) * (tlen + 1))
        abort();
}

static void check_matches(const bsnap_filter *f)
{
    for (size_t k = 0; k < f->nvalues; k++) {
        check_match_bound(f->values[k], f->name);
        for (size_t j = 0; j < f->nvalues; j++)
            check_match_bound(f->values[k], f->values[j]);
    }
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
    r = bsf_filters_parse((const char *const *)args, nargs, &f, &n);
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
        check_matches(&f[i]);
    }
    free(f);
    free(text);
    return 0;
}
