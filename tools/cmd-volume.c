/* cmd-volume.c - create-volume (restore a snapshot), describe-volumes, delete-volume. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"

int cmd_create_volume(struct cli *cli, const struct args *a)
{
    bsnap_volume_options opts = {0};
    struct progress prog;
    char id[BSNAP_ID_MAX];
    json_t *doc = NULL;
    int r;

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
