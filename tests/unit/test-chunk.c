/* test-chunk.c - chunk.c: keyed XXH3-128 ids and the LZ4 codec. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blockmap.h"
#include "chunk.h"
#include "util.h"
#include "unit-helpers.h"

#define CS 4096

/* Ids are keyed: the same bytes get different ids in two stores, and a page
 * gets a different id from a data chunk of equal bytes. */
static void test_ids_keyed(void **state)
{
    struct fixture *a = fixture_new(CS), *b = fixture_new(CS);
    uint8_t *buf = malloc(BM_PAGE_BYTES);
    chunk_id ia, ia2, ib, ip;
    char hex[33];

    (void)state;
    assert_non_null(buf);
    fill_random(buf, BM_PAGE_BYTES, 42);
    chunk_hash(a->s, false, buf, CS, &ia);
    chunk_hash(a->s, false, buf, CS, &ia2);
    chunk_hash(b->s, false, buf, CS, &ib);
    chunk_hash(a->s, true, buf, CS, &ip);
    assert_true(chunk_id_eq(&ia, &ia2)); /* deterministic */
    assert_false(chunk_id_eq(&ia, &ib));
    assert_false(chunk_id_eq(&ia, &ip));
    assert_false(chunk_id_is_zero(&ia));
    /* Ids survive reopening the store (the secret is in the config). */
    fixture_reopen(a);
    chunk_hash(a->s, false, buf, CS, &ia2);
    assert_true(chunk_id_eq(&ia, &ia2));
    /* One changed byte changes the id. */
    buf[CS - 1] ^= 1;
    chunk_hash(a->s, false, buf, CS, &ia2);
    assert_false(chunk_id_eq(&ia, &ia2));
    /* Block-map pages hash with the page key. */
    bm_page_id(a->s, NULL, (const chunk_id *)buf, &ip);
    chunk_hash(a->s, true, buf, BM_PAGE_BYTES, &ib);
    assert_true(chunk_id_eq(&ip, &ib));
    chunk_hash(a->s, false, buf, BM_PAGE_BYTES, &ib);
    assert_false(chunk_id_eq(&ip, &ib));
    /* The zero chunk's id is reserved; a hash never produces it. */
    memset(buf, 0, CS);
    chunk_hash(a->s, false, buf, CS, &ia);
    assert_false(chunk_id_is_zero(&ia));
    memset(buf, 0, BM_PAGE_BYTES);
    bm_page_id(a->s, NULL, (const chunk_id *)buf, &ip);
    assert_true(chunk_id_is_zero(&ip));

    memset(&ia, 0, sizeof ia);
    ia.b[0] = 0xab;
    ia.b[15] = 0x01;
    chunk_id_hex(&ia, hex);
    assert_string_equal(hex, "ab000000000000000000000000000001");
    fixture_free(a);
    fixture_free(b);
    free(buf);
}

static void roundtrip(const uint8_t *src, size_t len, bool expect_lz4)
{
    size_t bound = chunk_encode_bound(len), n;
    uint8_t *enc = malloc(bound), *dec = malloc(len);
    uint32_t flags = CHUNK_PAGE | (expect_lz4 ? 0 : CHUNK_LZ4); /* other bits kept */

    assert_non_null(enc);
    assert_non_null(dec);
    n = chunk_encode(src, len, enc, bound, &flags);
    assert_true(flags & CHUNK_PAGE);
    if (expect_lz4) {
        assert_true(flags & CHUNK_LZ4);
        assert_true(n < len - len / 32);
    } else {
        assert_false(flags & CHUNK_LZ4);
        assert_int_equal(n, len);
        assert_memory_equal(enc, src, len);
    }
    assert_int_equal(chunk_decode(enc, n, flags, dec, len), 0);
    assert_memory_equal(dec, src, len);
    free(enc);
    free(dec);
}

/* LZ4 is used only when it saves at least 1/32. */
static void test_lz4_only_when_it_shrinks(void **state)
{
    uint8_t *buf = malloc(64 * 1024);

    (void)state;
    assert_non_null(buf);
    fill_random(buf, CS, 1);
    roundtrip(buf, CS, false); /* incompressible */
    memset(buf, 0, 64);        /* saves a little, less than 1/32 */
    roundtrip(buf, CS, false);
    memset(buf, 0, CS / 4); /* saves about a quarter */
    roundtrip(buf, CS, true);
    for (size_t i = 0; i < 64 * 1024; i++)
        buf[i] = (uint8_t)("blocksnap "[i % 10]);
    roundtrip(buf, 64 * 1024, true);
    roundtrip(buf, 1, false); /* a single byte can never shrink */
    free(buf);
}

/* Damaged payloads are -EIO, never wrong bytes or a crash. */
static void test_decode_errors(void **state)
{
    uint8_t src[CS], enc[CS + 64], dec[CS];
    uint32_t flags = 0;
    size_t n;

    (void)state;
    for (size_t i = 0; i < CS; i++)
        src[i] = (uint8_t)(i / 64);
    n = chunk_encode(src, CS, enc, sizeof enc, &flags);
    assert_true(flags & CHUNK_LZ4);
    /* wrong expected length, either way */
    assert_int_equal(chunk_decode(enc, n, flags, dec, CS - 1), -EIO);
    {
        uint8_t *big = malloc(2 * CS);
        assert_int_equal(chunk_decode(enc, n, flags, big, 2 * CS), -EIO);
        free(big);
    }
    /* truncated stream */
    assert_int_equal(chunk_decode(enc, n - 1, flags, dec, CS), -EIO);
    assert_int_equal(chunk_decode(enc, n / 2, flags, dec, CS), -EIO);
    /* a garbage stream */
    {
        uint8_t junk[64];
        memset(junk, 0xff, sizeof junk);
        assert_int_equal(chunk_decode(junk, sizeof junk, CHUNK_LZ4, dec, CS), -EIO);
    }
    /* raw payloads must have exactly the original length */
    assert_int_equal(chunk_decode(src, CS - 1, 0, dec, CS), -EIO);
    assert_int_equal(chunk_decode(src, CS, 0, dec, CS), 0);
    assert_memory_equal(src, dec, CS);
    assert_true(chunk_encode_bound(CS) >= CS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_keyed),
        cmocka_unit_test(test_lz4_only_when_it_shrinks),
        cmocka_unit_test(test_decode_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
