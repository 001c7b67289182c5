/* render.h - JSON documents rendered for people, as the AWS CLI does.
 *
 * The public entry point is bsnap_render() (see blocksnap.h).  It takes the
 * JSON text the describe calls return and produces one of the AWS CLI's
 * three --output forms:
 *
 *  json   the document pretty-printed with a 4-space indent, keys in the
 *         order the document has them, non-ASCII characters kept as UTF-8;
 *
 *  text   awscli/text.py's rules: an object prints one line of its scalar
 *         values, tab-separated, in key order (sorted); inside a list the
 *         line starts with the list's key UPPER-CASED and every element
 *         lists the union of the elements' scalar keys (missing ones
 *         empty); nested lists and objects follow as their own lines, so a
 *         snapshot's tags print as "TAGS\tenv\tprod".  Booleans are "True" /
 *         "False" and null is "None", as Python prints them.  Unlike the
 *         AWS CLI, values and keys are escaped (render_escape()), so a tab,
 *         newline or ESC in a tag cannot forge a field, a line or a
 *         terminal sequence;
 *
 *  table  awscli/formatter.py's TableFormatter: a boxed section per list or
 *         object, titled with its key, a header row of the sorted scalar
 *         keys, one row per element, nested sections indented by one more
 *         '|' on each side.  bsnap_render_titled() puts the operation's
 *         name ("DescribeSnapshots") on top, as the AWS CLI does.  Column
 *         widths come from the content only (never from the terminal), so
 *         the result is deterministic.  Unlike the AWS CLI, the describe
 *         lists (Snapshots, Volumes, Images, their mappings and tags) show
 *         chosen columns with long values cut, and an object wider than 100
 *         columns is drawn as KEY | VALUE rows, so that a describe table
 *         fits in 120 columns (table.c says which).  Cells are escaped as
 *         in the text form.
 *
 * Every form ends with a newline, except that an empty document ({}, [],
 * or lists with nothing in them) renders as "" in text and table form, as
 * the AWS CLI prints nothing for it.  The renderer allocates
 * and never prints.
 */
#ifndef BSNAP_RENDER_H
#define BSNAP_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* A growable NUL-terminated output buffer.  Zero-initialise; after an
 * allocation failure @err is -ENOMEM and later appends do nothing, so a
 * renderer appends freely and checks once at the end. */
struct render_buf {
    char *s;
    size_t len, cap;
    int err;
};

void render_buf_add(struct render_buf *b, const char *s, size_t n);
void render_buf_puts(struct render_buf *b, const char *s);
void render_buf_repeat(struct render_buf *b, char c, size_t n);

/* Append @s escaped as bsnap_escape() says (blocksnap.h): the one escaping
 * of user text in the text and table forms. */
void render_escape(struct render_buf *b, const char *s);

/* Whether @v is neither an object nor an array. */
bool render_is_scalar(const json_t *v);

/* A scalar as Python's str() prints it ("True", "None", "1.5"), malloc'd;
 * NULL when out of memory. */
char *render_scalar_text(const json_t *v);

/* The sorted keys of @obj whose values are scalars (@scalar) or not; for an
 * array, the union over its objects.  Returns a malloc'd array of keys
 * borrowed from the document (valid while it lives), NULL when out of
 * memory. */
const char **render_keys(const json_t *obj, bool scalar, size_t *ret_n);

#endif
