/* test-ebs.c - the EBS direct API (ebs.c, ebs-complete.c, ebs-read.c):
 * blocks written in any order and from several threads restore to what was
 * written, over a parent too; the pending table's chunks survive gc and
 * verify counts them; a bad checksum stores nothing; tokens name one block
 * of one snapshot; timeouts, ClientToken, counts and checksums at
 * completion; the errors with their reasons. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/sha.h>

#include "unit-helpers.h"

#include "ebs.h"
#include "util.h"

#define BLK BSNAP_EBS_BLOCK_SIZE

static uint8_t *block_new(uint64_t seed)
{
    uint8_t *b = aligned_alloc(4096, BLK);

    assert_non_null(b);
    if (seed)
        fill_random(b, BLK, seed);
    else
        memset(b, 0, BLK);
    return b;
}

static void sum_of(const uint8_t *b, char out[BSNAP_EBS_CHECKSUM_MAX])
{
    ebs_sha256_b64(b, BLK, out);
}

static void start(struct fixture *f, uint64_t gib, const char *parent, char id[BSNAP_ID_MAX])
{
    bsnap_ebs_start_options o = {.volume_size = gib, .parent_id = parent};
    json_t *doc = NULL;
    int r = bsnap_ebs_start_snapshot(f->s, &o, &doc);

    if (r < 0)
        print_error("start: %s\n", bsnap_last_error()->message);
    assert_int_equal(r, 0);
    assert_string_equal(json_string_value(json_object_get(doc, "Status")), "pending");
    assert_int_equal(json_integer_value(json_object_get(doc, "BlockSize")), BLK);
    snprintf(id, BSNAP_ID_MAX, "%s", json_string_value(json_object_get(doc, "SnapshotId")));
    json_decref(doc);
}

static int put(struct fixture *f, const char *id, uint64_t index, const uint8_t *b)
{
    char sum[BSNAP_EBS_CHECKSUM_MAX];
    json_t *doc = NULL;
    int r;

    sum_of(b, sum);
    r = bsnap_ebs_put_block(f->s, id, index, b, BLK, sum, "SHA256", -1, &doc);
    if (r == 0)
        assert_string_equal(json_string_value(json_object_get(doc, "Checksum")), sum);
    json_decref(doc);
    return r;
}

static const char *complete(struct fixture *f, const char *id, uint64_t count, const char *agg)
{
    bsnap_ebs_complete_options o = {.changed_blocks_count = count,
                                    .checksum = agg,
                                    .checksum_algorithm = agg ? "SHA256" : NULL,
                                    .checksum_aggregation_method = agg ? "LINEAR" : NULL};
    static char status[16];
    json_t *doc = NULL;
    int r = bsnap_ebs_complete(f->s, id, &o, &doc);

    if (r < 0)
        print_error("complete: %s\n", bsnap_last_error()->message);
    assert_int_equal(r, 0);
    snprintf(status, sizeof status, "%s", json_string_value(json_object_get(doc, "Status")));
    json_decref(doc);
    return status;
}

/* Write @b at block @index of the expected image @path. */
static void expect_block(const char *path, uint64_t index, const uint8_t *b)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0600);

    assert_true(fd >= 0);
    assert_int_equal(full_pwrite(fd, b, BLK, (off_t)(index * BLK)), 0);
    close(fd);
}

/* Restore @id and compare it with @expect piece by piece (the files are
 * GiBs, mostly holes). */
static void assert_restores_stream(struct fixture *f, const char *id, const char *expect)
{
    char *out = path_in(f->dir, "restored.img");
    uint8_t *a = block_new(0), *b = block_new(0);
    int fa, fb;
    ssize_t na, nb;
    off_t off = 0;

    restore_to(f, id, out);
    fa = open(out, O_RDONLY);
    fb = open(expect, O_RDONLY);
    assert_true(fa >= 0 && fb >= 0);
    do {
        na = full_pread(fa, a, BLK, off);
        nb = full_pread(fb, b, BLK, off);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, (size_t)na);
        off += na;
    } while (na == BLK);
    close(fa);
    close(fb);
    unlink(out);
    free(out), free(a), free(b);
}

static void assert_reason(const char *reason)
{
    assert_string_equal(bsnap_last_error()->reason, reason);
}

/* Blocks in random order, a block of zeros, one half zeros, one written
 * twice; a checksum that does not match stores nothing; pending chunks
 * outlive gc and verify counts them; the snapshot restores. */
