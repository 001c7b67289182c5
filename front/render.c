/* render.c - the renderer's entry point, the emitters' list, and the AWS
 * CLI's json and text output forms (see render.h). */
#include "render.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- output buffer ------------------------------------------------------ */

void render_buf_add(struct render_buf *b, const char *s, size_t n)
{
    if (b->err)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *ns;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (!(ns = realloc(b->s, cap))) {
            b->err = -ENOMEM;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void render_buf_puts(struct render_buf *b, const char *s)
{
    render_buf_add(b, s, strlen(s));
}

void render_buf_repeat(struct render_buf *b, char c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        render_buf_add(b, &c, 1);
}

int render_buf_finish(struct render_buf *b, char **ret_text)
{
    render_buf_puts(b, ""); /* "" rather than NULL when nothing was added */
    if (b->err) {
        free(b->s);
        b->s = NULL;
        return b->err;
    }
    *ret_text = b->s;
    b->s = NULL;
    return 0;
}

/* ---- escaping ----------------------------------------------------------- */

void render_escape(struct render_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    while (*s) {
        const unsigned char *p = (const unsigned char *)s;
        size_t len = bsnap_utf8_char_len(s);
        /* C1 controls (U+0080..U+009F, UTF-8 c2 80..c2 9f) act as ESC
         * sequences on some terminals: escape them as their bytes. */
        bool c1 = len == 2 && p[0] == 0xc2 && p[1] < 0xa0;
        char esc[4] = {'\\', 0, 0, 0};

        if (len > 1 && !c1) {
            render_buf_add(b, s, len);
            s += len;
            continue;
        }
        for (size_t k = 0; k < len; k++, s++) {
            unsigned char c = (unsigned char)*s;
            if (c >= 0x20 && c < 0x7f && c != '\\') {
                render_buf_add(b, s, 1);
                continue;
            }
            esc[1] = c == '\\' ? '\\' : c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : 0;
            if (esc[1]) {
                render_buf_add(b, esc, 2);
            } else {
                esc[1] = 'x';
                render_buf_add(b, esc, 2);
                esc[2] = hex[c >> 4];
                esc[3] = hex[c & 15];
                render_buf_add(b, esc + 2, 2);
            }
        }
    }
}

int bsf_escape(const char *s, char **ret_text)
{
    struct render_buf b = {0};

    render_escape(&b, s);
    return render_buf_finish(&b, ret_text);
}

/* ---- scalars and keys ----------------------------------------------------- */

bool render_is_scalar(const json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

/* A scalar as Python's str() prints it: the AWS CLI is Python. */
char *render_scalar_text(const json_t *v)
{
    char tmp[64];

    switch (json_typeof(v)) {
    case JSON_STRING:
        return strdup(json_string_value(v));
    case JSON_INTEGER:
        snprintf(tmp, sizeof tmp, "%lld", (long long)json_integer_value(v));
        break;
    case JSON_REAL:
        /* Python's repr: the shortest form that reads back the same. */
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, json_real_value(v));
            if (strtod(tmp, NULL) == json_real_value(v))
                break;
        }
        if (!strpbrk(tmp, ".eni"))
            strcat(tmp, ".0");
        break;
    case JSON_TRUE:
        return strdup("True");
    case JSON_FALSE:
        return strdup("False");
    default:
        return strdup("None");
    }
    return strdup(tmp);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted keys of @obj whose values are scalar (@scalar) or not.  Also
 * takes the union over a list of objects when @obj is an array.  Returns a
 * malloc'd array of borrowed keys (valid while the document lives). */
const char **render_keys(const json_t *obj, bool scalar, size_t *ret_n)
{
    size_t n = 0, cap = 0, i;
    const char **keys = NULL, *key;
    json_t *v;
    size_t nobjs = json_is_array(obj) ? json_array_size(obj) : 1;

    for (size_t o = 0; o < nobjs; o++) {
        const json_t *cur = json_is_array(obj) ? json_array_get(obj, o) : obj;
        if (!json_is_object(cur))
            continue;
        json_object_foreach ((json_t *)cur, key, v) {
            if (render_is_scalar(v) != scalar)
                continue;
            for (i = 0; i < n && strcmp(keys[i], key) != 0; i++)
                ;
            if (i < n)
                continue;
            const char **nk =
                n < cap ? keys : realloc(keys, (cap = cap ? 2 * cap : 16) * sizeof *nk);
            if (!nk) {
                free(keys);
                return NULL;
            }
            keys = nk;
            keys[n++] = key;
        }
    }
    if (!keys)
        keys = malloc(sizeof *keys);
    if (keys)
        qsort(keys, n, sizeof *keys, cmp_str);
    *ret_n = n;
    return keys;
}

static bool in_keys(const char *key, const char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i], key) == 0)
            return true;
    return false;
}

/* ---- text (awscli/text.py) --------------------------------------------- */

static void text_any(struct render_buf *b, const json_t *item, const char *ident,
                     const char **scalar_keys, size_t nscalar);

