/* error.c - the thread-local failure record and the log sink. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SZ(a, b) ((a) < (b) ? (a) : (b))

struct error_record {
    bsnap_error pub;
    char code[64];
    char message[1024];
};

static _Thread_local struct error_record last = {
    .pub = {.err = 0, .code = "", .message = ""},
};

static bsnap_log_func log_fn;
static void *log_ud;

const bsnap_error *bsnap_last_error(void)
{
    if (!last.pub.code)
        last.pub.code = "";
    if (!last.pub.message)
        last.pub.message = "";
    return &last.pub;
}

void bsnap_error_clear(void)
{
    last.pub.err = 0;
    last.code[0] = '\0';
    last.message[0] = '\0';
    last.pub.code = last.code;
    last.pub.message = last.message;
}

int bsnap_fail(int err, const char *code, const char *fmt, ...)
{
    va_list ap;

    if (err >= 0)
        err = -EIO; /* a programmer error; never report success as failure */
    last.pub.err = err;
    snprintf(last.code, sizeof last.code, "%s", code ? code : "InternalError");
    va_start(ap, fmt);
    vsnprintf(last.message, sizeof last.message, fmt, ap);
    va_end(ap);
    last.pub.code = last.code;
    last.pub.message = last.message;
    bsnap_debug("error", "%s (%s, errno %d)", last.message, last.code, -err);
    return err;
}

int bsnap_fail_prefix(const char *fmt, ...)
{
    char prefix[512];
    char old[sizeof last.message];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last.message, sizeof old);
    {
        /* "PREFIX: OLD", cut to fit (truncation is intended) */
        size_t pl = strnlen(prefix, sizeof prefix - 1), ol = strnlen(old, sizeof old);
        size_t room = sizeof last.message - 1 - pl - 2;
        memcpy(last.message, prefix, pl);
        memcpy(last.message + pl, ": ", 2);
        memcpy(last.message + pl + 2, old, MIN_SZ(ol, room));
        last.message[pl + 2 + MIN_SZ(ol, room)] = '\0';
    }
    return last.pub.err ? last.pub.err : -EIO;
}

void error_save(error_saved *s)
{
    s->err = last.pub.err;
    snprintf(s->code, sizeof s->code, "%s", last.code);
    snprintf(s->message, sizeof s->message, "%s", last.message);
}

void error_restore(const error_saved *s)
{
    last.pub.err = s->err;
    snprintf(last.code, sizeof last.code, "%s", s->code);
    snprintf(last.message, sizeof last.message, "%s", s->message);
    last.pub.code = last.code;
    last.pub.message = last.message;
}

void bsnap_set_log_func(bsnap_log_func fn, void *ud)
{
    log_fn = fn;
    log_ud = ud;
}

bool bsnap_debug_enabled(const char *cat)
{
    /* Read each time: cheap, and tests may set it between calls. */
    const char *want = getenv("BLOCKSNAP_DEBUG");
    size_t n = strlen(cat);

    if (!want || !*want)
        return false;
    if (strcmp(want, "all") == 0)
        return true;
    for (const char *p = want; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, cat, n) == 0)
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

void bsnap_log(int level, const char *cat, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    if (!log_fn)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_fn(log_ud, level, cat, msg);
}

const char *bsnap_version(void)
{
#define STR2(x) #x
#define STR(x) STR2(x)
    return STR(BSNAP_VERSION_MAJOR) "." STR(BSNAP_VERSION_MINOR) "." STR(BSNAP_VERSION_PATCH);
}
