/* cmd-volume.c - create-volume (a writable volume, or a snapshot restored to a
 * file), describe-volumes, delete-volume. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"

/* create-volume without --path: a writable copy-on-write volume. */
static int create_writable(struct cli *cli, const struct args *a)
{
    bsnap_writable_volume_options opts = {0};
    const char *size = arg_value(a, "size");
    bsnap_tag *tags = NULL;
    json_t *doc = NULL;
    unsigned gib = 0;
    int r;

    if (arg_flag(a, "force"))
        return output_usage_error(cli->verb, "InvalidParameterCombination",
                                  "--force goes with --path");
    if (size && (r = arg_uint(cli->verb, "size", size, 1, 65536, &gib)) != EXIT_OK)
        return r;
    opts.size_gib = gib;
    opts.volume_type = arg_value(a, "volume-type");
    opts.encrypted = arg_flag(a, "encrypted");
    opts.kms_key_id = arg_value(a, "kms-key-id");
    if ((r = cli_parse_tags(cli, a, true, &tags, &opts.ntags)) != EXIT_OK)
        return r;
    opts.tags = tags;
    if ((r = cli_open_store(cli)) == EXIT_OK) {
        if (bsnap_volume_create_writable(cli->store, arg_value(a, "snapshot-id"), &opts, &doc) < 0)
            r = output_engine_error();
        else
            r = output_doc(cli, doc);
    }
    json_decref(doc);
    free(tags);
    return r;
}

int cmd_create_volume(struct cli *cli, const struct args *a)
{
    bsnap_volume_options opts = {0};
    struct progress prog;
    char id[BSNAP_ID_MAX];
    json_t *doc = NULL;
    int r;

    if (!arg_value(a, "path"))
        return create_writable(cli, a);
    if (arg_value(a, "size") || arg_value(a, "volume-type") || arg_flag(a, "encrypted") ||
        arg_value(a, "kms-key-id") || arg_flag(a, "tags"))
        return output_usage_error(cli->verb, "InvalidParameterCombination",
                                  "--size, --volume-type, --encrypted, --kms-key-id and --tags "
                                  "make a writable volume: they do not go with --path");
    if (!arg_value(a, "path")[0])
        return output_usage_error(cli->verb, "InvalidParameterValue", "--path: empty");
    opts.force = arg_flag(a, "force");
    if ((r = cli_open_store(cli)) != EXIT_OK)
        return r;
    progress_start(&prog, cli, "restore", &opts.run);
    r = bsnap_volume_create(cli->store, arg_value(a, "snapshot-id"), arg_value(a, "path"), &opts,
                            id);
    progress_end(&prog);
    if (r == -EEXIST) {
        /* The engine names no flag; say which one replaces. */
        const bsnap_error *e = bsnap_last_error();
        char *msg = cli_message(e);
        output_line("blocksnap: error: %s: give --force to overwrite it (%s)",
                    msg ? msg : e->message, e->code);
        free(msg);
        return EXIT_FAILED;
    }
    if (r < 0)
        return output_engine_error();
    if (!id[0]) {
        output_line("blocksnap: warning: the store's metadata is damaged: %s was restored "
                    "and every chunk verified, but it is not recorded as a volume (run "
                    "blocksnap verify --repair)",
                    arg_value(a, "path"));
        doc = json_pack("{s:s}", "VolumeId", "");
        r = output_doc(cli, doc);
        json_decref(doc);
        return r;
    }
    if (bsnap_volume_describe_one(cli->store, id, &doc) < 0)
        return output_engine_error();
    r = output_doc(cli, doc);
    json_decref(doc);
    return r;
}

static int describe_page(bsnap_store *store, const void *ud, const bsnap_describe_options *o,
                         json_t **ret)
{
    (void)ud;
    return bsnap_volume_describe(store, o, ret);
}

int cmd_describe_volumes(struct cli *cli, const struct args *a)
{
    bsnap_describe_options o;
    int r;

    if ((r = cli_describe_options(cli, a, "volume-ids", &o)) != EXIT_OK)
        return r;
    if ((r = cli_open_store(cli)) == EXIT_OK)
        r = cli_describe_paged(cli, describe_page, NULL, &o);
    free((void *)o.filters);
    return r;
}

int cmd_delete_volume(struct cli *cli, const struct args *a)
{
    int r = cli_open_store(cli);

    if (r != EXIT_OK)
        return r;
    if (bsnap_volume_delete(cli->store, arg_value(a, "volume-id")) < 0)
        return output_engine_error();
    return EXIT_OK;
}

/* Byte counts of describe-volume-usage: sizes for people in text and table. */
static const char *const volume_usage_sizes[] = {"LogicalBytes",         "StoredBytes",
                                                 "ReferencedBytes",      "ExclusiveBytes",
                                                 "ExclusiveStoredBytes", NULL};

/* One volume's usage as its describe-volume-usage object. */
static int volume_usage_doc(bsnap_store *store, const char *id, json_t **ret)
{
    bsnap_volume_usage u;

    if (bsnap_volume_get_usage(store, id, &u) < 0)
        return -1;
    *ret = json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "VolumeId", u.volume_id, "Snapshots",
        (json_int_t)u.snapshots, "LogicalBytes", (json_int_t)u.logical_bytes, "StoredBytes",
        (json_int_t)u.stored_bytes, "ReferencedChunks", (json_int_t)u.referenced_chunks,
        "ReferencedBytes", (json_int_t)u.referenced_bytes, "ExclusiveChunks",
        (json_int_t)u.exclusive_chunks, "ExclusiveBytes", (json_int_t)u.exclusive_bytes,
        "ExclusiveStoredBytes", (json_int_t)u.exclusive_stored_bytes);
    return 0;
}

int cmd_describe_volume_usage(struct cli *cli, const struct args *a)
{
    size_t n = 0;
    const char *const *ids = arg_list(a, "volume-ids", &n);

    return cli_usage_verb(cli, ids, n, "VolumeUsages", volume_usage_doc, volume_usage_sizes);
}
