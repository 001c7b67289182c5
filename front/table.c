/* table.c - the AWS CLI's --output table form (bsfront.h says the rules).
 *
 * The document is first laid out as sections (title, rows of cells), as
 * awscli/formatter.py's TableFormatter builds them, then drawn once the
 * widest section is known, so every line of the table has the same width.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"

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

/* The widest table a section should make, in columns: a wider object is
 * drawn as KEY | VALUE rows instead (as the AWS CLI's table does when a
 * section is wider than the terminal, but for a fixed width, so the result
 * stays deterministic). */
#define TABLE_WIDTH_MAX 100

/* The columns a person reads in the lists the describe calls return, in
 * this order, each at most @max characters (0: any; longer values are cut,
 * from the end, or from the start for paths, and marked "..."), and the
 * nested sections drawn under each element.  A key "A.B" is B of the object
 * A, headed B.  JSON output carries the rest.
 * A list not named here shows every scalar key, as the AWS CLI does. */
struct column {
    const char *key;
    size_t max;
    bool keep_end;
};

struct list_columns {
    const char *list;
    struct column cols[6];
    const char *nested[3];
};

static const struct list_columns list_columns[] = {
    {"Snapshots",
     {{"SnapshotId", 0, false},
      {"StartTime", 0, false},
      {"State", 0, false},
      {"Description", 30, false}},
     {"Tags"}},
    {"Volumes",
     {{"VolumeId", 0, false}, {"Size", 0, false}, {"LastSnapshotId", 0, false}, {"Path", 40, true}},
     {"Tags"}},
    {"Images",
     {{"ImageId", 0, false}, {"Name", 30, false}, {"State", 0, false}, {"CreationDate", 0, false}},
     {"BlockDeviceMappings", "Tags"}},
    /* A mapping's Ebs object, one level down, read as its own columns. */
    {"BlockDeviceMappings",
     {{"DeviceName", 0, false},
      {"Ebs.SnapshotId", 0, false},
      {"Ebs.VolumeSize", 0, false},
      {"Ebs.VolumeType", 0, false}},
     {NULL}},
    {"Tags", {{"Key", 30, false}, {"Value", 50, false}}, {NULL}},
    {"SnapshotUsages",
     {{"SnapshotId", 0, false},
      {"VolumeBytes", 0, false},
      {"DataBytes", 0, false},
      {"ReferencedStoredBytes", 0, false},
      {"ExclusiveStoredBytes", 0, false}},
     {NULL}},
    {"VolumeUsages",
     {{"VolumeId", 0, false},
      {"Snapshots", 0, false},
      {"LogicalBytes", 0, false},
      {"StoredBytes", 0, false},
      {"ExclusiveStoredBytes", 0, false}},
     {NULL}},
};

/* The longest value of a KEY | VALUE row, in characters. */
#define VERTICAL_VALUE_MAX 80

static const struct list_columns *list_columns_of(const char *list)
{
    for (size_t i = 0; list && i < ARRAY_SIZE(list_columns); i++)
        if (strcmp(list_columns[i].list, list) == 0)
            return &list_columns[i];
    return NULL;
}

/* Characters a string takes on a terminal: UTF-8 code points (cells are
 * escaped, so each is a printable character). */
static size_t display_width(const char *s)
{
    size_t w = 0;

    for (; *s; s += bsnap_utf8_char_len(s))
        w++;
    return w;
}

/* @s escaped (render_escape()), malloc'd; NULL when out of memory. */
static char *escaped(const char *s)
{
    struct render_buf b = {0};
    char *text = NULL;

    render_escape(&b, s);
    return render_buf_finish(&b, &text) < 0 ? NULL : text;
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

/* @c (escaped, malloc'd) cut to @max characters, with "..." where it was
 * cut: at the end, or with @keep_end at the start. */
static char *cut(char *c, size_t max, bool keep_end)
{
    size_t w = display_width(c), skip;
    char *p = c, *out;

    if (max < 4 || w <= max)
        return c;
    if (!keep_end) {
        for (size_t i = 0; i < max - 3; i++)
            p += bsnap_utf8_char_len(p);
        memcpy(p, "...", 4);
        return c;
    }
    for (skip = w - (max - 3); skip > 0; skip--)
        p += bsnap_utf8_char_len(p);
    out = malloc(strlen(p) + 4);
    if (out) {
        memcpy(out, "...", 3);
        strcpy(out + 3, p);
    }
    free(c);
    return out;
}

/* Add a row of @n cells; the strings are copied escaped, so that a control
 * character can neither break the box nor reach the terminal, and cut to
 * @cols[i].max characters (@cols optional). */
static void table_add_row(struct table *t, const char *const *cells, size_t n, bool header,
                          const struct column *cols)
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
        if (c && cols && !header)
            c = cut(c, cols[i].max, cols[i].keep_end);
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

/* The value of @key in @obj; "A.B" is B of the object A. */
static const json_t *lookup(const json_t *obj, const char *key)
{
    const char *dot = strchr(key, '.');
    char outer[32];

    if (!dot || (size_t)(dot - key) >= sizeof outer)
        return json_object_get(obj, key);
    memcpy(outer, key, (size_t)(dot - key));
    outer[dot - key] = '\0';
    return json_object_get(json_object_get(obj, outer), dot + 1);
}

/* The header of the column @key: what follows its last '.'. */
static const char *label(const char *key)
{
    const char *dot = strrchr(key, '.');

    return dot ? dot + 1 : key;
}

/* Add a row of the values of @keys in @obj (missing ones empty), cut as
 * @cols says (optional). */
static void table_add_values(struct table *t, const json_t *obj, const char **keys, size_t n,
                             const struct column *cols)
{
    char **cells = calloc(n + 1, sizeof *cells);

    if (!cells) {
        t->err = -ENOMEM;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *v = lookup(obj, keys[i]);
        if (!(cells[i] = v && render_is_scalar(v) ? render_scalar_text(v) : strdup("")))
            t->err = -ENOMEM;
    }
    if (!t->err)
        table_add_row(t, (const char *const *)cells, n, false, cols);
    for (size_t i = 0; i < n; i++)
        free(cells[i]);
    free(cells);
}

/* Whether @v (an object, or a list of them) has the scalar @key. */
static bool has_scalar(const json_t *v, const char *key)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 1;

    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_is_array(v) ? json_array_get(v, i) : v;
        const json_t *x = json_is_object(o) ? lookup(o, key) : NULL;
        if (x && render_is_scalar(x))
            return true;
    }
    return false;
}

