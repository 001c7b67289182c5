/* test-cache.c - the read-only views' chunk cache (front/cache.c) over a
 * real store: right bytes, the memory bound, zero chunks, concurrent
 * readers of the same chunks, readahead.  (A damaged chunk, never cached,
 * is tests/e2e/fuse-corrupt.sh's.) */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "blocksnap.h"
#include "bsfront-cache.h"

#define CHUNK 4096u
#define NCHUNKS 256u /* 1 MiB volume */

struct fixture {
    char dir[256];
    char vol[300];
    bsnap_store *store;
    char id[BSNAP_ID_MAX];
    uint8_t *data; /* the volume's bytes */
};

/* A volume whose chunk i holds bytes derived from i, except every fourth
 * chunk, which is zero. */
static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char store[300];
    const char *tmp = getenv("TMPDIR");
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "%s/fuse-cache-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->vol, sizeof(f->vol), "%s/vol.img", f->dir);
    snprintf(store, sizeof(store), "%s/store", f->dir);
    f->data = calloc(NCHUNKS, CHUNK);
    assert_non_null(f->data);
    for (unsigned i = 0; i < NCHUNKS; i++)
        if (i % 4 != 0)
            for (unsigned k = 0; k < CHUNK; k++)
                f->data[i * CHUNK + k] = (uint8_t)(i * 7 + k * 13 + (k >> 8));
    int fd = open(f->vol, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, f->data, NCHUNKS * CHUNK), (ssize_t)(NCHUNKS * CHUNK));
    close(fd);

    bsnap_store_config cfg = {.chunk_size = CHUNK};
    assert_int_equal(bsnap_store_open(store, BSNAP_STORE_CREATE, &cfg, &f->store), 0);
    bsnap_snapshot_options o = {.volume_path = f->vol, .threads = 1};
    assert_int_equal(bsnap_snapshot_create(f->store, &o, f->id, NULL), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[320];
    bsnap_store_close(f->store);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f->data);
    free(f);
    return 0;
}

static struct source *open_source(struct fixture *f, uint64_t serial)
{
    bsnap_reader *r;
    assert_int_equal(bsnap_reader_open(f->store, f->id, &r), 0);
    struct source *s = source_new(r, serial, CHUNK);
    assert_non_null(s);
    assert_int_equal(s->size, NCHUNKS * CHUNK);
    return s;
}

static void check_chunk(struct fixture *f, struct cache *c, struct source *s, uint64_t i)
{
    struct centry *e;
    assert_int_equal(cache_get(c, s, i, &e), 0);
    assert_int_equal(centry_len(e), CHUNK);
    assert_memory_equal(centry_data(e), f->data + i * CHUNK, CHUNK);
    cache_put(c, e);
}

static void test_bytes_and_bound(void **state)
{
    struct fixture *f = *state;
    uint64_t max = 8 * (CHUNK + 256);
    struct cache *c = cache_new(max, 0);
    struct source *s = open_source(f, 1);
    struct cache_stats st;

    for (int pass = 0; pass < 2; pass++)
        for (uint64_t i = 0; i < NCHUNKS; i++) {
            check_chunk(f, c, s, i);
            cache_get_stats(c, &st);
            assert_true(st.bytes <= max); /* nothing pinned: the bound holds */
        }
    cache_get_stats(c, &st);
    assert_true(st.evicted > 0);
    assert_int_equal(st.misses, 2 * NCHUNKS); /* too small to keep a pass */

    /* a chunk read again at once is a hit */
    check_chunk(f, c, s, 5);
    check_chunk(f, c, s, 5);
    struct cache_stats st2;
    cache_get_stats(c, &st2);
    assert_int_equal(st2.hits, st.hits + 1);
    cache_free(c);
    source_unref(s);
}

static void test_zero_chunks_cost_little(void **state)
{
    struct fixture *f = *state;
    struct cache *c = cache_new(64u << 20, 0);
    struct source *s = open_source(f, 2);
    struct centry *a, *b;
    struct cache_stats st;

    assert_int_equal(cache_get(c, s, 0, &a), 0);
    assert_int_equal(cache_get(c, s, 4, &b), 0);
    assert_ptr_equal(centry_data(a), centry_data(b)); /* the shared zero buffer */
    cache_get_stats(c, &st);
    assert_true(st.bytes < 1024);
    cache_put(c, a);
    cache_put(c, b);
    cache_free(c);
    source_unref(s);
}

static void test_pinned_entries_survive(void **state)
{
    struct fixture *f = *state;
    struct cache *c = cache_new(2 * (CHUNK + 256), 0);
    struct source *s = open_source(f, 3);
    struct centry *held;

    assert_int_equal(cache_get(c, s, 1, &held), 0);
    for (uint64_t i = 2; i < 40; i++)
        check_chunk(f, c, s, i); /* evicts everything it may */
    assert_memory_equal(centry_data(held), f->data + 1 * CHUNK, CHUNK);
    cache_put(c, held);
    cache_free(c);
    source_unref(s);
}