static void test_write_restore(void **state)
{
    struct fixture *f = *state;
    char id[BSNAP_ID_MAX], sum[BSNAP_EBS_CHECKSUM_MAX];
    char *expect = volume_create(f, "expect.img", 1ull << 30);
    uint8_t *a = block_new(1), *b = block_new(2), *z = block_new(0), *half = block_new(3);
    struct index_counts before;
    json_t *doc = NULL;
    static const uint64_t order[] = {700, 3, 2047, 0, 64};

    memset(half + BLK / 2, 0, BLK / 2);
    start(f, 1, NULL, id);
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        const uint8_t *d = i == 1 ? z : i == 2 ? half : a;
        assert_int_equal(put(f, id, order[i], d), 0);
        expect_block(expect, order[i], d);
    }
    assert_int_equal(put(f, id, 700, b), 0); /* replaces */
    expect_block(expect, 700, b);
    /* a wrong checksum: refused before anything is stored */
    before = index_count(f);
    sum_of(a, sum);
    assert_error(bsnap_ebs_put_block(f->s, id, 9, b, BLK, sum, "SHA256", 50, &doc), -EINVAL,
                 "ValidationException");
    assert_reason("INVALID_BLOCK");
    assert_int_equal(index_count(f).entries, before.entries);
    /* pending: verify counts the rows' references, gc keeps the chunks */
    assert_verify_clean(f);
    assert_int_equal(bsnap_gc(f->s, NULL, NULL), 0);
    assert_int_equal(index_count(f).entries, before.entries);
    assert_string_equal(complete(f, id, 5, NULL), "completed");
    assert_verify_clean(f);
    assert_int_equal(bsnap_gc(f->s, NULL, NULL), 0);
    assert_restores_stream(f, id, expect);
    /* no more writes */
    assert_error(put(f, id, 1, a), -EBUSY, "ValidationException");
    assert_reason("INVALID_SNAPSHOT_ID");
    free(a), free(b), free(z), free(half), free(expect);
}

/* An incremental on a parent: unwritten blocks read as the parent's, a
 * block of zeros over data reads as zeros; ListChangedBlocks names
 * exactly the written blocks, with tokens where each side holds data. */
static void test_parent_changed(void **state)
{
    struct fixture *f = *state;
    char p[BSNAP_ID_MAX], c[BSNAP_ID_MAX];
    char *expect = volume_create(f, "expect.img", 2ull << 30);
    uint8_t *a = block_new(11), *b = block_new(12), *z = block_new(0);
    bsnap_ebs_list_options lo = {0};
    json_t *doc = NULL, *list;

    start(f, 1, NULL, p);
    assert_int_equal(put(f, p, 1, a), 0);
    assert_int_equal(put(f, p, 2, a), 0);
    assert_string_equal(complete(f, p, 2, NULL), "completed");
    expect_block(expect, 1, a);
    start(f, 2, p, c); /* larger than the parent */
    assert_int_equal(put(f, c, 2, z), 0);
    assert_int_equal(put(f, c, 3, b), 0);
    assert_int_equal(put(f, c, 3000, b), 0);
    expect_block(expect, 3, b);
    expect_block(expect, 3000, b);
    assert_string_equal(complete(f, c, 3, NULL), "completed");
    assert_restores_stream(f, c, expect);
    lo.first_id = p;
    assert_int_equal(bsnap_ebs_list_changed(f->s, c, &lo, &doc), 0);
    list = json_object_get(doc, "ChangedBlocks");
    assert_int_equal(json_array_size(list), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "BlockIndex")), 2);
    assert_non_null(json_object_get(json_array_get(list, 0), "FirstBlockToken"));
    assert_null(json_object_get(json_array_get(list, 0), "SecondBlockToken"));
    assert_null(json_object_get(json_array_get(list, 1), "FirstBlockToken"));
    assert_non_null(json_object_get(json_array_get(list, 2), "SecondBlockToken"));
    assert_int_equal(json_integer_value(json_object_get(doc, "VolumeSize")), 2);
    json_decref(doc);
    assert_verify_clean(f);
    free(a), free(b), free(z), free(expect);
}

/* ListSnapshotBlocks pages of 100 walk every block once; tokens read their
 * block and no other, nor another snapshot's; a page token of another
 * snapshot is refused; expired tokens too. */
