/* test-control.c - the control channel's requests and answers
 * (front/control.c): what parses and what is refused, the round trip of
 * both, and bsf_control_call() against a server thread that answers,
 * one that closes without answering, one that never answers, and none. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "bsfront.h"

static int parse(const char *line, bsf_control_request *r)
{
    return bsf_control_request_parse(line, strlen(line), r);
}

static void refused(const char *line, const char *code)
{
    bsf_control_request r;
    assert_true(parse(line, &r) < 0);
    assert_string_equal(bsf_last_error()->code, code);
}

static void test_requests(void **state)
{
    bsf_control_request r, again;
    char *line;

    (void)state;
    assert_int_equal(parse("{\"Op\":\"flush\"}", &r), 0);
    assert_int_equal(r.op, BSF_CONTROL_FLUSH);
    bsf_control_request_clear(&r);

    assert_int_equal(parse("{\"Op\":\"snapshot\",\"Description\":\"d e\",\"Tags\":[{\"Key\":"
                           "\"env\",\"Value\":\"prod\"},{\"Key\":\"k\",\"Value\":\"\"}]}",
                           &r),
                     0);
    assert_int_equal(r.op, BSF_CONTROL_SNAPSHOT);
    assert_string_equal(r.description, "d e");
    assert_int_equal(r.ntags, 2);
    assert_string_equal(r.tags[0].key, "env");
    assert_string_equal(r.tags[0].value, "prod");
    assert_string_equal(r.tags[1].value, "");
    assert_int_equal(bsf_control_request_format(&r, &line), 0);
    assert_non_null(strchr(line, '\n'));
    assert_int_equal(bsf_control_request_parse(line, strlen(line) - 1, &again), 0);
    assert_string_equal(again.description, "d e");
    assert_int_equal(again.ntags, 2);
    free(line);
    bsf_control_request_clear(&again);
    bsf_control_request_clear(&r);

    refused("", "InvalidParameterValue");
    refused("{\"Op\":", "InvalidParameterValue");
    refused("[\"flush\"]", "InvalidParameterValue");
    refused("{}", "MissingParameter");
    refused("{\"Op\":\"reboot\"}", "InvalidParameterValue");
    refused("{\"Op\":1}", "InvalidParameterValue");
    refused("{\"Op\":\"flush\",\"Op\":\"flush\"}", "InvalidParameterValue");
    refused("{\"Op\":\"flush\",\"Force\":true}", "InvalidParameterValue");
    refused("{\"Op\":\"flush\",\"Description\":\"x\"}", "InvalidParameterValue");
    refused("{\"Op\":\"snapshot\",\"Description\":7}", "InvalidParameterValue");
    refused("{\"Op\":\"snapshot\",\"Tags\":{\"Key\":\"k\"}}", "InvalidParameterValue");
    refused("{\"Op\":\"snapshot\",\"Tags\":[{\"Key\":\"k\"}]}", "InvalidParameterValue");
    refused("{\"Op\":\"snapshot\",\"Tags\":[{\"Key\":\"aws:k\",\"Value\":\"v\"}]}",
            "InvalidParameterValue");

    /* bounded: a line over the limit is refused before it is parsed */
    size_t n = BSF_CONTROL_LINE_MAX + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, ' ', n);
    assert_int_equal(bsf_control_request_parse(big, n, &r), -E2BIG);
    free(big);
}

