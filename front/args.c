/* args.c - the AWS CLI's tag and filter arguments (see bsfront.h).
 *
 * Guarantees:
 *  - every result is ONE malloc'd block (array, pointer arrays and strings),
 *    so a caller frees it with a single free(), and is written only on
 *    success;
 *  - every string handed back is valid UTF-8 without NUL bytes, so it can go
 *    into JSON unchanged;
 *  - every rejection is -EINVAL (InvalidParameterValue) with a message that
 *    quotes the offending argument;
 *  - the parsers are pure and fuzzed (tests/fuzz/fuzz-{tags,filters}.c).
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "front.h"

/* Bounds that keep a hostile filter argument from costing unbounded memory:
 * far above anything EC2 accepts in one call. */
#define FILTERS_MAX 200
#define FILTER_VALUES_MAX 1000

#define CODE "InvalidParameterValue"

int shown_len(const char *s)
{
    const char *p = s;

    for (int i = 0; i < 100 && *p; i++)
        p += bsnap_utf8_char_len(p);
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
    size_t key_max, value_max; /* a tag's limits, in characters; 0: not a tag */
};

static const struct schema tag_schema = {"tag",        "Key",           "Value",          false,
                                         BSF_TAGS_MAX, BSF_TAG_KEY_MAX, BSF_TAG_VALUE_MAX};
/* KMS's tags: TagKey of at most 128 characters, TagValue 256, 50 a key */
static const struct schema kms_tag_schema = {"tag",        "TagKey", "TagValue", false,
                                             BSF_TAGS_MAX, 128,      256};
static const struct schema filter_schema = {"filter", "Name", "Values", true, FILTERS_MAX, 0, 0};

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
        return front_fail(-EINVAL, CODE, "more than %d values", FILTER_VALUES_MAX);
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

/* ---- JSON --------------------------------------------------------------- */

/* A string value @v, or from shorthand (@sh) a list of exactly one. */
static const char *one_string(json_t *v, bool sh)
{
    if (sh && json_is_array(v) && json_array_size(v) == 1)
        v = json_array_get(v, 0);
    return json_string_value(v);
}

/* Read one tag or filter object: a JSON form's, or the one shorthand_parse()
 * made of a shorthand argument (@sh), whose values are strings or lists of
 * them. */
static int json_entry(json_t *obj, const char *arg, const struct schema *sc, struct entry *e,
                      bool sh)
{
    const char *key;
    json_t *val;

    if (!json_is_object(obj))
        return front_fail(-EINVAL, CODE, "%s '%.*s': expected an array of objects", sc->what,
                          SHOWN(arg));
    json_object_foreach (obj, key, val) {
        if (strcmp(key, sc->name_field) == 0) {
            const char *name = one_string(val, sh);
            if (!name)
                return front_fail(-EINVAL, CODE,
                                  sh ? "%s '%.*s': %s takes exactly one value"
                                     : "%s '%.*s': %s must be a string",
                                  sc->what, SHOWN(arg), key);
            if (!(e->name = strdup(name)))
                return -ENOMEM;
        } else if (strcmp(key, sc->values_field) == 0) {
            size_t i;
            json_t *item;
            int r;

            e->has_values = true;
            if (!sc->multi) {
                const char *value = one_string(val, sh);
                if (!value)
                    return front_fail(-EINVAL, CODE,
                                      sh ? "%s '%.*s': %s takes exactly one value (quote it if "
                                           "it holds ',')"
                                         : "%s '%.*s': %s must be a string",
                                      sc->what, SHOWN(arg), key);
                char *s = strdup(value);
                if (!s || (r = push_value(e, s)) < 0)
                    return s ? r : -ENOMEM;
                continue;
            }
            if (sh && json_is_string(val)) {
                char *s = strdup(json_string_value(val));
                if (!s || (r = push_value(e, s)) < 0)
                    return s ? r : -ENOMEM;
                continue;
            }
            if (!json_is_array(val))
                return front_fail(-EINVAL, CODE, "%s '%.*s': %s must be an array of strings",
                                  sc->what, SHOWN(arg), key);
            json_array_foreach (val, i, item) {
                char *s;
                if (!json_is_string(item))
                    return front_fail(-EINVAL, CODE, "%s '%.*s': %s must be an array of strings",
                                      sc->what, SHOWN(arg), key);
                if (!(s = strdup(json_string_value(item))))
                    return -ENOMEM;
                if ((r = push_value(e, s)) < 0)
                    return r;
            }
        } else {
            return front_fail(-EINVAL, CODE, "%s '%.*s': unknown field '%.64s' (expected %s or %s)",
                              sc->what, SHOWN(arg), key, sc->name_field, sc->values_field);
        }
    }
    if (!e->name)
        return front_fail(-EINVAL, CODE, sh ? "%s '%.*s': missing %s=" : "%s '%.*s': missing %s",
                          sc->what, SHOWN(arg), sc->name_field);
    return 0;
}