static void test_tokens_paging(void **state)
{
    struct fixture *f = *state;
    char id[BSNAP_ID_MAX], other[BSNAP_ID_MAX], sum[BSNAP_EBS_CHECKSUM_MAX];
    uint8_t *a = block_new(21), *got = block_new(0);
    bsnap_ebs_list_options lo = {.max_results = 10}; /* below 100: 100 */
    char tok5[64] = "", next[64] = "";
    size_t seen = 0;
    json_t *doc = NULL;

    start(f, 1, NULL, id);
    for (uint64_t i = 0; i < 150; i++)
        assert_int_equal(put(f, id, i * 5, a), 0);
    assert_string_equal(complete(f, id, 150, NULL), "completed");
    start(f, 1, NULL, other);
    assert_int_equal(put(f, other, 5, a), 0);
    assert_string_equal(complete(f, other, 1, NULL), "completed");
    do {
        json_t *list;
        lo.next_token = next[0] ? next : NULL;
        assert_int_equal(bsnap_ebs_list_blocks(f->s, id, &lo, &doc), 0);
        list = json_object_get(doc, "Blocks");
        for (size_t i = 0; i < json_array_size(list); i++) {
            json_t *o = json_array_get(list, i);
            assert_int_equal(json_integer_value(json_object_get(o, "BlockIndex")), seen * 5);
            if (seen == 1)
                snprintf(tok5, sizeof tok5, "%s",
                         json_string_value(json_object_get(o, "BlockToken")));
            seen++;
        }
        assert_true(json_array_size(list) == 100 || !json_object_get(doc, "NextToken"));
        snprintf(next, sizeof next, "%s",
                 json_object_get(doc, "NextToken")
                     ? json_string_value(json_object_get(doc, "NextToken"))
                     : "");
        json_decref(doc);
    } while (next[0] && seen < 1000);
    assert_int_equal(seen, 150);
    assert_int_equal(bsnap_ebs_get_block(f->s, id, 5, tok5, got, sum), 0);
    assert_memory_equal(got, a, BLK);
    /* another block, another snapshot, a forged token */
    assert_error(bsnap_ebs_get_block(f->s, id, 10, tok5, got, sum), -EINVAL, "ValidationException");
    assert_reason("INVALID_BLOCK_TOKEN");
    assert_error(bsnap_ebs_get_block(f->s, other, 5, tok5, got, sum), -EINVAL,
                 "ValidationException");
    tok5[10] = tok5[10] == 'A' ? 'B' : 'A';
    assert_error(bsnap_ebs_get_block(f->s, id, 5, tok5, got, sum), -EINVAL, "ValidationException");
    assert_error(bsnap_ebs_get_block(f->s, id, 5, "not a token", got, sum), -EINVAL,
                 "ValidationException");
    /* a page token for another snapshot */
    lo.next_token = NULL;
    assert_int_equal(bsnap_ebs_list_blocks(f->s, id, &lo, &doc), 0);
    snprintf(next, sizeof next, "%s", json_string_value(json_object_get(doc, "NextToken")));
    json_decref(doc);
    lo.next_token = next;
    assert_error(bsnap_ebs_list_blocks(f->s, other, &lo, &doc), -EINVAL, "ValidationException");
    assert_reason("INVALID_PAGE_TOKEN");
    /* eight days later every token has expired */
    lo.next_token = NULL;
    assert_int_equal(bsnap_ebs_list_blocks(f->s, other, &lo, &doc), 0);
    snprintf(tok5, sizeof tok5, "%s",
             json_string_value(
                 json_object_get(json_array_get(json_object_get(doc, "Blocks"), 0), "BlockToken")));
    json_decref(doc);
    bsnap_store_set_clock(f->s, time_now_ms() + 8 * 86400 * 1000ll);
    assert_error(bsnap_ebs_get_block(f->s, other, 5, tok5, got, sum), -EINVAL,
                 "ValidationException");
    assert_reason("INVALID_BLOCK_TOKEN");
    bsnap_store_set_clock(f->s, 0);
    free(a), free(got);
}

struct writer {
    struct fixture *f;
    const char *id;
    unsigned n, of;
    int r;
};

static void *writer_run(void *ud)
{
    struct writer *w = ud;
    uint8_t *b = block_new(0);

    for (unsigned i = w->n; i < 64 && w->r == 0; i += w->of) {
        fill_random(b, BLK, 100 + i);
        w->r = put(w->f, w->id, i * 3, b);
    }
    free(b);
    return NULL;
}

