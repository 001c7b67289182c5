/* test-util.c - util/: little-endian fields, hex, ids, time stamps, whole
 * file I/O and its aligned buffers, mem_is_zero, and the id hash map. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fault.h"
#include "idmap.h"
#include "util.h"
#include "unit-helpers.h"

static void test_le_fields(void **state)
{
    uint8_t b[8];

    (void)state;
    le16_put(b, 0xbeef);
    assert_int_equal(b[0], 0xef);
    assert_int_equal(b[1], 0xbe);
    assert_int_equal(le16_get(b), 0xbeef);
    le32_put(b, 0x01020304u);
    assert_int_equal(b[0], 4);
    assert_int_equal(b[3], 1);
    assert_int_equal(le32_get(b), 0x01020304u);
    le64_put(b, 0xfedcba9876543210ull);
    assert_int_equal(b[0], 0x10);
    assert_int_equal(b[7], 0xfe);
    assert_true(le64_get(b) == 0xfedcba9876543210ull);
    le32_put(b, UINT32_MAX);
    assert_int_equal(le32_get(b), UINT32_MAX);
}

static void test_hex(void **state)
{
    const uint8_t in[4] = {0x00, 0x7f, 0xa5, 0xff};
    uint8_t out[4];
    char hex[9];

    (void)state;
    hex_encode(in, 4, hex);
    assert_string_equal(hex, "007fa5ff");
    assert_true(hex_decode(hex, 4, out));
    assert_memory_equal(in, out, 4);
    /* Upper case is accepted on input. */
    assert_true(hex_decode("007FA5FF", 4, out));
    assert_memory_equal(in, out, 4);
    assert_false(hex_decode("007fa5fg", 4, out));
    assert_false(hex_decode("x07fa5ff", 4, out));
    assert_false(hex_decode("0 7fa5ff", 4, out));
    /* A string too short ends at its NUL, which is not a digit. */
    assert_false(hex_decode("007f", 4, out));
    hex_encode(in, 0, hex);
    assert_string_equal(hex, "");
}

static void test_ids(void **state)
{
    char a[BSNAP_ID_MAX], b[BSNAP_ID_MAX];

    (void)state;
    assert_int_equal(id_generate("snap", a), 0);
    assert_int_equal(id_generate("snap", b), 0);
    assert_int_equal(strlen(a), 5 + 17);
    assert_memory_equal(a, "snap-", 5);
    assert_string_not_equal(a, b);
    assert_true(id_valid(a, "snap"));
    assert_false(id_valid(a, "vol"));
    for (const char *p = a + 5; *p; p++)
        assert_true((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));

    assert_true(id_valid("snap-0123abcd", "snap")); /* 8-digit legacy */
    assert_true(id_valid("vol-0123456789abcdef0", "vol"));
    assert_false(id_valid("vol-0123456789ABCDEF0", "vol")); /* upper case */
    assert_false(id_valid("vol-0123456789abcdef", "vol"));  /* 16 digits */
    assert_false(id_valid("vol-0123456789abcdef01", "vol"));
    assert_false(id_valid("vol0123456789abcdef0", "vol"));
    assert_false(id_valid("vol-", "vol"));
    assert_false(id_valid("", "vol"));
    assert_false(id_valid("volx-0123abcd", "vol"));
    assert_false(id_valid("vol-0123abcg", "vol"));
}

