/* cmd-store.c - verify, gc, describe-store: the store as a whole. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocksnap-fuse.h"
#include "cmd.h"

/* Where problems go: one line each on stdout (text), or, for a JSON
 * document (--output json or table), an array of objects. */
struct problems {
    json_t *list; /* NULL for text */
    uint64_t n;
    bool failed; /* out of memory while building it */
};

/* A problem as a JSON object; the fields that do not apply left out. */
static void problem_json(struct problems *ps, const bsnap_problem *p)
{
    json_t *o = json_object();

    if (o && p->volume_id && p->volume_id[0])
        json_object_set_new(o, "VolumeId", json_string_nocheck(p->volume_id));
    if (o && p->snapshot_id && p->snapshot_id[0])
        json_object_set_new(o, "SnapshotId", json_string_nocheck(p->snapshot_id));
    if (o && p->chunk_id && p->chunk_id[0])
        json_object_set_new(o, "ChunkId", json_string_nocheck(p->chunk_id));
    if (o && p->pack >= 0)
        json_object_set_new(o, "Pack", json_integer(p->pack));
    if (o && p->offset >= 0)
        json_object_set_new(o, "Offset", json_integer(p->offset));
    if (o)
        json_object_set_new(o, "Message", json_string_nocheck(p->what ? p->what : ""));
    if (!o || json_array_append_new(ps->list, o) < 0)
        ps->failed = true;
}

/* One problem per line, "snapshot ID chunk ID pack N offset N: what", the
 * fields that do not apply left out ("store: what" if none does); or one
 * more element of the JSON array. */
static void print_problem(void *ud, const bsnap_problem *p)
{
    struct problems *ps = ud;
    const char *sep = "";

    if (ps->list) {
        problem_json(ps, p);
        ps->n++;
        return;
    }
    ps->n++;
    if (p->volume_id && p->volume_id[0]) {
        printf("volume %s", p->volume_id);
        sep = " ";
    }
    if (p->snapshot_id && p->snapshot_id[0]) {
        printf("snapshot %s", p->snapshot_id);
        sep = " ";
    }
    if (p->chunk_id && p->chunk_id[0]) {
        printf("%schunk %s", sep, p->chunk_id);
        sep = " ";
    }
    if (p->pack >= 0) {
        printf("%spack %" PRId64, sep, p->pack);
        sep = " ";
    }
    if (p->offset >= 0) {
        printf("%soffset %" PRId64, sep, p->offset);
        sep = " ";
    }
    printf("%s: ", sep[0] ? "" : "store");
    output_escaped(stdout, p->what);
    putchar('\n');
    fflush(stdout);
}

static void problems_init(struct problems *ps, bool json)
{
    *ps = (struct problems){.list = json ? json_array() : NULL};
    ps->failed = json && !ps->list;
}

/* The array of problems (the caller's reference), or NULL (out of memory,
 * said on stderr). */
static json_t *problems_end(struct problems *ps)
{
    json_t *list = ps->list;

    ps->list = NULL;
    if (ps->failed || !list) {
        json_decref(list);
        fprintf(stderr, "blocksnap: error: out of memory (InternalError)\n");
        return NULL;
    }
    return list;
}

/* verify --repair: rebuild the metadata first.  Sets *lost when the
 * repair could not keep everything.  For a JSON document, *ret_doc is
 * its "Repair" member; otherwise the summary is printed. */
