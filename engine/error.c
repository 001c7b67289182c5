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
    char parameter[64];
    bool param_set; /* parameter given by error_set_parameter(), not the first ref */
    char reason[40];
};

static _Thread_local struct error_record last = {
    .pub = {.err = 0, .code = "", .message = "", .parameter = "", .reason = ""},
};

/* The refs of the log line being delivered (bsnap_log_refs()). */
static _Thread_local const bsnap_error_ref *log_refs;
static _Thread_local size_t log_nrefs;

static bsnap_log_func log_fn;
static void *log_ud;

/* Point the public record at its buffers, and name its first ref. */
static void publish(void)
{
    last.pub.code = last.code;
    last.pub.message = last.message;
    last.pub.reason = last.reason;
    if (last.param_set) {
        last.pub.parameter = last.parameter;
        return;
    }
    last.parameter[0] = '\0';
    if (last.pub.nrefs > 0 && last.pub.refs[0].length < sizeof last.parameter) {
        memcpy(last.parameter, last.message + last.pub.refs[0].offset, last.pub.refs[0].length);
        last.parameter[last.pub.refs[0].length] = '\0';
    }
    last.pub.parameter = last.parameter;
}

const bsnap_error *bsnap_last_error(void)
{
    if (!last.pub.code)
        publish();
    return &last.pub;
}

void bsnap_error_clear(void)
{
    last.pub.err = 0;
    last.code[0] = '\0';
    last.message[0] = '\0';
    last.pub.nrefs = 0;
    last.param_set = false;
    last.reason[0] = '\0';
    publish();
}

int error_set_reason(const char *reason)
{
    snprintf(last.reason, sizeof last.reason, "%s", reason);
    publish();
    return last.pub.err ? last.pub.err : -EIO;
}

int error_set_parameter(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(last.parameter, sizeof last.parameter, fmt, ap);
    va_end(ap);
    last.param_set = true;
    publish();
    return last.pub.err ? last.pub.err : -EIO;
}

static bool code_is_input(const char *code)
{
    size_t n = strlen(code);

    static const char *const exact[] = {
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "MissingParameter",
        "TagLimitExceeded",
        "IncorrectState",
        "VolumeInUse",
        "InvalidID",
        "InvalidBlockDeviceMapping",
        /* KMS's */
        "NotFoundException",
        "DisabledException",
        "AlreadyExistsException",
        "InvalidAliasNameException",
        "KMSInvalidStateException",
        "AccessDeniedException",
        "ValidationException",
        "ResourceNotFoundException",
        "ConflictException",
        "InvalidArnException",
        "TagException",
    };

    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(code, exact[i]) == 0)
            return true;
    return (n > 10 && strcmp(code + n - 10, ".Malformed") == 0) ||
           (n > 9 && strcmp(code + n - 9, ".NotFound") == 0) ||
           (n > 6 && strcmp(code + n - 6, ".InUse") == 0) ||
           (n > 12 && strcmp(code + n - 12, ".Unavailable") == 0);
}

int error_param(int r, const char *fmt, ...)
{
    va_list ap;

    if (r >= 0 || last.param_set || !code_is_input(last.code))
        return r;
    va_start(ap, fmt);
    vsnprintf(last.parameter, sizeof last.parameter, fmt, ap);
    va_end(ap);
    last.param_set = true;
    publish();
    return r;
}

/* The markers of a format: "@{Name}" is written Name, and its span noted.
 * To tell the format's markers from an argument's text, the format is
 * printed twice, each marker replaced by a byte that differs between the
 * two runs (\1, then \2) and every argument the same in both: where the
 * two results differ, a marker stands. */
#define MARK_A '\1'
#define MARK_B '\2'

