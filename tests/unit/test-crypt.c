/* test-crypt.c - crypt.c: sealed records, keyed ids, the key ring; and
 * through lineage.c, encrypted snapshots end to end in one process. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blockmap.h"
#include "catalog.h"
#include "chunk.h"
#include "crypt.h"
#include "index.h"
#include "lineage.h"
#include "pack.h"
#include "util.h"
#include "unit-helpers.h"

#define LEN 4000 /* stored bytes sealed in the round trips */

static void key_of(uint64_t slot, uint8_t byte, struct crypt_key *ret)
{
    uint8_t dk[CRYPT_KEY_BYTES];

    memset(dk, byte, sizeof dk);
    assert_int_equal(crypt_key_derive(slot, dk, ret), 0);
}

/* A payload buffer with @LEN bytes of plaintext, sealed under @k. */
static uint8_t *sealed(const struct crypt_key *k, const chunk_id *id, uint32_t flags,
                       uint8_t plain[LEN])
{
    uint8_t *buf = malloc(LEN + CRYPT_OVERHEAD);

    assert_non_null(buf);
    fill_random(plain, LEN, 7);
    memcpy(buf + CRYPT_HEAD_BYTES, plain, LEN);
    assert_int_equal(crypt_seal(k, id, flags, 65536, buf, LEN), 0);
    return buf;
}

/* Seal then open gives the bytes back; the sealed form holds no run of
 * them and names its slot. */
static void test_round_trip(void **state)
{
    struct crypt_key k;
    chunk_id id = {{1, 2, 3}};
    uint8_t plain[LEN];
    uint8_t *buf;

    (void)state;
    key_of(42, 0xab, &k);
    buf = sealed(&k, &id, CHUNK_ENC | CHUNK_LZ4, plain);
    assert_int_equal(crypt_payload_slot(buf), 42);
    assert_null(memmem(buf, LEN + CRYPT_OVERHEAD, plain, 16));
    assert_int_equal(crypt_open(&k, &id, CHUNK_ENC | CHUNK_LZ4, 65536, buf, LEN + CRYPT_OVERHEAD),
                     0);
    assert_memory_equal(buf + CRYPT_HEAD_BYTES, plain, LEN);
    free(buf);
}

/* Two seals of the same bytes differ (a fresh nonce each time). */
static void test_nonce_fresh(void **state)
{
    struct crypt_key k;
    chunk_id id = {{9}};
    uint8_t plain[LEN];
    uint8_t *a, *b;

    (void)state;
    key_of(1, 1, &k);
    a = sealed(&k, &id, CHUNK_ENC, plain);
    b = sealed(&k, &id, CHUNK_ENC, plain);
    assert_memory_not_equal(a + CRYPT_SLOT_BYTES, b + CRYPT_SLOT_BYTES, CRYPT_NONCE_BYTES);
    assert_memory_not_equal(a + CRYPT_HEAD_BYTES, b + CRYPT_HEAD_BYTES, LEN);
    free(a);
    free(b);
}

/* Open must fail (-EBADMSG) for one flipped bit anywhere in the payload
 * (slot, nonce, ciphertext, tag), and for any other additional data: the
 * chunk id, the flags, the original length, another key or slot. */
