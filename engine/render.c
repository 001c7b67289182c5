/* render.c - the AWS CLI's json, text and table output forms (see render.h). */
#include "render.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocksnap.h"
#include "error.h"
#include "util.h"

/* ---- output buffer ------------------------------------------------------ */

struct buf {
    char *s;
    size_t len, cap;
    int err; /* -ENOMEM once an append failed; later appends do nothing */
};

static void buf_add(struct buf *b, const char *s, size_t n)
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

static void buf_puts(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void buf_repeat(struct buf *b, char c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf_add(b, &c, 1);
}

/* ---- scalars and keys ----------------------------------------------------- */

static bool is_scalar(const json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

/* A scalar as Python's str() prints it: the AWS CLI is Python. */
static char *scalar_text(const json_t *v)
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
static const char **keys_of(const json_t *obj, bool scalar, size_t *ret_n)
{
    size_t n = 0, cap = 0, i;
    const char **keys = NULL, *key;
    json_t *v, *el;
    const json_t *objs[1] = {obj};
    size_t nobjs = json_is_array(obj) ? json_array_size(obj) : 1;

    for (size_t o = 0; o < nobjs; o++) {
        const json_t *cur = json_is_array(obj) ? json_array_get(obj, o) : objs[0];
        if (!json_is_object(cur))
            continue;
        json_object_foreach ((json_t *)cur, key, v) {
            if (is_scalar(v) != scalar)
                continue;
            for (i = 0; i < n && strcmp(keys[i], key) != 0; i++)
                ;
            if (i < n)
                continue;
            if (n == cap) {
                const char **nk = realloc(keys, (cap = cap ? cap * 2 : 16) * sizeof *nk);
                if (!nk) {
                    free(keys);
                    return NULL;
                }
                keys = nk;
            }
            keys[n++] = key;
        }
    }
    (void)el;
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

static void text_any(struct buf *b, const json_t *item, const char *ident, const char **scalar_keys,
                     size_t nscalar);

static void put_upper(struct buf *b, const char *s)
{
    for (; *s; s++) {
        char c = (char)toupper((unsigned char)*s);
        buf_add(b, &c, 1);
    }
}

static void put_scalar(struct buf *b, const json_t *v)
{
    char *t = scalar_text(v);

    if (!t) {
        b->err = -ENOMEM;
        return;
    }
    buf_puts(b, t);
    free(t);
}

static void text_dict(struct buf *b, const json_t *obj, const char *ident, const char **scalar_keys,
                      size_t nscalar)
{
    _cleanup_free_ const char **own = NULL, **rest = NULL;
    size_t nrest = 0, nall = 0;
    _cleanup_free_ const char **all = NULL;

    if (!scalar_keys) {
        own = keys_of(obj, true, &nscalar);
        scalar_keys = own;
    }
    all = keys_of(obj, false, &nall);
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
            buf_puts(b, "\t");
        }
        for (size_t i = 0; i < nscalar; i++) {
            const json_t *v = json_object_get(obj, scalar_keys[i]);
            if (i)
                buf_puts(b, "\t");
            if (v && is_scalar(v))
                put_scalar(b, v);
        }
        buf_puts(b, "\n");
    }
    for (size_t i = 0; i < nrest; i++)
        text_any(b, json_object_get(obj, rest[i]), rest[i], NULL, 0);
}

static void text_scalar_list(struct buf *b, const json_t *list, const char *ident)
{
    size_t i, k = 0;
    json_t *el;

    json_array_foreach (list, i, el) {
        if (!is_scalar(el))
            continue;
        if (ident) {
            put_upper(b, ident);
            buf_puts(b, "\t");
            put_scalar(b, el);
            buf_puts(b, "\n");
        } else {
            if (k++)
                buf_puts(b, "\t");
            put_scalar(b, el);
        }
    }
    if (!ident && k)
        buf_puts(b, "\n");
}

static void text_list(struct buf *b, const json_t *list, const char *ident)
{
    bool any_obj = false, any_list = false, any_scalar = false;
    size_t i;
    json_t *el;

    json_array_foreach (list, i, el) {
        any_obj |= json_is_object(el);
        any_list |= json_is_array(el);
        any_scalar |= is_scalar(el);
    }
    if (any_obj) {
        size_t n;
        _cleanup_free_ const char **keys = keys_of(list, true, &n);
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
            if (!is_scalar(el))
                text_any(b, el, ident, NULL, 0);
    } else {
        text_scalar_list(b, list, ident);
    }
}

static void text_any(struct buf *b, const json_t *item, const char *ident, const char **scalar_keys,
                     size_t nscalar)
{
    if (json_is_object(item)) {
        text_dict(b, item, ident, scalar_keys, nscalar);
    } else if (json_is_array(item)) {
        text_list(b, item, ident);
    } else {
        put_scalar(b, item);
        buf_puts(b, "\n");
    }
}

/* ---- table (awscli/formatter.py TableFormatter, awscli/table.py) -------- */

struct row {
    char **cells;
    size_t n;
    bool header; /* centred, as AWS prints column names */
};

struct section {
    char *title; /* NULL: no title line */
    int indent;  /* nesting depth: one more '|' on each side per level */
    struct row *rows;
    size_t nrows;
};

struct table {
    struct section *v;
    size_t n;
    int indent; /* of the current section */
    int err;
};

/* Characters a string takes on a terminal: UTF-8 code points. */
static size_t display_width(const char *s)
{
    size_t w = 0;

    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

static void table_new_section(struct table *t, const char *title, int indent)
{
    struct section *v;

    if (t->err)
        return;
    if (!(v = realloc(t->v, (t->n + 1) * sizeof *v))) {
        t->err = -ENOMEM;
        return;
    }
    t->v = v;
    memset(&v[t->n], 0, sizeof v[t->n]);
    v[t->n].indent = indent;
    if (title && !(v[t->n].title = strdup(title)))
        t->err = -ENOMEM;
    t->n++;
    t->indent = indent;
}

/* Add a row of @n cells; the strings are copied, control characters become
 * spaces so that they cannot break the box. */
static void table_add_row(struct table *t, const char *const *cells, size_t n, bool header)
{
    struct section *sec;
    struct row *rows;

    if (t->n == 0)
        table_new_section(t, NULL, t->indent);
    if (t->err)
        return;
    sec = &t->v[t->n - 1];
    if (!(rows = realloc(sec->rows, (sec->nrows + 1) * sizeof *rows))) {
        t->err = -ENOMEM;
        return;
    }
    sec->rows = rows;
    rows[sec->nrows] =
        (struct row){.cells = calloc(n + 1, sizeof(char *)), .n = n, .header = header};
    if (!rows[sec->nrows].cells) {
        t->err = -ENOMEM;
        return;
    }
    sec->nrows++;
    for (size_t i = 0; i < n; i++) {
        char *c = strdup(cells[i]);
        if (!c) {
            t->err = -ENOMEM;
            return;
        }
        for (char *p = c; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = ' ';
        rows[sec->nrows - 1].cells[i] = c;
    }
}

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        for (size_t r = 0; r < t->v[i].nrows; r++) {
            for (size_t c = 0; c < t->v[i].rows[r].n; c++)
                free(t->v[i].rows[r].cells[c]);
            free(t->v[i].rows[r].cells);
        }
        free(t->v[i].rows);
        free(t->v[i].title);
    }
    free(t->v);
}

/* Add a row of the values of @keys in @obj (missing ones empty). */
static void table_add_values(struct table *t, const json_t *obj, const char **keys, size_t n)
{
    char **cells = calloc(n + 1, sizeof *cells);

    if (!cells) {
        t->err = -ENOMEM;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(obj, keys[i]);
        if (!(cells[i] = v && is_scalar(v) ? scalar_text(v) : strdup("")))
            t->err = -ENOMEM;
    }
    if (!t->err)
        table_add_row(t, (const char *const *)cells, n, false);
    for (size_t i = 0; i < n; i++)
        free(cells[i]);
    free(cells);
}

static void table_build(struct table *t, const char *title, const json_t *cur, int indent);

static void table_from_dict(struct table *t, const json_t *obj, int indent)
{
    size_t nh, nm;
    _cleanup_free_ const char **headers = keys_of(obj, true, &nh);
    _cleanup_free_ const char **more = keys_of(obj, false, &nm);

    if (!headers || !more) {
        t->err = -ENOMEM;
        return;
    }
    if (nh == 1) {
        /* AWS prints a lone scalar as a key | value row. */
        char *v = scalar_text(json_object_get(obj, headers[0]));
        const char *cells[2] = {headers[0], v};
        if (!v) {
            t->err = -ENOMEM;
            return;
        }
        table_add_row(t, cells, 2, false);
        free(v);
    } else if (nh > 1) {
        table_add_row(t, headers, nh, true);
        table_add_values(t, obj, headers, nh);
    }
    for (size_t i = 0; i < nm; i++)
        table_build(t, more[i], json_object_get(obj, more[i]), indent + 1);
}

static void table_from_list(struct table *t, const json_t *list, const char *title, int indent)
{
    size_t nh, nm, i;
    _cleanup_free_ const char **headers = keys_of(list, true, &nh);
    _cleanup_free_ const char **more = keys_of(list, false, &nm);
    json_t *el;

    if (!headers || !more) {
        t->err = -ENOMEM;
        return;
    }
    if (nh)
        table_add_row(t, headers, nh, true);
    json_array_foreach (list, i, el) {
        if (i > 0 && nm > 0) {
            table_new_section(t, title, indent);
            if (nh)
                table_add_row(t, headers, nh, true);
        }
        if (!json_is_object(el))
            continue;
        if (nh)
            table_add_values(t, el, headers, nh);
        for (size_t k = 0; k < nm; k++) {
            const json_t *v = json_object_get(el, more[k]);
            if (v)
                table_build(t, more[k], v, indent + 1);
        }
    }
}

static bool json_empty(const json_t *v)
{
    return json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0) ||
           (json_is_object(v) && json_object_size(v) == 0) ||
           (json_is_string(v) && json_string_length(v) == 0);
}

