/* test-qmp.c - the QMP and guest-agent client (front/qmp.c) against
 * a fake peer on a real unix socket, played from a script by a thread: the
 * greeting and the capabilities negotiation, replies matched by id, events
 * interleaved with replies and kept for bsf_qmp_wait_event(), a reply split
 * across reads, QEMU's errors, and the hostile or broken peers: garbage, a
 * line that is not an object, an over-long line, a peer that closes in the
 * middle of a reply, one that never answers (the timeout), and a guest
 * agent that answers guest-sync with another number. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bsfront-vm.h"

#define GREETING                                                                       \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, " \
    "\"capabilities\": [\"oob\"]}}\n"

/* One step of the fake peer's script. */
enum op {
    END,    /* close the connection */
    SEND,   /* send text as it is (any bytes, not a whole line) */
    EXPECT, /* read one line from the client: a command named text */
    REPLY,  /* send text with every "ID" replaced by the last command's id */
    PAUSE,  /* wait n ms (the client sees what was sent so far on its own) */
    BIG,    /* send n bytes of 'x' and no newline */
    HANG,   /* say nothing until the client goes away */
};

struct step {
    enum op op;
    const char *text;
    size_t n;
};

struct peer {
    char dir[256], path[300];
    int lfd;
    pthread_t thread;
    const struct step *script;
    char failed[256]; /* what went wrong on the peer's side, "" if nothing */
    char last_id[32];
    json_t *last_args; /* the arguments of the last command */
};

static void peer_fail(struct peer *p, const char *fmt, ...)
{
    va_list ap;
    if (p->failed[0])
        return;
    va_start(ap, fmt);
    vsnprintf(p->failed, sizeof p->failed, fmt, ap);
    va_end(ap);
}

static bool send_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        buf += w;
        n -= (size_t)w;
    }
    return true;
}

/* One line from @fd (without its newline) into @buf, byte by byte. */
static bool read_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        if (c == '\n')
            break;
        if (n + 1 < cap)
            buf[n++] = c;
    }
    buf[n] = '\0';
    return true;
}

static void expect_cmd(struct peer *p, int fd, const char *name)
{
    char line[4096];
    json_error_t je;
    json_t *v;

    if (!read_line(fd, line, sizeof line)) {
        peer_fail(p, "the client sent no %s", name);
        return;
    }
    v = json_loads(line, 0, &je);
    const char *got = json_string_value(json_object_get(v, "execute"));
    if (!got || strcmp(got, name) != 0)
        peer_fail(p, "expected %s, got %s", name, line);
    json_t *id = json_object_get(v, "id");
    if (json_is_integer(id))
        snprintf(p->last_id, sizeof p->last_id, "%lld", (long long)json_integer_value(id));
    else
        snprintf(p->last_id, sizeof p->last_id, "null");
    json_decref(p->last_args);
    p->last_args = json_incref(json_object_get(v, "arguments"));
    json_decref(v);
}

static void reply(struct peer *p, int fd, const char *text)
{
    char out[4096];
    size_t n = 0;
    for (const char *s = text; *s && n + 40 < sizeof out;) {
        if (strncmp(s, "ID", 2) == 0) {
            n += (size_t)snprintf(out + n, sizeof out - n, "%s", p->last_id);
            s += 2;
        } else {
            out[n++] = *s++;
        }
    }
    if (!send_all(fd, out, n))
        peer_fail(p, "could not send %s", text);
}

