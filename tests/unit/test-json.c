/* test-json.c - json.c: stored records <-> JSON, tags, EC2 wildcards,
 * describe shapes and filters, the ListChangedBlocks shape. */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "record.h"
#include "store.h"
#include "util.h"
#include "unit-helpers.h"

static struct snapshot_rec sample_snapshot(void)
{
    struct snapshot_rec r = {0};

    snprintf(r.id, sizeof r.id, "snap-0123456789abcdef0");
    snprintf(r.volume_id, sizeof r.volume_id, "vol-0123456789abcdef0");
    snprintf(r.parent_id, sizeof r.parent_id, "snap-00000000000000001");
    r.state = BSNAP_SNAPSHOT_COMPLETED;
    r.size = (1ull << 30) + 1;
    for (int i = 0; i < 16; i++)
        r.root.b[i] = (uint8_t)(i * 17);
    r.depth = 2;
    r.chunk_size = 65536;
    r.start_ms = 1795400936123ll;
    r.completion_ms = 1795400937000ll;
    r.description = strdup("nightly \"db\" backup \xc3\xa9t\xc3\xa9");
    r.data_chunks = 12;
    r.bytes_read = 34;
    r.bytes_written = 56;
    r.chunks_written = 7;
    assert_int_equal(tags_set(&r.tags, "Name", "db-1"), 0);
    assert_int_equal(tags_set(&r.tags, "env", "prod"), 0);
    return r;
}

static void test_snapshot_roundtrip(void **state)
{
    struct snapshot_rec in = sample_snapshot(), out = {0};
    char *json = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(snapshot_rec_encode(&in, &json, &len), 0);
    assert_int_equal(strlen(json), len);
    assert_int_equal(snapshot_rec_decode(json, len, &out), 0);
    assert_string_equal(out.id, in.id);
    assert_string_equal(out.volume_id, in.volume_id);
    assert_string_equal(out.parent_id, in.parent_id);
    assert_int_equal(out.state, in.state);
    assert_true(out.size == in.size);
    assert_true(chunk_id_eq(&out.root, &in.root));
    assert_int_equal(out.depth, 2);
    assert_int_equal(out.chunk_size, 65536);
    assert_true(out.start_ms == in.start_ms && out.completion_ms == in.completion_ms);
    assert_string_equal(out.description, in.description);
    assert_true(out.data_chunks == 12 && out.bytes_read == 34 && out.bytes_written == 56 &&
                out.chunks_written == 7);
    assert_int_equal(out.tags.n, 2);
    assert_string_equal(out.tags.v[0].key, "Name");
    assert_string_equal(out.tags.v[0].value, "db-1");
    free(json);
    snapshot_rec_clear(&out);
    /* no tags, no parent, no description: still round trips */
    tags_clear(&in.tags);
    in.parent_id[0] = '\0';
    free(in.description);
    in.description = NULL;
    in.state = BSNAP_SNAPSHOT_PENDING;
    assert_int_equal(snapshot_rec_encode(&in, &json, &len), 0);
    assert_null(strstr(json, "tags"));
    assert_int_equal(snapshot_rec_decode(json, len, &out), 0);
    assert_int_equal(out.tags.n, 0);
    assert_string_equal(out.description, "");
    assert_string_equal(out.parent_id, "");
    assert_int_equal(out.state, BSNAP_SNAPSHOT_PENDING);
    free(json);
    snapshot_rec_clear(&out);
    snapshot_rec_clear(&in);
}

/* "partitions": kept when known (an empty table too), absent otherwise;
 * values that cannot be a table of the volume are a damaged record. */
static void test_snapshot_partitions(void **state)
{
    struct snapshot_rec in = sample_snapshot(), out = {0};
    bsnap_part_extent parts[2] = {{1, 1048576, 2097152}, {5, 4194304, 1024}};
    char *json = NULL;
    size_t len = 0;

    (void)state;
    /* unknown (an older record, or a pending one): no key */
    assert_int_equal(snapshot_rec_encode(&in, &json, &len), 0);
    assert_null(strstr(json, "partitions"));
    assert_int_equal(snapshot_rec_decode(json, len, &out), 0);
    assert_false(out.parts_known);
    assert_int_equal(out.nparts, 0);
    free(json);
    snapshot_rec_clear(&out);
    /* known, none */
    in.parts_known = true;
    assert_int_equal(snapshot_rec_encode(&in, &json, &len), 0);
    assert_non_null(strstr(json, "\"partitions\":[]"));
    assert_int_equal(snapshot_rec_decode(json, len, &out), 0);
    assert_true(out.parts_known);
    assert_int_equal(out.nparts, 0);
    assert_null(out.parts);
    free(json);
    snapshot_rec_clear(&out);
    /* known, two */
    in.parts = parts;
    in.nparts = 2;
    assert_int_equal(snapshot_rec_encode(&in, &json, &len), 0);
    assert_int_equal(snapshot_rec_decode(json, len, &out), 0);
    assert_true(out.parts_known);
    assert_int_equal(out.nparts, 2);
    for (size_t i = 0; i < 2; i++)
        assert_true(out.parts[i].number == parts[i].number &&
                    out.parts[i].offset == parts[i].offset && out.parts[i].size == parts[i].size);
    free(json);
    snapshot_rec_clear(&out);
    /* checked records whose table does not fit the volume, or repeats a
     * number */
    static const bsnap_part_extent bad[][2] = {
        {{1, 0, (1ull << 30) + 2}, {2, 1, 1}}, /* past the end */
        {{1, (1ull << 30), 2}, {2, 1, 1}},     /* ends past the end */
        {{1, 0, 0}, {2, 1, 1}},                /* empty */
        {{0, 0, 1}, {2, 1, 1}},                /* number 0 */
        {{2, 0, 1}, {2, 1, 1}},                /* the same number twice */
        {{1, UINT64_MAX - 1, 4}, {2, 1, 1}},   /* wraps */
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        in.parts = (bsnap_part_extent *)bad[i];
        assert_int_equal(snapshot_rec_encode(&in, &json, &len), 0);
        assert_error(snapshot_rec_decode(json, len, &out), -EIO, "Store.Corrupt");
        free(json);
    }
    in.parts = NULL;
    in.nparts = 0;
    snapshot_rec_clear(&in);
}

