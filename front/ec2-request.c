/* ec2-request.c - one EC2 query request as typed parameters.
 *
 * EC2's query protocol sends a request as flat name=value pairs (a form
 * body or a query string): Action, Version, and the action's parameters
 * under their wire names, lists numbered from 1 ("SnapshotId.1",
 * "Filter.2.Value.1", "TagSpecification.1.Tag.3.Key").  This file keeps
 * the pairs of one request and reads them back as what the engine takes:
 * strings, numbers, booleans, lists, filters and tags.  Every reader
 * checks its values and fails with EC2's code (InvalidParameterValue,
 * MissingParameter) naming the wire parameter; ec2.c runs the actions.
 * It also writes the answers: XML with the request id, and EC2's error
 * body with the HTTP status EC2 gives each code.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec2.h"
#include "front.h"

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Decode [s, s+n) ('+' a space, %XX a byte) into *@ret: 0, -EINVAL for
 * a '%' without two hexadecimal digits or a NUL, -ENOMEM. */
static int form_decode(const char *s, size_t n, const char **ret)
{
    char *out = malloc(n + 1), *o = out;

    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            *o++ = ' ';
        } else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            *o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (s[i] == '%' || s[i] == '\0') {
            free(out);
            return -EINVAL;
        } else {
            *o++ = s[i];
        }
        if (o > out && o[-1] == '\0') {
            free(out);
            return -EINVAL;
        }
    }
    *o = '\0';
    *ret = out;
    return 0;
}

void bsf_form_free(bsf_http_pair *pairs, size_t n)
{
    for (size_t i = 0; pairs && i < n; i++) {
        free((char *)pairs[i].name);
        free((char *)pairs[i].value);
    }
    free(pairs);
}

int bsf_form_parse(const char *body, size_t len, bsf_http_pair **ret, size_t *ret_n)
{
    bsf_http_pair *v;
    size_t n = 0, cap = 1;
    int r = 0;

    front_error_clear();
    for (size_t i = 0; i < len; i++)
        cap += body[i] == '&';
    if (cap > BSF_EC2_PARAMS_MAX + 1)
        return front_fail(-E2BIG, "InvalidParameterValue",
                          "the request has more than %d parameters", BSF_EC2_PARAMS_MAX);
    if (!(v = calloc(cap, sizeof *v)))
        return front_fail(-ENOMEM, "InternalError", "out of memory");
    for (const char *p = body, *end = body + len; p < end && r == 0; p++) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p)), *kend = eq ? eq : stop;

        if (stop > p) {
            if ((r = form_decode(p, (size_t)(kend - p), &v[n].name)) == 0)
                r = eq ? form_decode(eq + 1, (size_t)(stop - eq - 1), &v[n].value)
                       : form_decode("", 0, &v[n].value);
            n++;
        }
        p = stop;
    }
    if (r < 0) {
        bsf_form_free(v, n);
        return r == -ENOMEM ? front_fail(r, "InternalError", "out of memory")
                            : front_fail(r, "MalformedQueryString",
                                         "parameter %zu of the request is not form-encoded (a "
                                         "'%%' not followed by two hexadecimal digits, or a NUL)",
                                         n);
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int bsf_ec2_request_new(const bsf_http_pair *pairs, size_t n, bsf_ec2_request **ret)
{
    bsf_ec2_request *q;

    front_error_clear();
    if (n > BSF_EC2_PARAMS_MAX)
        return front_fail(-E2BIG, "InvalidParameterValue",
                          "the request has %zu parameters, more than %d", n, BSF_EC2_PARAMS_MAX);
    if (!(q = calloc(1, sizeof *q)) || !(q->p = calloc(n ? n : 1, sizeof *q->p))) {
        free(q);
        return front_fail(-ENOMEM, "InternalError", "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const char *v = pairs[i].value ? pairs[i].value : "";
        if (bsnap_utf8_length(pairs[i].name, strlen(pairs[i].name)) < 0 ||
            bsnap_utf8_length(v, strlen(v)) < 0) {
            bsf_ec2_request_free(q);
            return front_fail(-EINVAL, "MalformedQueryString", "parameter %zu is not UTF-8 text",
                              i + 1);
        }
        for (size_t j = 0; j < q->n; j++)
            if (strcmp(q->p[j].name, pairs[i].name) == 0) {
                bsf_ec2_request_free(q);
                return front_fail(-EINVAL, "InvalidParameterValue",
                                  "the parameter %.*s is given twice", SHOWN(pairs[i].name));
            }
        if (!(q->p[q->n].name = strdup(pairs[i].name)) || !(q->p[q->n].value = strdup(v))) {
            free(q->p[q->n].name);
            bsf_ec2_request_free(q);
            return front_fail(-ENOMEM, "InternalError", "out of memory");
        }
        q->n++;
    }
    *ret = q;
    return 0;
}

void bsf_ec2_request_free(bsf_ec2_request *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n; i++) {
        free(q->p[i].name);
        free(q->p[i].value);
    }
    for (size_t i = 0; i < q->nheld; i++)
        free(q->held[i]);
    free(q->held);
    free(q->p);
    free(q);
}

const char *bsf_ec2_get(const bsf_ec2_request *q, const char *name)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->p[i].name, name) == 0)
            return q->p[i].value;
    return NULL;
}