static int repair(struct cli *cli, bool json, bool *lost, json_t **ret_doc)
{
    bsnap_run_options run = {0};
    bsnap_repair_stats st = {0};
    struct problems ps;
    struct progress prog;
    json_t *list = NULL;
    int r;

    if ((r = cli_store_path(cli)) != EXIT_OK)
        return r;
    problems_init(&ps, json);
    progress_start(&prog, cli, "repair", &run);
    r = bsnap_store_repair(cli->store_path, &run, print_problem, &ps, &st);
    progress_end(&prog);
    if (json && !(list = problems_end(&ps)))
        return EXIT_FAILED;
    if (r < 0) {
        json_decref(list);
        return output_engine_error();
    }
    *lost = st.records_lost || st.tables_lost || st.records_dropped || st.damaged_records ||
            st.damaged_snapshots || st.recovered;
    r = EXIT_OK;
    if (json) {
        *ret_doc =
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:o}", "RecordsKept",
                      (json_int_t)st.records_kept, "RecordsLost", (json_int_t)st.records_lost,
                      "RecordsDropped", (json_int_t)st.records_dropped, "PendingSnapshotsDropped",
                      (json_int_t)st.pending_dropped, "Snapshots", (json_int_t)st.snapshots,
                      "RecoveredSnapshots", (json_int_t)st.recovered, "PacksRead",
                      (json_int_t)st.packs, "ChunksIndexed", (json_int_t)st.records_indexed,
                      "ChunksInUse", (json_int_t)st.chunks_live, "DamagedRecordsSkipped",
                      (json_int_t)st.damaged_records, "SavedAs", st.saved_as, "Problems", list);
        if (!*ret_doc) {
            fprintf(stderr, "blocksnap: error: out of memory (InternalError)\n");
            r = EXIT_FAILED;
        }
        return r;
    }
    printf(
        "repaired: %" PRIu64 " %s kept, %" PRIu64 " lost, %" PRIu64 " dropped, %" PRIu64
        " pending %s dropped; %" PRIu64 " %s (%" PRIu64 " recovered); index rebuilt from %" PRIu64
        " %s: %" PRIu64 " %s (%" PRIu64 " in use), %" PRIu64 " damaged %s skipped%s%s\n",
        st.records_kept, plural(st.records_kept, "record", "records"), st.records_lost,
        st.records_dropped, st.pending_dropped, plural(st.pending_dropped, "snapshot", "snapshots"),
        st.snapshots, plural(st.snapshots, "snapshot", "snapshots"), st.recovered, st.packs,
        plural(st.packs, "pack", "packs"), st.records_indexed,
        plural(st.records_indexed, "chunk", "chunks"), st.chunks_live, st.damaged_records,
        plural(st.damaged_records, "record", "records"), st.saved_as[0] ? "; the old file is " : "",
        st.saved_as);
    fflush(stdout);
    return EXIT_OK;
}

/* verify's JSON document: the repair's member with --repair (taken
 * over), the counts, the problems (taken over). */
/* verify's byte count, which table shows for people */
static const char *const verify_sizes[] = {"BytesChecked", NULL};

static int print_verify_json(struct cli *cli, const bsnap_verify_stats *st,
                             const bsnap_volume_verify_stats *vst, json_t *list, json_t *repair_doc)
{
    json_t *doc = json_object();
    int r = EXIT_FAILED;

    if (doc && repair_doc)
        json_object_set(doc, "Repair", repair_doc);
    if (doc &&
        json_object_update_new(doc, json_pack("{s:I, s:I, s:I, s:I, s:I}", "SnapshotsChecked",
                                              (json_int_t)st->snapshots_checked, "ChunksChecked",
                                              (json_int_t)st->chunks_checked, "BytesChecked",
                                              (json_int_t)st->bytes_checked, "ProblemCount",
                                              (json_int_t)st->problems, "DamagedSnapshotCount",
                                              (json_int_t)st->damaged_snapshots)) == 0 &&
        /* only in a store with writable volumes: the common answer stays */
        (vst->volumes_checked + vst->volumes_in_use == 0 ||
         json_object_update_new(doc,
                                json_pack("{s:I, s:I, s:I, s:I}", "WritableVolumesChecked",
                                          (json_int_t)vst->volumes_checked, "WritableVolumesInUse",
                                          (json_int_t)vst->volumes_in_use, "SealedChunksChecked",
                                          (json_int_t)vst->chunks_checked, "RepairedCount",
                                          (json_int_t)vst->repaired)) == 0) &&
        json_object_set(doc, "Problems", list) == 0)
        r = output_sized_doc(cli, doc, verify_sizes);
    else
        fprintf(stderr, "blocksnap: error: out of memory (InternalError)\n");
    json_decref(doc);
    return r;
}