static void test_time_format(void **state)
{
    char buf[32];

    (void)state;
    time_format_ms(0, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    time_format_ms(1795400936123ll, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-23T02:28:56.123Z");
    time_format_ms(951782400999ll, buf, sizeof buf); /* a leap day */
    assert_string_equal(buf, "2000-02-29T00:00:00.999Z");
    assert_true(time_now_ms() > 1700000000000ll);
}

static void test_mem_is_zero(void **state)
{
    uint8_t buf[100];

    (void)state;
    memset(buf, 0, sizeof buf);
    assert_true(mem_is_zero(buf, 0));
    for (size_t n = 1; n <= sizeof buf; n++) {
        assert_true(mem_is_zero(buf, n));
        /* a single non-zero byte anywhere is seen, at every length */
        for (size_t i = 0; i < n; i++) {
            buf[i] = 1;
            assert_false(mem_is_zero(buf, n));
            buf[i] = 0;
        }
    }
}

static void test_file_io(void **state)
{
    char dir[256], *p, *big, *buf = NULL;
    size_t len = 0;
    _Alignas(IO_ALIGN) uint8_t raw[IO_ALIGN + 16];
    uint8_t *rd = raw;
    int fd;

    (void)state;
    tmpdir_make(dir, sizeof dir);
    p = path_in(dir, "f");
    fd = open(p, O_RDWR | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(full_pwrite(fd, "hello, world", 12, 0), 0);
    /* full_pread is short only at the end of the file */
    assert_int_equal(full_pread(fd, rd, 16, 0), 12);
    rd = io_at(raw, 7);
    assert_int_equal(full_pread(fd, rd, 16, 7), 5);
    assert_memory_equal(rd, "world", 5);
    rd = io_at(raw, 100);
    assert_int_equal(full_pread(fd, rd, 16, 100), 0);
    assert_int_equal(full_pread(-1, raw, 16, 0), -EBADF);
    assert_int_equal(full_write(fd, "!", 1), 0);
    close(fd);

    assert_int_equal(file_read_all(p, 100, &buf, &len), 0);
    assert_int_equal(len, 12);
    assert_string_equal(buf, "!ello, world"); /* write() at offset 0 */
    free(buf);
    buf = NULL;
    assert_int_equal(file_read_all(p, 11, &buf, &len), -EFBIG);
    assert_null(buf);
    assert_int_equal(file_read_all(dir, 100, &buf, &len), -EISDIR);
    big = path_in(dir, "missing");
    assert_int_equal(file_read_all(big, 100, &buf, &len), -ENOENT);
    assert_int_equal(fsync_dir(dir), 0);
    assert_int_equal(fsync_dir(big), -ENOENT);
    free(big);
    free(p);
    tmpdir_remove(dir);
}

/* A pipe has st_size 0: file_read_all reads it to EOF all the same, in
 * more than one read, and still stops at @max. */
static void test_file_read_pipe(void **state)
{
    static char text[10000];
    char path[64], *buf = NULL;
    size_t len = 0;
    int fds[2];

    (void)state;
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (char)('a' + i % 26);
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(full_write(fds[1], text, sizeof text), 0);
    close(fds[1]);
    snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
    assert_int_equal(file_read_all(path, sizeof text, &buf, &len), 0);
    assert_int_equal(len, sizeof text);
    assert_memory_equal(buf, text, sizeof text);
    assert_int_equal(buf[len], '\0');
    free(buf);
    buf = NULL;
    close(fds[0]);

    assert_int_equal(pipe(fds), 0);
    assert_int_equal(full_write(fds[1], text, sizeof text), 0);
    close(fds[1]);
    snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
    assert_int_equal(file_read_all(path, sizeof text - 1, &buf, &len), -EFBIG);
    assert_null(buf);
    close(fds[0]);
}

/* Buffers the kernel copies into: alloc_aligned() is page-aligned from a
 * page up and IO_ALIGN-aligned below; io_at() places a read so that the
 * destination is congruent to the file offset modulo IO_ALIGN. */
static void test_alloc_aligned(void **state)
{
    static const size_t sizes[] = {0, 1, 48, 63, 64, 4095, 4096, 65536, 1u << 20};
    _Alignas(IO_ALIGN) uint8_t raw[2 * IO_ALIGN];

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        uint8_t *p = alloc_aligned(sizes[i]);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % (sizes[i] >= IO_PAGE ? IO_PAGE : IO_ALIGN), 0);
        memset(p, 0xa5, sizes[i]); /* all of it is ours (ASan says) */
        free(p);
    }
    assert_ptr_equal(io_at(raw, 0), raw);
    assert_ptr_equal(io_at(raw, 4096 + 77), raw + 13);
    assert_true(io_aligned(raw, 8192));
    assert_true(io_aligned(io_at(raw, 32 + 48), 32 + 48));
    assert_false(io_aligned(raw + 16, 0)); /* where malloc() puts a large buffer */
    assert_false(io_aligned(raw, 4090));
}

/* Test builds (BSNAP_CHECK_IO_ALIGN) stop at a read into a destination that
 * breaks the rule, so that a new path that does fails its tests. */
static void test_pread_checks_alignment(void **state)
{
#ifdef BSNAP_CHECK_IO_ALIGN
    _Alignas(IO_ALIGN) uint8_t raw[IO_ALIGN + 16];
    int fd = open("/dev/zero", O_RDONLY), status;
    pid_t pid;

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(full_pread(fd, io_at(raw, 4096 + 40), 16, 4096 + 40), 16);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(STDERR_FILENO); /* the child's message is expected */
        full_pread(fd, raw + 16, 16, 0);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    close(fd);
#else
    (void)state;
    skip();
#endif
}

static void test_random_bytes(void **state)
{
    uint8_t a[64] = {0}, b[64] = {0};

    (void)state;
    assert_int_equal(random_bytes(a, sizeof a), 0);
    assert_int_equal(random_bytes(b, sizeof b), 0);
    assert_memory_not_equal(a, b, sizeof a);
    assert_int_equal(random_bytes(a, 0), 0);
}

static void test_idmap(void **state)
{
    struct idmap m = {0};
    uint8_t key[16];
    const size_t n = 5000; /* several growths from 1024 */

    (void)state;
    memset(key, 0, sizeof key);
    key[0] = 1;
    assert_null(idmap_get(&m, key)); /* empty map */
    for (size_t i = 1; i <= n; i++) {
        struct idmap_entry *e;
        memset(key, 0, sizeof key);
        le64_put(key + 8, i); /* low slot bits equal: all collide at first */
        e = idmap_put(&m, key);
        assert_non_null(e);
        assert_true(e->v[0] == 0 && e->v[1] == 0);
        e->v[0] = i;
        e->v[1] = ~(uint64_t)i;
    }
    assert_int_equal(m.n, n);
    for (size_t i = 1; i <= n; i++) {
        struct idmap_entry *e;
        memset(key, 0, sizeof key);
        le64_put(key + 8, i);
        e = idmap_get(&m, key);
        assert_non_null(e);
        assert_int_equal(e->v[0], i);
        assert_true(e->v[1] == ~(uint64_t)i);
        /* putting an existing key finds it, values kept */
        assert_ptr_equal(idmap_put(&m, key), e);
        assert_int_equal(e->v[0], i);
    }
    assert_int_equal(m.n, n);
    memset(key, 0, sizeof key);
    le64_put(key + 8, n + 1);
    assert_null(idmap_get(&m, key));
    idmap_free(&m);
    assert_null(m.e);
    assert_int_equal(m.cap, 0);
    idmap_free(&m); /* twice is harmless */
}

static void test_cleanup_helpers(void **state)
{
    char *p = strdup("x"), *q;
    int fd = open("/dev/null", O_RDONLY), g;

    (void)state;
    q = steal_ptr(p);
    assert_null(p);
    assert_string_equal(q, "x");
    free(q);
    g = steal_fd(fd);
    assert_int_equal(fd, -1);
    assert_true(g >= 0);
    close(g);
    assert_int_equal(DIV_ROUND_UP(0, 4096), 0);
    assert_int_equal(DIV_ROUND_UP(1, 4096), 1);
    assert_int_equal(DIV_ROUND_UP(4096, 4096), 1);
    assert_int_equal(DIV_ROUND_UP(4097, 4096), 2);
    {
        _cleanup_free_ char *freed = strdup("freed at scope end"); /* ASan finds a leak */
        _cleanup_close_ int closed = open("/dev/null", O_RDONLY);
        assert_non_null(freed);
        assert_true(closed >= 0);
    }
}

/* BLOCKSNAP_FAULT="POINT:N,...": the Nth passage through POINT fails. */
static void test_fault_spec(void **state)
{
    (void)state;
    requires_faults();
    unsetenv("BLOCKSNAP_FAULT");
    assert_false(fault_hit("t-alpha")); /* not counted without the variable */
    setenv("BLOCKSNAP_FAULT", "t-alpha:2,t-beta:1,t-alph:1", 1);
    assert_false(fault_hit("t-alpha"));
    assert_true(fault_hit("t-alpha"));
    assert_false(fault_hit("t-alpha"));
    assert_true(fault_hit("t-beta"));
    assert_false(fault_hit("t-beta"));
    assert_false(fault_hit("t-gamma"));
    assert_true(fault_hit("t-alph")); /* a prefix of another point is its own point */
    setenv("BLOCKSNAP_FAULT", "", 1);
    assert_false(fault_hit("t-beta"));
    unsetenv("BLOCKSNAP_FAULT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_le_fields),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_mem_is_zero),
        cmocka_unit_test(test_file_io),
        cmocka_unit_test(test_file_read_pipe),
        cmocka_unit_test(test_alloc_aligned),
        cmocka_unit_test(test_pread_checks_alignment),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_idmap),
        cmocka_unit_test(test_cleanup_helpers),
        cmocka_unit_test(test_fault_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