static void *peer_main(void *arg)
{
    struct peer *p = arg;
    int fd = accept(p->lfd, NULL, NULL);

    if (fd < 0) {
        peer_fail(p, "accept: %s", strerror(errno));
        return NULL;
    }
    for (const struct step *s = p->script; s->op != END; s++) {
        switch (s->op) {
        case SEND:
            if (!send_all(fd, s->text, strlen(s->text)))
                peer_fail(p, "could not send %s", s->text);
            break;
        case EXPECT:
            expect_cmd(p, fd, s->text);
            break;
        case REPLY:
            reply(p, fd, s->text);
            break;
        case PAUSE:
            usleep((useconds_t)s->n * 1000);
            break;
        case BIG: {
            static char block[65536];
            memset(block, 'x', sizeof block);
            for (size_t left = s->n; left > 0;) {
                size_t k = left < sizeof block ? left : sizeof block;
                if (!send_all(fd, block, k))
                    break; /* the client gave up: what it should do */
                left -= k;
            }
            break;
        }
        case HANG: {
            char c;
            while (read(fd, &c, 1) > 0)
                ; /* until the client closes */
            break;
        }
        case END:
            break;
        }
    }
    close(fd);
    return NULL;
}

/* Listen on a fresh socket and serve one connection on a thread: @fn
 * (NULL: peer_main, which plays @script). */
static struct peer *peer_start_fn(const struct step *script, void *(*fn)(void *))
{
    struct peer *p = calloc(1, sizeof *p);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *tmp = getenv("TMPDIR");