static void table_build(struct table *t, const char *title, const json_t *cur, int indent)
{
    if (json_empty(cur) || t->err)
        return;
    if (title)
        table_new_section(t, title, indent);
    if (json_is_array(cur)) {
        size_t i;
        json_t *el;

        if (json_is_object(json_array_get(cur, 0))) {
            table_from_list(t, cur, title, indent);
            return;
        }
        json_array_foreach (cur, i, el) {
            if (is_scalar(el)) {
                char *s = scalar_text(el);
                const char *cells[1] = {s};
                if (!s)
                    t->err = -ENOMEM;
                else
                    table_add_row(t, cells, 1, false);
                free(s);
            } else {
                table_build(t, NULL, el, indent);
            }
        }
    } else if (json_is_object(cur)) {
        table_from_dict(t, cur, indent);
    } else {
        char *s = scalar_text(cur);
        const char *cells[1] = {s};
        if (!s)
            t->err = -ENOMEM;
        else
            table_add_row(t, cells, 1, false);
        free(s);
    }
}

static size_t section_columns(const struct section *s)
{
    size_t n = 0;

    for (size_t r = 0; r < s->nrows; r++)
        n = MAX(n, s->rows[r].n);
    return n;
}

/* Natural width of column @c: the widest cell plus two spaces each side. */
static size_t column_width(const struct section *s, size_t c)
{
    size_t w = 0;

    for (size_t r = 0; r < s->nrows; r++)
        if (c < s->rows[r].n)
            w = MAX(w, display_width(s->rows[r].cells[c]));
    return w + 4;
}

