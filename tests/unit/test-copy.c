/* test-copy.c - bsnap_snapshot_copy(): copies between two stores. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "unit-helpers.h"

/* A source fixture (f) and a destination store beside it. */
struct pair {
    struct fixture *src, *dst;
};

static int setup_pair(void **state)
{
    struct pair *p = calloc(1, sizeof *p);

    assert_non_null(p);
    p->src = fixture_new(4096);
    p->dst = fixture_new(4096);
    *state = p;
    return 0;
}

static int teardown_pair(void **state)
{
    struct pair *p = *state;

    fixture_free(p->src);
    fixture_free(p->dst);
    free(p);
    return 0;
}

static bsnap_snapshot_stats copy_ok(struct pair *p, bsnap_copy_options *o, char id[BSNAP_ID_MAX])
{
    bsnap_snapshot_stats st;
    int r;

    o->threads = 2;
    r = bsnap_snapshot_copy(p->dst->s, p->src->s, o, id, &st);
    if (r < 0)
        print_error("copy: %d %s (%s)\n", r, bsnap_last_error()->message, bsnap_last_error()->code);
    assert_int_equal(r, 0);
    return st;
}

static bsnap_snapshot_stats copy_id(struct pair *p, const char *src_id, char id[BSNAP_ID_MAX])
{
    return copy_ok(p, &(bsnap_copy_options){.source_snapshot_id = src_id}, id);
}

/* A first copy reads every data chunk once, restores as the source, is
 * completed, described as EC2 describes copies and verifies clean. */
static void test_first_copy(void **state)
{
    struct pair *p = *state;
    char *vol = sample_volume(p->src, "a.img", 300);
    char s1[BSNAP_ID_MAX], c1[BSNAP_ID_MAX], want[128];
    struct snapshot_rec rec = {0};
    bsnap_snapshot_stats st;

    snap_path(p->src, vol, s1);
    st = copy_id(p, s1, c1);
    /* data in chunks 0, 3-5, 100 and 299 */
    assert_int_equal(st.read_bytes, 6 * 4096);
    assert_int_equal(st.new_chunks, 6);
    assert_int_equal(st.zero_chunks, 300 - 6);
    assert_restores_to(p->dst, c1, vol);
    snap_record(p->dst, c1, &rec);
    assert_int_equal(rec.state, BSNAP_SNAPSHOT_COMPLETED);
    assert_string_equal(rec.parent_id, "");
    assert_string_equal(rec.volume_id, "vol-ffffffff");
    snprintf(want, sizeof want, "[Copied %s from test-1]", s1);
    assert_string_equal(rec.description, want);
    snapshot_rec_clear(&rec);
    assert_verify_clean(p->dst);
    assert_verify_clean(p->src);
    free(vol);
}

/* The second copy of a later snapshot is incremental against the first
 * copy and reads exactly the changed chunks; the third, against the
 * second. */
static void test_incremental(void **state)
{
    struct pair *p = *state;
    char *vol = sample_volume(p->src, "a.img", 300);
    char s1[BSNAP_ID_MAX], s2[BSNAP_ID_MAX], s3[BSNAP_ID_MAX];
    char c1[BSNAP_ID_MAX], c2[BSNAP_ID_MAX], c3[BSNAP_ID_MAX];
    struct snapshot_rec rec = {0};
    bsnap_snapshot_stats st;

    snap_path(p->src, vol, s1);
    copy_id(p, s1, c1);
    chunk_write(vol, 4096, 3, 77);   /* changed */
    chunk_write(vol, 4096, 150, 78); /* new data in a hole */
    chunk_write(vol, 4096, 151, 79);
    snap_path(p->src, vol, s2);
    st = copy_id(p, s2, c2);
    assert_int_equal(st.read_bytes, 3 * 4096);
    assert_int_equal(st.new_chunks, 3);
    assert_int_equal(st.reused_chunks, 5); /* 0, 4, 5, 100, 299 */
    snap_record(p->dst, c2, &rec);
    assert_string_equal(rec.parent_id, c1);
    snapshot_rec_clear(&rec);
    assert_restores_to(p->dst, c2, vol);

    chunk_write(vol, 4096, 0, 80);
    snap_path(p->src, vol, s3);
    st = copy_id(p, s3, c3);
    assert_int_equal(st.read_bytes, 4096);
    snap_record(p->dst, c3, &rec);
    assert_string_equal(rec.parent_id, c2);
    snapshot_rec_clear(&rec);
    assert_restores_to(p->dst, c3, vol);
    assert_verify_clean(p->dst);
    free(vol);
}

