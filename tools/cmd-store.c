/* cmd-store.c - verify, gc, describe-store: the store as a whole. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocksnap-fuse.h"
#include "cmd.h"

/* Where problems go: one line each on stdout (text), or, for a JSON
 * document (--output json or table), a JSON array built in memory. */
struct problems {
    bool json;
    FILE *mem; /* open_memstream() of buf while a JSON array is built */
    char *buf;
    size_t len;
    uint64_t n;
    bool failed; /* out of memory while building it */
};

/* A problem as a JSON object; the fields that do not apply left out. */
static void problem_json(struct problems *ps, const bsnap_problem *p)
{
    char *sid = p->snapshot_id && p->snapshot_id[0] ? output_json_quote(p->snapshot_id) : NULL;
    char *cid = p->chunk_id && p->chunk_id[0] ? output_json_quote(p->chunk_id) : NULL;
    char *what = output_json_quote(p->what ? p->what : "");

    if (!ps->mem || !what || (p->snapshot_id && p->snapshot_id[0] && !sid) ||
        (p->chunk_id && p->chunk_id[0] && !cid)) {
        ps->failed = true;
    } else {
        fprintf(ps->mem, "%s{", ps->n ? ", " : "");
        if (sid)
            fprintf(ps->mem, "\"SnapshotId\": %s, ", sid);
        if (cid)
            fprintf(ps->mem, "\"ChunkId\": %s, ", cid);
        if (p->pack >= 0)
            fprintf(ps->mem, "\"Pack\": %" PRId64 ", ", p->pack);
        if (p->offset >= 0)
            fprintf(ps->mem, "\"Offset\": %" PRId64 ", ", p->offset);
        fprintf(ps->mem, "\"Message\": %s}", what);
    }
    free(sid);
    free(cid);
    free(what);
}

/* One problem per line, "snapshot ID chunk ID pack N offset N: what", the
 * fields that do not apply left out ("store: what" if none does); or one
 * more element of the JSON array. */
static void print_problem(void *ud, const bsnap_problem *p)
{
    struct problems *ps = ud;
    const char *sep = "";

    if (ps->json) {
        problem_json(ps, p);
        ps->n++;
        return;
    }
    ps->n++;
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
    *ps = (struct problems){.json = json};
    if (json)
        ps->mem = open_memstream(&ps->buf, &ps->len);
}

/* Close the JSON array: the malloc'd text between its brackets, or NULL
 * (out of memory, said on stderr). */
static char *problems_end(struct problems *ps)
{
    if (ps->mem && fclose(ps->mem) != 0)
        ps->failed = true;
    ps->mem = NULL;
    if (ps->failed || !ps->buf) {
        free(ps->buf);
        ps->buf = NULL;
        fprintf(stderr, "blocksnap: error: out of memory (InternalError)\n");
    }
    return ps->buf;
}

/* verify --repair: rebuild the metadata first.  Sets *lost when the
 * repair could not keep everything.  For a JSON document, *ret_json is
 * its "Repair" member (malloc'd); otherwise the summary is printed. */
