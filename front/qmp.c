/* qmp.c - QMP and guest-agent client (see bsfront-vm.h). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bsfront-vm.h"

#define QMP_LINE_MAX (64u << 20) /* a reply longer than this is not QEMU's */
#define QMP_EVENTS_MAX 256       /* events kept for bsf_qmp_wait_event() */

struct bsf_qmp {
    int fd;
    bool agent;
    int timeout_ms;
    unsigned long next_id;
    char *buf; /* bytes read and not yet parsed */
    size_t len, cap;
    size_t scanned; /* the first bytes of buf known to hold no newline */
    json_t *events; /* array of the events seen, oldest first */
    bool gone;      /* the connection broke: nothing more is sent */
    char code[64];
    char err[2048];
};

static int fail(struct bsf_qmp *q, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct bsf_qmp *q, const char *code, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(q->err, sizeof q->err - sizeof q->code - 4, fmt, ap);
    va_end(ap);
    if (n < 0)
        q->err[0] = '\0';
    snprintf(q->code, sizeof q->code, "%s", code);
    if (strcmp(code, "QmpConnectionLost") == 0)
        q->gone = true;
    n = (int)strlen(q->err);
    snprintf(q->err + n, sizeof q->err - (size_t)n, " (%s)", code);
    return -1;
}

const char *bsf_qmp_error(const struct bsf_qmp *q)
{
    return q->err;
}
const char *bsf_qmp_error_code(const struct bsf_qmp *q)
{
    return q->code;
}