static void test_volume_roundtrip(void **state)
{
    struct volume_rec in = {0}, out = {0};
    char *json = NULL;
    size_t len;

    (void)state;
    snprintf(in.id, sizeof in.id, "vol-0123456789abcdef0");
    in.path = strdup("/some where/disk.img");
    in.size = 123456789;
    snprintf(in.source_snapshot, sizeof in.source_snapshot, "snap-0123456789abcdef0");
    in.create_ms = 42;
    assert_int_equal(tags_set(&in.tags, "k", ""), 0);
    assert_int_equal(volume_rec_encode(&in, &json, &len), 0);
    assert_int_equal(volume_rec_decode(json, len, &out), 0);
    assert_string_equal(out.id, in.id);
    assert_string_equal(out.path, in.path);
    assert_true(out.size == in.size);
    assert_string_equal(out.source_snapshot, in.source_snapshot);
    assert_string_equal(out.last_snapshot, "");
    assert_true(out.create_ms == 42);
    assert_int_equal(out.tags.n, 1);
    assert_string_equal(out.tags.v[0].value, "");
    free(json);
    volume_rec_clear(&in);
    volume_rec_clear(&out);
}

/* Every single bit flip in a stored record is refused (-EIO,
 * Store.Corrupt) or decodes to the very record that was stored: never to
 * another valid one.  (LMDB keeps no checksums: a flip in a digit of
 * "size" once decoded as a snapshot 4 MB shorter, which verify and the
 * repair kept, and which restored short.) */
static void test_record_bit_flips(void **state)
{
    struct snapshot_rec snap = sample_snapshot();
    struct volume_rec vol = {0};
    char *json = NULL, *again = NULL, *size;
    size_t len, alen;

    (void)state;
    snap.size = 16777216;
    snap.pages_written = 3;
    assert_int_equal(snapshot_rec_encode(&snap, &json, &len), 0);
    /* the damage seen: "size":16777216 read as 12777216 */
    size = strstr(json, "\"size\":16777216");
    assert_non_null(size);
    size[8] ^= 4;
    assert_error(snapshot_rec_decode(json, len, &(struct snapshot_rec){0}), -EIO, "Store.Corrupt");
    assert_message_has(snap.id);
    size[8] ^= 4;
    for (size_t i = 0; i < len * 8; i++) {
        struct snapshot_rec out = {0};
        json[i / 8] ^= (char)(1 << (i % 8));
        if (snapshot_rec_decode(json, len, &out) == 0) {
            assert_int_equal(snapshot_rec_encode(&out, &again, &alen), 0);
            json[i / 8] ^= (char)(1 << (i % 8));
            if (alen != len || memcmp(again, json, len) != 0)
                fail_msg("a flip of bit %zu decoded as another record: %s", i, again);
            free(again);
            snapshot_rec_clear(&out);
        } else {
            json[i / 8] ^= (char)(1 << (i % 8));
        }
    }
    free(json);
    snapshot_rec_clear(&snap);

    snprintf(vol.id, sizeof vol.id, "vol-0123456789abcdef0");
    vol.path = strdup("/some where/disk.img");
    vol.size = 16777216;
    snprintf(vol.last_snapshot, sizeof vol.last_snapshot, "snap-0123456789abcdef0");
    assert_int_equal(volume_rec_encode(&vol, &json, &len), 0);
    for (size_t i = 0; i < len * 8; i++) {
        struct volume_rec out = {0};
        json[i / 8] ^= (char)(1 << (i % 8));
        if (volume_rec_decode(json, len, &out) == 0) {
            assert_int_equal(volume_rec_encode(&out, &again, &alen), 0);
            json[i / 8] ^= (char)(1 << (i % 8));
            if (alen != len || memcmp(again, json, len) != 0)
                fail_msg("a flip of bit %zu decoded as another record: %s", i, again);
            free(again);
            volume_rec_clear(&out);
        } else {
            json[i / 8] ^= (char)(1 << (i % 8));
        }
    }
    free(json);
    volume_rec_clear(&vol);
}

/* Records of older versions have no check: they are read as they are,
 * but only with the keys those versions wrote (a flip in the word "check"
 * must not pass for such a record). */
