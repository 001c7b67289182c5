/* complete.c - `blocksnap __complete WORD...`: what the shell completion
 * scripts (dist/completion/) offer for the last of the words of a command
 * line (the ones after "blocksnap", the last one the word being typed).
 *
 * It walks the words as options_parse() would (an option that takes a value
 * takes the next word, a list option the words up to the next option; the
 * first other word is the verb) and prints one candidate a line: the verbs;
 * the options of the verb and the global ones; or, for the value of an
 * option that names a resource (--snapshot-id, --image-ids, --parent, ...),
 * the ids of that kind read from the store the words name (--store,
 * --region, --profile, as the verb would).  It exits 3 when file names are
 * what fits (a PATH, FILE, DIR or MOUNTPOINT).  It never prints an error:
 * a missing or unreadable store completes nothing.  Hidden: not in the
 * help, for the scripts only.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

#define EXIT_FILES 3

enum id_kind {
    IDS_NONE,
    IDS_SNAPSHOT,
    IDS_VOLUME,
    IDS_IMAGE,
    IDS_TEMPLATE,
    IDS_POLICY,
    IDS_RULE,
    IDS_BIN, /* snapshots in the Recycle Bin */
    IDS_INSTANCE,
    IDS_ANY
};

static const struct opt *lookup(const struct opt *table, const char *name, size_t len)
{
    for (int i = 0; table && table[i].name; i++)
        if (strlen(table[i].name) == len && strncmp(table[i].name, name, len) == 0)
            return &table[i];
    return NULL;
}

static enum id_kind kind_of(const struct opt *o)
{
    const char *n = o->name;

    /* the Recycle Bin's verbs name the snapshots in it */
    if (o == restore_bin_options || o == list_bin_options)
        return IDS_BIN;
    if (strcmp(n, "parent") == 0 || strstr(n, "snapshot-id"))
        return IDS_SNAPSHOT;
    if (strstr(n, "volume-id"))
        return IDS_VOLUME;
    if (strstr(n, "image-id"))
        return IDS_IMAGE;
    if (strstr(n, "launch-template-id"))
        return IDS_TEMPLATE;
    if (strstr(n, "policy-id"))
        return IDS_POLICY;
    if (strstr(n, "instance-id"))
        return IDS_INSTANCE;
    if (strcmp(n, "identifier") == 0)
        return IDS_RULE;
    if (strcmp(n, "resources") == 0)
        return IDS_ANY;
    return IDS_NONE;
}

static bool names_files(const struct opt *o)
{
    static const char *const metavars[] = {"PATH", "FILE", "DIR", "MOUNTPOINT", NULL};

    for (int i = 0; metavars[i]; i++)
        if (o->metavar && strcmp(o->metavar, metavars[i]) == 0)
            return true;
    return false;
}

static void print_doc_ids(json_t *doc, const char *list, const char *field)
{
    json_t *item;
    size_t i;

    json_array_foreach (json_object_get(doc, list), i, item)
        printf("%s\n", json_string_value(json_object_get(item, field)) ?: "");
    json_decref(doc);
}

