/* shorthand.c - the AWS CLI's shorthand syntax, the one parser of it.
 *
 * Tags, filters and block device mappings are all given this way
 * ("Key=env,Value=prod", "Name=volume-id,Values=vol-1,vol-2",
 * "DeviceName=/dev/xvda,Ebs={SnapshotId=snap-1,VolumeSize=8}"); each is
 * parsed here into the JSON document the same argument's JSON form would
 * be, and then read by the same code as that form, so the two forms cannot
 * drift apart.  Grammar (a subset of the AWS CLI's):
 *
 *   object := field ("," field)*
 *   field  := NAME "=" value
 *   value  := "{" object "}"                        (with sh_syntax.objects)
 *           | "[" [elem ("," elem)*] "]"
 *           | item ("," item)*
 *   elem   := item | "{" object "}"                  (an object: with sh_syntax.objects)
 *   item   := '"' chars '"' | "'" chars "'" | chars up to "," (or "]", "}")
 *
 * NAME is a letter, then letters, digits, '-' and '_'.  A ","-separated
 * piece that begins with NAME "=" starts a new field, any other piece is
 * one more item of the current field.  Inside double quotes a backslash
 * escapes the next character.  Every scalar is a JSON string ("8", "true"):
 * the reader of the document converts it, as it converts the JSON form's.
 * One item is a string, several or a bracket list an array.
 */
#include <errno.h>
#include <string.h>
#include <stdlib.h>

#include "front.h"

/* How deep objects nest: far more than a mapping's Ebs needs. */
#define DEPTH_MAX 8

struct sh {
    const char *arg;
    const struct sh_syntax *sx;
};

/* Fail with "WHAT 'ARG': MESSAGE" (the argument cut at 100 characters). */
#define SH_FAIL(sh, fmt, ...)                                                                \
    front_fail(-EINVAL, (sh)->sx->code, "%s '%.*s': " fmt, (sh)->sx->what, SHOWN((sh)->arg), \
               __VA_ARGS__)

/* Length of a field name at @p followed by '=', or 0 if @p does not start
 * one. */
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

/* Whether @c ends a bare item: ',', and the closer of the bracket list or
 * object the item is in (@close, or 0). */
static bool item_end(char c, char close)
{
    return c == '\0' || c == ',' || (close && c == close);
}

/* Read one item at *@pp into a new JSON string. */
static int read_item(struct sh *sh, const char **pp, char close, json_t **ret)
{
    const char *p = *pp;
    _cleanup_free_ char *out = malloc(strlen(p) + 1);
    char *o = out;

    if (!out)
        return -ENOMEM;
    if (*p == '"' || *p == '\'') {
        char q = *p++;
        for (; *p && *p != q; p++) {
            if (*p == '\\' && q == '"' && p[1])
                p++;
            *o++ = *p;
        }
        if (*p != q)
            return SH_FAIL(sh, "%s", "unterminated quoted value");
        p++;
        if (!item_end(*p, close))
            return SH_FAIL(sh, "%s", "text after a quoted value");
    } else {
        while (!item_end(*p, close))
            *o++ = *p++;
    }
    *o = '\0';
    /* UTF-8 is checked by the reader, which names the field */
    if (!(*ret = json_string_nocheck(out)))
        return -ENOMEM;
    *pp = p;
    return 0;
}

static int parse_object(struct sh *sh, const char **pp, int depth, char close, json_t **ret);

/* A field's value at *@pp: an object, a bracket list, or items up to the
 * next piece that starts a field. */
static int parse_value(struct sh *sh, const char **pp, int depth, char close, json_t **ret)
{
    const char *p = *pp;
    json_t *items = NULL, *item = NULL;
    int r;

    if (*p == '{' && sh->sx->objects) {
        p++;
        r = parse_object(sh, &p, depth + 1, '}', ret);
        if (r < 0)
            return r;
        if (*p != '}') {
            json_decref(*ret);
            return SH_FAIL(sh, "%s", "missing '}'");
        }
        *pp = p + 1;
        return 0;
    }
    if (*p == '[') {
        p++;
        if (!(items = json_array()))
            return -ENOMEM;
        if (*p == ']') {
            *pp = p + 1; /* "[]": no items */
            *ret = items;
            return 0;
        }
        for (;;) {
            /* with objects, a list may hold them: Add=[{UserId=1},{Group=all}] */
            r = *p == '{' && sh->sx->objects ? parse_value(sh, &p, depth, ']', &item)
                                             : read_item(sh, &p, ']', &item);
            if (r < 0)
                goto fail;
            if (json_array_append_new(items, item) < 0) {
                r = -ENOMEM;
                goto fail;
            }
            if (*p == ']')
                break;
            if (*p != ',') {
                r = SH_FAIL(sh, "%s", "missing ']'");
                goto fail;
            }
            p++;
        }
        p++;
        if (!item_end(*p, close)) {
            r = SH_FAIL(sh, "%s", "text after ']'");
            goto fail;
        }
        *pp = p;
        *ret = items;
        return 0;
    }
    for (;;) {
        if ((r = read_item(sh, &p, close, &item)) < 0)
            goto fail;
        /* A following piece that starts NAME= begins the next field. */
        if (!items && (*p != ',' || field_name_len(p + 1) > 0)) {
            *pp = p;
            *ret = item;
            return 0;
        }
        if (!items && !(items = json_array())) {
            json_decref(item);
            return -ENOMEM;
        }
        if (json_array_append_new(items, item) < 0) {
            r = -ENOMEM;
            goto fail;
        }
        if (*p != ',' || field_name_len(p + 1) > 0)
            break;
        p++;
    }
    *pp = p;
    *ret = items;
    return 0;
fail:
    json_decref(items);
    return r;
}