const char *bsf_ec2_action(const bsf_ec2_request *q)
{
    return bsf_ec2_get(q, "Action");
}

void *ec2_hold(bsf_ec2_request *q, void *p)
{
    void **h;

    if (!p)
        return NULL;
    if (!(h = realloc(q->held, (q->nheld + 1) * sizeof *h))) {
        free(p);
        return NULL;
    }
    q->held = h;
    q->held[q->nheld++] = p;
    return p;
}

int ec2_nomem(void)
{
    return front_fail(-ENOMEM, "InternalError", "out of memory");
}

int ec2_required(bsf_ec2_request *q, const char *name, const char **ret)
{
    const char *v = bsf_ec2_get(q, name);

    if (!v)
        return front_fail(-EINVAL, "MissingParameter", "The request must contain the parameter %s",
                          name);
    *ret = v;
    return 0;
}

int ec2_bool(bsf_ec2_request *q, const char *name, bsnap_tristate *ret)
{
    const char *v = bsf_ec2_get(q, name);

    if (!v)
        *ret = BSNAP_UNSET;
    else if (strcmp(v, "true") == 0)
        *ret = BSNAP_TRUE;
    else if (strcmp(v, "false") == 0)
        *ret = BSNAP_FALSE;
    else
        return front_fail(-EINVAL, "InvalidParameterValue",
                          "Value (%.*s) for parameter %s is invalid. Expected: 'true' or 'false'.",
                          SHOWN(v), name);
    return 0;
}

bool ec2_flag(bsf_ec2_request *q, const char *name)
{
    bsnap_tristate t;
    return ec2_bool(q, name, &t) == 0 && t == BSNAP_TRUE;
}

int ec2_uint(bsf_ec2_request *q, const char *name, uint64_t max, uint64_t *ret)
{
    const char *v = bsf_ec2_get(q, name);
    char *end;
    unsigned long long n;

    *ret = 0;
    if (!v)
        return 0;
    errno = 0;
    n = strtoull(v, &end, 10);
    if (!isdigit((unsigned char)v[0]) || *end || errno || n > max)
        return front_fail(-EINVAL, "InvalidParameterValue",
                          "Value (%.*s) for parameter %s is invalid. Expected: an integer from 0 "
                          "to %llu.",
                          SHOWN(v), name, (unsigned long long)max);
    *ret = n;
    return 0;
}

/* The N of NAME = @prefix "." N (and nothing after when @rest is NULL, else
 * the rest after N in *@rest): 0 when the name is not of that form. */
static unsigned long list_index(const char *name, const char *prefix, const char **rest)
{
    size_t plen = strlen(prefix);
    char *end;
    unsigned long n;

    if (strncmp(name, prefix, plen) != 0 || name[plen] != '.' ||
        !isdigit((unsigned char)name[plen + 1]) || name[plen + 1] == '0')
        return 0;
    errno = 0;
    n = strtoul(name + plen + 1, &end, 10);
    if (errno || n > BSF_EC2_PARAMS_MAX)
        return 0;
    if (rest)
        *rest = end;
    else if (*end)
        return 0;
    return n;
}

struct indexed {
    unsigned long n;
    const char *value;
};

static int indexed_cmp(const void *a, const void *b)
{
    const struct indexed *x = a, *y = b;
    return x->n < y->n ? -1 : x->n > y->n;
}