static void print_ids(struct cli *cli, enum id_kind kind)
{
    json_t *doc;
    size_t n = 0;

    if (cli_settings_load(cli) != EXIT_OK || cli_store_path(cli) != EXIT_OK ||
        bsnap_store_open(cli->store_path, BSNAP_STORE_RDONLY, NULL, &cli->store) < 0)
        return;
    if (cli->account && bsnap_store_set_account(cli->store, cli->account) < 0)
        return;
    {
        /* the Recycle Bin's clock, as the verbs read it */
        const char *now = getenv("BLOCKSNAP_NOW");
        int64_t ms;
        if (now && cli_time_value(now, &ms))
            bsnap_store_set_clock(cli->store, ms);
    }
    if (kind == IDS_SNAPSHOT || kind == IDS_ANY) {
        char(*ids)[BSNAP_ID_MAX] = NULL;

        /* ids only: no record decoded in full (issue 22: 100 ms at 10,000) */
        if (bsnap_snapshot_ids(cli->store, true, &ids, &n) == 0)
            for (size_t i = 0; i < n; i++)
                printf("%s\n", ids[i]);
        free(ids);
    }
    if (kind == IDS_IMAGE || kind == IDS_ANY) {
        bsnap_image_info *im = NULL;

        if (bsnap_image_list(cli->store, &im, &n) == 0)
            for (size_t i = 0; i < n; i++)
                printf("%s\n", im[i].id);
        free(im);
    }
    if ((kind == IDS_VOLUME || kind == IDS_ANY) &&
        bsnap_volume_describe(cli->store, NULL, &doc) == 0)
        print_doc_ids(doc, "Volumes", "VolumeId");
    if (kind == IDS_INSTANCE && bsnap_instance_describe(cli->store, NULL, &doc) == 0) {
        json_t *res;
        size_t i;
        json_array_foreach (json_object_get(doc, "Reservations"), i, res)
            print_doc_ids(json_incref(res), "Instances", "InstanceId");
        json_decref(doc);
        doc = NULL;
    }
    if (kind == IDS_TEMPLATE && bsnap_template_describe(cli->store, NULL, NULL, 0, &doc) == 0)
        print_doc_ids(doc, "LaunchTemplates", "LaunchTemplateId");
    if (kind == IDS_POLICY && bsnap_lifecycle_policies_get(cli->store, NULL, &doc) == 0)
        print_doc_ids(doc, "Policies", "PolicyId");
    if (kind == IDS_RULE && bsnap_rbin_rules_list(cli->store, "EBS_SNAPSHOT", NULL, 0, &doc) == 0)
        print_doc_ids(doc, "Rules", "Identifier");
    if (kind == IDS_BIN && bsnap_rbin_snapshots_list(cli->store, NULL, 0, &doc) == 0)
        print_doc_ids(doc, "Snapshots", "SnapshotId");
}

static void print_options(const struct opt *table)
{
    for (int i = 0; table && table[i].name; i++)
        printf("--%s\n", table[i].name);
}

int cmd_complete(struct cli *cli, int argc, char **argv)
{
    const struct verb *verb = NULL;
    const struct opt *pending = NULL, *list = NULL, *o;
    bool help = false;
    int null, last = argc - 1;

    /* Whatever goes wrong, the shell shows nothing of it. */
    if ((null = open("/dev/null", O_WRONLY | O_CLOEXEC)) >= 0) {
        dup2(null, STDERR_FILENO);
        close(null);
    }
    bsnap_set_log_func(NULL, NULL);
    for (int i = 0; i < last; i++) {
        const char *w = argv[i];
        size_t len;

        if (pending) {
            if (strcmp(pending->name, "store") == 0)
                cli->store_dir = w;
            else if (strcmp(pending->name, "region") == 0)
                cli->region = w;
            else if (strcmp(pending->name, "profile") == 0)
                cli->profile = w;
            pending = NULL;
            continue;
        }
        if (strncmp(w, "--", 2) == 0 && w[2]) {
            len = strcspn(w + 2, "=");
            list = NULL;
            if (!(o = lookup(verb ? verb->opts : NULL, w + 2, len)) &&
                !(o = lookup(global_options, w + 2, len)))
                continue;
            if (o->kind == OPT_LIST)
                list = o;
            if (o->kind != OPT_FLAG && !w[2 + len])
                pending = o;
            continue;
        }
        if (list || verb || help)
            continue; /* a list's item, or a positional argument */
        if (strcmp(w, "help") == 0)
            help = true;
        else if (!(verb = find_verb(w)))
            return EXIT_OK; /* not a verb: nothing fits after it */
    }
    if (!pending && list && (last < 0 || strncmp(argv[last], "-", 1) != 0))
        pending = list;
    if (pending) {
        enum id_kind kind = kind_of(pending);

        if (kind != IDS_NONE)
            print_ids(cli, kind);
        return names_files(pending) ? EXIT_FILES : EXIT_OK;
    }
    if (help || !verb) {
        for (const struct verb *v = verbs; v->name; v++)
            printf("%s\n", v->name);
        if (!help) {
            printf("help\n");
            print_options(global_options);
        }
        return EXIT_OK;
    }
    print_options(verb->opts);
    print_options(global_options);
    if (verb->max_positional > 0 && (last < 0 || argv[last][0] != '-'))
        return EXIT_FILES;
    return EXIT_OK;
}
