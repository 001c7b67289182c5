/* cmd-ebs.c - the EBS direct verbs, named as `aws ebs` names them:
 * start-snapshot, put-snapshot-block, complete-snapshot,
 * list-snapshot-blocks, list-changed-blocks and get-snapshot-block. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

/* An unsigned option from @min to @max, or @dflt when not given. */
static int opt_u64(const struct cli *cli, const struct args *a, const char *name, unsigned min,
                   unsigned max, unsigned dflt, unsigned *ret)
{
    const char *v = arg_value(a, name);

    *ret = dflt;
    return v ? arg_uint(cli->verb, name, v, min, max, ret) : EXIT_OK;
}

int cmd_ebs_start_snapshot(struct cli *cli, const struct args *a)
{
    bsnap_ebs_start_options o = {
        .parent_id = arg_value(a, "parent-snapshot-id"),
        .description = arg_value(a, "description"),
        .client_token = arg_value(a, "client-token"),
        .encrypted = arg_flag(a, "encrypted"),
        .kms_key_arn = arg_value(a, "kms-key-arn"),
    };
    bsnap_tag *tags = NULL;
    json_t *doc = NULL;
    unsigned size, timeout;
    int r;

    if ((r = opt_u64(cli, a, "volume-size", 1, 65536, 0, &size)) != EXIT_OK ||
        (r = opt_u64(cli, a, "timeout", 10, 4320, 0, &timeout)) != EXIT_OK)
        return r;
    if (o.description && (r = cli_check_text(cli, "description", o.description, 255)) != EXIT_OK)
        return r;
    if ((r = cli_parse_tags(cli, a, true, &tags, &o.ntags)) != EXIT_OK)
        return r;
    o.tags = tags;
    o.volume_size = size;
    o.timeout = timeout;
    if ((r = cli_open_store(cli)) == EXIT_OK) {
        r = bsnap_ebs_start_snapshot(cli->store, &o, &doc);
        r = output_answer(cli, r, doc);
    }
    free(tags);
    return r;
}

/* Read FILE (a block: at most @max bytes, to EOF whatever its kind) into
 * @buf; its length in *@ret_len.  EXIT_OK, or EXIT_FAILED after saying
 * why. */
static int read_block(const char *path, uint8_t *buf, size_t max, size_t *ret_len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t n;
    int err;

    if (!f) {
        fprintf(stderr, "blocksnap: error: --block-data %s: %s (InvalidParameterValue)\n", path,
                strerror(errno));
        return EXIT_FAILED;
    }
    /* io-ok: one block from a file, a pipe or stdin, read once */
    n = fread(buf, 1, max, f);
    err = ferror(f);
    if (f != stdin)
        fclose(f);
    if (err) {
        fprintf(stderr, "blocksnap: error: --block-data %s: read failed (InvalidParameterValue)\n",
                path);
        return EXIT_FAILED;
    }
    *ret_len = n;
    return EXIT_OK;
}

int cmd_ebs_put_snapshot_block(struct cli *cli, const struct args *a)
{
    const char *id = arg_value(a, "snapshot-id");
    const char *file = arg_value(a, "block-data");
    const char *algo = arg_value(a, "checksum-algorithm");
    unsigned index, length, progress;
    uint8_t *buf;
    size_t got = 0;
    json_t *doc = NULL;
    int r;

    if ((r = opt_u64(cli, a, "block-index", 0, 0x7fffffffu, 0, &index)) != EXIT_OK ||
        (r = opt_u64(cli, a, "data-length", 0, 0x7fffffffu, BSNAP_EBS_BLOCK_SIZE, &length)) !=
            EXIT_OK ||
        (r = opt_u64(cli, a, "progress", 0, 100, 1000, &progress)) != EXIT_OK)
        return r;
    /* one byte more than a block: a longer file is told apart */
    if (!(buf = aligned_alloc(4096, BSNAP_EBS_BLOCK_SIZE + 4096)))
        return output_error_nomem();
    r = read_block(file, buf, BSNAP_EBS_BLOCK_SIZE + 1, &got);
    if (r == EXIT_OK && got != length)
        r = output_usage_error(cli->verb, "InvalidParameterValue",
                               "--block-data %s holds %s%zu bytes, --data-length says %u", file,
                               got > BSNAP_EBS_BLOCK_SIZE ? "more than " : "",
                               got > BSNAP_EBS_BLOCK_SIZE ? (size_t)BSNAP_EBS_BLOCK_SIZE : got,
                               length);
    if (r == EXIT_OK && (r = cli_open_store(cli)) == EXIT_OK) {
        r = bsnap_ebs_put_block(cli->store, id, index, buf, length, arg_value(a, "checksum"),
                                algo ? algo : "SHA256", progress == 1000 ? -1 : (int)progress,
                                &doc);
        r = output_answer(cli, r, doc);
    }
    free(buf);
    return r;
}