static void test_record_without_check(void **state)
{
    static const char *const old_snap =
        "{\"id\":\"snap-0123456789abcdef0\",\"volume\":\"vol-0123456789abcdef0\",\"parent\":\"\","
        "\"state\":\"completed\",\"size\":16777216,\"root\":\"00000000000000000000000000000000\","
        "\"depth\":1,\"chunk-size\":65536,\"start\":0,\"completion\":0,\"description\":\"\","
        "\"data-chunks\":0,\"bytes-read\":0,\"bytes-written\":0,\"chunks-written\":0";
    struct snapshot_rec out = {0};
    struct volume_rec vout = {0};
    char buf[1024];

    (void)state;
    snprintf(buf, sizeof buf, "%s}", old_snap);
    assert_int_equal(snapshot_rec_decode(buf, strlen(buf), &out), 0);
    assert_true(out.size == 16777216);
    snapshot_rec_clear(&out);
    snprintf(buf, sizeof buf, "%s,\"pages-written\":2,\"tags\":[]}", old_snap);
    assert_int_equal(snapshot_rec_decode(buf, strlen(buf), &out), 0);
    snapshot_rec_clear(&out);
    /* "check" with a bit flipped: not an older record, and no check */
    snprintf(buf, sizeof buf, "%s,\"chdck\":\"0123456789abcdef\"}", old_snap);
    assert_error(snapshot_rec_decode(buf, strlen(buf), &out), -EIO, "Store.Corrupt");
    assert_message_has("snap-0123456789abcdef0");
    /* a check that is not 16 hex digits of the rest */
    snprintf(buf, sizeof buf, "%s,\"check\":\"0123456789abcdef\"}", old_snap);
    assert_error(snapshot_rec_decode(buf, strlen(buf), &out), -EIO, "Store.Corrupt");
    snprintf(buf, sizeof buf, "%s,\"check\":7}", old_snap);
    assert_error(snapshot_rec_decode(buf, strlen(buf), &out), -EIO, "Store.Corrupt");
    snprintf(buf, sizeof buf,
             "{\"id\":\"vol-1\",\"path\":\"/p\",\"size\":5,\"source\":\"\","
             "\"last\":\"\",\"create\":0}");
    assert_int_equal(volume_rec_decode(buf, strlen(buf), &vout), 0);
    volume_rec_clear(&vout);
    snprintf(buf, sizeof buf,
             "{\"id\":\"vol-1\",\"path\":\"/p\",\"size\":5,\"source\":\"\","
             "\"last\":\"\",\"create\":0,\"chuck\":\"0123456789abcdef\"}");
    assert_error(volume_rec_decode(buf, strlen(buf), &vout), -EIO, "Store.Corrupt");
}