static int add_entry(struct entries *es, const struct schema *sc, struct entry **ret)
{
    struct entry *v;

    if (es->n >= sc->max_entries)
        return front_fail(-EINVAL, sc->key_max ? "TagLimitExceeded" : CODE, "more than %zu %ss",
                          sc->max_entries, sc->what);
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
        return front_fail(-EINVAL, CODE, "%s '%.*s': invalid JSON at column %d: %s", sc->what,
                          SHOWN(arg), jerr.column, jerr.text);
    if (json_is_object(root)) {
        if ((r = add_entry(es, sc, &e)) >= 0)
            r = json_entry(root, arg, sc, e, false);
    } else if (json_is_array(root)) {
        json_array_foreach (root, i, item) {
            if ((r = add_entry(es, sc, &e)) < 0 || (r = json_entry(item, arg, sc, e, false)) < 0)
                break;
        }
    }
    json_decref(root);
    return r;
}

/* ---- common driver ------------------------------------------------------ */

static int check_string(const char *s, const char *arg, const struct schema *sc, const char *field,
                        long max)
{
    long chars = bsnap_utf8_length(s, strlen(s));

    if (chars < 0)
        return front_fail(-EINVAL, CODE, "%s '%.*s': %s is not valid UTF-8", sc->what, SHOWN(arg),
                          field);
    if (max > 0 && chars > max)
        return front_fail(-EINVAL, CODE, "%s '%.*s': %s is longer than %ld characters", sc->what,
                          SHOWN(arg), field, max);
    return 0;
}

static int validate(const struct entry *e, const char *arg, const struct schema *sc)
{
    bool tag = sc->key_max != 0;
    int r;

    if (e->name[0] == '\0')
        return front_fail(-EINVAL, CODE, "%s '%.*s': empty %s", sc->what, SHOWN(arg),
                          sc->name_field);
    r = check_string(e->name, arg, sc, sc->name_field, sc->key_max);
    if (r < 0)
        return r;
    /* A filter without values would match nothing: a mistake to report,
     * not an empty answer. */
    if (sc->multi && e->nvalues == 0)
        return front_fail(-EINVAL, CODE, "%s '%.100s': no %s (give at least one value)", sc->what,
                          arg, sc->values_field);
    if (tag && strncasecmp(e->name, "aws:", 4) == 0)
        return front_fail(-EINVAL, CODE, "tag '%.*s': keys starting with 'aws:' are reserved",
                          SHOWN(arg));
    for (size_t i = 0; i < e->nvalues; i++)
        if ((r = check_string(e->values[i], arg, sc, sc->values_field, sc->value_max)) < 0)
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
            r = front_fail(-EINVAL, CODE, "empty %s argument", sc->what);
        } else if ((r = add_entry(es, sc, &e)) >= 0) {
            struct sh_syntax sx = {sc->what, CODE, sc->name_field, false};
            json_t *obj = NULL;
            if ((r = shorthand_parse(args[i], &sx, &obj)) >= 0)
                r = json_entry(obj, args[i], sc, e, true);
            json_decref(obj);
        }
        if (r < 0)
            return r;
        for (size_t k = first; k < es->n; k++)
            if ((r = validate(&es->v[k], args[i], sc)) < 0)
                return r;
    }
    return 0;
}

static int tags_parse(const char *const *args, size_t nargs, const struct schema *sc,
                      bsnap_tag **ret_tags, size_t *ret_ntags);

int bsf_tags_parse(const char *const *args, size_t nargs, bsnap_tag **ret_tags, size_t *ret_ntags)
{
    return tags_parse(args, nargs, &tag_schema, ret_tags, ret_ntags);
}

int bsf_kms_tags_parse(const char *const *args, size_t nargs, bsnap_tag **ret_tags,
                       size_t *ret_ntags)
{
    return tags_parse(args, nargs, &kms_tag_schema, ret_tags, ret_ntags);
}

static int tags_parse(const char *const *args, size_t nargs, const struct schema *sc,
                      bsnap_tag **ret_tags, size_t *ret_ntags)
{
    struct entries es = {0};
    bsnap_tag *tags;
    size_t size;
    char *s;
    int r;

    front_error_clear();
    r = parse_all(args, nargs, sc, &es);
    if (r < 0)
        goto out;
    size = es.n * sizeof *tags + 1;
    for (size_t i = 0; i < es.n; i++)
        size += strlen(es.v[i].name) + 1 + (es.v[i].nvalues ? strlen(es.v[i].values[0]) + 1 : 0);
    if (!(tags = malloc(size))) {
        r = front_fail(-ENOMEM, "InternalError", "out of memory");
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
    return r == -ENOMEM && !bsf_last_error()->err
               ? front_fail(-ENOMEM, "InternalError", "out of memory")
               : r;
}

int bsf_filters_parse(const char *const *args, size_t nargs, bsnap_filter **ret_filters,
                      size_t *ret_nfilters)
{
    struct entries es = {0};
    bsnap_filter *filters;
    const char **ptrs;
    size_t size, nptrs = 0;
    char *s;
    int r;

    front_error_clear();
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
        r = front_fail(-ENOMEM, "InternalError", "out of memory");
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
    return r == -ENOMEM && !bsf_last_error()->err
               ? front_fail(-ENOMEM, "InternalError", "out of memory")
               : r;
}
