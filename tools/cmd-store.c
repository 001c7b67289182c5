/* cmd-store.c - verify, gc, describe-store: the store as a whole. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

/* One problem per line, "snapshot ID chunk ID pack N offset N: what", the
 * fields that do not apply left out ("store: what" if none does). */
static void print_problem(void *ud, const bsnap_problem *p)
{
    const char *sep = "";

    (void)ud;
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
    printf("%s: %s\n", sep[0] ? "" : "store", p->what);
    fflush(stdout);
}

/* verify --repair: rebuild the metadata first.  Sets *lost when the
 * repair could not keep everything. */
static int repair(struct cli *cli, bool *lost)
{
    bsnap_run_options run = {0};
    bsnap_repair_stats st = {0};
    struct progress prog;
    int r;

    if ((r = cli_store_path(cli)) != EXIT_OK)
        return r;
    progress_start(&prog, cli, "repair", &run);
    r = bsnap_store_repair(cli->store_path, &run, print_problem, NULL, &st);
    progress_end(&prog);
    if (r < 0)
        return output_engine_error();
    printf("repaired: %" PRIu64 " records kept, %" PRIu64 " lost, %" PRIu64 " dropped, %" PRIu64
           " pending snapshots dropped; %" PRIu64 " snapshots (%" PRIu64
           " recovered); index rebuilt from %" PRIu64 " packs: %" PRIu64 " chunks (%" PRIu64
           " in use), %" PRIu64 " damaged records skipped%s%s\n",
           st.records_kept, st.records_lost, st.records_dropped, st.pending_dropped, st.snapshots,
           st.recovered, st.packs, st.records_indexed, st.chunks_live, st.damaged_records,
           st.saved_as[0] ? "; the old file is " : "", st.saved_as);
    fflush(stdout);
    *lost = st.records_lost || st.tables_lost || st.records_dropped || st.damaged_records ||
            st.damaged_snapshots || st.recovered;
    return EXIT_OK;
}

int cmd_verify(struct cli *cli, const struct args *a)
{
    bsnap_run_options run = {0};
    bsnap_verify_stats st = {0};
    struct progress prog;
    bool lost = false;
    char bytes[32];
    int r;

    if (arg_flag(a, "repair")) {
        if (arg_value(a, "snapshot-id")) {
            fprintf(stderr, "blocksnap: error: --repair rebuilds the whole store's metadata: "
                            "it takes no --snapshot-id (InvalidParameterCombination)\n");
            return EXIT_USAGE;
        }
        if ((r = repair(cli, &lost)) != EXIT_OK)
            return r;
    }
    if ((r = cli_open_store(cli)) != EXIT_OK)
        return r;
    progress_start(&prog, cli, "verify", &run);
    r = bsnap_verify(cli->store, arg_value(a, "snapshot-id"), &run, print_problem, NULL, &st);
    progress_end(&prog);
    if (r < 0)
        return output_engine_error();
    output_bytes(bytes, sizeof bytes, st.bytes_checked);
    printf("verified %" PRIu64 " snapshots, %" PRIu64 " chunks, %s: %" PRIu64 " problems, %" PRIu64
           " damaged snapshots\n",
           st.snapshots_checked, st.chunks_checked, bytes, st.problems, st.damaged_snapshots);
    if (st.problems == 0 && lost) {
        fprintf(stderr, "blocksnap: error: the repaired store verifies, but the repair could not "
                        "keep everything (the lines above say what)\n");
        return EXIT_FAILED;
    }
    if (st.problems == 0)
        return EXIT_OK;
    fprintf(stderr,
            "blocksnap: error: verify found %" PRIu64 " problems, %" PRIu64
            " damaged snapshots (Store.Corrupt)\n",
            st.problems, st.damaged_snapshots);
    return EXIT_FAILED;
}

int cmd_gc(struct cli *cli, const struct args *a)
{
    bsnap_run_options run = {0};
    bsnap_gc_stats st = {0};
    struct progress prog;
    char json[512];
    int r;

    (void)a;
    if ((r = cli_open_store(cli)) != EXIT_OK)
        return r;
    progress_start(&prog, cli, "gc", &run);
    r = bsnap_gc(cli->store, &run, &st);
    progress_end(&prog);
    if (r < 0)
        return output_engine_error();
    snprintf(json, sizeof json,
             "{\"ChunksFreed\": %" PRIu64 ", \"SnapshotsRemoved\": %" PRIu64
             ", \"PacksRemoved\": %" PRIu64 ", \"PacksRewritten\": %" PRIu64
             ", \"BytesBefore\": %" PRIu64 ", \"BytesAfter\": %" PRIu64 "}",
             st.chunks_freed, st.snapshots_removed, st.packs_removed, st.packs_rewritten,
             st.bytes_before, st.bytes_after);
    return output_document(cli, json);
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