/* Eight threads put 64 blocks at once; all land. */
static void test_threads(void **state)
{
    struct fixture *f = *state;
    char id[BSNAP_ID_MAX];
    char *expect = volume_create(f, "expect.img", 1ull << 30);
    pthread_t t[8];
    struct writer w[8];
    uint8_t *b = block_new(0);

    start(f, 1, NULL, id);
    for (unsigned i = 0; i < 8; i++) {
        w[i] = (struct writer){.f = f, .id = id, .n = i, .of = 8};
        assert_int_equal(pthread_create(&t[i], NULL, writer_run, &w[i]), 0);
    }
    for (unsigned i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].r, 0);
    }
    for (unsigned i = 0; i < 64; i++) {
        fill_random(b, BLK, 100 + i);
        expect_block(expect, i * 3, b);
    }
    assert_verify_clean(f);
    assert_string_equal(complete(f, id, 64, NULL), "completed");
    assert_restores_stream(f, id, expect);
    free(b), free(expect);
}

/* A count or an aggregate that does not match makes the snapshot error
 * and gives its chunks back; the right aggregate completes. */
static void test_complete_checks(void **state)
{
    struct fixture *f = *state;
    char id[BSNAP_ID_MAX], s0[BSNAP_EBS_CHECKSUM_MAX], s1[BSNAP_EBS_CHECKSUM_MAX];
    char cat[2 * BSNAP_EBS_CHECKSUM_MAX], agg[BSNAP_EBS_CHECKSUM_MAX];
    uint8_t *a = block_new(31), *b = block_new(32);
    struct index_counts empty = index_count(f);

    start(f, 1, NULL, id);
    assert_int_equal(put(f, id, 4, b), 0);
    assert_int_equal(put(f, id, 1, a), 0);
    assert_string_equal(complete(f, id, 3, NULL), "error");
    assert_int_equal(bsnap_gc(f->s, NULL, NULL), 0);
    assert_int_equal(index_count(f).entries, empty.entries);
    assert_verify_clean(f);
    /* the aggregate: block 1's checksum, then block 4's */
    start(f, 1, NULL, id);
    assert_int_equal(put(f, id, 4, b), 0);
    assert_int_equal(put(f, id, 1, a), 0);
    sum_of(a, s0);
    sum_of(b, s1);
    snprintf(cat, sizeof cat, "%s%s", s1, s0); /* the wrong order */
    ebs_sha256_b64(cat, strlen(cat), agg);
    {
        char id2[BSNAP_ID_MAX];
        start(f, 1, NULL, id2);
        assert_int_equal(put(f, id2, 4, b), 0);
        assert_int_equal(put(f, id2, 1, a), 0);
        assert_string_equal(complete(f, id2, 2, agg), "error");
    }
    snprintf(cat, sizeof cat, "%s%s", s0, s1);
    ebs_sha256_b64(cat, strlen(cat), agg);
    assert_string_equal(complete(f, id, 2, agg), "completed");
    assert_verify_clean(f);
    free(a), free(b);
}

/* Start's checks, ClientToken, timeouts and the errors of bad input, each
 * leaving the store as it was. */
