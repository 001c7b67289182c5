/* cmd-copy.c - copy-snapshot and copy-image: a snapshot or an image of
 * another region's store into this one. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"

/* The one-line summary of a copy on stderr, sizes for people. */
static void print_copy_summary(const char *id, const bsnap_snapshot_stats *st)
{
    char rd[BSF_SIZE_TEXT_MAX], stored[BSF_SIZE_TEXT_MAX];

    fprintf(stderr,
            "blocksnap: %s: read %s from the source, stored %s new; chunks %" PRIu64
            " new, %" PRIu64 " reused, %" PRIu64 " zero\n",
            id, bsf_size_text(st->read_bytes, rd), bsf_size_text(st->new_bytes, stored),
            st->new_chunks, st->reused_chunks, st->zero_chunks);
}

/* The source store: --source-store DIR or --source-region NAME, opened
 * read-only (a shared lock: its other readers and writers go on).  The
 * destination (cli->store) is open already: when the source is the same
 * directory, *@ret is that handle (a store is never opened twice in one
 * process) and *@ret_own false. */
static int open_source(struct cli *cli, const struct args *a, bsnap_store **ret, bool *ret_own)
{
    struct stat sst, dst;
    const char *dir = arg_value(a, "source-store"), *region = arg_value(a, "source-region");
    char *path = NULL;
    int r;

    if (!dir && !region)
        return output_usage_error(cli->verb, "MissingParameter",
                                  "one of --source-region or --source-store is required");
    if (dir && region)
        return output_usage_error(cli->verb, "InvalidParameterCombination",
                                  "give --source-region or --source-store, not both");
    /* A source region's store is where the config file puts it, as the
     * destination's is. */
    if (region && (r = cli_region_path(cli, region, &path)) != EXIT_OK)
        return r;
    if (dir && bsnap_store_resolve(dir, NULL, &path) < 0)
        return output_engine_error();
    *ret_own = false;
    if (cli->store_path && stat(path, &sst) == 0 && stat(cli->store_path, &dst) == 0 &&
        sst.st_dev == dst.st_dev && sst.st_ino == dst.st_ino) {
        free(path);
        *ret = cli->store;
        return EXIT_OK;
    }
    *ret_own = true;
    r = bsnap_store_open(path, BSNAP_STORE_RDONLY, NULL, ret);
    free(path);
    if (r < 0)
        return output_engine_error();
    /* The profile's account reads the source too: only its own snapshots. */
    if (cli->account && bsnap_store_set_account(*ret, cli->account) < 0) {
        bsnap_store_close(*ret);
        *ret = NULL;
        return output_engine_error();
    }
    return EXIT_OK;
}

int cmd_copy_snapshot(struct cli *cli, const struct args *a)
{
    bsnap_copy_options opts = {0};
    bsnap_snapshot_stats stats = {0};
    bsnap_store *src = NULL;
    bool own_src = false;
    bsnap_tag *tags = NULL;
    struct progress prog;
    char id[BSNAP_ID_MAX];
    json_t *doc = NULL;
    int r;

    opts.source_snapshot_id = arg_value(a, "source-snapshot-id");
    opts.description = arg_value(a, "description");
    if (opts.description && (r = cli_check_text(cli, "description", opts.description,
                                                BSNAP_DESCRIPTION_MAX)) != EXIT_OK)
        return r;
    opts.client_token = arg_value(a, "client-token");
    opts.encrypted = arg_flag(a, "encrypted");
    opts.kms_key_id = arg_value(a, "kms-key-id");
    if ((r = cli_parse_tags(cli, a, true, &tags, &opts.ntags)) != EXIT_OK)
        return r;
    opts.tags = tags;
    if ((r = cli_open_store(cli)) != EXIT_OK)
        goto out;
    if ((r = open_source(cli, a, &src, &own_src)) != EXIT_OK)
        goto out;
    progress_start(&prog, cli, "copy", &opts.run);
    r = bsnap_snapshot_copy(cli->store, src, &opts, id, &stats);
    progress_end(&prog);
    if (r < 0 || bsnap_snapshot_describe_one(cli->store, id, &doc) < 0) {
        r = output_engine_error();
        goto out;
    }
    {
        /* CopySnapshot's answer: the new id (and the tags given) */
        json_t *snap = json_object_get(doc, "Snapshots");
        json_t *one = json_is_array(snap) ? json_array_get(snap, 0) : doc;
        json_t *ans = json_object();
        json_t *t = one ? json_object_get(one, "Tags") : NULL;

        if (!ans) {
            r = output_error_nomem();
            goto out;
        }
        json_object_set_new(ans, "SnapshotId", json_string(id));
        if (t && json_array_size(t))
            json_object_set(ans, "Tags", t);
        json_decref(doc);
        doc = ans;
    }
    r = output_doc(cli, doc);
    if (!cli->quiet)
        print_copy_summary(id, &stats);
out:
    json_decref(doc);
    if (own_src)
        bsnap_store_close(src);
    free(tags);
    return r;
}

int cmd_copy_image(struct cli *cli, const struct args *a)
{
    bsnap_image_copy_options opts = {0};
    bsnap_snapshot_stats stats = {0};
    bsnap_store *src = NULL;
    bool own_src = false;
    struct progress prog;
    char id[BSNAP_ID_MAX];
    json_t *doc = NULL;
    int r;

    opts.source_image_id = arg_value(a, "source-image-id");
    opts.name = arg_value(a, "name");
    opts.description = arg_value(a, "description");
    if (opts.description && (r = cli_check_text(cli, "description", opts.description,
                                                BSNAP_DESCRIPTION_MAX)) != EXIT_OK)
        return r;
    opts.copy_image_tags = arg_flag(a, "copy-image-tags");
    opts.client_token = arg_value(a, "client-token");
    opts.encrypted = arg_flag(a, "encrypted");
    opts.kms_key_id = arg_value(a, "kms-key-id");
    if ((r = cli_open_store(cli)) != EXIT_OK)
        goto out;
    if ((r = open_source(cli, a, &src, &own_src)) != EXIT_OK)
        goto out;
    progress_start(&prog, cli, "copy", &opts.run);
    r = bsnap_image_copy(cli->store, src, &opts, id, &stats);
    progress_end(&prog);
    if (r < 0) {
        r = output_engine_error();
        goto out;
    }
    doc = json_pack("{s:s}", "ImageId", id);
    if (!doc) {
        r = output_error_nomem();
        goto out;
    }
    r = output_doc(cli, doc);
    if (!cli->quiet)
        print_copy_summary(id, &stats);
out:
    json_decref(doc);
    if (own_src)
        bsnap_store_close(src);
    return r;
}
