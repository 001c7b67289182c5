/* table.c - the AWS CLI's --output table form (see render.h for the rules).
 *
 * The document is first laid out as sections (title, rows of cells), as
 * awscli/formatter.py's TableFormatter builds them, then drawn once the
 * widest section is known, so every line of the table has the same width.
 */
#include "table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

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

/* Characters a string takes on a terminal: UTF-8 code points (cells are
 * escaped, so each is a printable character). */
static size_t display_width(const char *s)
{
    size_t w = 0;

    for (; *s; s += utf8_char_len(s))
        w++;
    return w;
}

/* @s escaped (render_escape()), malloc'd; NULL when out of memory. */
static char *escaped(const char *s)
{
    struct render_buf b = {0};

    render_escape(&b, s);
    render_buf_puts(&b, "");
    if (b.err) {
        free(b.s);
        return NULL;
    }
    return b.s;
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
    if (title && !(v[t->n].title = escaped(title)))
        t->err = -ENOMEM;
    t->n++;
    t->indent = indent;
}

/* Add a row of @n cells; the strings are copied escaped, so that a control
 * character can neither break the box nor reach the terminal. */
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
        char *c = escaped(cells[i]);
        if (!c) {
            t->err = -ENOMEM;
            return;
        }
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
        if (!(cells[i] = v && render_is_scalar(v) ? render_scalar_text(v) : strdup("")))
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
    _cleanup_free_ const char **headers = render_keys(obj, true, &nh);
    _cleanup_free_ const char **more = render_keys(obj, false, &nm);

    if (!headers || !more) {
        t->err = -ENOMEM;
        return;
    }
    if (nh == 1) {
        /* AWS prints a lone scalar as a key | value row. */
        char *v = render_scalar_text(json_object_get(obj, headers[0]));
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
    _cleanup_free_ const char **headers = render_keys(list, true, &nh);
    _cleanup_free_ const char **more = render_keys(list, false, &nm);
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
            if (render_is_scalar(el)) {
                char *s = render_scalar_text(el);
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
        char *s = render_scalar_text(cur);
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

static void put_separator(struct render_buf *b, const struct section *s, const size_t *widths,
                          size_t ncols, size_t inner)
{
    render_buf_repeat(b, '|', (size_t)s->indent);
    render_buf_puts(b, "+");
    if (ncols == 0)
        render_buf_repeat(b, '-', inner);
    for (size_t c = 0; c < ncols; c++) {
        render_buf_repeat(b, '-', widths[c]);
        render_buf_puts(b, c + 1 < ncols ? "+" : "");
    }
    render_buf_puts(b, "+");
    render_buf_repeat(b, '|', (size_t)s->indent);
    render_buf_puts(b, "\n");
}

static void put_cell(struct render_buf *b, const char *text, size_t width, bool centre)
{
    size_t w = display_width(text), pad = width > w ? width - w : 0;
    size_t left = centre ? pad / 2 : MIN(pad, 2);

    render_buf_repeat(b, ' ', left);
    render_buf_puts(b, text);
    render_buf_repeat(b, ' ', pad - left);
}

static void render_section(struct render_buf *b, const struct section *s, size_t total)
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
        render_buf_repeat(b, '|', (size_t)s->indent);
        render_buf_puts(b, "|");
        put_cell(b, s->title, inner, true);
        render_buf_puts(b, "|");
        render_buf_repeat(b, '|', (size_t)s->indent);
        render_buf_puts(b, "\n");
        put_separator(b, s, widths, ncols, inner);
    }
    for (size_t r = 0; r < s->nrows; r++) {
        const struct row *row = &s->rows[r];
        render_buf_repeat(b, '|', (size_t)s->indent);
        render_buf_puts(b, "|");
        for (size_t c = 0; c < ncols; c++) {
            put_cell(b, c < row->n ? row->cells[c] : "", widths[c], row->header);
            render_buf_puts(b, c + 1 < ncols ? "|" : "");
        }
        render_buf_puts(b, "|");
        render_buf_repeat(b, '|', (size_t)s->indent);
        render_buf_puts(b, "\n");
        if (row->header || r + 1 == s->nrows)
            put_separator(b, s, widths, ncols, inner);
    }
}

int table_render(const json_t *doc, const char *title, char **ret_text)
{
    struct table t = {0};
    struct render_buf b = {0};
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
        render_buf_repeat(&b, '-', total);
        render_buf_puts(&b, "\n");
    }
    for (size_t i = 0; i < t.n; i++)
        render_section(&b, &t.v[i], total);
    render_buf_puts(&b, "");
    table_free(&t);
    if (b.err) {
        free(b.s);
        return b.err;
    }
    *ret_text = b.s;
    return 0;
}
