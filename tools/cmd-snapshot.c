/* cmd-snapshot.c - create-snapshot, describe-snapshots, delete-snapshot, diff. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

/* The one-line summary of a new snapshot on stderr. */
static void print_summary(const char *id, const bsnap_snapshot_stats *st, int64_t ms)
{
    char vol[32], rd[32], stored[32], rate[32];
    double secs = (double)ms / 1000;

    bsf_size_text(st->volume_bytes, vol);
    bsf_size_text(st->read_bytes, rd);
    bsf_size_text(st->new_bytes, stored);
    bsf_size_text(secs > 0 ? (uint64_t)((double)st->read_bytes / secs) : 0, rate);
    fprintf(stderr,
            "blocksnap: %s: volume %s, read %s, stored %s new; chunks %" PRIu64 " new, %" PRIu64
            " reused, %" PRIu64 " zero; %" PRIu64 " block-map page%s new; %.2f s, %s/s\n",
            id, vol, rd, stored, st->new_chunks, st->reused_chunks, st->zero_chunks, st->new_pages,
            st->new_pages == 1 ? "" : "s", secs, rate);
}

int cmd_create_snapshot(struct cli *cli, const struct args *a)
{
    bsnap_snapshot_options opts = {0};
    bsnap_snapshot_stats stats = {0};
    struct progress prog;
    char id[BSNAP_ID_MAX];
    const char *threads = arg_value(a, "threads"), *changed = arg_value(a, "changed-blocks");
    bsnap_tag *tags = NULL;
    bsnap_range *ranges = NULL;
    char base[BSNAP_ID_MAX] = "";
    json_t *doc = NULL;
    int64_t start;
    int r;

    opts.volume_path = arg_value(a, "volume");
    opts.volume_id = arg_value(a, "volume-id");
    if (!opts.volume_path && !opts.volume_id)
        return output_usage_error(cli->verb, "MissingParameter",
                                  "one of --volume or --volume-id is required");
    /* Both only for an NBD volume read from another URI this time (the
     * engine checks the record is an NBD one). */
    if (opts.volume_path && opts.volume_id && !bsnap_volume_is_uri(opts.volume_path))
        return output_usage_error(cli->verb, "InvalidParameterCombination",
                                  "give --volume or --volume-id, not both (both only with an NBD "
                                  "URI as --volume)");
    if (arg_flag(a, "full") && arg_value(a, "parent"))
        return output_usage_error(cli->verb, "InvalidParameterCombination",
                                  "give --full or --parent, not both");
    if (threads && (r = arg_uint(cli->verb, "threads", threads, 1, 1024, &opts.threads)) != EXIT_OK)
        return r;
    /* The volume's path is recorded and shown as text: UTF-8 only. */
    if (opts.volume_path && (r = cli_check_text(cli, "volume", opts.volume_path, 0)) != EXIT_OK)
        return r;
    opts.description = arg_value(a, "description");
    if (opts.description && (r = cli_check_text(cli, "description", opts.description,
                                                BSNAP_DESCRIPTION_MAX)) != EXIT_OK)
        return r;
    opts.parent_id = arg_value(a, "parent");
    opts.full = arg_flag(a, "full");
    opts.encrypted = arg_flag(a, "encrypted");
    opts.kms_key_id = arg_value(a, "kms-key-id");
    if ((r = cli_parse_tags(cli, a, true, &tags, &opts.ntags)) != EXIT_OK)
        return r;
    opts.tags = tags;
    /* nbd:CONTEXT: the dirty extents of that meta context of the NBD
     * export, read by the engine from the same connection.  A file of such
     * a name is ./nbd:... */
    if (changed && strncmp(changed, "nbd:", 4) == 0) {
        opts.changed_context = changed + 4;
        if (!opts.changed_context[0]) {
            r = output_usage_error(cli->verb, "InvalidParameterValue",
                                   "--changed-blocks nbd: needs a meta context, such as "
                                   "nbd:qemu:dirty-bitmap:NAME");
            goto out;
        }
        if (!opts.parent_id) {
            r = output_usage_error(cli->verb, "MissingParameter",
                                   "--changed-blocks %s needs --parent: the snapshot taken when "
                                   "the bitmap was created or last cleared",
                                   changed);
            goto out;
        }
        changed = NULL;
    }
    if (changed && bsnap_ranges_load(changed, &ranges, &opts.nchanged, base) < 0) {
        r = output_engine_error();
        goto out;
    }
    opts.changed = ranges;
    opts.changed_base = base;
    if ((r = cli_open_store(cli)) != EXIT_OK)
        goto out;

    progress_start(&prog, cli, "snapshot", &opts.run);
    start = progress_now_ms();
    r = bsnap_snapshot_create(cli->store, &opts, id, &stats);
    progress_end(&prog);
    if (r < 0 || bsnap_snapshot_describe_one(cli->store, id, &doc) < 0) {
        r = output_engine_error();
        goto out;
    }
    r = output_doc(cli, doc);
    if (!cli->quiet)
        print_summary(id, &stats, progress_now_ms() - start);
out:
    json_decref(doc);
    free(ranges);
    free(tags);
    return r;
}

