/* util.c - see util.h. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blocksnap.h"

void hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool hex_decode(const char *in, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(in[2 * i]), lo;
        if (hi < 0)
            return false;
        lo = hex_value(in[2 * i + 1]);
        if (lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

int random_bytes(void *buf, size_t n)
{
    uint8_t *p = buf;

    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int id_generate(const char *prefix, char *out)
{
    uint8_t raw[9];
    char hex[19];
    int r = random_bytes(raw, sizeof raw);

    if (r < 0)
        return r;
    hex_encode(raw, sizeof raw, hex);
    hex[17] = '\0'; /* 17 digits, as EC2's ids */
    snprintf(out, BSNAP_ID_MAX, "%s-%s", prefix, hex);
    return 0;
}

bool id_valid(const char *id, const char *prefix)
{
    size_t plen = strlen(prefix), n;

    if (strncmp(id, prefix, plen) != 0 || id[plen] != '-')
        return false;
    id += plen + 1;
    n = strlen(id);
    if (n != 8 && n != 17)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

int64_t time_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void time_format_ms(int64_t ms, char *out, size_t outlen)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

void *alloc_aligned(size_t size)
{
    void *p = NULL;

    if (posix_memalign(&p, size >= IO_PAGE ? IO_PAGE : IO_ALIGN, size ? size : 1) != 0)
        return NULL;
    return p;
}

#ifdef BSNAP_CHECK_IO_ALIGN
/* A programmer error, as an assert() is; compiled into test builds only
 * (util.h says why). */
static void io_misaligned(const void *buf, size_t n, off_t off)
{
    /* lint-ok: an assert's message, printed as assert() prints its own */
    fprintf(stderr,
            "blocksnap: internal error: read of %zu bytes at offset %lld into %p: the "
            "destination is not congruent to the offset modulo %d (util.h: Buffers)\n",
            n, (long long)off, buf, IO_ALIGN);
    abort();
}
#endif

ssize_t full_pread(int fd, void *buf, size_t n, off_t off)
{
    size_t done = 0;

#ifdef BSNAP_CHECK_IO_ALIGN
    if (!io_aligned(buf, (uint64_t)off))
        io_misaligned(buf, n, off);
#endif
    while (done < n) {
        /* io-ok: the wrapper itself */
        ssize_t r = pread(fd, (char *)buf + done, n - done, off + (off_t)done);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            break;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

int full_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    size_t done = 0;

    while (done < n) {
        ssize_t r = pwrite(fd, (const char *)buf + done, n - done, off + (off_t)done);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done += (size_t)r;
    }
    return 0;
}

int full_write(int fd, const void *buf, size_t n)
{
    size_t done = 0;

    while (done < n) {
        ssize_t r = write(fd, (const char *)buf + done, n - done);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done += (size_t)r;
    }
    return 0;
}

int file_read_all(const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    _cleanup_free_ char *buf = NULL;
    size_t len = 0, cap = 0;
    struct stat st;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISDIR(st.st_mode))
        return -EISDIR;
    /* Read to EOF: st_size is only a hint (0 for a pipe, a FIFO, /dev/stdin
     * or a file of /proc) and a regular file may grow while it is read. */
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
        cap = (size_t)MIN((uint64_t)st.st_size, (uint64_t)max) + 1;
        buf = malloc(cap + 1);
        if (!buf)
            return -ENOMEM;
    }
    for (;;) {
        ssize_t r;
        if (len == cap) { /* len <= max here, so the new cap is above it */
            size_t ncap = MIN(MAX(cap * 2, (size_t)4096), max + 1);
            char *nb = realloc(buf, ncap + 1);
            if (!nb)
                return -ENOMEM;
            buf = nb;
            cap = ncap;
        }
        /* io-ok: a small text file (config, a changed-block list) read once,
         * maybe from a pipe; realloc() keeps no alignment */
        r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > max)
            return -EFBIG;
    }
    buf[len] = '\0';
    *ret_len = len;
    *ret_buf = steal_ptr(buf);
    return 0;
}

int fsync_dir(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        return -errno;
    return 0;
}

void *array_grow(void *p, size_t n, size_t *cap, size_t size, size_t first)
{
    size_t c;
    void *np;

    if (n < *cap)
        return p;
    c = *cap ? *cap * 2 : first;
    if (c <= n || c > SIZE_MAX / size || !(np = realloc(p, c * size)))
        return NULL;
    *cap = c;
    return np;
}

bool mem_is_zero(const void *buf, size_t n)
{
    const uint8_t *p = buf;

    /* Check the first 16 bytes byte-wise, then compare the buffer with
     * itself shifted by 16: memcmp is vectorised and this needs no zero
     * buffer. */
    if (n <= 16) {
        for (size_t i = 0; i < n; i++)
            if (p[i])
                return false;
        return true;
    }
    for (size_t i = 0; i < 16; i++)
        if (p[i])
            return false;
    return memcmp(p, p + 16, n - 16) == 0;
}

/* Length and value of the well-formed UTF-8 sequence at @p (at most @n
 * bytes), or 0 if there is none. */
static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *ret_cp)
{
    unsigned c = p[0];
    size_t len;
    uint32_t cp;

    if (c < 0x80) {
        *ret_cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((p[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[k] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    *ret_cp = cp;
    return len;
}

long utf8_length(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    long chars = 0;

    for (size_t i = 0; i < n; chars++) {
        uint32_t cp;
        size_t len = utf8_decode(p + i, n - i, &cp);
        if (len == 0 || cp == 0)
            return -1;
        i += len;
    }
    return chars;
}

size_t utf8_char_len(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t avail = 1;
    uint32_t cp;

    /* Never look past the NUL: count the bytes up to 4 that are not it. */
    while (avail < 4 && p[avail - 1] && p[avail])
        avail++;
    size_t len = utf8_decode(p, avail, &cp);
    return len ? len : 1;
}
