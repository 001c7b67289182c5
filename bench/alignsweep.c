/* alignsweep - how fast pread() copies a warm file into memory, by the
 * alignment of the destination buffer and of the file offset.
 *
 *   alignsweep [-s SIZE_MIB] [-r REPS] FILE
 *
 * Fills FILE with SIZE_MIB (default 512) MiB of pseudo-random bytes unless it
 * already has at least that many, reads it once so that it is in the page
 * cache, then, for pieces of 64 KiB and 256 KiB, for each file offset
 * (0, 16, 32, 48, 4096) and destination offset from a page boundary (0, 1, 8,
 * 16, 24, 32, 48, 64, 80, 96, 112, 128, 256, 512, 1024, 2048, 4096), reads the
 * whole file with pread() in pieces at FILE_OFFSET + i * PIECE into a
 * page-aligned buffer + DEST_OFFSET, REPS times (default 3, the cells taken
 * in turn so that a change of load hits every cell alike), and prints the
 * median rate of each cell:
 *
 *   # piece_bytes file_offset dest_offset GiB/s
 *   65536 0 0 9.41
 *
 * The file is left in place.  On some x86-64 machines (AMD EPYC, kernel 6.x,
 * whose copy_to_user is `rep movsb`) a destination a few bytes past a
 * 32-byte boundary copies several times slower than an aligned one; this is
 * what `malloc()` of a large buffer returns (16 bytes past a page).
 * bench/run --scenario align builds and runs it; by hand:
 *
 *   cc -O2 -o alignsweep bench/alignsweep.c && ./alignsweep /var/tmp/sweep.bin
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define MIB (1024u * 1024u)

static const size_t pieces[] = {64 * 1024, 256 * 1024};
static const size_t file_offs[] = {0, 16, 32, 48, 4096};
static const size_t dest_offs[] = {0,  1,   8,   16,  24,  32,   48,   64,  80,
                                   96, 112, 128, 256, 512, 1024, 2048, 4096};

#define NP (sizeof pieces / sizeof pieces[0])
#define NF (sizeof file_offs / sizeof file_offs[0])
#define ND (sizeof dest_offs / sizeof dest_offs[0])

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Write @size bytes of xorshift output: incompressible, and real pages in
 * the page cache (a hole would be read from the zero page). */
static int fill(int fd, unsigned long long size)
{
    uint64_t x = 0x9e3779b97f4a7c15u, *buf = malloc(MIB);
    unsigned long long done = 0;

    if (!buf)
        return -1;
    while (done < size) {
        for (size_t i = 0; i < MIB / sizeof *buf; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = x;
        }
        if (write(fd, buf, MIB) != (ssize_t)MIB) {
            free(buf);
            return -1;
        }
        done += MIB;
    }
    free(buf);
    return fsync(fd);
}

/* One pass over the file; returns GiB/s, or a negative value on error. */
static double pass(int fd, unsigned long long size, char *buf, size_t piece, size_t foff)
{
    unsigned long long n = (size - foff) / piece, bytes = n * piece;
    double t0 = now(), t;

    for (unsigned long long i = 0; i < n; i++) {
        ssize_t r = pread(fd, buf, piece, (off_t)(foff + i * piece));

        if (r != (ssize_t)piece)
            return -1;
    }
    t = now() - t0;
    return t > 0 ? (double)bytes / (1024.0 * 1024.0 * 1024.0) / t : 0;
}

int main(int argc, char **argv)
{
    unsigned long long size = 512ull * MIB;
    unsigned reps = 3;
    static double rate[NP][NF][ND][64];
    struct stat st;
    char *buf;
    int fd, c;

    while ((c = getopt(argc, argv, "s:r:")) != -1) {
        switch (c) {
        case 's':
            size = strtoull(optarg, NULL, 10) * MIB;
            break;
        case 'r':
            reps = (unsigned)strtoul(optarg, NULL, 10);
            break;
        default:
            goto usage;
        }
    }
    if (optind != argc - 1 || size < 2 * MIB || reps < 1 || reps > 64)
        goto usage;
    fd = open(argv[optind], O_RDWR | O_CREAT, 0644);
    if (fd < 0 || fstat(fd, &st) < 0) {
        fprintf(stderr, "alignsweep: %s: %s\n", argv[optind], strerror(errno));
        return 1;
    }
    if ((unsigned long long)st.st_size < size && (ftruncate(fd, 0) < 0 || fill(fd, size) < 0)) {
        fprintf(stderr, "alignsweep: cannot write %s: %s\n", argv[optind], strerror(errno));
        return 1;
    }
    buf = aligned_alloc(PAGE, 256 * 1024 + 2 * PAGE);
    if (!buf)
        return 1;
    memset(buf, 1, 256 * 1024 + 2 * PAGE);
    if (pass(fd, size, buf, 256 * 1024, 0) < 0) { /* into the page cache */
        fprintf(stderr, "alignsweep: cannot read %s: %s\n", argv[optind], strerror(errno));
        return 1;
    }
    for (unsigned r = 0; r < reps; r++)
        for (size_t p = 0; p < NP; p++)
            for (size_t f = 0; f < NF; f++)
                for (size_t d = 0; d < ND; d++) {
                    rate[p][f][d][r] = pass(fd, size, buf + dest_offs[d], pieces[p], file_offs[f]);
                    if (rate[p][f][d][r] < 0) {
                        fprintf(stderr, "alignsweep: short read of %s\n", argv[optind]);
                        return 1;
                    }
                }
    printf("# piece_bytes file_offset dest_offset GiB/s (median of %u passes over %llu MiB)\n",
           reps, size / MIB);
    for (size_t p = 0; p < NP; p++)
        for (size_t f = 0; f < NF; f++)
            for (size_t d = 0; d < ND; d++) {
                qsort(rate[p][f][d], reps, sizeof(double), cmp_double);
                printf("%zu %zu %zu %.2f\n", pieces[p], file_offs[f], dest_offs[d],
                       reps % 2 ? rate[p][f][d][reps / 2]
                                : (rate[p][f][d][reps / 2 - 1] + rate[p][f][d][reps / 2]) / 2);
            }
    close(fd);
    free(buf);
    return 0;
usage:
    fprintf(stderr, "usage: alignsweep [-s SIZE_MIB] [-r REPS] FILE\n");
    return 2;
}