static void put_upper(struct render_buf *b, const char *s)
{
    _cleanup_free_ char *up = strdup(s);

    if (!up) {
        b->err = -ENOMEM;
        return;
    }
    for (char *p = up; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    render_escape(b, up);
}

static void put_scalar(struct render_buf *b, const json_t *v)
{
    char *t = render_scalar_text(v);

    if (!t) {
        b->err = -ENOMEM;
        return;
    }
    render_escape(b, t);
    free(t);
}

static void text_dict(struct render_buf *b, const json_t *obj, const char *ident,
                      const char **scalar_keys, size_t nscalar)
{
    _cleanup_free_ const char **own = NULL, **rest = NULL;
    size_t nrest = 0, nall = 0;
    _cleanup_free_ const char **all = NULL;

    if (!scalar_keys) {
        own = render_keys(obj, true, &nscalar);
        scalar_keys = own;
    }
    all = render_keys(obj, false, &nall);
    rest = malloc((json_object_size(obj) + 1) * sizeof *rest);
    if (!scalar_keys || !all || !rest) {
        b->err = -ENOMEM;
        return;
    }
    /* Python's sorted(set(keys) - set(scalar_keys)): the non-scalars. */
    for (size_t i = 0; i < nall; i++)
        if (!in_keys(all[i], scalar_keys, nscalar))
            rest[nrest++] = all[i];
    if (nscalar > 0) {
        if (ident) {
            put_upper(b, ident);
            render_buf_puts(b, "\t");
        }
        for (size_t i = 0; i < nscalar; i++) {
            const json_t *v = json_object_get(obj, scalar_keys[i]);
            if (i)
                render_buf_puts(b, "\t");
            if (v && render_is_scalar(v))
                put_scalar(b, v);
        }
        render_buf_puts(b, "\n");
    }
    for (size_t i = 0; i < nrest; i++)
        text_any(b, json_object_get(obj, rest[i]), rest[i], NULL, 0);
}

static void text_scalar_list(struct render_buf *b, const json_t *list, const char *ident)
{
    size_t i, k = 0;
    json_t *el;

    json_array_foreach (list, i, el) {
        if (!render_is_scalar(el))
            continue;
        if (ident) {
            put_upper(b, ident);
            render_buf_puts(b, "\t");
            put_scalar(b, el);
            render_buf_puts(b, "\n");
        } else {
            if (k++)
                render_buf_puts(b, "\t");
            put_scalar(b, el);
        }
    }
    if (!ident && k)
        render_buf_puts(b, "\n");
}

static void text_list(struct render_buf *b, const json_t *list, const char *ident)
{
    bool any_obj = false, any_list = false, any_scalar = false;
    size_t i;
    json_t *el;

    json_array_foreach (list, i, el) {
        any_obj |= json_is_object(el);
        any_list |= json_is_array(el);
        any_scalar |= render_is_scalar(el);
    }
    if (any_obj) {
        size_t n;
        _cleanup_free_ const char **keys = render_keys(list, true, &n);
        if (!keys) {
            b->err = -ENOMEM;
            return;
        }
        json_array_foreach (list, i, el)
            text_any(b, el, ident, keys, n);
    } else if (any_list) {
        if (any_scalar)
            text_scalar_list(b, list, ident);
        json_array_foreach (list, i, el)
            if (!render_is_scalar(el))
                text_any(b, el, ident, NULL, 0);
    } else {
        text_scalar_list(b, list, ident);
    }
}

static void text_any(struct render_buf *b, const json_t *item, const char *ident,
                     const char **scalar_keys, size_t nscalar)
{
    if (json_is_object(item)) {
        text_dict(b, item, ident, scalar_keys, nscalar);
    } else if (json_is_array(item)) {
        text_list(b, item, ident);
    } else {
        put_scalar(b, item);
        render_buf_puts(b, "\n");
    }
}

/* ---- json and text ------------------------------------------------------ */

int json_emit(const json_t *doc, const char *title, char **ret_text)
{
    struct render_buf b = {0};
    /* 15 significant digits: a ratio rounded to 1.08 prints as 1.08, not
     * as the 17 digits of the nearest double (1.0800000000000001) */
    char *s = json_dumps(doc, JSON_INDENT(4) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
                                  JSON_REAL_PRECISION(15));

    (void)title;
    if (!s)
        return -ENOMEM;
    render_buf_puts(&b, s);
    free(s);
    render_buf_puts(&b, "\n");
    return render_buf_finish(&b, ret_text);
}

int text_emit(const json_t *doc, const char *title, char **ret_text)
{
    struct render_buf b = {0};

    (void)title;
    text_any(&b, doc, NULL, NULL, 0);
    return render_buf_finish(&b, ret_text); /* an empty document renders as "" */
}

/* ---- entry point -------------------------------------------------------- */

static const bsf_emitter emitters[] = {
    {"json", json_emit},
    {"text", text_emit},
    {"table", table_emit},
    {"xml", xml_emit},
};

const bsf_emitter *bsf_emitter_find(const char *format)
{
    for (size_t i = 0; i < ARRAY_SIZE(emitters); i++)
        if (strcmp(emitters[i].format, format) == 0)
            return &emitters[i];
    return NULL;
}

int bsf_render(const json_t *doc, const char *format, const char *title, char **ret_text)
{
    const bsf_emitter *em = bsf_emitter_find(format);
    int r;

    front_error_clear();
    if (!em)
        return front_fail(-EINVAL, "InvalidParameterValue",
                          "unknown output format '%.32s' (expected json, text, table or xml)",
                          format);
    r = em->render(doc, title, ret_text);
    if (r < 0)
        return front_fail(r, "InternalError", "out of memory rendering output");
    return 0;
}

const char *bsf_size_text(uint64_t bytes, char buf[BSF_SIZE_TEXT_MAX])
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    size_t u = 0;

    if (bytes < 1024) {
        snprintf(buf, BSF_SIZE_TEXT_MAX, "%u B", (unsigned)bytes);
        return buf;
    }
    /* 1023.95 KiB would print as "1024.0 KiB": the next unit says it */
    while (v >= 1023.95 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    snprintf(buf, BSF_SIZE_TEXT_MAX, "%.1f %s", v, units[u]);
    return buf;
}
