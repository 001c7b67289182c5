/* test-source.c - engine/source.c and engine/nbd.c: the redaction of NBD
 * URIs, the file source's holes and reads, and the NBD source against a
 * real nbdkit (started here and stopped by its PID): size, holes from
 * base:allocation, reads, a meta context the server does not offer, and a
 * server that goes away. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>

#include "unit-helpers.h"
#include "source.h"
#include "util.h"

static void test_uri_redact(void **state)
{
    static const char *const cases[][2] = {
        {"nbd+unix:///?socket=/run/vm.sock", "nbd+unix:///?socket=/run/vm.sock"},
        {"nbd+unix:///d?tls-psk-file=/k.psk&socket=/s", "nbd+unix:///d?socket=/s"},
        {"nbds://alice@host:10810/disk?tls-certificates=/c", "nbds://host:10810/disk"},
        {"nbd://h/x#frag", "nbd://h/x"},
        {"nbd://[::1]:10809/", "nbd://[::1]:10809/"},
        {"nbds+unix://a@b@/?&&socket=s&x=1", "nbds+unix:///?socket=s"},
        {"nbd:garbage?tls-psk-file=k", "nbd:garbage"},
        {"nbd:?x=y://h/", "nbd:"},
        {"", ""},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *r = source_uri_redact(cases[i][0]);
        assert_non_null(r);
        assert_string_equal(r, cases[i][1]);
        free(r);
    }
}

static void test_is_uri(void **state)
{
    (void)state;
    assert_true(source_is_uri("nbd://h"));
    assert_true(source_is_uri("nbds+unix:///?socket=s"));
    assert_true(source_is_uri("nbd:garbage"));
    assert_true(bsnap_volume_is_uri("nbd+vsock:///"));
    assert_false(source_is_uri("/dev/nbd0"));
    assert_false(source_is_uri("./nbd:x"));
    assert_false(source_is_uri("nbdisk.img"));
}

static void test_file_source(void **state)
{
    struct fixture *f = *state;
    char *path = path_in(f->dir, "sparse.img");
    struct source *src = NULL;
    uint8_t *buf = alloc_aligned(64 * KiB);
    uint64_t off;
    int fd;

    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 4 * MiB), 0);
    close(fd);
    volume_write(path, 1 * MiB, 64 * KiB, 7);
    assert_int_equal(source_open(path, NULL, &src), 0);
    assert_int_equal(src->size, 4 * MiB);
    assert_string_equal(src->shown, path);
    if (src->ops->seek(src, 0, true, &off) == 0) { /* the filesystem knows holes */
        assert_true(off <= 1 * MiB);
        assert_int_equal(src->ops->seek(src, 1 * MiB, false, &off), 0);
        assert_true(off >= 1 * MiB + 64 * KiB);
    }
    assert_int_equal(src->ops->pread(src, buf, 64 * KiB, 1 * MiB), (ssize_t)(64 * KiB));
    assert_false(mem_is_zero(buf, 64 * KiB));
    assert_int_equal(src->ops->check(src), 0);
    source_close(src);

    assert_error(source_open(path, "qemu:dirty-bitmap:b", &src), -EINVAL, "InvalidParameterValue");
    assert_message_has("is a file");
    free(buf);
    free(path);
}

/* ---- a real nbdkit ---- */

static pid_t nbdkit_start(const char *sock, ...)
{
    /* --exit-with-parent: a failed assertion leaves the test without
     * reaching nbdkit_stop(); nbdkit then goes with the test's process */
    const char *argv[16] = {"nbdkit", "-f", "--exit-with-parent", "-U", sock};
    size_t n = 5;
    va_list ap;
    pid_t pid;

    va_start(ap, sock);
    while (n < ARRAY_SIZE(argv) - 1 && (argv[n] = va_arg(ap, const char *)))
        n++;
    va_end(ap);
    argv[n] = NULL;
    unlink(sock);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execvp("nbdkit", (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        struct stat st;
        int status;
        if (stat(sock, &st) == 0)
            return pid;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return -1; /* it exited: not installed, or refused */
        usleep(100 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void nbdkit_stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void test_nbd_source(void **state)
{
    struct fixture *f = *state;
    char *sock = path_in(f->dir, "nbd.sock"), *uri = NULL;
    struct source *src = NULL;
    uint8_t *buf = alloc_aligned(256 * KiB);
    bsnap_range *dirty = NULL;
    size_t ndirty;
    uint64_t off;
    pid_t pid;

    /* 4 MiB, all zero but bytes 1 2 3 at 1 MiB */
    pid = nbdkit_start(sock, "data", "data=@1048576 1 2 3", "size=4M", NULL);
    if (pid < 0) {
        free(sock);
        free(buf);
        skip();
    }
    assert_true(asprintf(&uri, "nbd+unix:///?socket=%s&tls-psk-file=/nowhere", sock) > 0);
    assert_int_equal(source_open(uri, NULL, &src), 0);
    assert_int_equal(src->size, 4 * MiB);
    assert_null(strstr(src->key, "tls-psk-file"));
    assert_non_null(strstr(src->key, sock));
    /* base:allocation: the data is around 1 MiB and nowhere else */
    assert_int_equal(src->ops->seek(src, 0, true, &off), 0);
    assert_true(off > 0 && off <= 1 * MiB);
    assert_int_equal(src->ops->seek(src, off, false, &off), 0);
    assert_true(off > 1 * MiB && off < 4 * MiB);
    assert_int_equal(src->ops->seek(src, 2 * MiB, true, &off), -ENXIO);
    assert_int_equal(src->ops->seek(src, 3 * MiB, false, &off), 0);
    assert_int_equal(off, 3 * MiB);
    /* a read of several requests in flight */
    assert_int_equal(src->ops->pread(src, buf, 256 * KiB, 1 * MiB), (ssize_t)(256 * KiB));
    assert_int_equal(buf[0], 1);
    assert_int_equal(buf[2], 3);
    assert_true(mem_is_zero(buf + 3, 256 * KiB - 3));
    assert_int_equal(src->ops->check(src), 0);
    /* no changed-block context was asked for */
    assert_error(source_changed(src, &dirty, &ndirty), -EINVAL, "InvalidParameterValue");
    /* the server goes away: this read and every later one fail */
    nbdkit_stop(pid);
    assert_error((int)src->ops->pread(src, buf, 64 * KiB, 0), -EIO, "VolumeReadError");
    assert_message_has(sock);
    assert_error((int)src->ops->pread(src, buf, 64 * KiB, 0), -EIO, "VolumeReadError");
    assert_error(src->ops->check(src), -EIO, "VolumeReadError");
    source_close(src);

    /* a meta context the server does not offer, and one that is no list */
    pid = nbdkit_start(sock, "memory", "size=1M", NULL);
    assert_true(pid > 0);
    assert_error(source_open(uri, "qemu:dirty-bitmap:b1", &src), -EINVAL, "InvalidParameterValue");
    assert_message_has("does not offer");
    assert_error(source_open(uri, "base:allocation", &src), -EINVAL, "InvalidParameterValue");
    nbdkit_stop(pid);
    /* no server at all */
    assert_error(source_open(uri, NULL, &src), -EIO, "VolumeReadError");
    assert_null(strstr(bsnap_last_error()->message, "nowhere"));
    free(uri);
    free(sock);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri_redact),
        cmocka_unit_test(test_is_uri),
        cmocka_unit_test_setup_teardown(test_file_source, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_nbd_source, setup_4k, teardown_fixture),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