int cmd_verify(struct cli *cli, const struct args *a)
{
    bsnap_run_options run = {0};
    bsnap_verify_stats st = {0};
    bsnap_volume_verify_stats vst = {0};
    struct problems ps;
    struct progress prog;
    bool lost = false;
    /* The lines are verify's text form and its default; json and table
     * render a document, as for every other verb. */
    bool json = strcmp(output_format(cli, "text"), "text") != 0;
    char bytes[32];
    json_t *repair_doc = NULL, *list;
    int r;

    if (arg_flag(a, "repair")) {
        if (arg_value(a, "snapshot-id")) {
            fprintf(stderr, "blocksnap: error: --repair rebuilds the whole store's metadata: "
                            "it takes no --snapshot-id (InvalidParameterCombination)\n");
            return EXIT_USAGE;
        }
        if ((r = repair(cli, json, &lost, &repair_doc)) != EXIT_OK)
            return r;
    }
    if ((r = cli_open_store(cli)) != EXIT_OK)
        goto out;
    problems_init(&ps, json);
    progress_start(&prog, cli, "verify", &run);
    r = bsnap_verify(cli->store, arg_value(a, "snapshot-id"), &run, print_problem, &ps, &st);
    /* the whole store: its writable volumes' files too */
    if (r == 0 && !arg_value(a, "snapshot-id")) {
        r = bsnap_volume_verify(cli->store, arg_flag(a, "repair"), print_problem, &ps, &vst);
        st.problems += vst.problems;
    }
    progress_end(&prog);
    list = json ? problems_end(&ps) : NULL;
    if (r < 0) {
        json_decref(list);
        r = output_engine_error();
        goto out;
    }
    if (json) {
        r = list ? print_verify_json(cli, &st, &vst, list, repair_doc) : EXIT_FAILED;
        json_decref(list);
        if (r != EXIT_OK)
            goto out;
    } else {
        char vols[96] = "";
        uint64_t nv = vst.volumes_checked + vst.volumes_in_use;
        bsf_size_text(st.bytes_checked, bytes);
        if (nv && vst.volumes_in_use)
            snprintf(vols, sizeof vols,
                     ", %" PRIu64 " writable %s (%" PRIu64 " in use, not checked)", nv,
                     plural(nv, "volume", "volumes"), vst.volumes_in_use);
        else if (nv)
            snprintf(vols, sizeof vols, ", %" PRIu64 " writable %s", nv,
                     plural(nv, "volume", "volumes"));
        printf("verified %" PRIu64 " %s, %" PRIu64 " %s, %s%s: %" PRIu64 " %s, %" PRIu64
               " damaged %s\n",
               st.snapshots_checked, plural(st.snapshots_checked, "snapshot", "snapshots"),
               st.chunks_checked, plural(st.chunks_checked, "chunk", "chunks"), bytes, vols,
               st.problems, plural(st.problems, "problem", "problems"), st.damaged_snapshots,
               plural(st.damaged_snapshots, "snapshot", "snapshots"));
    }
    if (st.problems == 0 && lost) {
        fprintf(stderr,
                "blocksnap: error: the repaired store verifies, but the repair could not "
                "keep everything (%s)\n",
                json ? "the Repair member says what" : "the lines above say what");
        r = EXIT_FAILED;
    } else if (st.problems == 0) {
        r = EXIT_OK;
    } else {
        fprintf(stderr,
                "blocksnap: error: verify found %" PRIu64 " %s, %" PRIu64
                " damaged %s (Store.Corrupt)\n",
                st.problems, plural(st.problems, "problem", "problems"), st.damaged_snapshots,
                plural(st.damaged_snapshots, "snapshot", "snapshots"));
        r = EXIT_FAILED;
    }
out:
    json_decref(repair_doc);
    return r;
}

/* gc's byte counts, which text and table show for people */
static const char *const gc_sizes[] = {"BytesBefore", "BytesAfter", "BytesUnreclaimed", NULL};

int cmd_gc(struct cli *cli, const struct args *a)
{
    bsnap_gc_options opts = {0};
    bsnap_gc_stats st = {0};
    struct progress prog;
    const char *max_unused = arg_value(a, "max-unused");
    json_t *doc;
    int r;

    if (max_unused) {
        /* "5" or "5%", as restic's --max-unused */
        char pct[16];
        size_t n = strlen(max_unused);
        snprintf(pct, sizeof pct, "%s", max_unused);
        if (n > 1 && n < sizeof pct && pct[n - 1] == '%')
            pct[n - 1] = '\0';
        if ((r = arg_uint(cli->verb, "max-unused", pct, 0, 100, &opts.max_unused)) != EXIT_OK)
            return r;
        opts.max_unused_set = true;
    }
    if ((r = cli_open_store(cli)) != EXIT_OK)
        return r;
    progress_start(&prog, cli, "gc", &opts.run);
    r = bsnap_gc(cli->store, &opts, &st);
    progress_end(&prog);
    if (r < 0)
        return output_engine_error();
    doc = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "ChunksFreed",
                    (json_int_t)st.chunks_freed, "SnapshotsRemoved",
                    (json_int_t)st.snapshots_removed, "PacksRemoved", (json_int_t)st.packs_removed,
                    "PacksRewritten", (json_int_t)st.packs_rewritten, "BytesBefore",
                    (json_int_t)st.bytes_before, "BytesAfter", (json_int_t)st.bytes_after,
                    "PacksUnreclaimed", (json_int_t)st.packs_unreclaimed, "BytesUnreclaimed",
                    (json_int_t)st.bytes_unreclaimed);
    /* only when there were some: the common answer stays as it was */
    if (doc && st.volume_files_removed)
        json_object_set_new(doc, "VolumeFilesRemoved",
                            json_integer((json_int_t)st.volume_files_removed));
    r = doc ? output_sized_doc(cli, doc, gc_sizes) : output_error_nomem();
    json_decref(doc);
    return r;
}

/* --chunk-size: bytes or K/M (as mount's --cache-size), a power of two
 * the engine accepts.  EXIT_OK with *ret set (0 when not given), or
 * EXIT_USAGE after printing why. */