struct worker_arg {
    struct fixture *f;
    struct cache *c;
    struct source *s;
    unsigned seed;
    int bad;
};

static void *reader_thread(void *p)
{
    struct worker_arg *w = p;
    for (int k = 0; k < 2000; k++) {
        uint64_t i = (uint64_t)(rand_r(&w->seed) % 32); /* a hot set: contention */
        struct centry *e;
        if (cache_get(w->c, w->s, i, &e) < 0) {
            w->bad++;
            continue;
        }
        if (memcmp(centry_data(e), w->f->data + i * CHUNK, CHUNK) != 0)
            w->bad++;
        cache_put(w->c, e);
    }
    return NULL;
}

static void test_concurrent_readers_and_readahead(void **state)
{
    struct fixture *f = *state;
    struct cache *c = cache_new(16 * (CHUNK + 256), 2);
    struct source *s = open_source(f, 4);
    pthread_t t[4];
    struct worker_arg w[4];

    for (unsigned i = 0; i < 4; i++) {
        w[i] = (struct worker_arg){.f = f, .c = c, .s = s, .seed = i + 1};
        assert_int_equal(pthread_create(&t[i], NULL, reader_thread, &w[i]), 0);
    }
    cache_prefetch(c, s, 0, NCHUNKS - 1); /* more than the queue holds: some dropped */
    for (unsigned i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].bad, 0);
    }
    struct cache_stats st;
    cache_get_stats(c, &st);
    assert_true(st.prefetched + st.dropped > 0);
    /* the source outlives its queued jobs: dropping ours first is fine */
    source_unref(s);
    cache_free(c);
}

static void test_prefetch_then_hit(void **state)
{
    struct fixture *f = *state;
    struct cache *c = cache_new(1u << 20, 1);
    struct source *s = open_source(f, 5);
    struct cache_stats st;

    cache_prefetch(c, s, 100, 109);
    for (int tries = 0; tries < 200; tries++) {
        cache_get_stats(c, &st);
        if (st.misses >= 10)
            break;
        usleep(10000);
    }
    assert_int_equal(st.misses, 10); /* loaded by the worker */
    for (uint64_t i = 100; i < 110; i++)
        check_chunk(f, c, s, i);
    cache_get_stats(c, &st);
    assert_int_equal(st.misses, 10);
    assert_int_equal(st.hits, 10);
    /* the last chunk's length and past-the-end requests */
    cache_prefetch(c, s, NCHUNKS - 2, NCHUNKS + 50);
    check_chunk(f, c, s, NCHUNKS - 1);
    struct centry *e;
    assert_true(cache_get(c, s, NCHUNKS, &e) < 0);
    cache_free(c);
    source_unref(s);
}

/* cache_read_into(): the right bytes (zeros for a hole) straight into the
 * caller's buffer, not cached; a chunk the cache holds comes from it; a
 * short last chunk and one past the end are refused. */
static void test_read_into(void **state)
{
    struct fixture *f = *state;
    struct cache *c = cache_new(1u << 20, 0);
    struct source *s = open_source(f, 6);
    struct cache_stats st;
    uint8_t *buf = malloc(CHUNK);
    assert_non_null(buf);

    for (uint64_t i = 0; i < 8; i++) {
        memset(buf, 0xee, CHUNK);
        assert_int_equal(cache_read_into(c, s, i, buf), 0);
        assert_memory_equal(buf, f->data + i * CHUNK, CHUNK); /* chunk 0, 4: a hole */
    }
    cache_get_stats(c, &st);
    assert_int_equal(st.direct, 8);
    assert_int_equal(st.entries, 0); /* nothing entered the cache */
    assert_int_equal(st.misses, 0);

    check_chunk(f, c, s, 9); /* now cached: read_into copies it */
    assert_int_equal(cache_read_into(c, s, 9, buf), 0);
    assert_memory_equal(buf, f->data + 9 * CHUNK, CHUNK);
    cache_get_stats(c, &st);
    assert_int_equal(st.direct, 8);
    assert_int_equal(st.hits, 1);

    assert_int_equal(cache_read_into(c, s, NCHUNKS, buf), -EINVAL);
    free(buf);
    cache_free(c);
    source_unref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_and_bound),
        cmocka_unit_test(test_zero_chunks_cost_little),
        cmocka_unit_test(test_pinned_entries_survive),
        cmocka_unit_test(test_concurrent_readers_and_readahead),
        cmocka_unit_test(test_prefetch_then_hit),
        cmocka_unit_test(test_read_into),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