static int parse_object(struct sh *sh, const char **pp, int depth, char close, json_t **ret)
{
    const char *p = *pp;
    json_t *obj;
    int r;

    if (depth > DEPTH_MAX)
        return SH_FAIL(sh, "%s", "nested too deeply");
    if (!(obj = json_object()))
        return -ENOMEM;
    for (;;) {
        size_t n = field_name_len(p);
        char name[128];
        json_t *v = NULL;

        if (n == 0 || n >= sizeof name) {
            r = depth == 0 ? SH_FAIL(sh, "expected %s=...", sh->sx->first)
                           : SH_FAIL(sh, "expected NAME=VALUE at '%.20s'", p);
            goto fail;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        if (json_object_get(obj, name)) {
            r = SH_FAIL(sh, "field %s given twice", name);
            goto fail;
        }
        p += n + 1;
        if ((r = parse_value(sh, &p, depth, close, &v)) < 0)
            goto fail;
        if (json_object_set_new(obj, name, v) < 0) {
            r = -ENOMEM;
            goto fail;
        }
        if (*p != ',')
            break;
        p++;
        if (*p == '\0') {
            r = SH_FAIL(sh, "%s", "trailing ','");
            goto fail;
        }
    }
    *pp = p;
    *ret = obj;
    return 0;
fail:
    json_decref(obj);
    return r;
}

int shorthand_parse(const char *arg, const struct sh_syntax *sx, json_t **ret)
{
    struct sh sh = {arg, sx};
    const char *p = arg;
    json_t *obj = NULL;
    /* With objects, a '}' never belongs to a bare item: one at the top is
     * a stray closer. */
    int r = parse_object(&sh, &p, 0, sx->objects ? '}' : 0, &obj);

    if (r == 0 && *p) {
        json_decref(obj);
        r = SH_FAIL(&sh, "unexpected '%c'", *p);
    }
    if (r == -ENOMEM)
        r = front_fail(-ENOMEM, "InternalError", "out of memory");
    if (r < 0)
        return r;
    *ret = obj;
    return 0;
}

/* ---- a run's structured arguments ---- */

/* Numbers and booleans of a shorthand value come as strings: give the
 * members EC2 types as such their types (@ints, @bools: names). */
static int type_members(json_t *o, const char *const *ints, const char *const *bools)
{
    const char *key;
    json_t *v;

    json_object_foreach (o, key, v) {
        const char *s = json_string_value(v);
        if (json_is_object(v)) {
            int r = type_members(v, ints, bools);
            if (r < 0)
                return r;
            continue;
        }
        if (!s)
            continue;
        for (const char *const *n = ints; *n; n++)
            if (strcmp(key, *n) == 0) {
                char *end;
                long long x = strtoll(s, &end, 10);
                if (!*s || *end)
                    return front_fail(-EINVAL, "InvalidParameterValue",
                                      "%s: '%.40s' is not a number", key, s);
                json_object_set_new(o, key, json_integer(x));
            }
        for (const char *const *n = bools; *n; n++)
            if (strcmp(key, *n) == 0) {
                if (strcmp(s, "true") && strcmp(s, "false"))
                    return front_fail(-EINVAL, "InvalidParameterValue",
                                      "%s: '%.40s' is not true or false", key, s);
                json_object_set_new(o, key, json_boolean(strcmp(s, "true") == 0));
            }
    }
    return 0;
}

int bsf_run_request_add(json_t *req, const char *member, const char *const *args, size_t n)
{
    static const struct sh_syntax sx = {"argument", "InvalidParameterValue", "NAME", true};
    static const char *const ints[] = {"VolumeSize", "Iops", "Throughput", NULL};
    static const char *const bools[] = {"DeleteOnTermination", "Encrypted", NULL};
    bool list = strcmp(member, "LaunchTemplate") != 0;
    json_t *out = list ? json_array() : NULL;
    int r = 0;

    front_error_clear();
    if (list && !out)
        return front_fail(-ENOMEM, "InternalError", "out of memory");
    for (size_t i = 0; i < n && r == 0; i++) {
        const char *p = args[i];
        json_t *doc = NULL, *e;
        json_error_t jerr;
        size_t k;

        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (*p == '{' || *p == '[') {
            if (!(doc = json_loads(p, 0, &jerr)))
                r = front_fail(-EINVAL, "InvalidParameterValue", "%s: malformed JSON: %s", member,
                               jerr.text);
        } else if (bsnap_utf8_length(p, strlen(p)) < 0) {
            r = front_fail(-EINVAL, "InvalidParameterValue", "%s: not valid UTF-8", member);
        } else {
            r = shorthand_parse(p, &sx, &doc);
            if (r < 0)
                front_fail(r, "InvalidParameterValue", "%s: %s", member, bsf_last_error()->message);
        }
        if (r < 0)
            break;
        if (!list) {
            json_decref(out);
            out = doc;
            r = json_is_object(out)
                    ? type_members(out, ints, bools)
                    : front_fail(-EINVAL, "InvalidParameterValue", "%s: not an object", member);
            continue;
        }
        if (json_is_object(doc))
            r = type_members(doc, ints, bools), json_array_append(out, doc);
        else if (json_is_array(doc))
            json_array_foreach (doc, k, e)
                if (r == 0 && json_is_object(e))
                    r = type_members(e, ints, bools), json_array_append(out, e);
        /* a Tags list inside a tag specification: its members are strings */
        json_decref(doc);
    }
    if (r == 0 && out && json_object_set(req, member, out) < 0)
        r = front_fail(-ENOMEM, "InternalError", "out of memory");
    json_decref(out);
    return r;
}