static void test_tamper(void **state)
{
    struct crypt_key k, other, moved;
    chunk_id id = {{5, 5, 5}}, id2 = {{5, 5, 6}};
    uint8_t plain[LEN];
    const size_t n = LEN + CRYPT_OVERHEAD;
    const size_t where[] = {0,
                            7,
                            CRYPT_SLOT_BYTES,
                            CRYPT_HEAD_BYTES - 1,
                            CRYPT_HEAD_BYTES,
                            CRYPT_HEAD_BYTES + LEN / 2,
                            n - CRYPT_TAG_BYTES,
                            n - 1};
    uint8_t *good, *buf = malloc(n);

    (void)state;
    assert_non_null(buf);
    key_of(77, 3, &k);
    key_of(77, 4, &other); /* same slot, other data key */
    key_of(78, 3, &moved); /* same data key, other slot */
    good = sealed(&k, &id, CHUNK_ENC | CHUNK_PAGE, plain);
    for (size_t i = 0; i < ARRAY_SIZE(where); i++) {
        memcpy(buf, good, n);
        buf[where[i]] ^= 0x10;
        assert_int_equal(crypt_open(&k, &id, CHUNK_ENC | CHUNK_PAGE, 65536, buf, n), -EBADMSG);
        /* nothing of the plaintext is left behind by a failed open */
        assert_null(memmem(buf, n, plain, 16));
    }
#define REFUSED(key, idp, flags, orig, len)                                      \
    do {                                                                         \
        memcpy(buf, good, n);                                                    \
        assert_int_equal(crypt_open(key, idp, flags, orig, buf, len), -EBADMSG); \
    } while (0)
    REFUSED(&k, &id2, CHUNK_ENC | CHUNK_PAGE, 65536, n);            /* another chunk id */
    REFUSED(&k, &id, CHUNK_ENC, 65536, n);                          /* a data chunk, not a page */
    REFUSED(&k, &id, CHUNK_ENC | CHUNK_PAGE | CHUNK_LZ4, 65536, n); /* said to be LZ4 */
    REFUSED(&k, &id, CHUNK_ENC | CHUNK_PAGE, 65535, n);             /* another length */
    REFUSED(&other, &id, CHUNK_ENC | CHUNK_PAGE, 65536, n);         /* another data key */
    REFUSED(&moved, &id, CHUNK_ENC | CHUNK_PAGE, 65536, n);         /* another slot */
    REFUSED(&k, &id, CHUNK_ENC | CHUNK_PAGE, 65536, n - 1);         /* cut short */
    REFUSED(&k, &id, CHUNK_ENC | CHUNK_PAGE, 65536, CRYPT_OVERHEAD - 1);
#undef REFUSED
    memcpy(buf, good, n);
    assert_int_equal(crypt_open(&k, &id, CHUNK_ENC | CHUNK_PAGE, 65536, buf, n), 0);
    free(good);
    free(buf);
}

/* Ids under a data key: deterministic, unrelated to the store's and to
 * another key's, pages apart from data; the zero id stays reserved. */
static void test_ids_keyed(void **state)
{
    struct fixture *f = *state;
    struct crypt_key a, b;
    uint8_t *buf = calloc(1, BM_PAGE_BYTES);
    chunk_id ia, ia2, ib, is, ip;

    assert_non_null(buf);
    key_of(1, 0x11, &a);
    key_of(2, 0x22, &b);
    fill_random(buf, 4096, 3);
    crypt_hash(f->s, &a, false, buf, 4096, &ia);
    crypt_hash(f->s, &a, false, buf, 4096, &ia2);
    crypt_hash(f->s, &b, false, buf, 4096, &ib);
    crypt_hash(f->s, NULL, false, buf, 4096, &is);
    crypt_hash(f->s, &a, true, buf, 4096, &ip);
    assert_true(chunk_id_eq(&ia, &ia2));
    assert_false(chunk_id_eq(&ia, &ib));
    assert_false(chunk_id_eq(&ia, &is));
    assert_false(chunk_id_eq(&ia, &ip));
    /* the store's own ids are chunk_hash()'s */
    chunk_hash(f->s, false, buf, 4096, &ia2);
    assert_true(chunk_id_eq(&is, &ia2));
    bm_page_id(f->s, &a, (const chunk_id *)buf, &ia2);
    crypt_hash(f->s, &a, true, buf, BM_PAGE_BYTES, &ip);
    assert_true(chunk_id_eq(&ia2, &ip));
    memset(buf, 0, BM_PAGE_BYTES);
    crypt_hash(f->s, &a, false, buf, 4096, &ia);
    assert_false(chunk_id_is_zero(&ia));
    bm_page_id(f->s, &a, (const chunk_id *)buf, &ip);
    assert_true(chunk_id_is_zero(&ip));
    free(buf);
}