/* The columns of @spec (@n of them) that @v has, into @keys and @cols (room
 * for @n); returns how many. */
static size_t pick_columns(const json_t *v, const struct column *spec, size_t n, const char **keys,
                           struct column *cols)
{
    size_t k = 0;

    for (size_t i = 0; i < n && spec[i].key; i++) {
        if (has_scalar(v, spec[i].key)) {
            keys[k] = spec[i].key;
            cols[k++] = spec[i];
        }
    }
    return k;
}

static void table_build(struct table *t, const char *title, const json_t *cur, int indent);

/* A row of one cell: the scalar @v's text. */
static void table_add_scalar(struct table *t, const json_t *v)
{
    char *s = render_scalar_text(v);
    const char *cells[1] = {s};

    if (!s)
        t->err = -ENOMEM;
    else
        table_add_row(t, cells, 1, false, NULL);
    free(s);
}

/* Characters the escaped form of the scalar @v takes (0 when out of memory:
 * the caller finds out when it adds the row). */
static size_t value_width(const json_t *v)
{
    char *raw = v && render_is_scalar(v) ? render_scalar_text(v) : NULL;
    char *e = raw ? escaped(raw) : NULL;
    size_t w = e ? display_width(e) : 0;

    free(raw);
    free(e);
    return w;
}

static void table_from_dict(struct table *t, const json_t *obj, int indent)
{
    size_t nh, nm, width = 2 + 2 * (size_t)indent;
    _cleanup_free_ const char **headers = render_keys(obj, true, &nh);
    _cleanup_free_ const char **more = render_keys(obj, false, &nm);

    if (!headers || !more) {
        t->err = -ENOMEM;
        return;
    }
    for (size_t i = 0; i < nh; i++)
        width += MAX(display_width(headers[i]), value_width(json_object_get(obj, headers[i]))) + 4 +
                 (i ? 1 : 0);
    if (nh == 1 || (nh > 1 && width > TABLE_WIDTH_MAX)) {
        /* AWS prints a lone scalar as a key | value row, and so a section
         * too wide to read: a row per key. */
        static const struct column kv[2] = {{"", 0, false}, {"", VERTICAL_VALUE_MAX, false}};
        for (size_t i = 0; i < nh; i++) {
            char *v = render_scalar_text(json_object_get(obj, headers[i]));
            const char *cells[2] = {headers[i], v};
            if (!v) {
                t->err = -ENOMEM;
                return;
            }
            table_add_row(t, cells, 2, false, kv);
            free(v);
        }
    } else if (nh > 1) {
        table_add_row(t, headers, nh, true, NULL);
        table_add_values(t, obj, headers, nh, NULL);
    }
    for (size_t i = 0; i < nm; i++)
        table_build(t, more[i], json_object_get(obj, more[i]), indent + 1);
}

static void table_from_list(struct table *t, const json_t *list, const char *title, int indent)
{
    size_t nh, nm, i;
    _cleanup_free_ const char **headers = render_keys(list, true, &nh);
    _cleanup_free_ const char **more = render_keys(list, false, &nm);
    const struct list_columns *lc = list_columns_of(title);
    struct column cols[ARRAY_SIZE(list_columns[0].cols)];
    const char *labels[ARRAY_SIZE(list_columns[0].cols)];
    const char **heads;
    json_t *el;

    if (!headers || !more) {
        t->err = -ENOMEM;
        return;
    }
    if (lc) {
        /* The chosen columns and nested sections, where the list has them
         * (the key arrays have room: they hold every key of the list). */
        size_t k = 0;
        nh = pick_columns(list, lc->cols, ARRAY_SIZE(lc->cols), headers, cols);
        for (size_t n = 0; n < ARRAY_SIZE(lc->nested) && lc->nested[n]; n++)
            for (size_t m = 0; m < nm; m++)
                if (strcmp(more[m], lc->nested[n]) == 0)
                    more[k++] = lc->nested[n];
        nm = k;
        for (size_t c = 0; c < nh; c++)
            labels[c] = label(headers[c]);
    }
    heads = lc ? labels : headers;
    if (nh)
        table_add_row(t, heads, nh, true, NULL);
    json_array_foreach (list, i, el) {
        if (i > 0 && nm > 0) {
            table_new_section(t, title, indent);
            if (nh)
                table_add_row(t, heads, nh, true, NULL);
        }
        if (!json_is_object(el))
            continue;
        if (nh)
            table_add_values(t, el, headers, nh, lc ? cols : NULL);
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
                table_add_scalar(t, el);
            } else {
                table_build(t, NULL, el, indent);
            }
        }
    } else if (json_is_object(cur)) {
        table_from_dict(t, cur, indent);
    } else {
        table_add_scalar(t, cur);
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

int table_emit(const json_t *doc, const char *title, char **ret_text)
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
    table_free(&t);
    return render_buf_finish(&b, ret_text);
}
