/* error.c - the front-end library's error record (see front.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "front.h"

/* One record per thread, as the engine's: a front end may parse in
 * several threads (the API server's workers). */
static _Thread_local struct {
    bsnap_error pub;
    char code[64];
    char message[1024];
} rec = {{.err = 0, .code = "", .message = "", .parameter = ""}, "", ""};

const bsnap_error *bsf_last_error(void)
{
    rec.pub.code = rec.code;
    rec.pub.message = rec.message;
    rec.pub.parameter = "";
    return &rec.pub;
}

void front_error_clear(void)
{
    rec.pub.err = 0;
    rec.code[0] = rec.message[0] = '\0';
}

int front_fail(int err, const char *code, const char *fmt, ...)
{
    va_list ap;

    rec.pub.err = err;
    snprintf(rec.code, sizeof rec.code, "%s", code);
    va_start(ap, fmt);
    vsnprintf(rec.message, sizeof rec.message, fmt, ap);
    va_end(ap);
    return err;
}