bool bsf_qmp_gone(const struct bsf_qmp *q)
{
    return q->gone;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One JSON line into *@ret (new), waiting until @deadline (ms). */
static int read_line(struct bsf_qmp *q, int64_t deadline, json_t **ret)
{
    for (;;) {
        /* only the bytes not looked at yet: a long line read in many
         * pieces is scanned once, not once a piece */
        char *nl =
            q->len > q->scanned ? memchr(q->buf + q->scanned, '\n', q->len - q->scanned) : NULL;
        q->scanned = q->len;
        if (nl) {
            json_error_t je;
            size_t n = (size_t)(nl - q->buf);
            json_t *v = json_loadb(q->buf, n, 0, &je);
            memmove(q->buf, nl + 1, q->len - n - 1);
            q->len -= n + 1;
            q->scanned = 0;
            if (!v || !json_is_object(v)) {
                json_decref(v);
                return fail(q, "QmpProtocolError",
                            "the QMP peer sent a line that is not a JSON object: %s",
                            v ? "not an object" : je.text);
            }
            *ret = v;
            return 0;
        }
        if (q->len == q->cap) {
            size_t cap = q->cap ? q->cap * 2 : 65536;
            char *b;
            if (cap > QMP_LINE_MAX)
                return fail(q, "QmpProtocolError", "the QMP peer sent a line over %u MiB",
                            QMP_LINE_MAX >> 20);
            if (!(b = realloc(q->buf, cap)))
                return fail(q, "InternalError", "out of memory");
            q->buf = b;
            q->cap = cap;
        }
        int64_t left = deadline - now_ms();
        struct pollfd p = {.fd = q->fd, .events = POLLIN};
        if (left <= 0)
            return fail(q, "QmpTimeout", "QEMU did not answer in %d s", q->timeout_ms / 1000);
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return fail(q, "QmpConnectionLost", "poll on the QMP socket: %s", strerror(errno));
        if (r == 0)
            continue;
        /* io-ok: JSON lines from a socket, not a volume */
        ssize_t got = read(q->fd, q->buf + q->len, q->cap - q->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return fail(q, "QmpConnectionLost", "read from the QMP socket: %s", strerror(errno));
        if (got == 0)
            return fail(q, "QmpConnectionLost", "QEMU closed the QMP connection");
        q->len += (size_t)got;
    }
}

static int send_obj(struct bsf_qmp *q, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    size_t n, off = 0;

    if (!text)
        return fail(q, "InternalError", "out of memory");
    n = strlen(text);
    text[n] = '\0';
    while (off <= n) {
        /* the line and its newline */
        ssize_t w = off < n ? send(q->fd, text + off, n - off, MSG_NOSIGNAL)
                            : send(q->fd, "\n", 1, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            free(text);
            return fail(q, "QmpConnectionLost", "write to the QMP socket: %s", strerror(errno));
        }
        off += off < n ? (size_t)w : 1;
    }
    free(text);
    return 0;
}

int bsf_qmp_execute(struct bsf_qmp *q, const char *cmd, const json_t *args, json_t **ret)
{
    json_t *msg = json_pack("{s:s}", "execute", cmd), *reply = NULL;
    unsigned long id = ++q->next_id;
    int64_t deadline = now_ms() + q->timeout_ms;

    if (q->gone) {
        json_decref(msg);
        return -1; /* the error that ended the connection stays */
    }
    if (!msg)
        return fail(q, "InternalError", "out of memory");
    if (args)
        json_object_set_new(msg, "arguments", json_deep_copy(args));
    if (!q->agent)
        json_object_set_new(msg, "id", json_integer((json_int_t)id));
    if (send_obj(q, msg) < 0) {
        json_decref(msg);
        return -1;
    }
    json_decref(msg);
    for (;;) {
        if (read_line(q, deadline, &reply) < 0) {
            if (strcmp(q->code, "QmpTimeout") == 0)
                fail(q, "QmpTimeout", "QEMU did not answer %s in %d s", cmd, q->timeout_ms / 1000);
            return -1;
        }
        if (json_object_get(reply, "event")) {
            if (json_array_size(q->events) >= QMP_EVENTS_MAX)
                json_array_remove(q->events, 0);
            json_array_append_new(q->events, reply);
            continue;
        }
        json_t *rid = json_object_get(reply, "id");
        if (!q->agent && (!json_is_integer(rid) || (unsigned long)json_integer_value(rid) != id)) {
            json_decref(reply); /* an answer to something else: not ours */
            continue;
        }
        break;
    }
    json_t *e = json_object_get(reply, "error");
    if (e) {
        const char *cls = json_string_value(json_object_get(e, "class"));
        const char *desc = json_string_value(json_object_get(e, "desc"));
        const char *who = q->agent ? "the guest agent" : "QEMU";
        /* "GenericError" says nothing: the class only when it is another */
        if (cls && strcmp(cls, "GenericError") != 0)
            fail(q, "QmpError", "%s refused %s: %s (%s)", who, cmd,
                 desc ? desc : "(no description)", cls);
        else
            fail(q, "QmpError", "%s refused %s: %s", who, cmd, desc ? desc : "(no description)");
        json_decref(reply);
        return -1;
    }
    if (!json_object_get(reply, "return")) {
        json_decref(reply);
        return fail(q, "QmpProtocolError", "the answer to %s has neither return nor error", cmd);
    }
    if (ret)
        *ret = json_incref(json_object_get(reply, "return"));
    json_decref(reply);
    return 0;
}

int bsf_qmp_executef(struct bsf_qmp *q, const char *cmd, json_t **ret, const char *fmt, ...)
{
    json_error_t je;
    va_list ap;
    json_t *args;
    int r;

    va_start(ap, fmt);
    args = json_vpack_ex(&je, 0, fmt, ap);
    va_end(ap);
    if (!args)
        return fail(q, "InternalError", "arguments of %s: %s", cmd, je.text);
    r = bsf_qmp_execute(q, cmd, args, ret);
    json_decref(args);
    return r;
}

static bool event_matches(json_t *ev, const char *event, const char *id)
{
    json_t *data = json_object_get(ev, "data");
    const char *name = json_string_value(json_object_get(ev, "event"));
    const char *dev = json_string_value(json_object_get(data, "device"));
    const char *eid = json_string_value(json_object_get(data, "id"));

    if (!name || strcmp(name, event) != 0)
        return false;
    return !id || (dev && strcmp(dev, id) == 0) || (eid && strcmp(eid, id) == 0);
}

int bsf_qmp_wait_event(struct bsf_qmp *q, const char *event, const char *id, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    json_t *m;
    size_t i;

    json_array_foreach (q->events, i, m)
        if (event_matches(m, event, id)) {
            json_array_remove(q->events, i);
            return 0;
        }
    for (;;) {
        if (read_line(q, deadline, &m) < 0) {
            if (strcmp(q->code, "QmpTimeout") == 0)
                fail(q, "QmpTimeout", "QEMU sent no %s event in %d s", event, timeout_ms / 1000);
            return -1;
        }
        if (event_matches(m, event, id)) {
            json_decref(m);
            return 0;
        }
        json_decref(m); /* an event of something else, or a late answer */
    }
}

static int handshake(struct bsf_qmp *q, const char *path);

struct bsf_qmp *bsf_qmp_open(const char *path, bool agent, int timeout_ms, char **ret_err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct bsf_qmp *q = calloc(1, sizeof *q);
    const char *what = agent ? "guest agent" : "QMP";

    if (!q || !(q->events = json_array())) {
        free(q);
        *ret_err = strdup("out of memory (InternalError)");
        return NULL;
    }
    q->fd = -1;
    q->agent = agent;
    q->timeout_ms = timeout_ms;
    if (strlen(path) >= sizeof sa.sun_path) {
        fail(q, "InvalidParameterValue", "%s socket path %s is longer than %zu bytes", what, path,
             sizeof sa.sun_path - 1);
        goto fail;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (q->fd < 0 || connect(q->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        fail(q, "QmpConnectFailed", "cannot connect to the %s socket %s: %s", what, path,
             strerror(errno));
        goto fail;
    }
    if (handshake(q, path) < 0)
        goto fail;
    return q;
fail:
    *ret_err = strdup(q->err);
    bsf_qmp_close(q);
    return NULL;
}

struct bsf_qmp *bsf_qmp_open_fd(int fd, bool agent, int timeout_ms, char **ret_err)
{
    struct bsf_qmp *q = calloc(1, sizeof *q);

    if (!q || !(q->events = json_array())) {
        free(q);
        close(fd);
        *ret_err = strdup("out of memory (InternalError)");
        return NULL;
    }
    q->fd = fd;
    q->agent = agent;
    q->timeout_ms = timeout_ms;
    if (handshake(q, "the QMP peer") < 0) {
        *ret_err = strdup(q->err);
        bsf_qmp_close(q);
        return NULL;
    }
    return q;
}

/* What follows the connection: a guest agent's guest-sync, or QEMU's
 * greeting and the capabilities negotiation.  @path names the peer. */
static int handshake(struct bsf_qmp *q, const char *path)
{
    json_t *greeting = NULL;

    if (q->agent) {
        /* guest-sync: the agent answers with our number once any stale
         * output of an earlier client is drained */
        json_t *r = NULL;
        long long token = (long long)(now_ms() & 0x3fffffff);
        if (bsf_qmp_executef(q, "guest-sync", &r, "{s:I}", "id", token) < 0)
            return -1;
        if (!json_is_integer(r) || json_integer_value(r) != token) {
            json_decref(r);
            return fail(q, "QmpProtocolError", "%s is not a QEMU guest agent (guest-sync)", path);
        }
        json_decref(r);
        return 0;
    }
    if (read_line(q, now_ms() + q->timeout_ms, &greeting) < 0 ||
        !json_object_get(greeting, "QMP")) {
        /* out of memory, a timeout and a lost connection stay themselves;
         * anything else is not QEMU */
        if (greeting || strcmp(q->code, "QmpProtocolError") == 0)
            fail(q, "QmpProtocolError", "%s does not speak QMP: no QEMU greeting", path);
        json_decref(greeting);
        return -1;
    }
    json_decref(greeting);
    return bsf_qmp_execute(q, "qmp_capabilities", NULL, NULL);
}

void bsf_qmp_close(struct bsf_qmp *q)
{
    if (!q)
        return;
    if (q->fd >= 0)
        close(q->fd);
    json_decref(q->events);
    free(q->buf);
    free(q);
}