static int repair(struct cli *cli, bool json, bool *lost, char **ret_json)
{
    bsnap_run_options run = {0};
    bsnap_repair_stats st = {0};
    struct problems ps;
    struct progress prog;
    char *list = NULL, *saved = NULL;
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
        free(list);
        return output_engine_error();
    }
    *lost = st.records_lost || st.tables_lost || st.records_dropped || st.damaged_records ||
            st.damaged_snapshots || st.recovered;
    r = EXIT_OK;
    if (json) {
        saved = output_json_quote(st.saved_as);
        if (!saved ||
            asprintf(ret_json,
                     "{\"RecordsKept\": %" PRIu64 ", \"RecordsLost\": %" PRIu64
                     ", \"RecordsDropped\": %" PRIu64 ", \"PendingSnapshotsDropped\": %" PRIu64
                     ", \"Snapshots\": %" PRIu64 ", \"RecoveredSnapshots\": %" PRIu64
                     ", \"PacksRead\": %" PRIu64 ", \"ChunksIndexed\": %" PRIu64
                     ", \"ChunksInUse\": %" PRIu64 ", \"DamagedRecordsSkipped\": %" PRIu64
                     ", \"SavedAs\": %s, \"Problems\": [%s]}",
                     st.records_kept, st.records_lost, st.records_dropped, st.pending_dropped,
                     st.snapshots, st.recovered, st.packs, st.records_indexed, st.chunks_live,
                     st.damaged_records, saved, list) < 0) {
            *ret_json = NULL;
            fprintf(stderr, "blocksnap: error: out of memory (InternalError)\n");
            r = EXIT_FAILED;
        }
        free(saved);
        free(list);
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

/* verify's JSON document: the counts, the problems, and the repair's
 * member with --repair. */
static int print_verify_json(struct cli *cli, const bsnap_verify_stats *st, const char *list,
                             const char *repair_json)
{
    char *json = NULL;
    int r;

    if (asprintf(&json,
                 "{%s%s%s\"SnapshotsChecked\": %" PRIu64 ", \"ChunksChecked\": %" PRIu64
                 ", \"BytesChecked\": %" PRIu64 ", \"ProblemCount\": %" PRIu64
                 ", \"DamagedSnapshotCount\": %" PRIu64 ", \"Problems\": [%s]}",
                 repair_json ? "\"Repair\": " : "", repair_json ? repair_json : "",
                 repair_json ? ", " : "", st->snapshots_checked, st->chunks_checked,
                 st->bytes_checked, st->problems, st->damaged_snapshots, list) < 0) {
        fprintf(stderr, "blocksnap: error: out of memory (InternalError)\n");
        return EXIT_FAILED;
    }
    r = output_document(cli, json);
    free(json);
    return r;
}

int cmd_verify(struct cli *cli, const struct args *a)
{
    bsnap_run_options run = {0};
    bsnap_verify_stats st = {0};
    struct problems ps;
    struct progress prog;
    bool lost = false;
    /* The lines are verify's text form and its default; json and table
     * render a document, as for every other verb. */
    bool json = strcmp(output_format(cli, "text"), "text") != 0;
    char bytes[32], *repair_json = NULL, *list;
    int r;

    if (arg_flag(a, "repair")) {
        if (arg_value(a, "snapshot-id")) {
            fprintf(stderr, "blocksnap: error: --repair rebuilds the whole store's metadata: "
                            "it takes no --snapshot-id (InvalidParameterCombination)\n");
            return EXIT_USAGE;
        }
        if ((r = repair(cli, json, &lost, &repair_json)) != EXIT_OK)
            return r;
    }
    if ((r = cli_open_store(cli)) != EXIT_OK)
        goto out;
    problems_init(&ps, json);
    progress_start(&prog, cli, "verify", &run);
    r = bsnap_verify(cli->store, arg_value(a, "snapshot-id"), &run, print_problem, &ps, &st);
    progress_end(&prog);
    list = json ? problems_end(&ps) : NULL;
    if (r < 0) {
        free(list);
        r = output_engine_error();
        goto out;
    }
    if (json) {
        r = list ? print_verify_json(cli, &st, list, repair_json) : EXIT_FAILED;
        free(list);
        if (r != EXIT_OK)
            goto out;
    } else {
        output_bytes(bytes, sizeof bytes, st.bytes_checked);
        printf("verified %" PRIu64 " %s, %" PRIu64 " %s, %s: %" PRIu64 " %s, %" PRIu64
               " damaged %s\n",
               st.snapshots_checked, plural(st.snapshots_checked, "snapshot", "snapshots"),
               st.chunks_checked, plural(st.chunks_checked, "chunk", "chunks"), bytes, st.problems,
               plural(st.problems, "problem", "problems"), st.damaged_snapshots,
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
    free(repair_json);
    return r;
}

int cmd_gc(struct cli *cli, const struct args *a)
{
    bsnap_gc_options opts = {0};
    bsnap_gc_stats st = {0};
    struct progress prog;
    const char *max_unused = arg_value(a, "max-unused");
    char json[640];
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
    snprintf(json, sizeof json,
             "{\"ChunksFreed\": %" PRIu64 ", \"SnapshotsRemoved\": %" PRIu64
             ", \"PacksRemoved\": %" PRIu64 ", \"PacksRewritten\": %" PRIu64
             ", \"BytesBefore\": %" PRIu64 ", \"BytesAfter\": %" PRIu64
             ", \"PacksUnreclaimed\": %" PRIu64 ", \"BytesUnreclaimed\": %" PRIu64 "}",
             st.chunks_freed, st.snapshots_removed, st.packs_removed, st.packs_rewritten,
             st.bytes_before, st.bytes_after, st.packs_unreclaimed, st.bytes_unreclaimed);
    return output_document(cli, json);
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
    bsnap_store_config cfg = {.region = cli->region};
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

int cmd_describe_store(struct cli *cli, const struct args *a)
{
    bsnap_store_info info;
    char *path = NULL, *uuid = NULL, *region = NULL, *owner = NULL, *json = NULL;
    int r;

    (void)a;
    if ((r = cli_open_store(cli)) != EXIT_OK)
        return r;
    if (bsnap_store_get_info(cli->store, &info) < 0)
        return output_engine_error();
    /* The CLI writes this JSON but never parses any: strings are quoted by
     * output_json_quote(), numbers printed. */
    path = output_json_quote(cli->store_path);
    uuid = output_json_quote(info.uuid);
    region = output_json_quote(info.region);
    owner = output_json_quote(info.account);
    if (!path || !uuid || !region || !owner ||
        asprintf(&json,
                 "{\"Path\": %s, \"StoreUuid\": %s, \"Region\": %s, \"OwnerId\": %s, "
                 "\"ChunkSize\": %" PRIu32 ", \"FormatVersion\": %" PRIu32
                 ", \"PackCount\": %" PRIu64 ", \"PackBytes\": %" PRIu64
                 ", \"ChunkCount\": %" PRIu64 ", \"StoredBytes\": %" PRIu64
                 ", \"LogicalBytes\": %" PRIu64 ", \"MetaBytes\": %" PRIu64
                 ", \"SnapshotCount\": %" PRIu64 ", \"VolumeCount\": %" PRIu64 "}",
                 path, uuid, region, owner, info.chunk_size, info.format, info.pack_count,
                 info.pack_bytes, info.chunk_count, info.stored_bytes, info.logical_bytes,
                 info.meta_bytes, info.snapshot_count, info.volume_count) < 0) {
        json = NULL;
        fprintf(stderr, "blocksnap: error: out of memory (InternalError)\n");
        r = EXIT_FAILED;
    } else {
        r = output_document(cli, json);
    }
    free(json);
    free(path);
    free(uuid);
    free(region);
    free(owner);
    return r;
}