/* A copy incremental on the copy of its source's parent reads only the
 * chunks the source changed since that parent, and stays right when the
 * volume grew or shrank between the two: the chunks past the shorter end
 * come from the source, not the parent. */
static void test_incremental_resized(void **state)
{
    struct pair *p = *state;
    char *vol = sample_volume(p->src, "a.img", 300);
    char s1[BSNAP_ID_MAX], s2[BSNAP_ID_MAX], s3[BSNAP_ID_MAX];
    char c1[BSNAP_ID_MAX], c2[BSNAP_ID_MAX], c3[BSNAP_ID_MAX];
    bsnap_snapshot_stats st;

    snap_path(p->src, vol, s1);
    copy_id(p, s1, c1);
    /* grown to 400 chunks: new data at 350, chunk 3 changed */
    assert_int_equal(truncate(vol, 400 * 4096), 0);
    chunk_write(vol, 4096, 350, 90);
    chunk_write(vol, 4096, 3, 91);
    snap_path(p->src, vol, s2);
    st = copy_id(p, s2, c2);
    assert_int_equal(st.read_bytes, 2 * 4096);
    assert_restores_to(p->dst, c2, vol);
    /* shrunk to 200 chunks (299 and 350 go), chunk 150 new */
    assert_int_equal(truncate(vol, 200 * 4096), 0);
    chunk_write(vol, 4096, 150, 92);
    snap_path(p->src, vol, s3);
    st = copy_id(p, s3, c3);
    assert_int_equal(st.read_bytes, 4096);
    assert_restores_to(p->dst, c3, vol);
    assert_verify_clean(p->dst);
    free(vol);
}

/* Data the destination holds already (here: a snapshot of the same volume
 * taken there) is read once to learn its id, but not stored again; a
 * later copy of the same data reads nothing. */
static void test_dedup_existing(void **state)
{
    struct pair *p = *state;
    char *vol = sample_volume(p->src, "a.img", 300);
    char s1[BSNAP_ID_MAX], d1[BSNAP_ID_MAX], c1[BSNAP_ID_MAX], s1b[BSNAP_ID_MAX], c2[BSNAP_ID_MAX];
    bsnap_snapshot_stats st;

    snap_path(p->src, vol, s1);
    snap_path(p->dst, vol, d1);
    st = copy_id(p, s1, c1);
    assert_int_equal(st.read_bytes, 6 * 4096);
    assert_int_equal(st.new_chunks, 0);
    assert_int_equal(st.new_pages, 0); /* the same leaf and root pages */
    /* a full snapshot of the same data in the source: nothing to read */
    {
        bsnap_snapshot_options o = {.volume_path = vol, .full = true};
        snap_opts(p->src, &o, s1b);
    }
    st = copy_id(p, s1b, c2);
    assert_int_equal(st.read_bytes, 0);
    assert_int_equal(st.new_chunks, 0);
    assert_restores_to(p->dst, c2, vol);
    assert_verify_clean(p->dst);
    free(vol);
}

/* The same call again returns the same copy without reading; the same
 * client token with other parameters fails and changes nothing; another
 * token (or other parameters) makes a new copy. */
static void test_idempotent(void **state)
{
    struct pair *p = *state;
    char *vol = sample_volume(p->src, "a.img", 300);
    char s1[BSNAP_ID_MAX], c1[BSNAP_ID_MAX], c1b[BSNAP_ID_MAX], ct[BSNAP_ID_MAX], ct2[BSNAP_ID_MAX],
        id[BSNAP_ID_MAX];
    bsnap_snapshot_stats st;
    int r;

    snap_path(p->src, vol, s1);
    copy_id(p, s1, c1);
    st = copy_id(p, s1, c1b);
    assert_string_equal(c1b, c1);
    assert_int_equal(st.read_bytes, 0);
    assert_int_equal(snapshot_count(p->dst), 1);

    copy_ok(p, &(bsnap_copy_options){.source_snapshot_id = s1, .client_token = "t-1"}, ct);
    assert_string_not_equal(ct, c1);
    copy_ok(p, &(bsnap_copy_options){.source_snapshot_id = s1, .client_token = "t-1"}, ct2);
    assert_string_equal(ct2, ct);
    assert_int_equal(snapshot_count(p->dst), 2);
    r = bsnap_snapshot_copy(
        p->dst->s, p->src->s,
        &(bsnap_copy_options){.source_snapshot_id = s1, .client_token = "t-1", .description = "x"},
        id, NULL);
    assert_error(r, -EINVAL, "IdempotentParameterMismatch");
    assert_string_equal(bsnap_last_error()->parameter, "ClientToken");
    assert_int_equal(snapshot_count(p->dst), 2);
    /* a deleted copy is copied anew by the same call */
    assert_int_equal(bsnap_snapshot_delete(p->dst->s, c1), 0);
    copy_id(p, s1, c1b);
    assert_string_not_equal(c1b, c1);
    assert_restores_to(p->dst, c1b, vol);
    assert_verify_clean(p->dst);
    free(vol);
}