int cli_check_users(const struct cli *cli, const char *name, const char *const *v, size_t n,
                    const char *words)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], "self") != 0 && strcmp(v[i], words) != 0 &&
            (strlen(v[i]) != 12 || strspn(v[i], "0123456789") != 12))
            return output_usage_error(cli->verb, "InvalidUserID.Malformed",
                                      "--%s: '%s' is not self, %s or a 12-digit account", name,
                                      v[i], words);
    return EXIT_OK;
}

int cli_add_user_filter(const struct cli *cli, bsnap_describe_options *o, const char *name,
                        const char *const *v, size_t n, const char ***values, bsnap_filter **f)
{
    bsnap_filter *nf;

    *values = calloc(n, sizeof **values);
    nf = calloc(o->nfilters + 1, sizeof *nf);
    if (!*values || !nf) {
        free(nf);
        return output_error_nomem();
    }
    for (size_t i = 0; i < n; i++)
        (*values)[i] = strcmp(v[i], "self") == 0 ? bsnap_store_account(cli->store) : v[i];
    if (o->nfilters)
        memcpy(nf, o->filters, o->nfilters * sizeof *nf);
    nf[o->nfilters] = (bsnap_filter){name, *values, n};
    free(*f);
    *f = nf;
    o->filters = nf;
    o->nfilters++;
    return EXIT_OK;
}

static int describe_page(bsnap_store *store, const void *ud, const bsnap_describe_options *o,
                         json_t **ret)
{
    (void)ud;
    return bsnap_snapshot_describe(store, o, ret);
}

int cmd_describe_snapshots(struct cli *cli, const struct args *a)
{
    bsnap_describe_options o;
    int r;

    size_t nowners = 0, nrest = 0;
    const char *const *owners = arg_list(a, "owner-ids", &nowners);
    const char *const *rest = arg_list(a, "restorable-by-user-ids", &nrest);
    const char **values = NULL, **rvalues = NULL;
    const bsnap_filter *given;
    bsnap_filter *f = NULL;

    if ((r = cli_describe_options(cli, a, "snapshot-ids", &o)) != EXIT_OK)
        return r;
    given = o.filters;
    if ((r = cli_check_users(cli, "owner-ids", owners, nowners, "amazon")) == EXIT_OK &&
        (r = cli_check_users(cli, "restorable-by-user-ids", rest, nrest, "all")) == EXIT_OK)
        r = cli_open_store(cli);
    /* --owner-ids is the owner-id filter, --restorable-by-user-ids the
     * restorable-by one, "self" the calling account (EC2's Owner.N and
     * RestorableBy.N). */
    if (r == EXIT_OK && nowners)
        r = cli_add_user_filter(cli, &o, "owner-id", owners, nowners, &values, &f);
    if (r == EXIT_OK && nrest)
        r = cli_add_user_filter(cli, &o, "restorable-by", rest, nrest, &rvalues, &f);
    if (r == EXIT_OK)
        r = cli_describe_paged(cli, describe_page, NULL, &o);
    free((void *)given);
    free(f);
    free(values);
    free(rvalues);
    return r;
}

/* A dry run of several deletes: each stopped by the dry run would have
 * been deleted; any other refusal is said, one line each (exit 1). */
static int dry_run_results(json_t *doc)
{
    json_t *item;
    size_t i;
    int r = EXIT_OK;

    json_array_foreach (json_object_get(doc, "DeleteSnapshotResults"), i, item) {
        json_t *e = json_object_get(item, "Error");
        const char *code = json_string_value(json_object_get(e, "Code"));
        if (!e || (code && !strcmp(code, "DryRunOperation")))
            continue;
        output_line("blocksnap: error: %s: %s (%s)",
                    json_string_value(json_object_get(item, "SnapshotId")) ?: "",
                    json_string_value(json_object_get(e, "Message")) ?: "", code ? code : "");
        r = EXIT_FAILED;
    }
    json_decref(doc);
    return r;
}

