/* test-pack.c - pack.c: the record and file header codecs, the writer
 * (append, claim, seal, sync) and verified reads, with every kind of damage
 * a pack can suffer reported as -EIO naming chunk, pack and offset. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pack.h"
#include "util.h"
#include "unit-helpers.h"

#define CS 4096

static struct pack_record sample_record(void)
{
    struct pack_record r = {.flags = CHUNK_LZ4 | CHUNK_PAGE,
                            .stored_len = 1234,
                            .orig_len = 65536,
                            .checksum = 0x0123456789abcdefull};

    for (int i = 0; i < 16; i++)
        r.id.b[i] = (uint8_t)(0xa0 + i);
    return r;
}

static void test_record_codec(void **state)
{
    struct pack_record in = sample_record(), out;
    uint8_t hdr[PACK_RECORD_HEADER_BYTES];

    (void)state;
    pack_record_encode(&in, hdr);
    assert_int_equal(le32_get(hdr), PACK_RECORD_MAGIC);
    assert_memory_equal(hdr, "BSRC", 4);
    assert_int_equal(pack_record_parse(hdr, &out), 0);
    assert_int_equal(out.flags, in.flags);
    assert_true(chunk_id_eq(&out.id, &in.id));
    assert_int_equal(out.stored_len, in.stored_len);
    assert_int_equal(out.orig_len, in.orig_len);
    assert_true(out.checksum == in.checksum);
}

/* Every single-bit flip anywhere in a header is caught. */
static void test_record_every_bit_flip(void **state)
{
    struct pack_record in = sample_record(), out;
    uint8_t hdr[PACK_RECORD_HEADER_BYTES];

    (void)state;
    pack_record_encode(&in, hdr);
    for (size_t i = 0; i < PACK_RECORD_HEADER_BYTES; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memset(&out, 0x5a, sizeof out);
            hdr[i] ^= (uint8_t)(1u << bit);
            assert_int_equal(pack_record_parse(hdr, &out), -EIO);
            hdr[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(pack_record_parse(hdr, &out), 0);
}

/* Headers that check but say impossible things are refused too. */
static void test_record_limits(void **state)
{
    struct pack_record in, out;
    uint8_t hdr[PACK_RECORD_HEADER_BYTES];

    (void)state;
    in = sample_record();
    in.flags = CHUNK_DEAD; /* an index-only flag */
    pack_record_encode(&in, hdr);
    assert_int_equal(pack_record_parse(hdr, &out), -EIO);
    in = sample_record();
    in.stored_len = 0;
    pack_record_encode(&in, hdr);
    assert_int_equal(pack_record_parse(hdr, &out), -EIO);
    in = sample_record();
    in.orig_len = 0;
    pack_record_encode(&in, hdr);
    assert_int_equal(pack_record_parse(hdr, &out), -EIO);
    in = sample_record();
    in.orig_len = PACK_RECORD_MAX_PAYLOAD + 1;
    pack_record_encode(&in, hdr);
    assert_int_equal(pack_record_parse(hdr, &out), -EIO);
    in = sample_record();
    in.stored_len = UINT32_MAX;
    pack_record_encode(&in, hdr);
    assert_int_equal(pack_record_parse(hdr, &out), -EIO);
    in = sample_record();
    in.orig_len = PACK_RECORD_MAX_PAYLOAD;
    in.stored_len = PACK_RECORD_MAX_PAYLOAD;
    pack_record_encode(&in, hdr);
    assert_int_equal(pack_record_parse(hdr, &out), 0);
}

static void test_names(void **state)
{
    struct fixture *f = *state;
    uint32_t n = 0;
    char *p = pack_path(f->s, 7), *want = path_in(f->store_path, "packs/00000007.pack");

    assert_string_equal(p, want);
    free(p);
    free(want);
    assert_true(pack_name_parse("00000007.pack", &n));
    assert_int_equal(n, 7);
    assert_true(pack_name_parse("99999999.pack", &n));
    assert_int_equal(n, 99999999);
    n = 3;
    assert_false(pack_name_parse("7.pack", &n));
    assert_false(pack_name_parse("0000000a.pack", &n));
    assert_false(pack_name_parse("-0000007.pack", &n));
    assert_false(pack_name_parse("00000007.pac", &n));
    assert_false(pack_name_parse("00000007.packs", &n));
    assert_false(pack_name_parse("00000007.pack.tmp", &n));
    assert_false(pack_name_parse("", &n));
    assert_int_equal(n, 3); /* untouched on failure */
}

/* Append @n chunks (seeded @seed + i) and return their ids and locations. */
static void append_chunks(struct fixture *f, struct pack_writer *w, size_t n, uint64_t seed,
                          chunk_id *ids, struct chunk_loc *locs)
{
    uint8_t buf[CS], enc[CS + 64];

    for (size_t i = 0; i < n; i++) {
        uint32_t flags = 0;
        size_t len;
        fill_random(buf, CS, seed + i);
        if (i % 2) /* every other one compressible */
            memset(buf, 0, CS / 2);
        chunk_hash(f->s, false, buf, CS, &ids[i]);
        len = chunk_encode(buf, CS, enc, sizeof enc, &flags);
        assert_int_equal(pack_writer_append(w, &ids[i], flags, enc, (uint32_t)len, CS, &locs[i]),
                         0);
        assert_int_equal(locs[i].flags, flags);
        assert_int_equal(locs[i].stored_len, len);
        assert_int_equal(locs[i].orig_len, CS);
    }
}

static void check_chunk(struct fixture *f, const chunk_id *id, const struct chunk_loc *loc,
                        uint64_t seed, size_t i)
{
    uint8_t want[CS], got[CS];

    fill_random(want, CS, seed);
    if (i % 2)
        memset(want, 0, CS / 2);
    memset(got, 0, sizeof got);
    if (pack_read_chunk(f->s, id, loc, got) < 0)
        print_error("read: %s\n", bsnap_last_error()->message);
    assert_int_equal(pack_read_chunk(f->s, id, loc, got), 0);
    assert_memory_equal(want, got, CS);
}

static void test_write_read(void **state)
{
    struct fixture *f = *state;
    struct pack_writer *w = NULL;
    chunk_id ids[8];
    struct chunk_loc locs[8];
    uint8_t hdr[PACK_HEADER_BYTES], uuid[16];
    uint32_t pn = 0;
    char *p;
    int fd;

    assert_int_equal(pack_writer_open(f->s, false, &w), 0);
    append_chunks(f, w, 8, 100, ids, locs);
    /* Records follow each other after the 32-byte file header. */
    assert_int_equal(locs[0].offset, PACK_HEADER_BYTES);
    for (int i = 1; i < 8; i++)
        assert_int_equal(locs[i].offset,
                         locs[i - 1].offset + PACK_RECORD_HEADER_BYTES + locs[i - 1].stored_len);
    assert_int_equal(pack_writer_bytes(w), locs[7].offset + PACK_RECORD_HEADER_BYTES +
                                               locs[7].stored_len - PACK_HEADER_BYTES);
    assert_int_equal(pack_writer_sync(w), 0);
    for (int i = 0; i < 8; i++)
        check_chunk(f, &ids[i], &locs[i], 100 + (uint64_t)i, (size_t)i);
    /* The raw payload is what was stored, compressed or not. */
    {
        uint8_t *payload = malloc(locs[1].stored_len);
        assert_int_equal(pack_read_payload(f->s, &ids[1], &locs[1], payload), 0);
        assert_true(locs[1].flags & CHUNK_LZ4);
        free(payload);
    }
    pack_writer_close(w);
    pack_writer_close(NULL);

    /* The file header names the pack and the store. */
    p = pack_path(f->s, locs[0].pack);
    fd = open(p, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, hdr, sizeof hdr, 0), PACK_HEADER_BYTES);
    close(fd);
    assert_int_equal(pack_header_parse(hdr, &pn, uuid), 0);
    assert_int_equal(pn, locs[0].pack);
    assert_memory_equal(uuid, f->s->uuid, 16);
    hdr[0] ^= 1;
    assert_int_equal(pack_header_parse(hdr, &pn, uuid), -EIO);
    hdr[0] ^= 1;
    hdr[8] = 2; /* version 2 */
    assert_int_equal(pack_header_parse(hdr, &pn, uuid), -EIO);
    free(p);
}

/* A writer takes over an unsealed pack nobody writes to; with @fresh, or
 * while the pack is held, it starts a new one. */
static void test_claim_and_fresh(void **state)
{
    struct fixture *f = *state;
    struct pack_writer *a = NULL, *b = NULL, *c = NULL;
    chunk_id ids[3];
    struct chunk_loc la[1], lb[1], lc[1], l2[1];

    assert_int_equal(pack_writer_open(f->s, false, &a), 0);
    append_chunks(f, a, 1, 1, ids, la);
    /* While a holds its pack, b gets another. */
    assert_int_equal(pack_writer_open(f->s, false, &b), 0);
    append_chunks(f, b, 1, 2, ids + 1, lb);
    assert_int_not_equal(la[0].pack, lb[0].pack);
    assert_int_equal(pack_writer_sync(a), 0);
    assert_int_equal(pack_writer_sync(b), 0);
    pack_writer_close(a);
    /* Released: the next writer appends to it, after what is there. */
    assert_int_equal(pack_writer_open(f->s, false, &c), 0);
    append_chunks(f, c, 1, 3, ids + 2, lc);
    assert_int_equal(lc[0].pack, la[0].pack);
    assert_int_equal(lc[0].offset, la[0].offset + PACK_RECORD_HEADER_BYTES + la[0].stored_len);
    assert_int_equal(pack_writer_sync(c), 0);
    pack_writer_close(c);
    assert_int_equal(pack_writer_open(f->s, true, &c), 0);
    append_chunks(f, c, 1, 4, ids + 2, l2);
    assert_true(l2[0].pack != la[0].pack && l2[0].pack != lb[0].pack);
    assert_int_equal(l2[0].offset, PACK_HEADER_BYTES);
    pack_writer_close(c);
    pack_writer_close(b);
    check_chunk(f, &ids[0], la, 1, 0);
}

/* A pack that reached the store's pack size is sealed; the writer moves on
 * and everything stays readable. */
static void test_seal(void **state)
{
    struct fixture *f = *state;
    struct pack_writer *w = NULL;
    enum { N = 1000 }; /* about 3 MiB: half raw, half compressed to half */
    chunk_id *ids = calloc(N, sizeof *ids);
    struct chunk_loc *locs = calloc(N, sizeof *locs);
    uint32_t first;
    size_t switches = 0;

    f->s->pack_limit = 1 << 20;
    assert_int_equal(pack_writer_open(f->s, false, &w), 0);
    append_chunks(f, w, N, 1000, ids, locs);
    first = locs[0].pack;
    for (size_t i = 1; i < N; i++) {
        assert_true(locs[i].pack >= locs[i - 1].pack);
        if (locs[i].pack != locs[i - 1].pack) {
            switches++;
            assert_int_equal(locs[i].offset, PACK_HEADER_BYTES);
            /* never past the limit */
            assert_true(locs[i - 1].offset + PACK_RECORD_HEADER_BYTES + locs[i - 1].stored_len <=
                        f->s->pack_limit);
        }
    }
    assert_true(switches >= 2);
    assert_int_equal(pack_writer_sync(w), 0);
    pack_writer_close(w);
    for (size_t i = 0; i < N; i += 37)
        check_chunk(f, &ids[i], &locs[i], 1000 + i, i);
    /* A sealed pack is never claimed again. */
    assert_int_equal(pack_writer_open(f->s, false, &w), 0);
    append_chunks(f, w, 1, 5000, ids, locs);
    assert_int_not_equal(locs[0].pack, first);
    pack_writer_close(w);
    free(ids);
    free(locs);
}

/* Write one chunk, sync, and return where it is. */
static void one_chunk(struct fixture *f, chunk_id *id, struct chunk_loc *loc)
{
    struct pack_writer *w = NULL;

    assert_int_equal(pack_writer_open(f->s, true, &w), 0);
    append_chunks(f, w, 1, 77, id, loc);
    assert_int_equal(pack_writer_sync(w), 0);
    pack_writer_close(w);
}

static void assert_corrupt(struct fixture *f, const chunk_id *id, const struct chunk_loc *loc,
                           const char *what)
{
    uint8_t out[CS];
    char hex[33], where[64];

    chunk_id_hex(id, hex);
    snprintf(where, sizeof where, "pack %u offset %llu", loc->pack,
             (unsigned long long)loc->offset);
    assert_error(pack_read_chunk(f->s, id, loc, out), -EIO, "Store.Corrupt");
    assert_message_has(hex);
    assert_message_has(where);
    assert_message_has(what);
}

static void test_flipped_payload(void **state)
{
    struct fixture *f = *state;
    chunk_id id;
    struct chunk_loc loc;

    one_chunk(f, &id, &loc);
    pack_flip(f, loc.pack, loc.offset + PACK_RECORD_HEADER_BYTES + 100);
    assert_corrupt(f, &id, &loc, "checksum mismatch");
    pack_flip(f, loc.pack, loc.offset + PACK_RECORD_HEADER_BYTES + 100);
    check_chunk(f, &id, &loc, 77, 0);
    /* last payload byte too */
    pack_flip(f, loc.pack, loc.offset + PACK_RECORD_HEADER_BYTES + loc.stored_len - 1);
    assert_corrupt(f, &id, &loc, "checksum mismatch");
}

static void test_flipped_header(void **state)
{
    struct fixture *f = *state;
    chunk_id id;
    struct chunk_loc loc;

    one_chunk(f, &id, &loc);
    for (uint64_t i = 0; i < PACK_RECORD_HEADER_BYTES; i += 7) {
        pack_flip(f, loc.pack, loc.offset + i);
        assert_corrupt(f, &id, &loc, "bad record header");
        pack_flip(f, loc.pack, loc.offset + i);
    }
}

static void test_truncated_and_missing(void **state)
{
    struct fixture *f = *state;
    chunk_id id;
    struct chunk_loc loc;
    char *p;

    one_chunk(f, &id, &loc);
    p = pack_path(f->s, loc.pack);
    assert_int_equal(truncate(p, (off_t)(loc.offset + PACK_RECORD_HEADER_BYTES + 10)), 0);
    assert_corrupt(f, &id, &loc, "truncated");
    assert_int_equal(truncate(p, (off_t)(loc.offset + 4)), 0);
    assert_corrupt(f, &id, &loc, "truncated");
    assert_int_equal(unlink(p), 0);
    pack_cache_forget(f->s, loc.pack);
    assert_corrupt(f, &id, &loc, "cannot open pack");
    free(p);
}

/* The index and the record must agree, and the bytes must hash to the id. */
static void test_mismatches(void **state)
{
    struct fixture *f = *state;
    chunk_id id, other;
    struct chunk_loc loc, bad;
    struct pack_writer *w = NULL;
    uint8_t junk[100];

    one_chunk(f, &id, &loc);
    other = id;
    other.b[0] ^= 1;
    assert_corrupt(f, &other, &loc, "does not match the index");
    bad = loc;
    bad.orig_len = 2 * CS;
    assert_corrupt(f, &id, &bad, "does not match the index");
    bad = loc;
    bad.flags |= CHUNK_PAGE;
    assert_corrupt(f, &id, &bad, "does not match the index");
    bad = loc;
    bad.offset += 1; /* the only record: one byte past it runs off the end */
    assert_corrupt(f, &id, &bad, "truncated");
    bad = loc;
    bad.stored_len = 0;
    assert_corrupt(f, &id, &bad, "bad length");

    /* A record whose bytes are not what its id says. */
    assert_int_equal(pack_writer_open(f->s, true, &w), 0);
    {
        uint8_t buf[CS];
        fill_random(buf, CS, 9);
        assert_int_equal(pack_writer_append(w, &other, 0, buf, CS, CS, &bad), 0);
    }
    /* An LZ4 record whose stream is garbage (its checksum is right). */
    memset(junk, 0xff, sizeof junk);
    {
        struct chunk_loc lz;
        assert_int_equal(pack_writer_append(w, &id, CHUNK_LZ4, junk, sizeof junk, CS, &lz), 0);
        assert_int_equal(pack_writer_sync(w), 0);
        assert_corrupt(f, &id, &lz, "does not decompress");
    }
    assert_corrupt(f, &other, &bad, "content does not match its id");
    pack_writer_close(w);
}

/* BLOCKSNAP_FAULT points of the writer. */
static void test_faults(void **state)
{
    struct fixture *f = *state;
    struct pack_writer *w = NULL;
    chunk_id id;
    struct chunk_loc loc;

    requires_faults();

    assert_int_equal(pack_writer_open(f->s, true, &w), 0);
    append_chunks(f, w, 1, 1, &id, &loc);
    setenv("BLOCKSNAP_FAULT", "pack-append:1", 1);
    assert_error(pack_writer_sync(w), -EIO, "Store.Error");
    assert_message_has("injected");
    unsetenv("BLOCKSNAP_FAULT");
    /* Nothing was lost: the buffer is written by the next sync. */
    assert_int_equal(pack_writer_sync(w), 0);
    check_chunk(f, &id, &loc, 1, 0);
    setenv("BLOCKSNAP_FAULT", "pack-sync:1", 1);
    assert_error(pack_writer_sync(w), -EIO, "Store.Error");
    unsetenv("BLOCKSNAP_FAULT");
    pack_writer_close(w);
}

/* A failed writer gives the disk space back: it cuts its pack back to the
 * last mark (what committed metadata names), or removes a pack it created
 * and never marked. */
static void test_mark_abort(void **state)
{
    struct fixture *f = *state;
    struct pack_writer *w = NULL;
    chunk_id ids[4];
    struct chunk_loc locs[4];
    struct stat st;
    char *p;

    assert_int_equal(pack_writer_open(f->s, true, &w), 0);
    append_chunks(f, w, 2, 10, ids, locs);
    assert_int_equal(pack_writer_sync(w), 0);
    pack_writer_mark(w);
    append_chunks(f, w, 2, 20, ids + 2, locs + 2);
    assert_int_equal(pack_writer_sync(w), 0);
    pack_writer_abort(w);
    p = pack_path(f->s, locs[0].pack);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, locs[2].offset); /* cut back to the mark */
    check_chunk(f, &ids[1], &locs[1], 11, 1);
    /* appending goes on from the mark */
    append_chunks(f, w, 1, 30, ids + 2, locs + 2);
    assert_int_equal(locs[2].offset,
                     locs[1].offset + PACK_RECORD_HEADER_BYTES + locs[1].stored_len);
    assert_int_equal(pack_writer_sync(w), 0);
    check_chunk(f, &ids[2], &locs[2], 30, 0);
    pack_writer_close(w);
    free(p);

    /* a pack created and never marked goes away whole */
    assert_int_equal(pack_writer_open(f->s, true, &w), 0);
    append_chunks(f, w, 1, 40, ids, locs);
    p = pack_path(f->s, locs[0].pack);
    assert_int_equal(stat(p, &st), 0);
    pack_writer_abort(w);
    assert_int_equal(stat(p, &st), -1);
    pack_writer_close(w);
    pack_writer_abort(NULL);
    free(p);

    /* a claimed pack is cut back to where it was claimed, never removed */
    assert_int_equal(pack_writer_open(f->s, false, &w), 0);
    append_chunks(f, w, 1, 50, ids, locs);
    p = pack_path(f->s, locs[0].pack);
    pack_writer_abort(w);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, locs[0].offset);
    pack_writer_close(w);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_codec),
        cmocka_unit_test(test_record_every_bit_flip),
        cmocka_unit_test(test_record_limits),
        cmocka_unit_test_setup_teardown(test_names, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_write_read, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_claim_and_fresh, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_seal, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_flipped_payload, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_flipped_header, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_truncated_and_missing, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_mismatches, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_faults, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_mark_abort, setup_4k, teardown_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