/* The started hook: called once with the copy's id while it is pending
 * (what a server answers with), and not for a copy found completed. */
struct started {
    int calls;
    char id[BSNAP_ID_MAX];
    struct pair *p;
    int state;
};

static void on_started(void *ud, const char *id)
{
    struct started *st = ud;
    struct snapshot_rec rec = {0};

    st->calls++;
    snprintf(st->id, sizeof st->id, "%s", id);
    snap_record(st->p->dst, id, &rec);
    st->state = (int)rec.state;
    snapshot_rec_clear(&rec);
}

static void test_started(void **state)
{
    struct pair *p = *state;
    char *vol = sample_volume(p->src, "a.img", 300);
    char s1[BSNAP_ID_MAX], c1[BSNAP_ID_MAX], c2[BSNAP_ID_MAX];
    struct started st = {.p = p};

    snap_path(p->src, vol, s1);
    copy_ok(
        p,
        &(bsnap_copy_options){.source_snapshot_id = s1, .started = on_started, .started_ud = &st},
        c1);
    assert_int_equal(st.calls, 1);
    assert_string_equal(st.id, c1);
    assert_int_equal(st.state, BSNAP_SNAPSHOT_PENDING);
    copy_ok(
        p,
        &(bsnap_copy_options){.source_snapshot_id = s1, .started = on_started, .started_ud = &st},
        c2);
    assert_string_equal(c2, c1);
    assert_int_equal(st.calls, 1);
    free(vol);
}

/* A source missing in the source store; the same store as source and
 * destination (refused: stores copy only to other stores); other chunk
 * sizes.  Nothing is recorded. */
static void test_refused(void **state)
{
    struct pair *p = *state;
    char *vol = sample_volume(p->src, "a.img", 300);
    char s1[BSNAP_ID_MAX], id[BSNAP_ID_MAX];
    struct fixture *big = fixture_new(0);
    int r;

    snap_path(p->src, vol, s1);
    r = bsnap_snapshot_copy(p->dst->s, p->src->s,
                            &(bsnap_copy_options){.source_snapshot_id = "snap-0123456789abcdef0"},
                            id, NULL);
    assert_error(r, -ENOENT, "InvalidSnapshot.NotFound");
    assert_string_equal(bsnap_last_error()->parameter, "SourceSnapshotId");
    r = bsnap_snapshot_copy(big->s, p->src->s, &(bsnap_copy_options){.source_snapshot_id = s1}, id,
                            NULL);
    assert_error(r, -EINVAL, "InvalidParameterValue");
    assert_message_has("chunk size");
    assert_int_equal(snapshot_count(p->dst), 0);
    assert_int_equal(snapshot_count(big), 0);
    assert_int_equal(snapshot_count(p->src), 1);
    fixture_free(big);
    free(vol);
}

/* A copy within one store stores nothing: a new record over the same
 * block map, which outlives the source; a copy of a child is a child of
 * the copy; the same call returns the same copy. */
