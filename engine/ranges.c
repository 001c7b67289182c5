/* ranges.c - changed-block lists and the text-limit check (see ranges.h). */
#include "ranges.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blocksnap.h"
#include "error.h"
#include "util.h"

#define CODE "InvalidParameterValue"

/* ---- text limits -------------------------------------------------------- */

int bsnap_text_check(const char *field, const char *s, size_t max_chars)
{
    long chars = utf8_length(s, strlen(s));

    bsnap_error_clear();
    if (chars < 0)
        return bsnap_fail(-EINVAL, CODE, "%s is not valid UTF-8", field);
    if (max_chars > 0 && (size_t)chars > max_chars)
        return bsnap_fail(-EINVAL, CODE, "%s is longer than %zu characters", field, max_chars);
    return 0;
}

long bsnap_utf8_length(const char *s, size_t n)
{
    return utf8_length(s, n);
}

size_t bsnap_utf8_char_len(const char *s)
{
    return utf8_char_len(s);
}

/* ---- changed-block lists ------------------------------------------------ */

/* Parse the decimal number at *@pp (digits only, no sign) into *@ret. */
static int read_u64(const char **pp, const char *end, uint64_t *ret)
{
    const char *p = *pp;
    uint64_t v = 0;

    if (p == end || *p < '0' || *p > '9')
        return -EINVAL;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *pp = p;
    *ret = v;
    return 0;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Parse one non-comment line [@p, @end) into @ret.  Returns 0, or a
 * negative errno after recording "NAME line N: ...". */
static int parse_range_line(const char *p, const char *end, const char *name, size_t line,
                            bsnap_range *ret)
{
    const char *field = "offset";
    uint64_t v[2];
    int r;

    for (int i = 0; i < 2; i++) {
        const char *start;
        if (i == 1) {
            if (p != end && !is_blank(*p))
                goto bad_char; /* a stray character right after the offset */
            while (p < end && is_blank(*p))
                p++;
            field = "length";
            if (p == end)
                return bsnap_fail(-EINVAL, CODE,
                                  "%s line %zu: missing length (expected OFFSET LENGTH)", name,
                                  line);
        }
        start = p;
        r = read_u64(&p, end, &v[i]);
        if (r == -ERANGE) {
            int digits = 0;
            while (start + digits < end && start[digits] >= '0' && start[digits] <= '9')
                digits++;
            return bsnap_fail(-EINVAL, CODE, "%s line %zu: %s %.*s%s is too large", name, line,
                              field, digits > 24 ? 24 : digits, start, digits > 24 ? "..." : "");
        }
        if (r < 0)
            goto bad_char;
    }
    while (p < end && is_blank(*p))
        p++;
    if (p != end)
        return bsnap_fail(-EINVAL, CODE, "%s line %zu: unexpected text after the length", name,
                          line);
    if (v[1] == 0)
        return bsnap_fail(-EINVAL, CODE, "%s line %zu: length is 0", name, line);
    if (v[0] > RANGE_END_MAX || v[1] > RANGE_END_MAX - v[0])
        return bsnap_fail(-EINVAL, CODE,
                          "%s line %zu: range %llu+%llu ends past the largest file offset", name,
                          line, (unsigned long long)v[0], (unsigned long long)v[1]);
    ret->offset = v[0];
    ret->length = v[1];
    return 0;

bad_char:
    if (p < end && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f)
        return bsnap_fail(-EINVAL, CODE,
                          "%s line %zu: %s: unexpected '%c' (expected OFFSET LENGTH in decimal)",
                          name, line, field, *p);
    return bsnap_fail(-EINVAL, CODE,
                      "%s line %zu: %s: not a decimal number (expected OFFSET LENGTH)", name, line,
                      field);
}

#define DIFF_HEADER "# blocksnap diff"

/* Whether [@p, @end) is a "# blocksnap diff" header line (the words then a
 * blank or the end), well-formed or not. */
static bool is_diff_header(const char *p, const char *end)
{
    size_t hl = strlen(DIFF_HEADER);

    return (size_t)(end - p) >= hl && memcmp(p, DIFF_HEADER, hl) == 0 &&
           (p + hl == end || is_blank(p[hl]));
}

/* Parse the header "# blocksnap diff BASE SNAPSHOT" [@p, @end) that
 * `blocksnap diff` writes first: BASE is the snapshot the ranges were
 * compared against, or "-" for none.  @ret_base gets BASE. */
static int parse_diff_header(const char *p, const char *end, const char *name,
                             char ret_base[BSNAP_ID_MAX])
{
    char word[2][BSNAP_ID_MAX];
    int nwords = 0;

    p += strlen(DIFF_HEADER);
    for (;;) {
        const char *w;
        while (p < end && is_blank(*p))
            p++;
        if (p == end)
            break;
        for (w = p; p < end && !is_blank(*p); p++)
            ;
        if (nwords == 2 || (size_t)(p - w) >= BSNAP_ID_MAX)
            goto bad;
        memcpy(word[nwords], w, (size_t)(p - w));
        word[nwords][p - w] = '\0';
        nwords++;
    }
    if (nwords != 2 || !(strcmp(word[0], "-") == 0 || id_valid(word[0], "snap")) ||
        !id_valid(word[1], "snap"))
        goto bad;
    memcpy(ret_base, word[0], BSNAP_ID_MAX);
    return 0;
bad:
    return bsnap_fail(-EINVAL, CODE,
                      "%s line 1: malformed header (expected \"" DIFF_HEADER
                      " BASE SNAPSHOT\", BASE a snapshot id or -)",
                      name);
}

static int ranges_parse(const char *text, size_t len, const char *name, bsnap_range **ret_ranges,
                        size_t *ret_nranges, char ret_base[BSNAP_ID_MAX])
{
    _cleanup_free_ bsnap_range *v = NULL;
    size_t n = 0, cap = 0, line = 0;
    const char *p = text, *end = text + len;
    char base[BSNAP_ID_MAX] = "";

    bsnap_error_clear();
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end, *q = p;
        bsnap_range rg;
        int r;

        line++;
        /* The header of a diff's output names the snapshot its ranges are
         * relative to; only as the first line, so that two lists pasted
         * together cannot hide the second one's. */
        if (is_diff_header(p, eol)) {
            if (line > 1)
                return bsnap_fail(-EINVAL, CODE,
                                  "%s line %zu: a \"" DIFF_HEADER
                                  "\" header is allowed only as the first line",
                                  name, line);
            r = parse_diff_header(p, eol, name, base);
            if (r < 0)
                return r;
            p = nl ? nl + 1 : end;
            continue;
        }
        while (q < eol && is_blank(*q))
            q++;
        if (q == eol || *q == '#') {
            p = nl ? nl + 1 : end;
            continue;
        }
        r = parse_range_line(q, eol, name, line, &rg);
        if (r < 0)
            return r;
        if (n > 0 && rg.offset < v[n - 1].offset)
            return bsnap_fail(
                -EINVAL, CODE, "%s line %zu: ranges not sorted (offset %llu comes after %llu)",
                name, line, (unsigned long long)rg.offset, (unsigned long long)v[n - 1].offset);
        if (n > 0 && rg.offset < v[n - 1].offset + v[n - 1].length)
            return bsnap_fail(
                -EINVAL, CODE, "%s line %zu: range at %llu overlaps the previous one (%llu+%llu)",
                name, line, (unsigned long long)rg.offset, (unsigned long long)v[n - 1].offset,
                (unsigned long long)v[n - 1].length);
        bsnap_range *nv = array_grow(v, n, &cap, sizeof *nv, 64);
        if (!nv)
            return bsnap_fail(-ENOMEM, "InternalError", "%s: out of memory", name);
        v = nv;
        v[n++] = rg;
        p = nl ? nl + 1 : end;
    }
    if (!v && !(v = malloc(sizeof *v)))
        return bsnap_fail(-ENOMEM, "InternalError", "%s: out of memory", name);
    *ret_ranges = steal_ptr(v);
    *ret_nranges = n;
    if (ret_base)
        memcpy(ret_base, base, BSNAP_ID_MAX);
    return 0;
}

/* A bad list is the input named ChangedBlocks (the changed-block list of
 * a snapshot). */
int bsnap_ranges_parse(const char *text, size_t len, const char *name, bsnap_range **ret_ranges,
                       size_t *ret_nranges, char ret_base[BSNAP_ID_MAX])
{
    return error_param(ranges_parse(text, len, name, ret_ranges, ret_nranges, ret_base),
                       "ChangedBlocks");
}

int bsnap_ranges_load(const char *path, bsnap_range **ret_ranges, size_t *ret_nranges,
                      char ret_base[BSNAP_ID_MAX])
{
    _cleanup_free_ char *buf = NULL;
    size_t len;
    int r;

    bsnap_error_clear();
    r = file_read_all(path, RANGES_FILE_MAX, &buf, &len);
    if (r == -EFBIG)
        r = bsnap_fail(r, CODE, "%s: larger than %llu bytes", path,
                       (unsigned long long)RANGES_FILE_MAX);
    else if (r < 0)
        r = bsnap_fail(r, CODE, "%s: %s", path, strerror(-r));
    else
        r = ranges_parse(buf, len, path, ret_ranges, ret_nranges, ret_base);
    return error_param(r, "ChangedBlocks");
}