int ec2_list(bsf_ec2_request *q, const char *prefix, const char ***ret, size_t *ret_n)
{
    struct indexed *v = calloc(q->n ? q->n : 1, sizeof *v);
    const char **out;
    size_t n = 0;

    if (!v)
        return ec2_nomem();
    for (size_t i = 0; i < q->n; i++) {
        unsigned long k = list_index(q->p[i].name, prefix, NULL);
        if (k)
            v[n++] = (struct indexed){k, q->p[i].value};
    }
    qsort(v, n, sizeof *v, indexed_cmp);
    if (!(out = ec2_hold(q, calloc(n ? n : 1, sizeof *out)))) {
        free(v);
        return ec2_nomem();
    }
    for (size_t i = 0; i < n; i++)
        out[i] = v[i].value;
    free(v);
    *ret = out;
    *ret_n = n;
    return 0;
}

int ec2_groups(bsf_ec2_request *q, const char *prefix, unsigned long **ret, size_t *ret_n)
{
    unsigned long *v = calloc(q->n ? q->n : 1, sizeof *v);
    size_t n = 0;

    if (!v)
        return ec2_nomem();
    for (size_t i = 0; i < q->n; i++) {
        const char *rest;
        unsigned long k = list_index(q->p[i].name, prefix, &rest);
        bool seen = false;
        if (!k || *rest != '.')
            continue;
        for (size_t j = 0; j < n && !seen; j++)
            seen = v[j] == k;
        if (!seen)
            v[n++] = k;
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            unsigned long t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *ret = v;
    *ret_n = n;
    return 0;
}

int ec2_filters(bsf_ec2_request *q, bsnap_filter **ret, size_t *ret_n)
{
    unsigned long *idx = NULL;
    bsnap_filter *f;
    size_t n = 0;
    char name[64];
    int r;

    if ((r = ec2_groups(q, "Filter", &idx, &n)) < 0)
        return r;
    if (!(f = ec2_hold(q, calloc(n ? n : 1, sizeof *f)))) {
        free(idx);
        return ec2_nomem();
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "Filter.%lu.Name", idx[i]);
        if (!(f[i].name = bsf_ec2_get(q, name))) {
            r = front_fail(-EINVAL, "InvalidParameterValue", "The filter 'null' is invalid");
            break;
        }
        snprintf(name, sizeof name, "Filter.%lu.Value", idx[i]);
        if ((r = ec2_list(q, name, (const char ***)&f[i].values, &f[i].nvalues)) < 0)
            break;
    }
    free(idx);
    if (r < 0)
        return r;
    *ret = f;
    *ret_n = n;
    return 0;
}

/* The tags "@prefix.N.Key" / "@prefix.N.Value" (@value_default for a
 * missing value). */
static int tags_at(bsf_ec2_request *q, const char *prefix, const char *value_default,
                   bsnap_tag **ret, size_t *ret_n)
{
    unsigned long *idx = NULL;
    bsnap_tag *t;
    size_t n = 0;
    char name[128];
    int r = 0;

    if ((r = ec2_groups(q, prefix, &idx, &n)) < 0)
        return r;
    if (n > BSF_TAGS_MAX) {
        free(idx);
        return front_fail(-EINVAL, "TagLimitExceeded", "%s: more than %d tags", prefix,
                          BSF_TAGS_MAX);
    }
    if (!(t = ec2_hold(q, calloc(n ? n : 1, sizeof *t)))) {
        free(idx);
        return ec2_nomem();
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s.%lu.Key", prefix, idx[i]);
        if (!(t[i].key = bsf_ec2_get(q, name))) {
            r = front_fail(-EINVAL, "MissingParameter", "The request must contain the parameter %s",
                           name);
            break;
        }
        snprintf(name, sizeof name, "%s.%lu.Value", prefix, idx[i]);
        t[i].value = bsf_ec2_get(q, name);
        if (!t[i].value)
            t[i].value = value_default;
    }
    free(idx);
    if (r < 0)
        return r;
    *ret = t;
    *ret_n = n;
    return 0;
}

int ec2_tags(bsf_ec2_request *q, const char *prefix, bool for_delete, bsnap_tag **ret,
             size_t *ret_n)
{
    return tags_at(q, prefix, for_delete ? NULL : "", ret, ret_n);
}