/* Damaged records are -EIO "Store.Corrupt", naming the record when it can. */
static void test_decode_errors(void **state)
{
    static const char *const bad_snaps[] = {
        "",
        "not json",
        "[]",
        "{}",
        "{\"id\":\"snap-1\"}",
        /* each of these differs from a good record in one field */
        "{\"id\":\"snap-0123456789abcdef0\",\"volume\":\"v\",\"parent\":\"\",\"state\":"
        "\"weird\",\"size\":1,\"root\":\"00000000000000000000000000000000\",\"depth\":1,"
        "\"chunk-size\":4096,\"start\":0,\"completion\":0,\"description\":\"\",\"data-chunks\":0,"
        "\"bytes-read\":0,\"bytes-written\":0,\"chunks-written\":0}",
        "{\"id\":\"snap-0123456789abcdef0\",\"volume\":\"v\",\"parent\":\"\",\"state\":"
        "\"completed\",\"size\":-1,\"root\":\"00000000000000000000000000000000\",\"depth\":1,"
        "\"chunk-size\":4096,\"start\":0,\"completion\":0,\"description\":\"\",\"data-chunks\":0,"
        "\"bytes-read\":0,\"bytes-written\":0,\"chunks-written\":0}",
        "{\"id\":\"snap-0123456789abcdef0\",\"volume\":\"v\",\"parent\":\"\",\"state\":"
        "\"completed\",\"size\":1,\"root\":\"0000000000000000000000000000000\",\"depth\":1,"
        "\"chunk-size\":4096,\"start\":0,\"completion\":0,\"description\":\"\",\"data-chunks\":0,"
        "\"bytes-read\":0,\"bytes-written\":0,\"chunks-written\":0}",
        "{\"id\":\"snap-0123456789abcdef0\",\"volume\":\"v\",\"parent\":\"\",\"state\":"
        "\"completed\",\"size\":1,\"root\":\"0000000000000000000000000000000g\",\"depth\":1,"
        "\"chunk-size\":4096,\"start\":0,\"completion\":0,\"description\":\"\",\"data-chunks\":0,"
        "\"bytes-read\":0,\"bytes-written\":0,\"chunks-written\":0}",
        "{\"id\":\"snap-0123456789abcdef0\",\"volume\":\"v\",\"parent\":\"\",\"state\":"
        "\"completed\",\"size\":1,\"root\":\"00000000000000000000000000000000\",\"depth\":17,"
        "\"chunk-size\":4096,\"start\":0,\"completion\":0,\"description\":\"\",\"data-chunks\":0,"
        "\"bytes-read\":0,\"bytes-written\":0,\"chunks-written\":0}",
        "{\"id\":\"snap-0123456789abcdef0\",\"volume\":\"v\",\"parent\":\"\",\"state\":"
        "\"completed\",\"size\":1,\"root\":\"00000000000000000000000000000000\",\"depth\":1,"
        "\"chunk-size\":-4096,\"start\":0,\"completion\":0,\"description\":\"\",\"data-chunks\":0,"
        "\"bytes-read\":0,\"bytes-written\":0,\"chunks-written\":0}",
        "{\"id\":\"snap-0123456789abcdef0\",\"volume\":\"v\",\"parent\":\"\",\"state\":"
        "\"completed\",\"size\":1,\"root\":\"00000000000000000000000000000000\",\"depth\":1,"
        "\"chunk-size\":4096,\"start\":0,\"completion\":0,\"description\":7,\"data-chunks\":0,"
        "\"bytes-read\":0,\"bytes-written\":0,\"chunks-written\":0}",
        "{\"id\":\"snap-0123456789abcdef0\",\"volume\":\"v\",\"parent\":\"\",\"state\":"
        "\"completed\",\"size\":1,\"root\":\"00000000000000000000000000000000\",\"depth\":1,"
        "\"chunk-size\":4096,\"start\":0,\"completion\":0,\"description\":\"\",\"data-chunks\":0,"
        "\"bytes-read\":0,\"bytes-written\":0,\"chunks-written\":0,\"tags\":{}}",
        "{\"id\":\"snap-0123456789abcdef0\",\"volume\":\"v\",\"parent\":\"\",\"state\":"
        "\"completed\",\"size\":1,\"root\":\"00000000000000000000000000000000\",\"depth\":1,"
        "\"chunk-size\":4096,\"start\":0,\"completion\":0,\"description\":\"\",\"data-chunks\":0,"
        "\"bytes-read\":0,\"bytes-written\":0,\"chunks-written\":0,\"tags\":[{\"Key\":\"a\"}]}",
        "{\"id\":\"snap-0123456789abcdef0123456789abcdef\",\"volume\":\"v\",\"parent\":\"\","
        "\"state\":\"completed\",\"size\":1,\"root\":\"00000000000000000000000000000000\","
        "\"depth\":1,\"chunk-size\":4096,\"start\":0,\"completion\":0,\"description\":\"\","
        "\"data-chunks\":0,\"bytes-read\":0,\"bytes-written\":0,\"chunks-written\":0}",
    };
    static const char *const bad_vols[] = {
        "{}",
        "{\"id\":\"vol-1\",\"path\":\"/p\",\"size\":-5,\"source\":\"\",\"last\":\"\",\"create\":0}",
        "{\"id\":\"vol-1\",\"path\":3,\"size\":5,\"source\":\"\",\"last\":\"\",\"create\":0}",
        "{\"id\":\"vol-1\",\"path\":\"/p\",\"size\":5,\"source\":\"\",\"last\":\"\",\"create\":0,"
        "\"tags\":[7]}",
        "{\"id\":\"vol-1\",\"path\":\"/p\",\"size\":5,\"source\":\"snap-"
        "0123456789abcdef0123456789abcdef\",\"last\":\"\",\"create\":0}",
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(bad_snaps); i++) {
        struct snapshot_rec out;
        memset(&out, 0x5a, sizeof out); /* untouched on failure */
        if (snapshot_rec_decode(bad_snaps[i], strlen(bad_snaps[i]), &out) != -EIO)
            print_error("snapshot case %zu decoded\n", i);
        assert_error(snapshot_rec_decode(bad_snaps[i], strlen(bad_snaps[i]), &out), -EIO,
                     "Store.Corrupt");
        assert_int_equal(out.id[0], 0x5a);
        /* The message names the record.  (This once came out of freed
         * memory: the decoder freed the JSON document its id pointed
         * into before it reported.) */
        if (i >= 5 && i + 1 < ARRAY_SIZE(bad_snaps))
            assert_message_has("snap-0123456789abcdef0");
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad_vols); i++) {
        struct volume_rec out;
        memset(&out, 0x5a, sizeof out);
        assert_error(volume_rec_decode(bad_vols[i], strlen(bad_vols[i]), &out), -EIO,
                     "Store.Corrupt");
        assert_int_equal(out.id[0], 0x5a);
        /* named too, not read from freed memory */
        if (i == 1 || i >= 3)
            assert_message_has("vol-1");
    }
}

static void test_tags(void **state)
{
    struct tags t = {0};
    char key[8];

    (void)state;
    assert_int_equal(tags_set(&t, "a", "1"), 0);
    assert_int_equal(tags_set(&t, "b", NULL), 0); /* no value: "" */
    assert_string_equal(t.v[1].value, "");
    assert_int_equal(tags_set(&t, "a", "2"), 0); /* replaces */
    assert_int_equal(t.n, 2);
    assert_string_equal(t.v[0].value, "2");
    tags_remove(&t, "a", "1"); /* value differs: kept */
    assert_int_equal(t.n, 2);
    tags_remove(&t, "a", "2");
    assert_int_equal(t.n, 1);
    assert_string_equal(t.v[0].key, "b");
    tags_remove(&t, "nope", NULL);
    tags_remove(&t, "b", NULL); /* any value */
    assert_int_equal(t.n, 0);
    for (int i = 0; i < TAGS_MAX; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(tags_set(&t, key, "v"), 0);
    }
    assert_error(tags_set(&t, "one-more", "v"), -EINVAL, "TagLimitExceeded");
    assert_int_equal(tags_set(&t, "k7", "replaced at the limit"), 0);
    assert_int_equal(t.n, TAGS_MAX);
    tags_clear(&t);
    assert_int_equal(t.n, 0);
    assert_null(t.v);
    tags_clear(&t);
}