static bool marker_at(const char *p, size_t *ret_len)
{
    const char *e;

    if (p[0] != '@' || p[1] != '{' || !(e = strchr(p + 2, '}')) || e == p + 2)
        return false;
    for (const char *q = p + 2; q < e; q++)
        if (!((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') ||
              *q == '.' || *q == '[' || *q == ']'))
            return false;
    *ret_len = (size_t)(e - p) + 1;
    return true;
}

size_t error_vformat(char *out, size_t cap, bsnap_error_ref *refs, const char *fmt, va_list ap)
{
    char fa[512], fb[512], a[1024], b[1024];
    const char *names[BSNAP_ERROR_REFS_MAX];
    size_t lens[BSNAP_ERROR_REFS_MAX], nnames = 0, n = 0, o = 0, len;
    va_list ap2;

    /* the formats, markers replaced */
    for (const char *p = fmt; *p && n + 1 < sizeof fa;) {
        if (nnames < BSNAP_ERROR_REFS_MAX && marker_at(p, &len)) {
            names[nnames] = p + 2;
            lens[nnames++] = len - 3;
            fa[n] = MARK_A;
            fb[n++] = MARK_B;
            p += len;
        } else {
            fa[n] = fb[n] = *p++;
            n++;
        }
    }
    if (nnames == 0 || strlen(fmt) >= sizeof fa) {
        vsnprintf(out, cap, fmt, ap);
        return 0;
    }
    fa[n] = fb[n] = '\0';
    va_copy(ap2, ap);
    vsnprintf(a, sizeof a, fa, ap);
    vsnprintf(b, sizeof b, fb, ap2);
    va_end(ap2);
    n = 0;
    for (size_t i = 0, k = 0; a[i] && o + 1 < cap; i++) {
        if (a[i] == MARK_A && b[i] == MARK_B && k < nnames) {
            if (o + lens[k] + 1 > cap)
                break;
            memcpy(out + o, names[k], lens[k]);
            refs[n++] = (bsnap_error_ref){(uint32_t)o, (uint32_t)lens[k]};
            o += lens[k++];
        } else {
            out[o++] = a[i];
        }
    }
    out[o] = '\0';
    return n;
}

int bsnap_fail_text(int err, const char *code, const char *text, const bsnap_error_ref *refs,
                    size_t nrefs)
{
    if (err >= 0)
        err = -EIO; /* a programmer error; never report success as failure */
    last.pub.err = err;
    snprintf(last.code, sizeof last.code, "%s", code ? code : "InternalError");
    if (text != last.message)
        snprintf(last.message, sizeof last.message, "%s", text);
    last.pub.nrefs = 0;
    last.param_set = false;
    last.reason[0] = '\0';
    for (size_t i = 0; i < nrefs && i < BSNAP_ERROR_REFS_MAX; i++)
        if (refs[i].offset + refs[i].length <= strlen(last.message))
            last.pub.refs[last.pub.nrefs++] = refs[i];
    publish();
    bsnap_debug("error", "%s (%s, errno %d)", last.message, last.code, -err);
    return err;
}

int bsnap_fail(int err, const char *code, const char *fmt, ...)
{
    bsnap_error_ref refs[BSNAP_ERROR_REFS_MAX];
    char msg[sizeof last.message];
    size_t n;
    va_list ap;

    va_start(ap, fmt);
    n = error_vformat(msg, sizeof msg, refs, fmt, ap);
    va_end(ap);
    return bsnap_fail_text(err, code, msg, refs, n);
}

int bsnap_fail_external(int err, const char *code, const char *message)
{
    /* "%s": an argument's "@{" is text, not a marker */
    return bsnap_fail(err < 0 ? err : -EIO, code, "%s", message);
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
        /* the names moved with the text; one cut off is dropped */
        size_t k = 0;
        for (size_t i = 0; i < last.pub.nrefs; i++) {
            bsnap_error_ref r = last.pub.refs[i];
            r.offset += (uint32_t)(pl + 2);
            if (r.offset + r.length <= strlen(last.message))
                last.pub.refs[k++] = r;
        }
        last.pub.nrefs = k;
        publish();
    }
    return last.pub.err ? last.pub.err : -EIO;
}

void error_save(error_saved *s)
{
    s->err = last.pub.err;
    snprintf(s->code, sizeof s->code, "%s", last.code);
    snprintf(s->message, sizeof s->message, "%s", last.message);
    s->nrefs = last.pub.nrefs;
    memcpy(s->refs, last.pub.refs, sizeof s->refs);
    s->param_set = last.param_set;
    memcpy(s->reason, last.reason, sizeof s->reason);
    memcpy(s->parameter, last.parameter, sizeof s->parameter);
}

void error_restore(const error_saved *s)
{
    last.pub.err = s->err;
    snprintf(last.code, sizeof last.code, "%s", s->code);
    snprintf(last.message, sizeof last.message, "%s", s->message);
    last.pub.nrefs = s->nrefs;
    memcpy(last.pub.refs, s->refs, sizeof s->refs);
    last.param_set = s->param_set;
    memcpy(last.reason, s->reason, sizeof last.reason);
    memcpy(last.parameter, s->parameter, sizeof last.parameter);
    publish();
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

const bsnap_error_ref *bsnap_log_refs(size_t *ret_n)
{
    *ret_n = log_nrefs;
    return log_refs;
}

void bsnap_log(int level, const char *cat, const char *fmt, ...)
{
    bsnap_error_ref refs[BSNAP_ERROR_REFS_MAX];
    char msg[2048];
    va_list ap;

    if (!log_fn)
        return;
    va_start(ap, fmt);
    log_nrefs = error_vformat(msg, sizeof msg, refs, fmt, ap);
    va_end(ap);
    log_refs = log_nrefs ? refs : NULL;
    log_fn(log_ud, level, cat, msg);
    log_refs = NULL;
    log_nrefs = 0;
}

const char *bsnap_version(void)
{
    return BSNAP_VERSION_STRING;
}

int error_dry_run(void)
{
    /* EC2's words exactly: scripts match them */
    return bsnap_fail(-ENOEXEC, "DryRunOperation",
                      "Request would have succeeded, but DryRun flag is set.");
}
