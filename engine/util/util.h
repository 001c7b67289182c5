/* util.h - small helpers every module uses: little-endian fields, hex,
 * random ids, time stamps, whole-file I/O.  Nothing here knows a format. */
#ifndef BSNAP_UTIL_H
#define BSNAP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "cleanup.h"

static inline void le16_put(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void le32_put(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void le64_put(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t le16_get(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t le32_get(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t le64_get(const uint8_t *p)
{
    return (uint64_t)le32_get(p) | ((uint64_t)le32_get(p + 4) << 32);
}

/* Write 2*@n lower-case hex digits and a NUL to @out. */
void hex_encode(const uint8_t *in, size_t n, char *out);
/* Decode exactly 2*@n hex digits from @in; false if any is not hex. */
bool hex_decode(const char *in, size_t n, uint8_t *out);

/* Fill @buf with @n bytes from getrandom(); negative errno on failure. */
int random_bytes(void *buf, size_t n);

/* A new resource id: @prefix "-" 17 hex digits.  @out has BSNAP_ID_MAX. */
int id_generate(const char *prefix, char *out);
/* Whether @id is PREFIX-(8|17 hex).  @prefix without the dash. */
bool id_valid(const char *id, const char *prefix);

/* Milliseconds since the epoch, and its ISO 8601 UTC form
 * "2026-11-23T03:28:56.000Z" (@out at least 25 bytes). */
int64_t time_now_ms(void);
void time_format_ms(int64_t ms, char *out, size_t outlen);

/* Buffers.
 *
 * On the AMD EPYC machines blocksnap is measured on, the kernel's copy to
 * user memory (kernel 6.x: a `rep movsb`) runs about 5x slower when the
 * destination address lies 1 to 31 bytes past the source modulo 4096.  For
 * a read() or pread() of a file the source is the page cache, so what
 * counts is the destination against the file offset: 256 KiB pieces of a
 * warm image copied at 9.4 GiB/s into a page-aligned buffer and at 1.7
 * GiB/s into one at offset 16, which is where malloc() puts a large
 * allocation (on a loaded machine, 64 KiB reads: 2.4 against 0.5 GiB/s;
 * destinations 1, 8, 16, 24 and 31 bytes past the offset slow, 32, 48 and
 * 80 fast, 0 past an offset of 4072 slow).  Copies out of user memory
 * (writes) are not affected.  The snapshot workers spent 73 % of a
 * no-change rescan in that copy; aligning their one buffer took the rescan
 * of a 512 MiB image from 0.146 s to 0.061 s.  glibc's memcpy() of 64 KiB
 * is a `rep movsb` too (5.3 against 0.5 GiB/s), so the buffers a stored
 * chunk is copied into (pages, chunks) come from alloc_aligned() as well.
 *
 * Hence the rule: every read goes through full_pread() into a destination
 * whose address is congruent to the file offset modulo IO_ALIGN, i.e. a
 * buffer from alloc_aligned() (or an _Alignas(IO_ALIGN) array) read at an
 * offset that is a multiple of IO_ALIGN, or io_at(buffer, offset) of such a
 * buffer for an offset that is not (a pack record, whose offset is
 * anything; the buffer needs IO_ALIGN - 1 bytes of room more).  The
 * top-level CMakeLists.txt defines BSNAP_CHECK_IO_ALIGN for the builds that
 * run the tests (BSNAP_SANITIZE, BSNAP_TSAN, Debug), and then full_pread()
 * aborts on a destination that breaks the rule, so that a new path that
 * does fails its tests instead of silently costing 5x; other builds
 * (release, the plain RelWithDebInfo one) compile the check out.  The lint
 * test io-check (tests/lint/io-check.sh) keeps raw read calls out of
 * engine/, fuse/ and tools/. */
#define IO_ALIGN 64
#define IO_PAGE 4096

/* @size bytes aligned to IO_PAGE when @size is at least a page, else to
 * IO_ALIGN; release with free() (so _cleanup_free_ works).  NULL when out
 * of memory (nothing recorded). */
void *alloc_aligned(size_t size) __attribute__((malloc, warn_unused_result));

/* Where to read the bytes at file offset @off into the IO_ALIGN-aligned
 * buffer @base so that full_pread()'s rule holds: @base + @off % IO_ALIGN.
 * @base needs @off % IO_ALIGN (at most IO_ALIGN - 1) bytes of room more. */
static inline uint8_t *io_at(void *base, uint64_t off)
{
    return (uint8_t *)base + (off & (IO_ALIGN - 1));
}

/* Whether a read of file offset @off into @buf keeps the rule above. */
static inline bool io_aligned(const void *buf, uint64_t off)
{
    return (((uintptr_t)buf - (uintptr_t)off) & (IO_ALIGN - 1)) == 0;
}

/* pread/pwrite the whole buffer, retrying on EINTR and short counts.
 * full_pread returns bytes read (< n only at EOF) or -errno; @buf must be
 * io_aligned() for @off (checked in test builds, see above). */
ssize_t full_pread(int fd, void *buf, size_t n, off_t off);
int full_pwrite(int fd, const void *buf, size_t n, off_t off);
int full_write(int fd, const void *buf, size_t n);

/* Read a whole (small) file into a NUL-terminated malloc'd buffer: to EOF,
 * whatever its kind (a pipe, a FIFO or /dev/stdin has st_size 0).  -EFBIG
 * when it holds more than @max bytes, -EISDIR for a directory, else -errno
 * of open or read. */
int file_read_all(const char *path, size_t max, char **ret_buf, size_t *ret_len);

/* fsync a directory, so a rename or create in it is durable. */
int fsync_dir(const char *path);

/* Whether @buf of @n bytes is all zero (fast path for 8-byte aligned). */
bool mem_is_zero(const void *buf, size_t n);

/* Room for one more element in the array @p (of @n elements, room for
 * *@cap, each @size bytes): @p itself while there is room, else @p grown to
 * twice the room (@first when empty), *@cap updated.  NULL when out of
 * memory (@p untouched, -ENOMEM not recorded). */
void *array_grow(void *p, size_t n, size_t *cap, size_t size, size_t first);

/* ---- UTF-8: the one place that counts characters ----------------------
 * Every limit users are told in characters (descriptions, tag keys and
 * values, names) counts Unicode code points, as EC2 does, through
 * utf8_length(). */

/* Code points in the @n bytes at @s, or -1 if they are not well-formed
 * UTF-8 (overlong forms, surrogates, code points past U+10FFFF, truncated
 * sequences and NUL bytes are all refused). */
long utf8_length(const char *s, size_t n);

/* Bytes of the character that starts at @s (not at its NUL): 2 to 4 for a
 * well-formed multi-byte sequence, else 1, so a stray byte is a character
 * of its own and a walk over any string always moves forward. */
size_t utf8_char_len(const char *s);

#endif