    assert_non_null(p);
    snprintf(p->dir, sizeof p->dir, "%s/qmp-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(p->dir));
    snprintf(p->path, sizeof p->path, "%s/qmp.sock", p->dir);
    assert_true(strlen(p->path) < sizeof sa.sun_path);
    memcpy(sa.sun_path, p->path, strlen(p->path) + 1);
    p->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(p->lfd >= 0);
    assert_int_equal(bind(p->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(p->lfd, 1), 0);
    p->script = script;
    assert_int_equal(pthread_create(&p->thread, NULL, fn ? fn : peer_main, p), 0);
    return p;
}

static struct peer *peer_start(const struct step *script)
{
    return peer_start_fn(script, NULL);
}

/* Wait for the peer's script to end and check it saw what it expected. */
static void peer_stop(struct peer *p)
{
    assert_int_equal(pthread_join(p->thread, NULL), 0);
    if (p->failed[0])
        fail_msg("the fake peer: %s", p->failed);
    close(p->lfd);
    unlink(p->path);
    rmdir(p->dir);
    json_decref(p->last_args);
    free(p);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* bsf_qmp_open() must fail with @code, its message holding @words. */
static void open_fails(const struct step *script, bool agent, int timeout_ms, const char *code,
                       const char *words)
{
    struct peer *p = peer_start(script);
    char *err = NULL, want[80];
    struct bsf_qmp *q = bsf_qmp_open(p->path, agent, timeout_ms, &err);

    assert_null(q);
    assert_non_null(err);
    snprintf(want, sizeof want, "(%s)", code);
    if (!strstr(err, want) || !strstr(err, words))
        fail_msg("expected %s with '%s', got: %s", code, words, err);
    free(err);
    peer_stop(p);
}

/* ---- the tests ---- */

/* Greeting, capabilities, a command with arguments and its answer. */
static void test_greeting_and_capabilities(void **state)
{
    static const struct step script[] = {
        {SEND, GREETING, 0},
        {EXPECT, "qmp_capabilities", 0},
        {REPLY, "{\"return\": {}, \"id\": ID}\n", 0},
        {EXPECT, "query-name", 0},
        {REPLY, "{\"return\": {\"name\": \"vm1\"}, \"id\": ID}\r\n", 0},
        {END, NULL, 0},
    };
    struct peer *p = peer_start(script);
    char *err = NULL;
    json_t *ret = NULL;
    (void)state;

    struct bsf_qmp *q = bsf_qmp_open(p->path, false, 5000, &err);
    if (!q)
        fail_msg("bsf_qmp_open: %s", err);
    assert_int_equal(bsf_qmp_executef(q, "query-name", &ret, "{s:s}", "x", "y"), 0);
    assert_string_equal(json_string_value(json_object_get(ret, "name")), "vm1");
    json_decref(ret);
    bsf_qmp_close(q);
    assert_string_equal(json_string_value(json_object_get(p->last_args, "x")), "y");
    peer_stop(p);
}

/* Events before and between replies are kept for bsf_qmp_wait_event(); a
 * reply to another id is not taken for ours; a reply split in three
 * pieces across reads is one reply; QEMU's error is QmpError naming the
 * command and QEMU's words. */
static void test_events_split_and_errors(void **state)
{
    static const struct step script[] = {
        {SEND, GREETING, 0},
        {EXPECT, "qmp_capabilities", 0},
        {SEND, "{\"event\": \"STOP\", \"data\": {}}\n", 0},
        {REPLY, "{\"return\": {}, \"id\": ID}\n", 0},
        {EXPECT, "block-export-del", 0},
        {SEND, "{\"event\": \"BLOCK_EXPORT_DELETED\", \"data\": {\"id\": \"e0\"}}\n", 0},
        {SEND, "{\"return\": {}, \"id\": 999}\n", 0}, /* another's */
        {SEND, "{\"ret", 0},
        {PAUSE, NULL, 50},
        {REPLY, "urn\": {\"n\":", 0},
        {PAUSE, NULL, 50},
        {REPLY, " 7}, \"id\": ID}\n", 0},
        {EXPECT, "blockdev-del", 0},
        {REPLY,
         "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"no node fl\"}, \"id\": ID}\n", 0},
        {EXPECT, "stop", 0},
        {REPLY,
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"it is stopped\"}, \"id\": ID}\n",
         0},
        {EXPECT, "cont", 0},
        {REPLY, "{\"id\": ID}\n", 0}, /* neither return nor error */
        {PAUSE, NULL, 20},
        {SEND, "{\"event\": \"BLOCK_JOB_CANCELLED\", \"data\": {\"device\": \"fl\"}}\n", 0},
        {END, NULL, 0},
    };
    struct peer *p = peer_start(script);
    char *err = NULL;
    json_t *ret = NULL;
    (void)state;

    struct bsf_qmp *q = bsf_qmp_open(p->path, false, 5000, &err);
    if (!q)
        fail_msg("bsf_qmp_open: %s", err);
    assert_int_equal(bsf_qmp_execute(q, "block-export-del", NULL, &ret), 0);
    assert_int_equal(json_integer_value(json_object_get(ret, "n")), 7);
    json_decref(ret);
    /* both events came before: kept, each found once */
    assert_int_equal(bsf_qmp_wait_event(q, "BLOCK_EXPORT_DELETED", "e0", 1000), 0);
    assert_int_equal(bsf_qmp_wait_event(q, "STOP", NULL, 1000), 0);

    assert_int_equal(bsf_qmp_execute(q, "blockdev-del", NULL, NULL), -1);
    assert_string_equal(bsf_qmp_error_code(q), "QmpError");
    assert_non_null(
        strstr(bsf_qmp_error(q), "QEMU refused blockdev-del: no node fl (DeviceNotFound)"));
    assert_false(bsf_qmp_gone(q));
    assert_int_equal(bsf_qmp_execute(q, "stop", NULL, NULL), -1);
    assert_non_null(strstr(bsf_qmp_error(q), "refused stop: it is stopped (QmpError)"));
    assert_int_equal(bsf_qmp_execute(q, "cont", NULL, NULL), -1);
    assert_string_equal(bsf_qmp_error_code(q), "QmpProtocolError");
    /* an event that comes after the wait began */
    assert_int_equal(bsf_qmp_wait_event(q, "BLOCK_JOB_CANCELLED", "fl", 5000), 0);
    /* and then the peer is gone */
    assert_int_equal(bsf_qmp_wait_event(q, "BLOCK_JOB_CANCELLED", "fl", 5000), -1);
    assert_string_equal(bsf_qmp_error_code(q), "QmpConnectionLost");
    assert_true(bsf_qmp_gone(q));
    assert_int_equal(bsf_qmp_execute(q, "cont", NULL, NULL), -1); /* at once */
    bsf_qmp_close(q);
    peer_stop(p);
}

/* Garbage, a line that is JSON but not an object, a greeting that is not
 * QEMU's: QmpProtocolError, "does not speak QMP". */
static void test_garbage(void **state)
{
    static const struct step garbage[] = {{SEND, "220 hello, I am not QEMU\n", 0}, {END, NULL, 0}};
    static const struct step array[] = {{SEND, "[1, 2, 3]\n", 0}, {END, NULL, 0}};
    static const struct step binary[] = {{SEND, "\x01\xff\xfe{\"QMP\n", 0}, {END, NULL, 0}};
    static const struct step other[] = {{SEND, "{\"hello\": 1}\n", 0}, {END, NULL, 0}};
    static const struct step reply_garbage[] = {
        {SEND, GREETING, 0},
        {EXPECT, "qmp_capabilities", 0},
        {SEND, "{\"return\": {}, \"id\": \n", 0},
        {HANG, NULL, 0},
        {END, NULL, 0},
    };
    (void)state;

    open_fails(garbage, false, 5000, "QmpProtocolError", "does not speak QMP");
    open_fails(array, false, 5000, "QmpProtocolError", "does not speak QMP");
    open_fails(binary, false, 5000, "QmpProtocolError", "does not speak QMP");
    open_fails(other, false, 5000, "QmpProtocolError", "does not speak QMP");
    open_fails(reply_garbage, false, 5000, "QmpProtocolError", "not a JSON object");
}

/* A line over the limit (64 MiB) without a newline: refused as soon as it
 * passes the limit, not read on without end. */
static void test_overlong_line(void **state)
{
    static const struct step script[] = {
        {SEND, GREETING, 0},
        {EXPECT, "qmp_capabilities", 0},
        {BIG, NULL, (64u << 20) + 65536},
        {END, NULL, 0},
    };
    (void)state;
    open_fails(script, false, 30000, "QmpProtocolError", "a line over 64 MiB");
}

/* A peer that closes in the middle of a reply, and one that closes before
 * its greeting: QmpConnectionLost. */
static void test_closed_mid_reply(void **state)
{
    static const struct step mid[] = {
        {SEND, GREETING, 0},
        {EXPECT, "qmp_capabilities", 0},
        {SEND, "{\"return\": {", 0},
        {END, NULL, 0},
    };
    static const struct step at_once[] = {{END, NULL, 0}};
    (void)state;
    open_fails(mid, false, 5000, "QmpConnectionLost", "closed the QMP connection");
    open_fails(at_once, false, 5000, "QmpConnectionLost", "closed the QMP connection");
}

/* A peer that never answers: QmpTimeout after the timeout given, for the
 * greeting, for a command, and for an event. */
static void test_never_answers(void **state)
{
    static const struct step silent[] = {{HANG, NULL, 0}, {END, NULL, 0}};
    static const struct step no_reply[] = {
        {SEND, GREETING, 0},
        {EXPECT, "qmp_capabilities", 0},
        {REPLY, "{\"return\": {}, \"id\": ID}\n", 0},
        {EXPECT, "block-job-cancel", 0},
        {HANG, NULL, 0},
        {END, NULL, 0},
    };
    (void)state;

    int64_t t0 = now_ms();
    open_fails(silent, false, 300, "QmpTimeout", "did not answer");
    int64_t took = now_ms() - t0;
    assert_true(took >= 250);
    assert_true(took < 10000); /* it gave up */

    struct peer *p = peer_start(no_reply);
    char *err = NULL;
    struct bsf_qmp *q = bsf_qmp_open(p->path, false, 300, &err);
    if (!q)
        fail_msg("bsf_qmp_open: %s", err);
    t0 = now_ms();
    assert_int_equal(bsf_qmp_execute(q, "block-job-cancel", NULL, NULL), -1);
    assert_true(now_ms() - t0 >= 250);
    assert_string_equal(bsf_qmp_error_code(q), "QmpTimeout");
    assert_non_null(strstr(bsf_qmp_error(q), "did not answer block-job-cancel"));
    assert_false(bsf_qmp_gone(q));
    assert_int_equal(bsf_qmp_wait_event(q, "BLOCK_JOB_CANCELLED", "fl", 200), -1);
    assert_string_equal(bsf_qmp_error_code(q), "QmpTimeout");
    assert_non_null(strstr(bsf_qmp_error(q), "no BLOCK_JOB_CANCELLED event"));
    bsf_qmp_close(q); /* the peer sees the close and ends */
    peer_stop(p);
}

/* A guest agent that answers guest-sync with another number than the
 * client's is not an agent. */
static void test_agent(void **state)
{
    static const struct step wrong[] = {
        {EXPECT, "guest-sync", 0},
        {SEND, "{\"return\": 12345678901}\n", 0},
        {END, NULL, 0},
    };
    (void)state;

    open_fails(wrong, true, 5000, "QmpProtocolError", "is not a QEMU guest agent");
}

/* A guest agent: no greeting; guest-sync answered with the client's own
 * number (its id argument); a freeze, and a thaw it refuses. */
static void *agent_main(void *arg)
{
    struct peer *p = arg;
    int fd = accept(p->lfd, NULL, NULL);
    char line[4096];

    if (fd < 0)
        return NULL;
    expect_cmd(p, fd, "guest-sync");
    json_t *id = json_object_get(p->last_args, "id");
    if (!json_is_integer(id))
        peer_fail(p, "guest-sync without an id");
    snprintf(line, sizeof line, "{\"return\": %lld}\n", (long long)json_integer_value(id));
    send_all(fd, line, strlen(line));
    expect_cmd(p, fd, "guest-fsfreeze-freeze");
    send_all(fd, "{\"return\": 2}\n", 14);
    expect_cmd(p, fd, "guest-fsfreeze-thaw");
    const char *e = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"not frozen\"}}\n";
    send_all(fd, e, strlen(e));
    close(fd);
    return NULL;
}

static void test_agent_freeze(void **state)
{
    struct peer *p = peer_start_fn(NULL, agent_main);
    char *err = NULL;
    json_t *ret = NULL;
    (void)state;

    struct bsf_qmp *q = bsf_qmp_open(p->path, true, 5000, &err);
    if (!q)
        fail_msg("bsf_qmp_open of the agent: %s", err);
    assert_int_equal(bsf_qmp_execute(q, "guest-fsfreeze-freeze", NULL, &ret), 0);
    assert_int_equal(json_integer_value(ret), 2);
    json_decref(ret);
    assert_int_equal(bsf_qmp_execute(q, "guest-fsfreeze-thaw", NULL, NULL), -1);
    assert_non_null(
        strstr(bsf_qmp_error(q), "the guest agent refused guest-fsfreeze-thaw: not frozen"));
    bsf_qmp_close(q);
    peer_stop(p);
}

/* No such socket, a path too long: QmpConnectFailed and
 * InvalidParameterValue, naming the path. */
static void test_connect_errors(void **state)
{
    char *err = NULL, path[200];
    (void)state;

    assert_null(bsf_qmp_open("/nonexistent/qmp.sock", false, 1000, &err));
    assert_non_null(strstr(err, "/nonexistent/qmp.sock"));
    assert_non_null(strstr(err, "(QmpConnectFailed)"));
    free(err);
    memset(path, 'a', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    assert_null(bsf_qmp_open(path, false, 1000, &err));
    assert_non_null(strstr(err, "(InvalidParameterValue)"));
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greeting_and_capabilities),
        cmocka_unit_test(test_events_split_and_errors),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_overlong_line),
        cmocka_unit_test(test_closed_mid_reply),
        cmocka_unit_test(test_never_answers),
        cmocka_unit_test(test_agent),
        cmocka_unit_test(test_agent_freeze),
        cmocka_unit_test(test_connect_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
