/* table.h - the AWS CLI's --output table form, for bsnap_render_titled().
 *
 * Guarantees: the result depends on the document and @title only (never on
 * a terminal), every line has the same width, titles, keys and values are
 * escaped as in the text form (render_escape()), and an empty document
 * renders as "".
 */
#ifndef BSNAP_TABLE_H
#define BSNAP_TABLE_H

#include "render.h"

/* Render @doc as a table, under a title row @title (optional).
 * @ret_text out: malloc'd.  Errors: -ENOMEM (nothing recorded; the caller
 * reports it). */
int table_render(const json_t *doc, const char *title, char **ret_text);

#endif