static void test_same_store(void **state)
{
    struct pair *p = *state;
    char *vol = sample_volume(p->src, "a.img", 300);
    char s1[BSNAP_ID_MAX], s2[BSNAP_ID_MAX], c1[BSNAP_ID_MAX], c1b[BSNAP_ID_MAX], c2[BSNAP_ID_MAX],
        *ref = path_in(p->src->dir, "s1.img");
    struct index_counts before, after;
    struct snapshot_rec rec = {0};
    bsnap_snapshot_stats st;
    int r;

    snap_path(p->src, vol, s1);
    restore_to(p->src, s1, ref);
    before = index_count(p->src);
    r = bsnap_snapshot_copy(p->src->s, p->src->s, &(bsnap_copy_options){.source_snapshot_id = s1},
                            c1, &st);
    assert_int_equal(r, 0);
    assert_string_not_equal(c1, s1);
    assert_int_equal(st.read_bytes, 0);
    assert_int_equal(st.new_chunks, 0);
    after = index_count(p->src);
    assert_memory_equal(&before, &after, sizeof before);
    /* the same call: the same copy */
    r = bsnap_snapshot_copy(p->src->s, p->src->s, &(bsnap_copy_options){.source_snapshot_id = s1},
                            c1b, NULL);
    assert_int_equal(r, 0);
    assert_string_equal(c1b, c1);
    chunk_write(vol, 4096, 3, 55);
    snap_path(p->src, vol, s2);
    r = bsnap_snapshot_copy(p->src->s, p->src->s, &(bsnap_copy_options){.source_snapshot_id = s2},
                            c2, NULL);
    assert_int_equal(r, 0);
    snap_record(p->src, c2, &rec);
    assert_string_equal(rec.parent_id, c1);
    snapshot_rec_clear(&rec);
    assert_int_equal(bsnap_snapshot_delete(p->src->s, s1), 0);
    assert_int_equal(bsnap_snapshot_delete(p->src->s, s2), 0);
    assert_int_equal(bsnap_gc(p->src->s, &(bsnap_gc_options){0}, &(bsnap_gc_stats){0}), 0);
    assert_restores_to(p->src, c1, ref);
    assert_restores_to(p->src, c2, vol);
    assert_verify_clean(p->src);
    free(ref);
    free(vol);
}

/* Owners: the copy belongs to the calling account of the destination;
 * a source snapshot the calling account of the source cannot see is not
 * found; another account's same call makes its own copy. */
static void test_owners(void **state)
{
    struct pair *p = *state;
    char *vol = sample_volume(p->src, "a.img", 300);
    char s1[BSNAP_ID_MAX], c1[BSNAP_ID_MAX], c2[BSNAP_ID_MAX], id[BSNAP_ID_MAX];
    struct snapshot_rec rec = {0};
    int r;

    snap_path(p->src, vol, s1);
    assert_int_equal(bsnap_store_set_account(p->dst->s, "111122223333"), 0);
    copy_id(p, s1, c1);
    snap_record(p->dst, c1, &rec);
    assert_string_equal(rec.owner, "111122223333");
    snapshot_rec_clear(&rec);
    assert_int_equal(bsnap_store_set_account(p->dst->s, "444455556666"), 0);
    copy_id(p, s1, c2);
    assert_string_not_equal(c2, c1);
    assert_int_equal(bsnap_store_set_account(p->src->s, "777788889999"), 0);
    r = bsnap_snapshot_copy(p->dst->s, p->src->s, &(bsnap_copy_options){.source_snapshot_id = s1},
                            id, NULL);
    assert_error(r, -ENOENT, "InvalidSnapshot.NotFound");
    free(vol);
}

/* A copy whose source is opened read-only (another file system, a shared
 * store): it reads under a shared lock and writes nothing there. */
static void test_source_rdonly(void **state)
{
    struct pair *p = *state;
    char *vol = sample_volume(p->src, "a.img", 300);
    char s1[BSNAP_ID_MAX], c1[BSNAP_ID_MAX];

    snap_path(p->src, vol, s1);
    /* never the same store open twice in one process: the writable
     * handle is closed first */
    bsnap_store_close(p->src->s);
    assert_int_equal(bsnap_store_open(p->src->store_path, BSNAP_STORE_RDONLY, NULL, &p->src->s), 0);
    copy_id(p, s1, c1);
    fixture_reopen(p->src);
    assert_restores_to(p->dst, c1, vol);
    free(vol);
}

/* Entries of the translation table of @f's store. */
static size_t xlate_count(struct fixture *f)
{
    meta_txn *txn = NULL;
    meta_cursor *cur = NULL;
    const void *k, *v;
    size_t klen, vlen, n = 0;
    int r;

    assert_int_equal(meta_txn_begin(f->s->meta, false, &txn), 0);
    assert_int_equal(meta_cursor_open(txn, T_CHUNK_XLATE, &cur), 0);
    for (r = meta_cursor_get(cur, CUR_FIRST, &k, &klen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen))
        n++;
    meta_cursor_close(cur);
    meta_txn_abort(txn);
    return n;
}

/* gc drops the translations of chunks it removed (the table would grow
 * forever, and name chunks nobody holds); those of live chunks stay, and
 * a copy after the gc reads again only what the store lost. */