static void test_wildcards(void **state)
{
    static const struct {
        const char *pattern, *text;
        bool match;
    } cases[] = {
        {"", "", true},
        {"", "a", false},
        {"abc", "abc", true},
        {"abc", "abd", false},
        {"abc", "ab", false},
        {"ABC", "abc", false}, /* case-sensitive */
        {"*", "", true},
        {"*", "anything at all", true},
        {"a*", "a", true},
        {"a*c", "abbbc", true},
        {"a*c", "abbbd", false},
        {"*.img", "disk.img", true},
        {"*.img", "disk.img.bak", false},
        {"**", "x", true},
        /* '?' matches zero or one character */
        {"?", "", true},
        {"?", "x", true},
        {"?", "xy", false},
        {"a?c", "ac", true},
        {"a?c", "abc", true},
        {"a?c", "abbc", false},
        {"??", "xyz", false},
        {"??", "", true},
        {"snap-?*", "snap-", true},
        /* backslash escapes */
        {"\\*", "*", true},
        {"\\*", "x", false},
        {"\\*", "", false},
        {"a\\?", "a?", true},
        {"a\\?", "a", false},
        {"a\\?", "ab", false},
        {"\\\\", "\\", true},
        {"a\\", "a\\", true}, /* a trailing backslash is itself */
        {"a\\", "a", false},
        {"*\\*", "abc*", true},
        {"*\\*", "abc", false},
        {"vol-*", "vol-0123456789abcdef0", true},
        {"vol-*", "snap-0123", false},
        /* '?' is one character, not one byte */
        {"caf?", "caf\xc3\xa9", true},
        {"caf??", "caf\xc3\xa9", true},
        {"?\xc3\xa9", "\xc3\xa9", true},
        {"*\xc3\xa9", "d\xc3\xa9j\xc3\xa0 vu caf\xc3\xa9", true},
        {"d*?\xc3\xa0*", "d\xc3\xa9j\xc3\xa0 vu", true},
        {"a*b*c", "aXbYc", true},
        {"a*b*c", "aXcYb", false},
        {"*?*?*x", "x", true},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        bool got = ec2_wildcard_match(cases[i].pattern, cases[i].text) == 1;
        if (got != cases[i].match)
            print_error("'%s' vs '%s': got %d\n", cases[i].pattern, cases[i].text, got);
        assert_int_equal(got, cases[i].match);
    }
}

/* A pattern of many stars against a long text that almost matches made the
 * old recursive matcher backtrack exponentially (44 s for "*a*a*a*a*b"
 * against 256 characters, over 100 s with five stars).  The matcher makes
 * a bounded number of passes over the pattern per character instead. */
static void test_wildcards_linear(void **state)
{
    char text[1025], pattern[64];
    uint64_t steps = 0;
    size_t plen;

    (void)state;
    memset(text, 'a', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    snprintf(pattern, sizeof pattern, "*a*a*a*a*a*a*a*a*a*a*a*a*b");
    plen = strlen(pattern);
    assert_int_equal(ec2_wildcard_match_steps(pattern, text, &steps), 0);
    assert_true(steps <= 2 * (plen + 1) * (strlen(text) + 1));
    text[sizeof text - 2] = 'b';
    steps = 0;
    assert_int_equal(ec2_wildcard_match_steps(pattern, text, &steps), 1);
    assert_true(steps <= 2 * (plen + 1) * (strlen(text) + 1));
    /* '?' runs, the other branching token, are bounded the same way. */
    snprintf(pattern, sizeof pattern, "??????????????????????????????b");
    plen = strlen(pattern);
    steps = 0;
    assert_int_equal(ec2_wildcard_match_steps(pattern, text, &steps), 0);
    assert_true(steps <= 2 * (plen + 1) * (strlen(text) + 1));
}

/* ---- describe shapes ---- */

static bsnap_store fake_store(void)
{
    bsnap_store s;

    memset(&s, 0, sizeof s);
    snprintf(s.account, sizeof s.account, "123456789012");
    snprintf(s.caller, sizeof s.caller, "123456789012");
    snprintf(s.region, sizeof s.region, "eu-west-1");
    return s;
}

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);

    if (!o)
        print_error("bad JSON: %s: %s\n", jerr.text, text);
    assert_non_null(o);
    return o;
}