int cmd_delete_snapshot(struct cli *cli, const struct args *a)
{
    const char *one = arg_value(a, "snapshot-id");
    size_t n = 0, failed = 0;
    const char *const *ids = arg_list(a, "snapshot-ids", &n);
    json_t *doc = NULL;
    int r;

    if (!one && !n)
        return output_usage_error(cli->verb, "MissingParameter",
                                  "one of --snapshot-id or --snapshot-ids is required");
    if (one && n)
        return output_usage_error(cli->verb, "InvalidParameterCombination",
                                  "give --snapshot-id or --snapshot-ids, not both");
    if ((r = cli_open_store(cli)) != EXIT_OK)
        return r;
    if (one) {
        if (bsnap_snapshot_delete(cli->store, one) < 0)
            return output_engine_error();
        return EXIT_OK;
    }
    /* Several: each deleted or refused on its own, one result each. */
    if (bsnap_snapshot_delete_many(cli->store, ids, n, &doc, &failed) < 0)
        return output_engine_error();
    if (cli->dry_run)
        return dry_run_results(doc);
    r = output_doc(cli, doc);
    json_decref(doc);
    if (r == EXIT_OK && failed) {
        fprintf(stderr, "blocksnap: error: %zu of %zu snapshots not deleted (see their Error)\n",
                failed, n);
        r = EXIT_FAILED;
    }
    return r;
}

/* The text form of a diff: first the header that names the snapshots
 * (so that create-snapshot --changed-blocks can check the list is relative
 * to the volume's parent), then one "OFFSET LENGTH" line per range.  The
 * header waits for the first range or the end, so that a diff that fails
 * prints nothing. */
struct diff_text {
    const char *first, *second;
    bool header_done;
};

static int print_header(struct diff_text *d)
{
    if (d->header_done)
        return 0;
    d->header_done = true;
    if (printf("# blocksnap diff %s %s\n", d->first ? d->first : "-", d->second) < 0)
        return -EIO;
    return 0;
}

static int print_range(void *ud, uint64_t offset, uint64_t length)
{
    struct diff_text *d = ud;

    if (print_header(d) < 0 || printf("%" PRIu64 " %" PRIu64 "\n", offset, length) < 0)
        return -EIO;
    return 0;
}

int cmd_diff(struct cli *cli, const struct args *a)
{
    const char *first = arg_value(a, "first-snapshot-id");
    const char *second = arg_value(a, "second-snapshot-id");
    const char *format = output_format(cli, "text");
    json_t *doc = NULL;
    int r;

    if (a->npos > 0 && (first || second))
        return output_usage_error(cli->verb, "InvalidParameterCombination",
                                  "give snapshots as arguments or as options, not both");
    if (a->npos == 1) {
        second = a->pos[0];
    } else if (a->npos == 2) {
        first = a->pos[0];
        second = a->pos[1];
    }
    if (!second)
        return output_usage_error(cli->verb, "MissingParameter",
                                  first ? "missing required option --second-snapshot-id"
                                        : "no snapshot given");
    if ((r = cli_open_store(cli)) != EXIT_OK)
        return r;
    if (strcmp(format, "text") == 0) {
        struct diff_text d = {first, second, false};
        if (bsnap_snapshot_diff(cli->store, first, second, print_range, &d) < 0)
            return output_engine_error();
        print_header(&d); /* main() reports a failed write to stdout */
        return EXIT_OK;
    }
    if (bsnap_snapshot_diff_json(cli->store, first, second, &doc) < 0)
        return output_engine_error();
    r = output_doc(cli, doc);
    json_decref(doc);
    return r;
}

/* A --keep-within duration: one or more NUMBER UNIT pairs, units h, d, w, m
 * (30 days) and y (365 days): "7d", "1y6m", "36h". */
