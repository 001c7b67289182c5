/* args.c - tag, filter and changed-block list parsers (see args.h). */
#include "args.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blocksnap.h"
#include "error.h"
#include "util.h"

#define CODE "InvalidParameterValue"

/* An argument quoted in a message: its first 100 characters (not bytes, so
 * that a cut never splits a character), as "%.*s" arguments. */
#define SHOWN(a) shown_len(a), (a)

static int shown_len(const char *s)
{
    const char *p = s;

    for (int i = 0; i < 100 && *p; i++)
        p += utf8_char_len(p);
    return (int)(p - s);
}

/* One parsed tag or filter before it is packed: @name is the tag key or the
 * filter name, @values the tag value (at most one) or the filter values. */
struct entry {
    char *name;
    bool has_values;
    char **values;
    size_t nvalues;
};

struct entries {
    struct entry *v;
    size_t n;
};

/* What differs between tags and filters. */
struct schema {
    const char *what;         /* "tag" / "filter", for messages */
    const char *name_field;   /* "Key" / "Name" */
    const char *values_field; /* "Value" / "Values" */
    bool multi;               /* the values field is a list */
    size_t max_entries;
};

static const struct schema tag_schema = {"tag", "Key", "Value", false, TAGS_MAX};
static const struct schema filter_schema = {"filter", "Name", "Values", true, FILTERS_MAX};

static void entry_clear(struct entry *e)
{
    free(e->name);
    for (size_t i = 0; i < e->nvalues; i++)
        free(e->values[i]);
    free(e->values);
    memset(e, 0, sizeof *e);
}

static void entries_clear(struct entries *es)
{
    for (size_t i = 0; i < es->n; i++)
        entry_clear(&es->v[i]);
    free(es->v);
    es->v = NULL;
    es->n = 0;
}

static int push_value(struct entry *e, char *s)
{
    char **v;

    if (e->nvalues >= FILTER_VALUES_MAX) {
        free(s);
        return bsnap_fail(-EINVAL, CODE, "more than %d values", FILTER_VALUES_MAX);
    }
    v = realloc(e->values, (e->nvalues + 1) * sizeof *v);
    if (!v) {
        free(s);
        return -ENOMEM;
    }
    e->values = v;
    e->values[e->nvalues++] = s;
    return 0;
}

/* ---- shorthand ---------------------------------------------------------- */

/* Length of a field name at @p followed by '=', or 0 if @p does not start
 * one.  Names are letters, digits, '-' and '_', starting with a letter. */