/* The ring finds what was added, once per slot. */
static void test_ring(void **state)
{
    struct fixture *f = *state;
    uint8_t dk[CRYPT_KEY_BYTES];
    const struct crypt_key *k1, *k2, *k3;

    memset(dk, 9, sizeof dk);
    assert_null(crypt_ring_find(f->s, 5));
    assert_int_equal(crypt_ring_add(f->s, 5, dk, &k1), 0);
    assert_int_equal(crypt_ring_add(f->s, 5, dk, &k2), 0);
    assert_ptr_equal(k1, k2);
    assert_ptr_equal(crypt_ring_find(f->s, 5), k1);
    assert_int_equal(crypt_ring_add(f->s, 6, dk, &k3), 0);
    assert_ptr_not_equal(k1, k3);
    assert_null(crypt_ring_find(f->s, 7));
}

/* Encrypted snapshots in one process: the lineage's records are sealed
 * (flag and payload), the child reuses the lineage, the restore is
 * byte-identical, and the same data under another lineage gets other ids
 * (nothing deduplicates across keys, everything within one). */
static void test_snapshot_sealed(void **state)
{
    struct fixture *f = *state;
    char s1[BSNAP_ID_MAX], s2[BSNAP_ID_MAX], s3[BSNAP_ID_MAX], *out;
    char *vol = volume_create(f, "vol.img", 4 * MiB), *vol2 = volume_create(f, "v2.img", 4 * MiB);
    struct snapshot_rec r1 = {0}, r2 = {0}, r3 = {0};
    bsnap_snapshot_options o = {.volume_path = vol, .encrypted = true};
    bsnap_snapshot_stats st;
    chunk_id leaf[BM_FANOUT];
    struct chunk_entry e;
    char kd[300];

    snprintf(kd, sizeof kd, "%s/keys", f->dir);
    setenv("BLOCKSNAP_KEY_DIR", kd, 1);
    volume_write(vol, 0, 1 * MiB, 1);
    volume_write(vol2, 0, 1 * MiB, 1); /* the same bytes */
    snap_opts(f, &o, s1);
    volume_write(vol, 64 * KiB, 4 * KiB, 2);
    o.encrypted = false; /* an encrypted volume stays encrypted */
    st = snap_opts(f, &o, s2);
    assert_int_equal(st.new_chunks, 1);
    o = (bsnap_snapshot_options){.volume_path = vol2, .encrypted = true};
    st = snap_opts(f, &o, s3);
    assert_int_equal(st.reused_chunks, 0); /* another lineage: no dedup */
    assert_int_equal(catalog_snapshot_get(f->s, s1, &r1), 0);
    assert_int_equal(catalog_snapshot_get(f->s, s2, &r2), 0);
    assert_int_equal(catalog_snapshot_get(f->s, s3, &r3), 0);
    assert_true(r1.encrypted && r2.encrypted && r3.encrypted);
    assert_string_equal(r1.kms_key_id, r2.kms_key_id);
    assert_int_equal(r1.key_slot, r2.key_slot);
    assert_memory_equal(r1.data_key, r2.data_key, SNAP_WRAPPED_BYTES);
    assert_int_not_equal(r1.key_slot, r3.key_slot);
    /* the root page and the first chunk are sealed records */
    assert_int_equal(index_lookup(f->s, &r1.root, &e), 0);
    assert_true(e.loc.flags & CHUNK_ENC);
    assert_int_equal(bm_load_leaf(f->s, NULL, &(struct bm_tree){r1.root, r1.depth, 64}, 0, leaf),
                     0);
    assert_int_equal(index_lookup(f->s, &leaf[0], &e), 0);
    assert_true(e.loc.flags & CHUNK_ENC);
    out = path_in(f->dir, "out.img");
    restore_to(f, s2, out);
    assert_files_equal(vol, out);
    assert_verify_clean(f);
    /* a new handle opens the lineage from the key file again */
    fixture_reopen(f);
    unlink(out);
    restore_to(f, s3, out);
    assert_files_equal(vol2, out);
    snapshot_rec_clear(&r1);
    snapshot_rec_clear(&r2);
    snapshot_rec_clear(&r3);
    free(out);
    free(vol);
    free(vol2);
}