int cmd_ebs_complete_snapshot(struct cli *cli, const struct args *a)
{
    bsnap_ebs_complete_options o = {
        .checksum = arg_value(a, "checksum"),
        .checksum_algorithm = arg_value(a, "checksum-algorithm"),
        .checksum_aggregation_method = arg_value(a, "checksum-aggregation-method"),
    };
    json_t *doc = NULL;
    unsigned count;
    int r;

    if ((r = opt_u64(cli, a, "changed-blocks-count", 0, 0x7fffffffu, 0, &count)) != EXIT_OK)
        return r;
    o.changed_blocks_count = count;
    if (o.checksum && !o.checksum_aggregation_method)
        return output_usage_error(cli->verb, "MissingParameter",
                                  "--checksum needs --checksum-aggregation-method LINEAR");
    if ((r = cli_open_store(cli)) != EXIT_OK)
        return r;
    r = bsnap_ebs_complete(cli->store, arg_value(a, "snapshot-id"), &o, &doc);
    return output_answer(cli, r, doc);
}

static int list_options(const struct cli *cli, const struct args *a, bsnap_ebs_list_options *o)
{
    unsigned max, start;
    int r;

    if ((r = opt_u64(cli, a, "max-results", 1, 10000, 0, &max)) != EXIT_OK ||
        (r = opt_u64(cli, a, "starting-block-index", 0, 0x7fffffffu, 0, &start)) != EXIT_OK)
        return r;
    o->max_results = max;
    o->starting_block_index = start;
    o->next_token = arg_value(a, "next-token");
    return EXIT_OK;
}

int cmd_ebs_list_snapshot_blocks(struct cli *cli, const struct args *a)
{
    bsnap_ebs_list_options o = {0};
    json_t *doc = NULL;
    int r;

    if ((r = list_options(cli, a, &o)) != EXIT_OK || (r = cli_open_store(cli)) != EXIT_OK)
        return r;
    r = bsnap_ebs_list_blocks(cli->store, arg_value(a, "snapshot-id"), &o, &doc);
    return output_answer(cli, r, doc);
}

int cmd_ebs_list_changed_blocks(struct cli *cli, const struct args *a)
{
    bsnap_ebs_list_options o = {.first_id = arg_value(a, "first-snapshot-id")};
    json_t *doc = NULL;
    int r;

    if ((r = list_options(cli, a, &o)) != EXIT_OK || (r = cli_open_store(cli)) != EXIT_OK)
        return r;
    r = bsnap_ebs_list_changed(cli->store, arg_value(a, "second-snapshot-id"), &o, &doc);
    return output_answer(cli, r, doc);
}

int cmd_ebs_get_snapshot_block(struct cli *cli, const struct args *a)
{
    const char *out = a->pos[0];
    char sum[BSNAP_EBS_CHECKSUM_MAX];
    unsigned index;
    uint8_t *buf;
    json_t *doc;
    int fd, r;

    if (a->npos != 1)
        return output_usage_error(cli->verb, "MissingParameter", "no OUTFILE given");
    if ((r = opt_u64(cli, a, "block-index", 0, 0x7fffffffu, 0, &index)) != EXIT_OK)
        return r;
    if ((r = cli_open_store(cli)) != EXIT_OK)
        return r;
    if (!(buf = aligned_alloc(4096, BSNAP_EBS_BLOCK_SIZE)))
        return output_error_nomem();
    if (bsnap_ebs_get_block(cli->store, arg_value(a, "snapshot-id"), index,
                            arg_value(a, "block-token"), buf, sum) < 0) {
        free(buf);
        return output_engine_error();
    }
    fd = strcmp(out, "-") == 0 ? STDOUT_FILENO : open(out, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    r = fd < 0 ? -errno : 0;
    for (size_t done = 0; r == 0 && done < BSNAP_EBS_BLOCK_SIZE;) {
        ssize_t n = write(fd, buf + done, BSNAP_EBS_BLOCK_SIZE - done);
        if (n < 0 && errno != EINTR)
            r = -errno;
        else if (n > 0)
            done += (size_t)n;
    }
    if (fd > STDOUT_FILENO && close(fd) < 0 && r == 0)
        r = -errno;
    free(buf);
    if (r < 0) {
        fprintf(stderr, "blocksnap: error: %s: %s (InvalidParameterValue)\n", out, strerror(-r));
        return EXIT_FAILED;
    }
    if (fd == STDOUT_FILENO)
        return EXIT_OK; /* the data is the output */
    doc = json_pack("{s:I, s:s, s:s}", "DataLength", (json_int_t)BSNAP_EBS_BLOCK_SIZE, "Checksum",
                    sum, "ChecksumAlgorithm", "SHA256");
    return output_answer(cli, doc ? 0 : -ENOMEM, doc);
}