/* A list-describe document of @n records (no page limit), as JSON text. */
static int list_json(const bsnap_store *s, enum page_kind kind, const void *recs, size_t size,
                     size_t n, const bsnap_filter *f, size_t nf, char **ret_json)
{
    struct describe *d = NULL;
    json_t *doc = NULL;
    int r = describe_new(s, kind, f, nf, 0, &d);

    for (size_t i = 0; r >= 0 && i < n; i++)
        r = describe_add(d, (const char *)recs + i * size);
    if (r < 0) {
        describe_free(d);
        return r;
    }
    assert_int_equal(describe_finish(d, NULL, &doc), 0);
    *ret_json = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    assert_non_null(*ret_json);
    return 0;
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void test_describe_snapshot_shape(void **state)
{
    bsnap_store s = fake_store();
    struct snapshot_rec r[2] = {sample_snapshot(), sample_snapshot()};
    char *json = NULL;
    json_t *o, *arr, *a, *b;

    (void)state;
    snprintf(r[1].id, sizeof r[1].id, "snap-0000000000000000b");
    r[1].state = BSNAP_SNAPSHOT_PENDING;
    r[1].parent_id[0] = '\0';
    r[1].size = 0;
    tags_clear(&r[1].tags);
    assert_int_equal(list_json(&s, PAGE_SNAPSHOTS, r, sizeof *r, 2, NULL, 0, &json), 0);
    o = parse(json);
    assert_int_equal(json_object_size(o), 1);
    arr = json_object_get(o, "Snapshots");
    assert_int_equal(json_array_size(arr), 2);
    a = json_array_get(arr, 0);
    assert_string_equal(str(a, "SnapshotId"), "snap-0123456789abcdef0");
    assert_string_equal(str(a, "VolumeId"), "vol-0123456789abcdef0");
    assert_string_equal(str(a, "State"), "completed");
    assert_string_equal(str(a, "StartTime"), "2026-11-23T02:28:56.123Z");
    assert_string_equal(str(a, "CompletionTime"), "2026-11-23T02:28:57.000Z");
    assert_string_equal(str(a, "Progress"), "100%");
    assert_string_equal(str(a, "OwnerId"), "123456789012");
    assert_string_equal(str(a, "Description"), r[0].description);
    assert_int_equal(json_integer_value(json_object_get(a, "VolumeSize")), 2); /* GiB, up */
    assert_true(json_is_false(json_object_get(a, "Encrypted")));
    assert_string_equal(str(a, "StorageTier"), "standard");
    assert_string_equal(str(a, "ParentSnapshotId"), "snap-00000000000000001");
    assert_int_equal(json_integer_value(json_object_get(a, "ChunkSize")), 65536);
    assert_int_equal(json_integer_value(json_object_get(a, "DataChunks")), 12);
    assert_true(json_integer_value(json_object_get(a, "VolumeSizeBytes")) == (1ll << 30) + 1);
    {
        json_t *tags = json_object_get(a, "Tags");
        assert_int_equal(json_array_size(tags), 2);
        assert_string_equal(str(json_array_get(tags, 1), "Key"), "env");
        assert_string_equal(str(json_array_get(tags, 1), "Value"), "prod");
    }
    /* EC2 order: SnapshotId comes first */
    assert_string_equal(json_object_iter_key(json_object_iter(a)), "SnapshotId");
    b = json_array_get(arr, 1);
    assert_string_equal(str(b, "State"), "pending");
    assert_string_equal(str(b, "Progress"), "0%");
    assert_null(json_object_get(b, "CompletionTime"));
    assert_null(json_object_get(b, "Tags"));
    assert_null(json_object_get(b, "ParentSnapshotId"));
    assert_int_equal(json_integer_value(json_object_get(b, "VolumeSize")), 0);
    json_decref(o);
    free(json);

    /* one: the object itself */
    assert_int_equal(AS_JSON(json, json_describe_snapshot, &s, r), 0);
    o = parse(json);
    assert_string_equal(str(o, "SnapshotId"), "snap-0123456789abcdef0");
    json_decref(o);
    free(json);
    assert_int_equal(list_json(&s, PAGE_SNAPSHOTS, r, sizeof *r, 0, NULL, 0, &json), 0);
    assert_string_equal(json, "{\"Snapshots\":[]}");
    free(json);
    snapshot_rec_clear(&r[0]);
    snapshot_rec_clear(&r[1]);
}

static void test_describe_volume_shape(void **state)
{
    bsnap_store s = fake_store();
    struct volume_rec v = {0};
    char *json = NULL;
    json_t *o;

    (void)state;
    snprintf(v.id, sizeof v.id, "vol-0123456789abcdef0");
    v.path = strdup("/images/a.img");
    v.size = 3ull << 30;
    snprintf(v.source_snapshot, sizeof v.source_snapshot, "snap-0123456789abcdef0");
    snprintf(v.last_snapshot, sizeof v.last_snapshot, "snap-0000000000000000b");
    assert_int_equal(AS_JSON(json, json_describe_volume, &s, &v), 0);
    o = parse(json);
    assert_string_equal(str(o, "VolumeId"), v.id);
    assert_int_equal(json_integer_value(json_object_get(o, "Size")), 3);
    assert_string_equal(str(o, "SnapshotId"), v.source_snapshot);
    assert_string_equal(str(o, "AvailabilityZone"), "eu-west-1a");
    assert_string_equal(str(o, "State"), "available");
    assert_string_equal(str(o, "CreateTime"), "1970-01-01T00:00:00.000Z");
    assert_string_equal(str(o, "VolumeType"), "standard");
    assert_true(json_is_false(json_object_get(o, "Encrypted")));
    assert_true(json_is_false(json_object_get(o, "MultiAttachEnabled")));
    assert_string_equal(str(o, "Path"), "/images/a.img");
    assert_string_equal(str(o, "LastSnapshotId"), v.last_snapshot);
    assert_null(json_object_get(o, "Tags"));
    json_decref(o);
    free(json);
    volume_rec_clear(&v);
}

/* Filters: names checked first, values OR-ed, filters AND-ed, wildcards. */
static size_t count_matches(const struct snapshot_rec *r, size_t n, const bsnap_filter *f,
                            size_t nf)
{
    bsnap_store s = fake_store();
    char *json = NULL;
    json_t *o;
    size_t k;

    assert_int_equal(list_json(&s, PAGE_SNAPSHOTS, r, sizeof *r, n, f, nf, &json), 0);
    o = parse(json);
    k = json_array_size(json_object_get(o, "Snapshots"));
    json_decref(o);
    free(json);
    return k;
}

#define FILTER(name, ...)                                                     \
    (bsnap_filter)                                                            \
    {                                                                         \
        name, (const char *const[]){__VA_ARGS__},                             \
            sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *) \
    }

