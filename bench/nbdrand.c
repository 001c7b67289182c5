/* nbdrand - latency of random reads from an NBD export, one request at a
 * time: what a guest's random 4 KiB reads wait for.  bench/run's nbdkit
 * scenario runs it against the blocksnap plugin and nbdkit's file plugin
 * serving the same image, side by side.
 *
 *   nbdrand URI SIZE PASSES < OFFSETS
 *
 * Reads SIZE bytes at each offset given on stdin (one a line), PASSES times
 * over the whole list; the first PASSES-1 passes warm the server's caches
 * and only the last pass is timed.  Prints one line:
 *   reads=N bytes=SIZE p50_us=… p90_us=… p99_us=… max_us=… mean_us=…
 * The buffer is page-aligned (libnbd reads into it from the socket).
 * Built by bench/run with: cc -O2 nbdrand.c -lnbd.
 */
#include <libnbd.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: nbdrand URI SIZE PASSES < OFFSETS\n");
        return 2;
    }
    size_t size = strtoul(argv[2], NULL, 0);
    int passes = atoi(argv[3]);
    size_t n = 0, cap = 1024;
    uint64_t *off = malloc(cap * sizeof(*off)), v;
    while (off && scanf("%lu", &v) == 1) {
        if (n == cap && !(off = realloc(off, (cap *= 2) * sizeof(*off))))
            break;
        off[n++] = v;
    }
    void *buf = NULL;
    uint64_t *lat = malloc((n ? n : 1) * sizeof(*lat));
    if (!off || !lat || n == 0 || size == 0 || passes < 1 || posix_memalign(&buf, 4096, size)) {
        fprintf(stderr, "nbdrand: no offsets, bad arguments or out of memory\n");
        return 1;
    }
    struct nbd_handle *h = nbd_create();
    if (!h || nbd_connect_uri(h, argv[1]) == -1) {
        fprintf(stderr, "nbdrand: %s\n", nbd_get_error());
        return 1;
    }
    for (int p = 0; p < passes; p++) {
        for (size_t i = 0; i < n; i++) {
            uint64_t t0 = now_ns();
            if (nbd_pread(h, buf, size, off[i], 0) == -1) {
                fprintf(stderr, "nbdrand: read at %lu: %s\n", off[i], nbd_get_error());
                return 1;
            }
            lat[i] = now_ns() - t0;
        }
    }
    nbd_shutdown(h, 0);
    nbd_close(h);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)lat[i];
    qsort(lat, n, sizeof(*lat), cmp_u64);
    printf("reads=%zu bytes=%zu p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f mean_us=%.1f\n",
           n, size, lat[n / 2] / 1e3, lat[n * 9 / 10] / 1e3, lat[n * 99 / 100] / 1e3,
           lat[n - 1] / 1e3, sum / (double)n / 1e3);
    free(lat);
    free(off);
    free(buf);
    return 0;
}