static void test_gc_prunes_translations(void **state)
{
    struct pair *p = *state;
    char *vol = sample_volume(p->src, "a.img", 300);
    char s1[BSNAP_ID_MAX], s2[BSNAP_ID_MAX], c1[BSNAP_ID_MAX], c2[BSNAP_ID_MAX], c3[BSNAP_ID_MAX];
    bsnap_gc_options go = {0};
    bsnap_gc_stats gs;
    bsnap_snapshot_stats st;

    snap_path(p->src, vol, s1);
    copy_id(p, s1, c1);
    assert_int_equal(xlate_count(p->dst), 6);
    chunk_write(vol, 4096, 3, 123);
    snap_path(p->src, vol, s2);
    copy_id(p, s2, c2);
    assert_int_equal(xlate_count(p->dst), 7);
    /* c1 alone held the old chunk 3 */
    assert_int_equal(bsnap_snapshot_delete(p->dst->s, c1), 0);
    assert_int_equal(bsnap_gc(p->dst->s, &go, &gs), 0);
    assert_int_equal(xlate_count(p->dst), 6);
    assert_verify_clean(p->dst);
    /* a copy of s1 again: only the chunk gc took is read */
    st = copy_ok(p, &(bsnap_copy_options){.source_snapshot_id = s1, .client_token = "again"}, c3);
    assert_int_equal(st.read_bytes, 4096);
    {
        char *ref = path_in(p->src->dir, "s1.img");
        restore_to(p->src, s1, ref);
        assert_restores_to(p->dst, c3, ref);
        free(ref);
    }
    free(vol);
}

/* An image of two snapshots in the source. */
static void register_two(struct pair *p, const char *root_snap, const char *data_snap,
                         const char *name, char ami[BSNAP_ID_MAX])
{
    bsnap_block_device_mapping m[2] = {
        {.device_name = "/dev/xvda", .kind = BSNAP_MAPPING_EBS, .snapshot_id = root_snap},
        {.device_name = "/dev/xvdb", .kind = BSNAP_MAPPING_EBS, .snapshot_id = data_snap},
    };
    bsnap_tag tag = {"role", "db"};
    bsnap_image_options o = {.name = name,
                             .no_boot_check = true,
                             .mappings = m,
                             .nmappings = 2,
                             .tags = &tag,
                             .ntags = 1};
    int r = bsnap_image_register(p->src->s, &o, ami);

    if (r < 0)
        print_error("register: %s\n", bsnap_last_error()->message);
    assert_int_equal(r, 0);
}

/* copy-image: new ids, mappings naming copies that restore as the source,
 * tags only when asked; the same call returns the same image; a second
 * image of changed volumes copies only the changed chunks, each snapshot a
 * child of the first image's copy. */
