/* front.h - what the front-end library's files share: its error record,
 * the output buffer the emitters append to, and small helpers.
 *
 * Every failure goes through front_fail(), which fills the calling thread's
 * record (bsf_last_error()) as bsnap_fail() fills the engine's: the errno,
 * the EC2 code and a message, never printed.  Public calls clear the record
 * on entry.
 */
#ifndef BSF_FRONT_H
#define BSF_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include "bsfront.h"

/* Record a failure and return @err (a negative errno). */
int front_fail(int err, const char *code, const char *fmt, ...) BSNAP_PRINTF(3, 4);
/* Clear the calling thread's record. */
void front_error_clear(void);

/* A growable NUL-terminated output buffer.  Zero-initialise; after an
 * allocation failure @err is -ENOMEM and later appends do nothing, so an
 * emitter appends freely and checks once at the end. */
struct render_buf {
    char *s;
    size_t len, cap;
    int err;
};

void render_buf_add(struct render_buf *b, const char *s, size_t n);
void render_buf_puts(struct render_buf *b, const char *s);
void render_buf_repeat(struct render_buf *b, char c, size_t n);
/* Hand the text over (*@ret_text; "" when nothing was added) and return 0,
 * or free it and return b->err. */
int render_buf_finish(struct render_buf *b, char **ret_text);

/* Append @s escaped as bsf_escape() says: the one escaping of user text in
 * the text, table and xml forms. */
void render_escape(struct render_buf *b, const char *s);

/* An argument quoted in a message: its first 100 characters (not bytes, so
 * that a cut never splits a character), as "%.*s" arguments. */
#define SHOWN(a) shown_len(a), (a)
int shown_len(const char *s);

/* How a caller's arguments use the shorthand syntax (shorthand.c). */
struct sh_syntax {
    const char *what;  /* "tag", "filter", "block device mapping": messages */
    const char *code;  /* the EC2 code of a syntax error */
    const char *first; /* the field an argument starts with ("Key"), for messages */
    bool objects;      /* NAME={...} nests an object (a mapping's Ebs) */
};

/* Parse shorthand argument @arg into a JSON object whose scalars are all
 * strings (one item a string, several or a bracket list an array of
 * them; strings are not checked for UTF-8: the reader names the field).
 * @ret out: the object.  Errors: -EINVAL (@sx->code) quoting @arg;
 * -ENOMEM. */
int shorthand_parse(const char *arg, const struct sh_syntax *sx, json_t **ret);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

/* free() the pointer a variable holds when it goes out of scope. */
static inline void front_freep(void *p)
{
    free(*(void **)p);
}
#define _cleanup_free_ __attribute__((cleanup(front_freep)))

#endif