static void put_separator(struct buf *b, const struct section *s, const size_t *widths,
                          size_t ncols, size_t inner)
{
    buf_repeat(b, '|', (size_t)s->indent);
    buf_puts(b, "+");
    if (ncols == 0)
        buf_repeat(b, '-', inner);
    for (size_t c = 0; c < ncols; c++) {
        buf_repeat(b, '-', widths[c]);
        buf_puts(b, c + 1 < ncols ? "+" : "");
    }
    buf_puts(b, "+");
    buf_repeat(b, '|', (size_t)s->indent);
    buf_puts(b, "\n");
}

static void put_cell(struct buf *b, const char *text, size_t width, bool centre)
{
    size_t w = display_width(text), pad = width > w ? width - w : 0;
    size_t left = centre ? pad / 2 : MIN(pad, 2);

    buf_repeat(b, ' ', left);
    buf_puts(b, text);
    buf_repeat(b, ' ', pad - left);
}

static void render_section(struct buf *b, const struct section *s, size_t total)
{
    size_t inner = total - 2 * (size_t)s->indent - 2, ncols = section_columns(s), sum = 0;
    _cleanup_free_ size_t *widths = calloc(ncols + 1, sizeof *widths);

    if (!widths) {
        b->err = -ENOMEM;
        return;
    }
    for (size_t c = 0; c < ncols; c++)
        sum += widths[c] = column_width(s, c);
    if (ncols > 0) {
        /* Spread the spare room evenly, the remainder to the last column. */
        size_t spare = inner - (ncols - 1) - sum;
        for (size_t c = 0; c < ncols; c++)
            widths[c] += spare / ncols;
        widths[ncols - 1] += spare % ncols;
    }
    if (s->title) {
        buf_repeat(b, '|', (size_t)s->indent);
        buf_puts(b, "|");
        put_cell(b, s->title, inner, true);
        buf_puts(b, "|");
        buf_repeat(b, '|', (size_t)s->indent);
        buf_puts(b, "\n");
        put_separator(b, s, widths, ncols, inner);
    }
    for (size_t r = 0; r < s->nrows; r++) {
        const struct row *row = &s->rows[r];
        buf_repeat(b, '|', (size_t)s->indent);
        buf_puts(b, "|");
        for (size_t c = 0; c < ncols; c++) {
            put_cell(b, c < row->n ? row->cells[c] : "", widths[c], row->header);
            buf_puts(b, c + 1 < ncols ? "|" : "");
        }
        buf_puts(b, "|");
        buf_repeat(b, '|', (size_t)s->indent);
        buf_puts(b, "\n");
        if (row->header || r + 1 == s->nrows)
            put_separator(b, s, widths, ncols, inner);
    }
}