/* Owners: a record keeps its owner; one without (written before owners
 * were kept) belongs to the store's account; a caller's describe lists
 * only its own, and owner-id filters by the record's owner. */
static void test_owners(void **state)
{
    struct snapshot_rec r[3] = {sample_snapshot(), sample_snapshot(), sample_snapshot()}, out;
    bsnap_store s = fake_store();
    char *json = NULL;
    size_t len = 0;
    json_t *o;

    (void)state;
    snprintf(r[1].id, sizeof r[1].id, "snap-0000000000000000b");
    snprintf(r[1].owner, sizeof r[1].owner, "111122223333");
    snprintf(r[2].id, sizeof r[2].id, "snap-0000000000000000c");
    snprintf(r[2].owner, sizeof r[2].owner, "123456789012");

    /* the stored form: "owner" only when there is one */
    assert_int_equal(snapshot_rec_encode(&r[0], &json, &len), 0);
    assert_null(strstr(json, "owner"));
    assert_int_equal(snapshot_rec_decode(json, len, &out), 0);
    assert_string_equal(out.owner, "");
    snapshot_rec_clear(&out);
    free(json);
    assert_int_equal(snapshot_rec_encode(&r[1], &json, &len), 0);
    assert_non_null(strstr(json, "\"owner\":\"111122223333\""));
    assert_int_equal(snapshot_rec_decode(json, len, &out), 0);
    assert_string_equal(out.owner, "111122223333");
    snapshot_rec_clear(&out);
    free(json);
    {
        /* a malformed owner is a damaged record */
        const char bad[] = "{\"id\":\"snap-0123456789abcdef0\",\"owner\":\"12\"}";
        assert_int_equal(snapshot_rec_decode(bad, sizeof bad - 1, &out), -EIO);
    }

    /* the store's account sees its own and the old record, as itself */
    assert_int_equal(list_json(&s, PAGE_SNAPSHOTS, r, sizeof *r, 3, NULL, 0, &json), 0);
    o = parse(json);
    assert_int_equal(json_array_size(json_object_get(o, "Snapshots")), 2);
    assert_string_equal(str(json_array_get(json_object_get(o, "Snapshots"), 0), "OwnerId"),
                        "123456789012");
    json_decref(o);
    free(json);
    /* the other account sees only its own */
    snprintf(s.caller, sizeof s.caller, "111122223333");
    assert_int_equal(list_json(&s, PAGE_SNAPSHOTS, r, sizeof *r, 3, NULL, 0, &json), 0);
    o = parse(json);
    assert_int_equal(json_array_size(json_object_get(o, "Snapshots")), 1);
    assert_string_equal(str(json_array_get(json_object_get(o, "Snapshots"), 0), "OwnerId"),
                        "111122223333");
    json_decref(o);
    free(json);
    {
        bsnap_filter f[] = {FILTER("owner-id", "123456789012")};
        assert_int_equal(list_json(&s, PAGE_SNAPSHOTS, r, sizeof *r, 3, f, 1, &json), 0);
        o = parse(json);
        assert_int_equal(json_array_size(json_object_get(o, "Snapshots")), 0);
        json_decref(o);
        free(json);
    }
    for (size_t i = 0; i < 3; i++)
        snapshot_rec_clear(&r[i]);
}

