/* cmd-mount.c - mount, umount: the FUSE view (fuse/, blocksnap-fuse.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "blocksnap-fuse.h"
#include "cmd.h"

const struct opt mount_options[] = {
    {"foreground", OPT_FLAG, NULL, "stay in the foreground and log to stderr", false},
    {"allow-other", OPT_FLAG, NULL, "let other users read the mount (-o allow_other)", false},
    {"cache-size", OPT_VALUE, "SIZE", "decompressed-chunk cache, e.g. 512M (default 256M)", false},
    {"snapshot-id", OPT_VALUE, "ID", "mount only this snapshot (a file mountpoint: as the file)",
     false},
    {"debug", OPT_FLAG, NULL, "trace every FUSE request on stderr (implies --foreground)", false},
    {NULL, 0, NULL, NULL, false},
};

const struct opt umount_options[] = {
    {NULL, 0, NULL, NULL, false},
};

static int print_error(const bsnap_fuse_error *e)
{
    output_line("blocksnap: error: %s (%s)", e->message, e->code);
    return EXIT_FAILED;
}

int cmd_mount(struct cli *cli, const struct args *a)
{
    bsnap_mount_options o = {0};
    bsnap_fuse_error err;
    const char *size = arg_value(a, "cache-size");
    char *path = NULL;
    int r;

    if (a->npos != 1)
        return output_usage_error(cli->verb, "MissingParameter", "no MOUNTPOINT given");
    if (!a->pos[0][0])
        return output_usage_error(cli->verb, "InvalidParameterValue", "MOUNTPOINT: empty");
    if (size && (bsnap_fuse_parse_size(size, &o.cache_size) < 0 || o.cache_size < (1u << 20)))
        return output_usage_error(cli->verb, "InvalidParameterValue",
                                  "--cache-size: '%s' is not a size of at least 1M", size);
    /* Unlike other verbs, mount never creates a store: a missing one is an
     * error, found before anything is mounted. */
    if (bsnap_store_resolve(cli->store_dir, cli->region, &path) < 0)
        return output_engine_error();
    o.store_path = path;
    o.mountpoint = a->pos[0];
    o.snapshot_id = arg_value(a, "snapshot-id");
    o.account = cli->account; /* the profile's: the view is that account's */
    o.foreground = arg_flag(a, "foreground");
    o.allow_other = arg_flag(a, "allow-other");
    o.debug = arg_flag(a, "debug");

    /* libfuse installs its SIGINT/SIGTERM/SIGHUP handlers (which end the
     * loop and unmount) only where the default disposition is in place. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);

    r = bsnap_fuse_mount(&o, &err);
    free(path);
    return r < 0 ? print_error(&err) : EXIT_OK;
}

int cmd_umount(struct cli *cli, const struct args *a)
{
    bsnap_fuse_error err;

    if (a->npos != 1)
        return output_usage_error(cli->verb, "MissingParameter", "no MOUNTPOINT given");
    if (!a->pos[0][0])
        return output_usage_error(cli->verb, "InvalidParameterValue", "MOUNTPOINT: empty");
    return bsnap_fuse_umount(a->pos[0], &err) < 0 ? print_error(&err) : EXIT_OK;
}
