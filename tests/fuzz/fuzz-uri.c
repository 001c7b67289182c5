/* fuzz-uri.c - libFuzzer harness for the redaction of NBD URIs
 * (source_uri_redact(), what a volume record and every message say of a
 * URI the user gave; libnbd parses the URI itself).
 *
 * The input is the URI's text, up to its first NUL.  Checks the promises:
 * it returns; the result is no longer than the input; it keeps the scheme
 * of a URI (letters, digits, "+-." before "://"); and nothing of the query but socket= items survives (no
 * "tls-" parameter, no "@" of a user name before the host). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1), *out;
    const char *q, *sep;

    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    out = source_uri_redact(in);
    if (!out)
        abort();
    if (strlen(out) > strlen(in))
        abort();
    sep = strstr(in, "://");
    if (sep && (sep == in || strspn(in, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789+-.") != (size_t)(sep - in)))
        sep = NULL;
    if (sep && strncmp(out, in, (size_t)(sep + 3 - in)) != 0)
        abort();
    /* every query item left is a socket= one */
    q = strchr(out, '?');
    if (sep && q) {
        for (const char *p = q + 1; *p;) {
            size_t n = strcspn(p, "&");
            if (strncmp(p, "socket=", 7) != 0)
                abort();
            p += n + (p[n] == '&');
        }
    }
    if (!sep && strpbrk(out, "?#"))
        abort();
    free(out);
    free(in);
    return 0;
}