static void test_filters(void **state)
{
    struct snapshot_rec r[3] = {sample_snapshot(), sample_snapshot(), sample_snapshot()};
    bsnap_store s = fake_store();
    char *json = NULL;

    (void)state;
    snprintf(r[1].id, sizeof r[1].id, "snap-0000000000000000b");
    snprintf(r[1].volume_id, sizeof r[1].volume_id, "vol-0000000000000000b");
    r[1].state = BSNAP_SNAPSHOT_PENDING;
    tags_clear(&r[1].tags);
    snprintf(r[2].id, sizeof r[2].id, "snap-0000000000000000c");
    r[2].size = 5;
    assert_int_equal(tags_set(&r[2].tags, "Name", "web-2"), 0);
    free(r[2].description);
    r[2].description = strdup("weekly");

    assert_int_equal(count_matches(r, 3, NULL, 0), 3);
    {
        bsnap_filter f[] = {FILTER("status", "completed")};
        assert_int_equal(count_matches(r, 3, f, 1), 2);
    }
    {
        bsnap_filter f[] = {FILTER("volume-id", "vol-0123456789abcdef0", "vol-0000000000000000b")};
        assert_int_equal(count_matches(r, 3, f, 1), 3); /* values OR-ed */
    }
    {
        bsnap_filter f[] = {FILTER("volume-id", "vol-0123456789abcdef0"),
                            FILTER("status", "completed")};
        assert_int_equal(count_matches(r, 3, f, 2), 2); /* filters AND-ed */
    }
    {
        bsnap_filter f[] = {FILTER("volume-size", "1")}; /* numbers as text, GiB */
        assert_int_equal(count_matches(r, 3, f, 1), 1);
    }
    {
        bsnap_filter f[] = {FILTER("encrypted", "false")};
        assert_int_equal(count_matches(r, 3, f, 1), 3);
    }
    {
        bsnap_filter f[] = {FILTER("tag:Name", "web-?")};
        assert_int_equal(count_matches(r, 3, f, 1), 1);
    }
    {
        bsnap_filter f[] = {FILTER("tag:Name", "*")};
        assert_int_equal(count_matches(r, 3, f, 1), 2); /* r[1] has no tags */
    }
    {
        bsnap_filter f[] = {FILTER("tag-key", "env")};
        assert_int_equal(count_matches(r, 3, f, 1), 2);
    }
    {
        bsnap_filter f[] = {FILTER("tag:name", "*")}; /* keys are case-sensitive */
        assert_int_equal(count_matches(r, 3, f, 1), 0);
    }
    {
        bsnap_filter f[] = {FILTER("description", "*backup*")};
        assert_int_equal(count_matches(r, 3, f, 1), 2);
    }
    {
        bsnap_filter f[] = {FILTER("parent-snapshot-id", "snap-*")};
        assert_int_equal(count_matches(r, 3, f, 1), 3);
    }
    {
        bsnap_filter f[] = {FILTER("owner-id", "123456789012")};
        assert_int_equal(count_matches(r, 3, f, 1), 3);
    }
    {
        bsnap_filter f[] = {FILTER("snapshot-id", "snap-0000000000000000?")};
        assert_int_equal(count_matches(r, 3, f, 1), 2);
    }
    {
        bsnap_filter f[] = {FILTER("start-time", "2026-11-23*")};
        assert_int_equal(count_matches(r, 3, f, 1), 3);
    }
    {
        bsnap_filter f[] = {FILTER("status", "completed"), FILTER("no-such-filter", "x")};
        assert_error(list_json(&s, PAGE_SNAPSHOTS, r, sizeof *r, 3, f, 2, &json), -EINVAL,
                     "InvalidParameterValue");
        assert_message_has("no-such-filter");
        /* volume filter names are not snapshot ones */
        f[1] = FILTER("availability-zone", "x");
        assert_error(list_json(&s, PAGE_SNAPSHOTS, r, sizeof *r, 3, f, 2, &json), -EINVAL,
                     "InvalidParameterValue");
    }
    {
        struct volume_rec v = {0};
        bsnap_filter f[] = {FILTER("availability-zone", "eu-west-1?")};
        snprintf(v.id, sizeof v.id, "vol-0123456789abcdef0");
        v.path = strdup("/x");
        assert_int_equal(list_json(&s, PAGE_VOLUMES, &v, sizeof v, 1, f, 1, &json), 0);
        assert_non_null(strstr(json, v.id));
        free(json);
        f[0] = FILTER("path", "/y");
        assert_int_equal(list_json(&s, PAGE_VOLUMES, &v, sizeof v, 1, f, 1, &json), 0);
        assert_string_equal(json, "{\"Volumes\":[]}");
        free(json);
        f[0] = FILTER("description", "x");
        assert_error(list_json(&s, PAGE_VOLUMES, &v, sizeof v, 1, f, 1, &json), -EINVAL,
                     "InvalidParameterValue");
        volume_rec_clear(&v);
    }
    for (int i = 0; i < 3; i++)
        snapshot_rec_clear(&r[i]);
}

static void test_changed_blocks(void **state)
{
    struct changed_block b[2] = {{.index = 3}, {.index = 70000}};
    char *json = NULL;
    json_t *o, *arr;

    (void)state;
    snprintf(b[0].first, sizeof b[0].first, "%s", "0123456789abcdef0123456789abcdef");
    snprintf(b[0].second, sizeof b[0].second, "%s", "fedcba9876543210fedcba9876543210");
    snprintf(b[1].second, sizeof b[1].second, "%s", "fedcba9876543210fedcba9876543210");
    assert_int_equal(AS_JSON(json, json_changed_blocks, b, 2, (5ull << 30) + 1, 65536), 0);
    o = parse(json);
    arr = json_object_get(o, "ChangedBlocks");
    assert_int_equal(json_array_size(arr), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 1), "BlockIndex")),
                     70000);
    assert_null(json_object_get(json_array_get(arr, 1), "FirstBlockToken"));
    assert_string_equal(str(json_array_get(arr, 0), "FirstBlockToken"), b[0].first);
    assert_int_equal(json_integer_value(json_object_get(o, "VolumeSize")), 6);
    assert_int_equal(json_integer_value(json_object_get(o, "BlockSize")), 65536);
    json_decref(o);
    free(json);
    assert_int_equal(AS_JSON(json, json_changed_blocks, NULL, 0, 0, 4096), 0);
    o = parse(json);
    assert_int_equal(json_array_size(json_object_get(o, "ChangedBlocks")), 0);
    assert_int_equal(json_integer_value(json_object_get(o, "VolumeSize")), 0);
    json_decref(o);
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_roundtrip),
        cmocka_unit_test(test_snapshot_partitions),
        cmocka_unit_test(test_volume_roundtrip),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_record_bit_flips),
        cmocka_unit_test(test_record_without_check),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_wildcards_linear),
        cmocka_unit_test(test_describe_snapshot_shape),
        cmocka_unit_test(test_describe_volume_shape),
        cmocka_unit_test(test_owners),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_changed_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