/* Verify without the key: the sealed records' stored checksums are checked
 * (counted as keyless), the snapshot is said to be unchecked, nothing is a
 * problem.  With 4 MiB chunks of random data a sealed record is larger
 * than the largest chunk (its seal's 36 bytes): the buffer its payload is
 * read into must hold it. */
static void test_verify_keyless(void **state)
{
    struct fixture *f = fixture_new(4u << 20);
    char s1[BSNAP_ID_MAX], kd[300], nokeys[300];
    char *vol = volume_create(f, "vol.img", 8 * MiB);
    bsnap_snapshot_options o = {.volume_path = vol, .encrypted = true};
    bsnap_verify_stats st;

    (void)state;
    snprintf(kd, sizeof kd, "%s/keys", f->dir);
    snprintf(nokeys, sizeof nokeys, "%s/nokeys", f->dir);
    setenv("BLOCKSNAP_KEY_DIR", kd, 1);
    volume_write(vol, 0, 8 * MiB, 11); /* random: stored raw, then sealed */
    snap_opts(f, &o, s1);
    assert_verify_clean(f);
    setenv("BLOCKSNAP_KEY_DIR", nokeys, 1);
    fixture_reopen(f); /* a handle without the lineage's key */
    st = verify_store(f, NULL, NULL);
    assert_int_equal(st.problems, 0);
    assert_int_equal(st.keyless_chunks, 3); /* two chunks, one page */
    assert_int_equal(st.snapshots_unchecked, 1);
    setenv("BLOCKSNAP_KEY_DIR", kd, 1);
    free(vol);
    fixture_free(f);
}

/* An image of an encrypted snapshot says so: its mapping's Encrypted is
 * true in describe-images, whatever the registration left unsaid (EC2
 * reports the snapshot's encryption). */
static void test_image_encrypted(void **state)
{
    struct fixture *f = *state;
    char s1[BSNAP_ID_MAX], ami[BSNAP_ID_MAX], kd[300];
    char *vol = volume_create(f, "vol.img", 1 * MiB);
    bsnap_snapshot_options o = {.volume_path = vol, .encrypted = true};
    bsnap_block_device_mapping m = {
        .device_name = "/dev/xvda", .kind = BSNAP_MAPPING_EBS, .snapshot_id = s1};
    bsnap_image_options io = {.name = "enc", .mappings = &m, .nmappings = 1, .no_boot_check = true};
    json_t *doc = NULL, *ebs;

    snprintf(kd, sizeof kd, "%s/keys", f->dir);
    setenv("BLOCKSNAP_KEY_DIR", kd, 1);
    volume_write(vol, 0, 64 * KiB, 5);
    snap_opts(f, &o, s1);
    assert_int_equal(bsnap_image_register(f->s, &io, ami), 0);
    assert_int_equal(bsnap_image_describe_one(f->s, ami, &doc), 0);
    ebs = json_object_get(json_array_get(json_object_get(doc, "BlockDeviceMappings"), 0), "Ebs");
    assert_non_null(ebs);
    assert_true(json_is_true(json_object_get(ebs, "Encrypted")));
    json_decref(doc);
    free(vol);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_nonce_fresh),
        cmocka_unit_test(test_tamper),
        cmocka_unit_test_setup_teardown(test_ids_keyed, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_ring, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_snapshot_sealed, setup_64k, teardown_fixture),
        cmocka_unit_test(test_verify_keyless),
        cmocka_unit_test_setup_teardown(test_image_encrypted, setup_64k, teardown_fixture),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