static void test_answers(void **state)
{
    bsf_control_answer a = {.ok = true}, b;
    char *line;

    (void)state;
    snprintf(a.snapshot_id, sizeof a.snapshot_id, "snap-0123456789abcdef0");
    a.stats.read_bytes = 1 << 20;
    a.stats.new_chunks = 16;
    assert_int_equal(bsf_control_answer_format(&a, &line), 0);
    assert_int_equal(bsf_control_answer_parse(line, strlen(line) - 1, &b), 0);
    assert_true(b.ok);
    assert_string_equal(b.snapshot_id, a.snapshot_id);
    assert_int_equal(b.stats.read_bytes, 1 << 20);
    assert_int_equal(b.stats.new_chunks, 16);
    free(line);

    a = (bsf_control_answer){.ok = false};
    snprintf(a.code, sizeof a.code, "VolumeInUse");
    snprintf(a.message, sizeof a.message, "in use");
    assert_int_equal(bsf_control_answer_format(&a, &line), 0);
    assert_int_equal(bsf_control_answer_parse(line, strlen(line) - 1, &b), 0);
    assert_false(b.ok);
    assert_string_equal(b.code, "VolumeInUse");
    assert_string_equal(b.message, "in use");
    free(line);

    const char *bad[] = {"",
                         "{}",
                         "{\"Ok\":1}",
                         "{\"Ok\":true,\"SnapshotId\":\"snap-../x\"}",
                         "{\"Ok\":true,\"SnapshotId\":\"vol-0123456789abcdef0\"}",
                         "{\"Ok\":true,\"Stats\":{\"ReadBytes\":-5}}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(bsf_control_answer_parse(bad[i], strlen(bad[i]), &b), -EPROTO);
}

/* ---- bsf_control_call() against a server thread ---- */

enum mode { ANSWER, CLOSE, SILENT };

struct server {
    char path[108];
    int fd;
    enum mode mode;
    char got[512];
};

static void *server_run(void *arg)
{
    struct server *s = arg;
    int c = accept(s->fd, NULL, NULL);
    size_t have = 0;

    if (c < 0)
        return NULL;
    while (have < sizeof s->got - 1 && !memchr(s->got, '\n', have)) {
        /* io-ok: a test's socket */
        ssize_t r = read(c, s->got + have, sizeof s->got - 1 - have);
        if (r <= 0)
            break;
        have += (size_t)r;
    }
    s->got[have] = '\0';
    if (s->mode == ANSWER) {
        const char *a = "{\"Ok\":true,\"SnapshotId\":\"snap-0123456789abcdef0\"}\n";
        assert_int_equal(write(c, a, strlen(a)), (ssize_t)strlen(a));
    } else if (s->mode == SILENT) {
        char x;
        /* io-ok: waits for the client to give up */
        (void)read(c, &x, 1);
    }
    close(c);
    return NULL;
}

static void with_server(enum mode mode, int want, const char *want_code)
{
    struct server s = {.mode = mode};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    pthread_t t;
    bsf_control_answer a;
    bsf_control_request req = {.op = BSF_CONTROL_SNAPSHOT, .description = (char *)"x"};

    snprintf(s.path, sizeof s.path, "/tmp/bsnap-test-control-%d.sock", (int)getpid());
    unlink(s.path);
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", s.path);
    s.fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(s.fd >= 0);
    assert_int_equal(bind(s.fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(s.fd, 1), 0);
    assert_int_equal(pthread_create(&t, NULL, server_run, &s), 0);
    int e = bsf_control_call(s.path, &req, 500, &a);
    pthread_join(t, NULL);
    close(s.fd);
    unlink(s.path);
    assert_int_equal(e, want);
    if (want == 0) {
        assert_true(a.ok);
        assert_string_equal(a.snapshot_id, "snap-0123456789abcdef0");
        assert_string_equal(s.got, "{\"Op\":\"snapshot\",\"Description\":\"x\"}\n");
    } else {
        assert_string_equal(bsf_last_error()->code, want_code);
    }
}

static void test_call(void **state)
{
    bsf_control_answer a;
    bsf_control_request req = {.op = BSF_CONTROL_FLUSH};

    (void)state;
    with_server(ANSWER, 0, NULL);
    with_server(CLOSE, -EPIPE, "InternalError");
    with_server(SILENT, -ETIMEDOUT, "InternalError");
    assert_int_equal(bsf_control_call("/nonexistent/bsnap-control.sock", &req, 100, &a), -ENOENT);
    char longpath[200];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    assert_int_equal(bsf_control_call(longpath, &req, 100, &a), -ENAMETOOLONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