int ec2_tag_specs(bsf_ec2_request *q, const char *type, bsnap_tag **ret, size_t *ret_n)
{
    unsigned long *idx = NULL;
    bsnap_tag *all = NULL;
    size_t n = 0, nall = 0;
    char name[64];
    int r;

    if ((r = ec2_groups(q, "TagSpecification", &idx, &n)) < 0)
        return r;
    for (size_t i = 0; i < n && r == 0; i++) {
        const char *rt;
        bsnap_tag *t;
        size_t nt;

        snprintf(name, sizeof name, "TagSpecification.%lu.ResourceType", idx[i]);
        if (!(rt = bsf_ec2_get(q, name)) || strcmp(rt, type) != 0) {
            r = front_fail(-EINVAL, "InvalidParameterValue",
                           "'%.*s' is not a valid taggable resource type for this operation.",
                           SHOWN(rt ? rt : "null"));
            break;
        }
        snprintf(name, sizeof name, "TagSpecification.%lu.Tag", idx[i]);
        if ((r = tags_at(q, name, "", &t, &nt)) < 0)
            break;
        bsnap_tag *grown = realloc(all, (nall + nt) * sizeof *all + 1);
        if (!grown) {
            r = ec2_nomem();
            break;
        }
        all = grown;
        memcpy(all + nall, t, nt * sizeof *t);
        nall += nt;
    }
    free(idx);
    if (r < 0) {
        free(all);
        return r;
    }
    if (nall > BSF_TAGS_MAX) {
        free(all);
        return front_fail(-EINVAL, "TagLimitExceeded", "more than %d tags", BSF_TAGS_MAX);
    }
    if (all && !ec2_hold(q, all))
        return ec2_nomem();
    *ret = all;
    *ret_n = nall;
    return 0;
}

/* ---- answers ------------------------------------------------------------ */

static const struct {
    const char *code;
    int status;
} statuses[] = {
    {"DryRunOperation", 412},
    {"UnauthorizedOperation", 403},
    {"AuthFailure", 401},
    {"MissingAuthenticationToken", 401},
    {"SignatureDoesNotMatch", 403},
    {"RequestEntityTooLarge", 413},
    {"InternalError", 500},
    {"Store.Error", 500},
    {"Store.Full", 503},
    {"ServiceUnavailable", 503},
    {"RequestLimitExceeded", 503},
    {"Unavailable", 503},
};

int bsf_ec2_status(const char *code)
{
    for (size_t i = 0; i < ARRAY_SIZE(statuses); i++)
        if (strcmp(statuses[i].code, code) == 0)
            return statuses[i].status;
    return 400;
}

static void put_xml_text(struct render_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            render_buf_puts(b, "&amp;");
            break;
        case '<':
            render_buf_puts(b, "&lt;");
            break;
        case '>':
            render_buf_puts(b, "&gt;");
            break;
        case '"':
            render_buf_puts(b, "&quot;");
            break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r') {
                char one[2] = {*s, 0};
                render_escape(b, one);
            } else {
                render_buf_add(b, s, 1);
            }
        }
    }
}

int bsf_ec2_error_xml(const char *code, const char *message, const char *request_id,
                      char **ret_text)
{
    struct render_buf b = {0};

    render_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>"
                        "<Code>");
    put_xml_text(&b, code);
    render_buf_puts(&b, "</Code><Message>");
    put_xml_text(&b, message);
    render_buf_puts(&b, "</Message></Error></Errors><RequestID>");
    put_xml_text(&b, request_id);
    render_buf_puts(&b, "</RequestID></Response>\n");
    return render_buf_finish(&b, ret_text);
}

int bsf_ec2_answer_xml(const char *action, const json_t *doc, const char *request_id,
                       char **ret_text)
{
    json_t *all = json_object();
    const char *key;
    json_t *m;
    int r;

    if (!all || json_object_set_new(all, "RequestId", json_string(request_id)) < 0) {
        json_decref(all);
        return -ENOMEM;
    }
    json_object_foreach ((json_t *)doc, key, m)
        if (json_object_set(all, key, m) < 0) {
            json_decref(all);
            return -ENOMEM;
        }
    r = bsf_render(all, "xml", action, ret_text);
    json_decref(all);
    return r;
}