static int parse_within(const struct cli *cli, const char *text, int64_t *ret_ms)
{
    static const struct {
        char unit;
        int64_t hours;
    } units[] = {{'h', 1}, {'d', 24}, {'w', 24 * 7}, {'m', 24 * 30}, {'y', 24 * 365}};
    const char *p = text;
    int64_t ms = 0;

    while (*p) {
        char *end;
        unsigned long long n;
        size_t u;

        if (*p < '0' || *p > '9')
            break;
        errno = 0;
        n = strtoull(p, &end, 10);
        for (u = 0; u < sizeof units / sizeof *units && units[u].unit != *end; u++)
            ;
        if (errno || u == sizeof units / sizeof *units || n > 1000000)
            break;
        ms += (int64_t)n * units[u].hours * 3600000;
        p = end + 1;
    }
    if (*p || p == text || ms == 0)
        return output_usage_error(cli->verb, "InvalidParameterValue",
                                  "--keep-within: '%s' is not a duration such as 7d, 2w, 1y6m "
                                  "or 36h (units h, d, w, m, y)",
                                  text);
    *ret_ms = ms;
    return EXIT_OK;
}

int cmd_prune_snapshots(struct cli *cli, const struct args *a)
{
    static const char *const names[] = {"keep-last",   "keep-hourly",  "keep-daily",
                                        "keep-weekly", "keep-monthly", "keep-yearly"};
    bsnap_retention rules = {0};
    uint32_t *counts[] = {&rules.last,   &rules.hourly,  &rules.daily,
                          &rules.weekly, &rules.monthly, &rules.yearly};
    const char *within = arg_value(a, "keep-within");
    json_t *doc = NULL;
    size_t failed = 0;
    int r;

    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *v = arg_value(a, names[i]);
        unsigned n;
        if (v && (r = arg_uint(cli->verb, names[i], v, 0, 1000000, &n)) != EXIT_OK)
            return r;
        if (v)
            *counts[i] = n;
    }
    if (within && (r = parse_within(cli, within, &rules.within_ms)) != EXIT_OK)
        return r;
    if (!rules.last && !rules.hourly && !rules.daily && !rules.weekly && !rules.monthly &&
        !rules.yearly && !rules.within_ms)
        return output_usage_error(cli->verb, "MissingParameter",
                                  "at least one of --keep-last, --keep-hourly, --keep-daily, "
                                  "--keep-weekly, --keep-monthly, --keep-yearly (above 0) or "
                                  "--keep-within is required");
    if ((r = cli_open_store(cli)) != EXIT_OK)
        return r;
    if (bsnap_snapshot_prune(cli->store, arg_value(a, "volume-id"), &rules, arg_flag(a, "dry-run"),
                             &doc, &failed) < 0)
        return output_engine_error();
    r = output_doc(cli, doc);
    json_decref(doc);
    if (r == EXIT_OK && failed) {
        fprintf(stderr, "blocksnap: error: %zu snapshot%s could not be deleted (see Error)\n",
                failed, failed == 1 ? "" : "s");
        r = EXIT_FAILED;
    }
    return r;
}

/* describe-snapshot-usage's byte counts, which text and table show for
 * people */
static const char *const usage_sizes[] = {"VolumeBytes",
                                          "DataBytes",
                                          "ReferencedBytes",
                                          "ReferencedStoredBytes",
                                          "ExclusiveBytes",
                                          "ExclusiveStoredBytes",
                                          NULL};

/* A verb of its own, not fields of describe-snapshots: each snapshot costs
 * a read of its whole block map, and describe-snapshots stays fast. */
/* One snapshot's usage as its describe-snapshot-usage object. */
static int snapshot_usage_doc(bsnap_store *store, const char *id, json_t **ret)
{
    bsnap_snapshot_usage u;

    if (bsnap_snapshot_get_usage(store, id, &u) < 0)
        return -1;
    *ret =
        json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "SnapshotId", u.snapshot_id,
                  "VolumeId", u.volume_id, "VolumeBytes", (json_int_t)u.volume_bytes, "DataBytes",
                  (json_int_t)u.data_bytes, "ReferencedChunks", (json_int_t)u.referenced_chunks,
                  "ReferencedBytes", (json_int_t)u.referenced_bytes, "ReferencedStoredBytes",
                  (json_int_t)u.referenced_stored_bytes, "ExclusiveChunks",
                  (json_int_t)u.exclusive_chunks, "ExclusiveBytes", (json_int_t)u.exclusive_bytes,
                  "ExclusiveStoredBytes", (json_int_t)u.exclusive_stored_bytes);
    return 0;
}

int cmd_describe_snapshot_usage(struct cli *cli, const struct args *a)
{
    size_t n = 0;
    const char *const *ids = arg_list(a, "snapshot-ids", &n);

    return cli_usage_verb(cli, ids, n, "SnapshotUsages", snapshot_usage_doc, usage_sizes);
}