static int parse_chunk_size(const struct cli *cli, const struct args *a, uint32_t *ret)
{
    const char *text = arg_value(a, "chunk-size");
    uint64_t v = 0;

    *ret = 0;
    if (!text)
        return EXIT_OK;
    if (bsnap_fuse_parse_size(text, &v) < 0 || v < BSNAP_CHUNK_SIZE_MIN ||
        v > BSNAP_CHUNK_SIZE_MAX || (v & (v - 1)))
        return output_usage_error(cli->verb, "InvalidParameterValue",
                                  "--chunk-size: '%s' is not a power of two from 4K to 4M", text);
    *ret = (uint32_t)v;
    return EXIT_OK;
}

/* `create-store`: an explicit way to make a store before its first
 * snapshot (scripts, tests, the benchmark suite), since the reading verbs
 * no longer create one.  It must not exist yet: a mistyped --store that
 * names an existing store is not silently "created", and a store's chunk
 * size never changes (every block map and changed-block list of it counts
 * in its chunks). */
int cmd_create_store(struct cli *cli, const struct args *a)
{
    bsnap_store_config cfg = {.region = cli->region, .account = cli->account};
    bsnap_store *probe = NULL;
    bsnap_store_info old;
    int r;

    if ((r = parse_chunk_size(cli, a, &cfg.chunk_size)) != EXIT_OK)
        return r;
    if ((r = cli_store_path(cli)) != EXIT_OK)
        return r;
    if (bsnap_store_open(cli->store_path, BSNAP_STORE_RDONLY, NULL, &probe) == 0) {
        r = bsnap_store_get_info(probe, &old);
        bsnap_store_close(probe);
        if (r == 0 && cfg.chunk_size && cfg.chunk_size != old.chunk_size)
            output_line("blocksnap: error: store %s exists already with chunk size %" PRIu32
                        "; a store's chunk size never changes, it cannot become %" PRIu32
                        " (Store.AlreadyExists)",
                        cli->store_path, old.chunk_size, cfg.chunk_size);
        else
            output_line("blocksnap: error: store %s exists already (Store.AlreadyExists)",
                        cli->store_path);
        return EXIT_FAILED;
    }
    if (bsnap_store_open(cli->store_path, BSNAP_STORE_CREATE, &cfg, &cli->store) < 0)
        return output_engine_error();
    return cmd_describe_store(cli, a);
}

/* describe-store's byte counts, which text and table show for people */
static const char *const store_sizes[] = {"ChunkSize", "PackBytes", "StoredBytes", "LogicalBytes",
                                          "MetaBytes", "DataBytes", NULL};

/* @num / @den to two decimals, as a JSON number */
static json_t *ratio(uint64_t num, uint64_t den)
{
    return json_real((double)(uint64_t)((double)num / (double)den * 100 + 0.5) / 100);
}

int cmd_describe_store(struct cli *cli, const struct args *a)
{
    bsnap_store_info info;
    json_t *doc;
    int r;

    (void)a;
    if ((r = cli_open_store(cli)) != EXIT_OK)
        return r;
    if (bsnap_store_get_info(cli->store, &info) < 0)
        return output_engine_error();
    doc = json_object();
    if (doc) {
        /* the path as the user gave it, whatever its bytes */
        json_object_set_new(doc, "Path", json_string_nocheck(cli->store_path));
        json_object_update_new(
            doc,
            json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                      "s:I, s:I}",
                      "StoreUuid", info.uuid, "Region", info.region, "OwnerId", info.account,
                      "ChunkSize", (json_int_t)info.chunk_size, "FormatVersion",
                      (json_int_t)info.format, "PackCount", (json_int_t)info.pack_count,
                      "PackBytes", (json_int_t)info.pack_bytes, "ChunkCount",
                      (json_int_t)info.chunk_count, "StoredBytes", (json_int_t)info.stored_bytes,
                      "LogicalBytes", (json_int_t)info.logical_bytes, "MetaBytes",
                      (json_int_t)info.meta_bytes, "SnapshotCount", (json_int_t)info.snapshot_count,
                      "VolumeCount", (json_int_t)info.volume_count));
    }
    if (doc) {
        json_object_set_new(doc, "DataBytes", json_integer((json_int_t)info.data_bytes));
        /* a ratio with nothing to divide by is left out, not invented */
        if (info.logical_bytes)
            json_object_set_new(doc, "DedupRatio", ratio(info.data_bytes, info.logical_bytes));
        if (info.stored_bytes)
            json_object_set_new(doc, "CompressionRatio",
                                ratio(info.logical_bytes, info.stored_bytes));
    }
    r = doc && json_object_size(doc) == (size_t)(15 + !!info.logical_bytes + !!info.stored_bytes)
            ? output_sized_doc(cli, doc, store_sizes)
            : output_error_nomem();
    json_decref(doc);
    return r;
}