static size_t field_name_len(const char *p)
{
    size_t n = 0;

    if (!((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z')))
        return 0;
    while ((p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= 'a' && p[n] <= 'z') ||
           (p[n] >= '0' && p[n] <= '9') || p[n] == '-' || p[n] == '_')
        n++;
    return p[n] == '=' ? n : 0;
}

/* Read one item at *@pp, stopping before ',' (or ']' in a bracket list).
 * Sets *@pp past the item and *@ret to a malloc'd copy. */
static int read_item(const char **pp, bool bracket, const char *arg, char **ret)
{
    const char *p = *pp;
    char *out, *o;

    out = o = malloc(strlen(p) + 1);
    if (!out)
        return -ENOMEM;
    if (*p == '"' || *p == '\'') {
        char q = *p++;
        for (; *p && *p != q; p++) {
            if (*p == '\\' && q == '"' && p[1])
                p++;
            *o++ = *p;
        }
        if (*p != q) {
            free(out);
            return bsnap_fail(-EINVAL, CODE, "'%.*s': unterminated quoted value", SHOWN(arg));
        }
        p++;
        if (*p && *p != ',' && !(bracket && *p == ']')) {
            free(out);
            return bsnap_fail(-EINVAL, CODE, "'%.*s': text after a quoted value", SHOWN(arg));
        }
    } else {
        while (*p && *p != ',' && !(bracket && *p == ']'))
            *o++ = *p++;
    }
    *o = '\0';
    *pp = p;
    *ret = out;
    return 0;
}

/* Parse one shorthand argument into @e according to @sc. */
static int parse_shorthand(const char *arg, const struct schema *sc, struct entry *e)
{
    const char *p = arg;
    bool seen_name = false;
    int r;

    while (*p) {
        size_t n = field_name_len(p);
        bool is_name, bracket = false;
        struct entry *dst;
        struct entry name_holder = {0};

        if (n == 0)
            return bsnap_fail(-EINVAL, CODE, "%s '%.*s': expected %s=...", sc->what, SHOWN(arg),
                              sc->name_field);
        is_name = n == strlen(sc->name_field) && strncmp(p, sc->name_field, n) == 0;
        if (!is_name && !(n == strlen(sc->values_field) && strncmp(p, sc->values_field, n) == 0))
            return bsnap_fail(-EINVAL, CODE, "%s '%.*s': unknown field '%.*s' (expected %s or %s)",
                              sc->what, SHOWN(arg), (int)n, p, sc->name_field, sc->values_field);
        if (is_name ? seen_name : e->has_values)
            return bsnap_fail(-EINVAL, CODE, "%s '%.*s': field %.*s given twice", sc->what,
                              SHOWN(arg), (int)n, p);
        p += n + 1;
        dst = is_name ? &name_holder : e;
        if (!is_name)
            e->has_values = true;
        if (*p == '[') {
            bracket = true;
            p++;
        }
        for (bool first = true;; first = false) {
            char *item = NULL;

            if (bracket && *p == ']' && first) {
                p++; /* "[]": no items */
                break;
            }
            r = read_item(&p, bracket, arg, &item);
            if (r < 0) {
                entry_clear(&name_holder);
                return r;
            }
            r = push_value(dst, item);
            if (r < 0) {
                entry_clear(&name_holder);
                return r;
            }
            if (bracket) {
                if (*p == ']') {
                    p++;
                    break;
                }
                if (*p != ',') {
                    entry_clear(&name_holder);
                    return bsnap_fail(-EINVAL, CODE, "%s '%.*s': missing ']'", sc->what,
                                      SHOWN(arg));
                }
                p++;
                continue;
            }
            /* A following piece that starts NAME= begins the next field. */
            if (*p != ',' || field_name_len(p + 1) > 0)
                break;
            p++;
        }
        if (bracket && *p && *p != ',') {
            entry_clear(&name_holder);
            return bsnap_fail(-EINVAL, CODE, "%s '%.*s': text after ']'", sc->what, SHOWN(arg));
        }
        if (*p == ',') {
            p++;
            if (*p == '\0') {
                entry_clear(&name_holder);
                return bsnap_fail(-EINVAL, CODE, "%s '%.*s': trailing ','", sc->what, SHOWN(arg));
            }
        }
        if (is_name) {
            seen_name = true;
            if (name_holder.nvalues != 1) {
                entry_clear(&name_holder);
                return bsnap_fail(-EINVAL, CODE, "%s '%.*s': %s takes exactly one value", sc->what,
                                  SHOWN(arg), sc->name_field);
            }
            e->name = name_holder.values[0];
            free(name_holder.values);
        } else if (!sc->multi && e->nvalues != 1) {
            return bsnap_fail(-EINVAL, CODE,
                              "%s '%.*s': %s takes exactly one value (quote it if it holds ',')",
                              sc->what, SHOWN(arg), sc->values_field);
        }
    }
    if (!seen_name)
        return bsnap_fail(-EINVAL, CODE, "%s '%.*s': missing %s=", sc->what, SHOWN(arg),
                          sc->name_field);
    return 0;
}

/* ---- JSON --------------------------------------------------------------- */

static int json_entry(json_t *obj, const char *arg, const struct schema *sc, struct entry *e)
{
    const char *key;
    json_t *val;

    if (!json_is_object(obj))
        return bsnap_fail(-EINVAL, CODE, "%s '%.*s': expected an array of objects", sc->what,
                          SHOWN(arg));
    json_object_foreach (obj, key, val) {
        if (strcmp(key, sc->name_field) == 0) {
            if (!json_is_string(val))
                return bsnap_fail(-EINVAL, CODE, "%s '%.*s': %s must be a string", sc->what,
                                  SHOWN(arg), key);
            if (!(e->name = strdup(json_string_value(val))))
                return -ENOMEM;
        } else if (strcmp(key, sc->values_field) == 0) {
            size_t i;
            json_t *item;
            int r;

            e->has_values = true;
            if (!sc->multi) {
                if (!json_is_string(val))
                    return bsnap_fail(-EINVAL, CODE, "%s '%.*s': %s must be a string", sc->what,
                                      SHOWN(arg), key);
                char *s = strdup(json_string_value(val));
                if (!s || (r = push_value(e, s)) < 0)
                    return s ? r : -ENOMEM;
                continue;
            }
            if (!json_is_array(val))
                return bsnap_fail(-EINVAL, CODE, "%s '%.*s': %s must be an array of strings",
                                  sc->what, SHOWN(arg), key);
            json_array_foreach (val, i, item) {
                char *s;
                if (!json_is_string(item))
                    return bsnap_fail(-EINVAL, CODE, "%s '%.*s': %s must be an array of strings",
                                      sc->what, SHOWN(arg), key);
                if (!(s = strdup(json_string_value(item))))
                    return -ENOMEM;
                if ((r = push_value(e, s)) < 0)
                    return r;
            }
        } else {
            return bsnap_fail(-EINVAL, CODE, "%s '%.*s': unknown field '%.64s' (expected %s or %s)",
                              sc->what, SHOWN(arg), key, sc->name_field, sc->values_field);
        }
    }
    if (!e->name)
        return bsnap_fail(-EINVAL, CODE, "%s '%.*s': missing %s", sc->what, SHOWN(arg),
                          sc->name_field);
    return 0;
}

static int add_entry(struct entries *es, const struct schema *sc, struct entry **ret)
{
    struct entry *v;

    if (es->n >= sc->max_entries)
        return bsnap_fail(-EINVAL, sc == &tag_schema ? "TagLimitExceeded" : CODE,
                          "more than %zu %ss", sc->max_entries, sc->what);
    v = realloc(es->v, (es->n + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    es->v = v;
    memset(&v[es->n], 0, sizeof v[es->n]);
    *ret = &v[es->n++];
    return 0;
}

static int parse_json(const char *arg, const struct schema *sc, struct entries *es)
{
    json_error_t jerr;
    json_t *root = json_loads(arg, JSON_REJECT_DUPLICATES, &jerr);
    json_t *item;
    struct entry *e = NULL;
    size_t i;
    int r = 0;

    if (!root)
        return bsnap_fail(-EINVAL, CODE, "%s '%.*s': invalid JSON at column %d: %s", sc->what,
                          SHOWN(arg), jerr.column, jerr.text);
    if (json_is_object(root)) {
        if ((r = add_entry(es, sc, &e)) >= 0)
            r = json_entry(root, arg, sc, e);
    } else if (json_is_array(root)) {
        json_array_foreach (root, i, item) {
            if ((r = add_entry(es, sc, &e)) < 0 || (r = json_entry(item, arg, sc, e)) < 0)
                break;
        }
    }
    json_decref(root);
    return r;
}

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

/* ---- common driver ------------------------------------------------------ */

static int check_string(const char *s, const char *arg, const struct schema *sc, const char *field,
                        long max)
{
    long chars = utf8_length(s, strlen(s));

    if (chars < 0)
        return bsnap_fail(-EINVAL, CODE, "%s '%.*s': %s is not valid UTF-8", sc->what, SHOWN(arg),
                          field);
    if (max > 0 && chars > max)
        return bsnap_fail(-EINVAL, CODE, "%s '%.*s': %s is longer than %ld characters", sc->what,
                          SHOWN(arg), field, max);
    return 0;
}

static int validate(const struct entry *e, const char *arg, const struct schema *sc)
{
    bool tag = sc == &tag_schema;
    int r;

    if (e->name[0] == '\0')
        return bsnap_fail(-EINVAL, CODE, "%s '%.*s': empty %s", sc->what, SHOWN(arg),
                          sc->name_field);
    r = check_string(e->name, arg, sc, sc->name_field, tag ? TAG_KEY_MAX : 0);
    if (r < 0)
        return r;
    /* A filter without values would match nothing: a mistake to report,
     * not an empty answer. */
    if (sc->multi && e->nvalues == 0)
        return bsnap_fail(-EINVAL, CODE, "%s '%.100s': no %s (give at least one value)", sc->what,
                          arg, sc->values_field);
    if (tag && strncasecmp(e->name, "aws:", 4) == 0)
        return bsnap_fail(-EINVAL, CODE, "tag '%.*s': keys starting with 'aws:' are reserved",
                          SHOWN(arg));
    for (size_t i = 0; i < e->nvalues; i++)
        if ((r = check_string(e->values[i], arg, sc, sc->values_field, tag ? TAG_VALUE_MAX : 0)) <
            0)
            return r;
    return 0;
}

static int parse_all(const char *const *args, size_t nargs, const struct schema *sc,
                     struct entries *es)
{
    int r;

    for (size_t i = 0; i < nargs; i++) {
        const char *a = args[i];
        size_t first = es->n;
        struct entry *e = NULL;

        while (*a == ' ' || *a == '\t' || *a == '\n')
            a++;
        if (*a == '[' || *a == '{') {
            r = parse_json(args[i], sc, es);
        } else if (*a == '\0') {
            r = bsnap_fail(-EINVAL, CODE, "empty %s argument", sc->what);
        } else if ((r = add_entry(es, sc, &e)) >= 0) {
            r = parse_shorthand(args[i], sc, e);
        }
        if (r < 0)
            return r;
        for (size_t k = first; k < es->n; k++)
            if ((r = validate(&es->v[k], args[i], sc)) < 0)
                return r;
    }
    return 0;
}

int bsnap_tags_parse(const char *const *args, size_t nargs, bsnap_tag **ret_tags, size_t *ret_ntags)
{
    struct entries es = {0};
    bsnap_tag *tags;
    size_t size;
    char *s;
    int r;

    bsnap_error_clear();
    r = parse_all(args, nargs, &tag_schema, &es);
    if (r < 0)
        goto out;
    size = es.n * sizeof *tags + 1;
    for (size_t i = 0; i < es.n; i++)
        size += strlen(es.v[i].name) + 1 + (es.v[i].nvalues ? strlen(es.v[i].values[0]) + 1 : 0);
    if (!(tags = malloc(size))) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    s = (char *)(tags + es.n);
    for (size_t i = 0; i < es.n; i++) {
        size_t n = strlen(es.v[i].name) + 1;
        tags[i].key = memcpy(s, es.v[i].name, n);
        s += n;
        tags[i].value = NULL;
        if (es.v[i].nvalues) {
            n = strlen(es.v[i].values[0]) + 1;
            tags[i].value = memcpy(s, es.v[i].values[0], n);
            s += n;
        }
    }
    *ret_tags = tags;
    *ret_ntags = es.n;
out:
    entries_clear(&es);
    return r == -ENOMEM && !bsnap_last_error()->err
               ? bsnap_fail(-ENOMEM, "InternalError", "out of memory")
               : r;
}

int bsnap_filters_parse(const char *const *args, size_t nargs, bsnap_filter **ret_filters,
                        size_t *ret_nfilters)
{
    struct entries es = {0};
    bsnap_filter *filters;
    const char **ptrs;
    size_t size, nptrs = 0;
    char *s;
    int r;

    bsnap_error_clear();
    r = parse_all(args, nargs, &filter_schema, &es);
    if (r < 0)
        goto out;
    size = es.n * sizeof *filters + 1;
    for (size_t i = 0; i < es.n; i++) {
        size += strlen(es.v[i].name) + 1;
        nptrs += es.v[i].nvalues;
        for (size_t k = 0; k < es.v[i].nvalues; k++)
            size += strlen(es.v[i].values[k]) + 1;
    }
    size += nptrs * sizeof *ptrs;
    if (!(filters = malloc(size))) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    /* Layout: filters, then every value pointer, then the strings. */
    ptrs = (const char **)(filters + es.n);
    s = (char *)(ptrs + nptrs);
    for (size_t i = 0; i < es.n; i++) {
        size_t n = strlen(es.v[i].name) + 1;
        filters[i].name = memcpy(s, es.v[i].name, n);
        s += n;
        filters[i].values = ptrs;
        filters[i].nvalues = es.v[i].nvalues;
        for (size_t k = 0; k < es.v[i].nvalues; k++) {
            n = strlen(es.v[i].values[k]) + 1;
            *ptrs++ = memcpy(s, es.v[i].values[k], n);
            s += n;
        }
    }
    *ret_filters = filters;
    *ret_nfilters = es.n;
out:
    entries_clear(&es);
    return r == -ENOMEM && !bsnap_last_error()->err
               ? bsnap_fail(-ENOMEM, "InternalError", "out of memory")
               : r;
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

int bsnap_ranges_parse(const char *text, size_t len, const char *name, bsnap_range **ret_ranges,
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

int bsnap_ranges_load(const char *path, bsnap_range **ret_ranges, size_t *ret_nranges,
                      char ret_base[BSNAP_ID_MAX])
{
    _cleanup_free_ char *buf = NULL;
    size_t len;
    int r;

    bsnap_error_clear();
    r = file_read_all(path, RANGES_FILE_MAX, &buf, &len);
    if (r == -EFBIG)
        return bsnap_fail(r, CODE, "%s: larger than %llu bytes", path,
                          (unsigned long long)RANGES_FILE_MAX);
    if (r < 0)
        return bsnap_fail(r, CODE, "%s: %s", path, strerror(-r));
    return bsnap_ranges_parse(buf, len, path, ret_ranges, ret_nranges, ret_base);
}