static int render_table(const json_t *doc, const char *title, char **ret_text)
{
    struct table t = {0};
    struct buf b = {0};
    size_t total = 0;
    int min_indent = 0;

    table_build(&t, title, doc, 0);
    if (t.err) {
        table_free(&t);
        return t.err;
    }
    /* A document whose top holds only lists starts one level in: pull
     * every section out so that the outermost one has no extra '|'. */
    for (size_t i = 0; i < t.n; i++)
        min_indent = i == 0 ? t.v[i].indent : MIN(min_indent, t.v[i].indent);
    for (size_t i = 0; i < t.n; i++) {
        struct section *s = &t.v[i];
        size_t ncols = section_columns(s), need = 0;

        s->indent -= min_indent;
        for (size_t c = 0; c < ncols; c++)
            need += column_width(s, c) + (c ? 1 : 0);
        if (s->title)
            need = MAX(need, display_width(s->title) + 4);
        total = MAX(total, need + 2 + 2 * (size_t)s->indent);
    }
    if (t.n > 0) {
        buf_repeat(&b, '-', total);
        buf_puts(&b, "\n");
    }
    for (size_t i = 0; i < t.n; i++)
        render_section(&b, &t.v[i], total);
    buf_puts(&b, "");
    table_free(&t);
    if (b.err) {
        free(b.s);
        return b.err;
    }
    *ret_text = b.s;
    return 0;
}

/* ---- entry point -------------------------------------------------------- */

int bsnap_render_titled(const char *json, const char *format, const char *title, char **ret_text)
{
    json_error_t jerr;
    json_t *doc;
    struct buf b = {0};

    bsnap_error_clear();
    if (strcmp(format, "json") != 0 && strcmp(format, "text") != 0 && strcmp(format, "table") != 0)
        return bsnap_fail(-EINVAL, "InvalidParameterValue",
                          "unknown output format '%.32s' (expected json, text or table)", format);
    doc = json_loads(json, JSON_DECODE_ANY, &jerr);
    if (!doc)
        return bsnap_fail(-EINVAL, "InvalidParameterValue",
                          "cannot render malformed JSON (line %d column %d: %s)", jerr.line,
                          jerr.column, jerr.text);
    if (strcmp(format, "json") == 0) {
        char *s = json_dumps(doc, JSON_INDENT(4) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        if (s)
            buf_puts(&b, s);
        else
            b.err = -ENOMEM;
        free(s);
        buf_puts(&b, "\n");
    } else if (strcmp(format, "text") == 0) {
        text_any(&b, doc, NULL, NULL, 0);
        buf_puts(&b, ""); /* an empty document renders as "" */
    } else {
        char *t = NULL;
        int r = render_table(doc, title, &t);
        if (r < 0)
            b.err = r;
        else
            buf_puts(&b, t);
        free(t);
    }
    json_decref(doc);
    if (b.err || !b.s) {
        free(b.s);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory rendering output");
    }
    *ret_text = b.s;
    return 0;
}

int bsnap_render(const char *json, const char *format, char **ret_text)
{
    return bsnap_render_titled(json, format, NULL, ret_text);
}