static void test_errors(void **state)
{
    struct fixture *f = *state;
    char id[BSNAP_ID_MAX], sum[BSNAP_EBS_CHECKSUM_MAX];
    uint8_t *a = block_new(41);
    bsnap_ebs_start_options o = {.volume_size = 1, .client_token = "tok-1", .timeout = 10};
    json_t *doc = NULL, *doc2 = NULL;
    struct index_counts before;

    o.volume_size = 0;
    assert_error(bsnap_ebs_start_snapshot(f->s, &o, &doc), -EINVAL, "ValidationException");
    assert_reason("INVALID_VOLUME_SIZE");
    o.volume_size = 1;
    o.timeout = 5;
    assert_error(bsnap_ebs_start_snapshot(f->s, &o, &doc), -EINVAL, "ValidationException");
    o.timeout = 10;
    o.encrypted = true;
    assert_error(bsnap_ebs_start_snapshot(f->s, &o, &doc), -EINVAL, "ValidationException");
    o.encrypted = false;
    o.parent_id = "snap-0123456789abcdef0";
    assert_error(bsnap_ebs_start_snapshot(f->s, &o, &doc), -ENOENT, "ResourceNotFoundException");
    assert_reason("SNAPSHOT_NOT_FOUND");
    o.parent_id = "vol-0123456789abcdef0";
    assert_error(bsnap_ebs_start_snapshot(f->s, &o, &doc), -EINVAL, "ValidationException");
    assert_reason("INVALID_SNAPSHOT_ID");
    o.parent_id = NULL;
    /* ClientToken: the same request answers the same snapshot */
    assert_int_equal(bsnap_ebs_start_snapshot(f->s, &o, &doc), 0);
    assert_int_equal(bsnap_ebs_start_snapshot(f->s, &o, &doc2), 0);
    assert_string_equal(json_string_value(json_object_get(doc, "SnapshotId")),
                        json_string_value(json_object_get(doc2, "SnapshotId")));
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(doc, "SnapshotId")));
    json_decref(doc);
    json_decref(doc2);
    o.description = "other";
    assert_error(bsnap_ebs_start_snapshot(f->s, &o, &doc), -EEXIST, "ConflictException");
    /* puts: bad input */
    sum_of(a, sum);
    assert_error(bsnap_ebs_put_block(f->s, id, 2048, a, BLK, sum, "SHA256", -1, &doc), -EINVAL,
                 "ValidationException");
    assert_message_has("beyond the volume size");
    assert_error(bsnap_ebs_put_block(f->s, id, 0, a, BLK - 1, sum, "SHA256", -1, &doc), -EINVAL,
                 "ValidationException");
    assert_error(bsnap_ebs_put_block(f->s, id, 0, a, BLK, sum, "MD5", -1, &doc), -EINVAL,
                 "ValidationException");
    assert_error(bsnap_ebs_put_block(f->s, id, 0, a, BLK, sum, "SHA256", 101, &doc), -EINVAL,
                 "ValidationException");
    assert_error(bsnap_ebs_put_block(f->s, id, 0, a, BLK, "abc", "SHA256", -1, &doc), -EINVAL,
                 "ValidationException");
    assert_error(
        bsnap_ebs_put_block(f->s, "snap-0123456789abcdef0", 0, a, BLK, sum, "SHA256", -1, &doc),
        -ENOENT, "ResourceNotFoundException");
    assert_error(bsnap_ebs_put_block(f->s, "nope", 0, a, BLK, sum, "SHA256", -1, &doc), -EINVAL,
                 "ValidationException");
    /* another account sees no such snapshot */
    assert_int_equal(bsnap_store_set_account(f->s, "111122223333"), 0);
    assert_error(bsnap_ebs_put_block(f->s, id, 0, a, BLK, sum, "SHA256", -1, &doc), -ENOENT,
                 "ResourceNotFoundException");
    assert_int_equal(bsnap_store_set_account(f->s, "123456789012"), 0);
    /* unwritten for its 10 minutes: cancelled, its chunks freed by gc */
    assert_int_equal(put(f, id, 0, a), 0);
    before = index_count(f);
    assert_true(before.entries > 0);
    bsnap_store_set_clock(f->s, time_now_ms() + 11 * 60 * 1000);
    assert_error(put(f, id, 1, a), -EINVAL, "ValidationException");
    assert_reason("WRITE_REQUEST_TIMEOUT");
    assert_int_equal(bsnap_gc(f->s, NULL, NULL), 0);
    assert_int_equal(index_count(f).entries, 0);
    assert_verify_clean(f);
    bsnap_store_set_clock(f->s, 0);
    free(a);
}

/* gc alone cancels a snapshot past its timeout, and keeps one within. */
static void test_gc_timeout(void **state)
{
    struct fixture *f = *state;
    char keep[BSNAP_ID_MAX], drop[BSNAP_ID_MAX];
    uint8_t *a = block_new(51), *b = block_new(52);
    bsnap_ebs_start_options o = {.volume_size = 1, .timeout = 120};
    json_t *doc = NULL;

    start(f, 1, NULL, drop); /* 60 minutes */
    assert_int_equal(bsnap_ebs_start_snapshot(f->s, &o, &doc), 0);
    snprintf(keep, sizeof keep, "%s", json_string_value(json_object_get(doc, "SnapshotId")));
    json_decref(doc);
    assert_int_equal(put(f, drop, 0, a), 0);
    assert_int_equal(put(f, keep, 0, b), 0);
    bsnap_store_set_clock(f->s, time_now_ms() + 90 * 60 * 1000);
    assert_int_equal(bsnap_gc(f->s, NULL, NULL), 0);
    assert_int_equal(index_count(f).entries, BLK / (64 * KiB)); /* b's chunks only */
    assert_verify_clean(f);
    assert_string_equal(complete(f, keep, 1, NULL), "completed");
    bsnap_store_set_clock(f->s, 0);
    free(a), free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_restore, setup_64k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_parent_changed, setup_64k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_tokens_paging, setup_64k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_threads, setup_64k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_complete_checks, setup_64k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_errors, setup_64k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_gc_timeout, setup_64k, teardown_fixture),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
