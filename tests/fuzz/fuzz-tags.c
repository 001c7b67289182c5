/* fuzz-tags.c - libFuzzer harness for bsf_tags_parse().
 *
 * The input is split at newlines into arguments.  Checks: it returns; on
 * success there are at most 50 tags, keys are non-empty and not "aws:", and
 * writing the tags back as quoted shorthand parses to the same tags (so
 * quoting and escaping round-trip); on failure the error is -EINVAL. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bsfront.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Append "NAME=\"S\"" to @out with '"' and '\\' escaped. */
static char *quote(char *out, const char *name, const char *s)
{
    out += sprintf(out, "%s=\"", name);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            *out++ = '\\';
        *out++ = *s;
    }
    *out++ = '"';
    *out = '\0';
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *args[MAX_ARGS];
    size_t nargs = 0;
    bsnap_tag *t = NULL, *t2 = NULL;
    size_t n = 0, n2 = 0;
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
    r = bsf_tags_parse((const char *const *)args, nargs, &t, &n);
    if (r < 0) {
        if (r != -EINVAL || t)
            abort();
        free(text);
        return 0;
    }
    if (n > 50)
        abort();
    for (size_t i = 0; i < n; i++) {
        char *buf = malloc(2 * (strlen(t[i].key) + (t[i].value ? strlen(t[i].value) : 0)) + 32);
        char *end;
        if (!buf)
            abort();
        if (!t[i].key[0] || strncasecmp(t[i].key, "aws:", 4) == 0)
            abort();
        end = quote(buf, "Key", t[i].key);
        if (t[i].value) {
            *end++ = ',';
            quote(end, "Value", t[i].value);
        }
        const char *one[1] = {buf};
        if (bsf_tags_parse(one, 1, &t2, &n2) < 0 || n2 != 1 || strcmp(t2[0].key, t[i].key) != 0 ||
            !t2[0].value != !t[i].value || (t[i].value && strcmp(t2[0].value, t[i].value) != 0))
            abort();
        free(t2);
        free(buf);
    }
    free(t);
    free(text);
    return 0;
}