static void test_image_copy(void **state)
{
    struct pair *p = *state;
    char *a = sample_volume(p->src, "a.img", 300), *b = sample_volume(p->src, "b.img", 200);
    char sa[BSNAP_ID_MAX], sb[BSNAP_ID_MAX], ami[BSNAP_ID_MAX], c1[BSNAP_ID_MAX], c1b[BSNAP_ID_MAX],
        ami2[BSNAP_ID_MAX], c2[BSNAP_ID_MAX], sb2[BSNAP_ID_MAX], sa2[BSNAP_ID_MAX];
    bsnap_image_info src_info, info, info2;
    bsnap_snapshot_stats st;
    struct snapshot_rec rec = {0};
    char *json = NULL;
    int r;

    chunk_write(b, 4096, 7, 99); /* the two volumes differ */
    snap_path(p->src, a, sa);
    snap_path(p->src, b, sb);
    register_two(p, sa, sb, "machine", ami);
    r = bsnap_image_copy(
        p->dst->s, p->src->s,
        &(bsnap_image_copy_options){
            .source_image_id = ami, .name = "machine-copy", .copy_image_tags = true, .threads = 2},
        c1, &st);
    if (r < 0)
        print_error("copy-image: %s\n", bsnap_last_error()->message);
    assert_int_equal(r, 0);
    assert_string_not_equal(c1, ami);
    /* a's 6 data chunks; of b's 7, only chunk 7: the other 6 are a's
     * (the same source ids), translated by then */
    assert_int_equal(st.read_bytes, 7 * 4096);
    assert_int_equal(bsnap_image_get(p->src->s, ami, &src_info), 0);
    assert_int_equal(bsnap_image_get(p->dst->s, c1, &info), 0);
    assert_int_equal(info.nmappings, 2);
    assert_string_equal(info.root_device, "/dev/xvda");
    assert_string_not_equal(info.mappings[0].snapshot_id, src_info.mappings[0].snapshot_id);
    assert_restores_to(p->dst, info.mappings[0].snapshot_id, a);
    assert_restores_to(p->dst, info.mappings[1].snapshot_id, b);
    snap_record(p->dst, info.mappings[0].snapshot_id, &rec);
    assert_non_null(strstr(rec.description, "Copied for DestinationAmi "));
    assert_non_null(strstr(rec.description, c1));
    snapshot_rec_clear(&rec);
    assert_int_equal(AS_JSON(json, bsnap_image_describe_one, p->dst->s, c1), 0);
    assert_non_null(strstr(json, "\"Key\":\"role\""));
    free(json);
    json = NULL;

    /* the same call: the same image, nothing read, nothing new */
    r = bsnap_image_copy(p->dst->s, p->src->s,
                         &(bsnap_image_copy_options){.source_image_id = ami,
                                                     .name = "machine-copy",
                                                     .copy_image_tags = true},
                         c1b, &st);
    assert_int_equal(r, 0);
    assert_string_equal(c1b, c1);
    assert_int_equal(st.read_bytes, 0);
    assert_int_equal(snapshot_count(p->dst), 2);

    /* a second image: b changed in one chunk, a unchanged */
    chunk_write(b, 4096, 8, 100);
    snap_path(p->src, a, sa2);
    snap_path(p->src, b, sb2);
    register_two(p, sa2, sb2, "machine-2", ami2);
    r = bsnap_image_copy(p->dst->s, p->src->s,
                         &(bsnap_image_copy_options){.source_image_id = ami2, .name = "m-2"}, c2,
                         &st);
    assert_int_equal(r, 0);
    assert_int_equal(st.read_bytes, 4096);
    assert_int_equal(bsnap_image_get(p->dst->s, c2, &info2), 0);
    snap_record(p->dst, info2.mappings[0].snapshot_id, &rec);
    assert_string_equal(rec.parent_id, info.mappings[0].snapshot_id);
    snapshot_rec_clear(&rec);
    snap_record(p->dst, info2.mappings[1].snapshot_id, &rec);
    assert_string_equal(rec.parent_id, info.mappings[1].snapshot_id);
    snapshot_rec_clear(&rec);
    assert_restores_to(p->dst, info2.mappings[1].snapshot_id, b);
    assert_int_equal(AS_JSON(json, bsnap_image_describe_one, p->dst->s, c2), 0);
    assert_null(strstr(json, "\"role\""));
    free(json);

    /* a missing source image; a name in use: nothing written */
    r = bsnap_image_copy(
        p->dst->s, p->src->s,
        &(bsnap_image_copy_options){.source_image_id = "ami-0123456789abcdef0", .name = "other"},
        c1b, NULL);
    assert_error(r, -ENOENT, "InvalidAMIID.NotFound");
    assert_string_equal(bsnap_last_error()->parameter, "SourceImageId");
    r = bsnap_image_copy(p->dst->s, p->src->s,
                         &(bsnap_image_copy_options){
                             .source_image_id = ami2, .name = "m-2", .description = "another call"},
                         c1b, NULL);
    assert_error(r, -EEXIST, "InvalidAMIName.Duplicate");
    assert_int_equal(snapshot_count(p->dst), 4);
    assert_verify_clean(p->dst);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_copy, setup_pair, teardown_pair),
        cmocka_unit_test_setup_teardown(test_incremental, setup_pair, teardown_pair),
        cmocka_unit_test_setup_teardown(test_incremental_resized, setup_pair, teardown_pair),
        cmocka_unit_test_setup_teardown(test_dedup_existing, setup_pair, teardown_pair),
        cmocka_unit_test_setup_teardown(test_idempotent, setup_pair, teardown_pair),
        cmocka_unit_test_setup_teardown(test_started, setup_pair, teardown_pair),
        cmocka_unit_test_setup_teardown(test_refused, setup_pair, teardown_pair),
        cmocka_unit_test_setup_teardown(test_source_rdonly, setup_pair, teardown_pair),
        cmocka_unit_test_setup_teardown(test_same_store, setup_pair, teardown_pair),
        cmocka_unit_test_setup_teardown(test_owners, setup_pair, teardown_pair),
        cmocka_unit_test_setup_teardown(test_image_copy, setup_pair, teardown_pair),
        cmocka_unit_test_setup_teardown(test_gc_prunes_translations, setup_pair, teardown_pair),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
