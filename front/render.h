/* render.h - documents rendered for people and programs (bsf_render()).
 *
 * Each output form is an emitter (bsfront.h: bsf_emitter): a function that
 * renders a whole jansson document.  bsf_render() finds the emitter of the
 * format and calls it; the document is never turned into JSON text and
 * parsed again.  json and text are in render.c, table in table.c, xml in
 * xml.c; a new form (the web pages' HTML) is one more emitter in the list
 * of render.c.  Emitters allocate and never print, and read the document
 * only.  The rules of each form are in bsfront.h.
 */
#ifndef BSF_RENDER_H
#define BSF_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "front.h"

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

/* The emitters.  Each: @doc read only, @title optional, @ret_text out
 * (malloc'd).  Errors: -ENOMEM (nothing recorded: bsf_render() does it). */
int json_emit(const json_t *doc, const char *title, char **ret_text);
int text_emit(const json_t *doc, const char *title, char **ret_text);
int table_emit(const json_t *doc, const char *title, char **ret_text);
int xml_emit(const json_t *doc, const char *title, char **ret_text);

#endif
