/* cmd-rbin.c - the Recycle Bin: `aws rbin`'s create-rule, get-rule,
 * list-rules, update-rule and delete-rule, and `aws ec2`'s
 * list-snapshots-in-recycle-bin and restore-snapshot-from-recycle-bin. */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

#define RULE_OPTS                                                                                \
    {"retention-period", OPT_VALUE, "PERIOD",                                                    \
     "RetentionPeriodValue=N,RetentionPeriodUnit=DAYS (1 to 365 days)", false},                  \
        {"description", OPT_VALUE, "TEXT", "up to 500 letters, digits, spaces, _ and -", false}, \
    {                                                                                            \
        "resource-tags", OPT_LIST, "ResourceTagKey=K,ResourceTagValue=V",                        \
            "only snapshots with one of these tags (default: every one)", false                  \
    }

const struct opt create_rule_options[] = {
    {"resource-type", OPT_VALUE, "TYPE", "EBS_SNAPSHOT", true},
    RULE_OPTS,
    {NULL, 0, NULL, NULL, false},
};
const struct opt update_rule_options[] = {
    {"identifier", OPT_VALUE, "ID", "the rule", true},
    {"resource-type", OPT_VALUE, "TYPE", "EBS_SNAPSHOT", false},
    RULE_OPTS,
    {NULL, 0, NULL, NULL, false},
};
const struct opt rule_id_options[] = {
    {"identifier", OPT_VALUE, "ID", "the rule", true},
    {NULL, 0, NULL, NULL, false},
};
const struct opt list_rules_options[] = {
    {"resource-type", OPT_VALUE, "TYPE", "EBS_SNAPSHOT", true},
    {"resource-tags", OPT_LIST, "ResourceTagKey=K,ResourceTagValue=V",
     "only the rules with exactly these tags", false},
    {NULL, 0, NULL, NULL, false},
};
const struct opt list_bin_options[] = {
    {"snapshot-ids", OPT_LIST, "ID", "only these snapshots", false},
    {NULL, 0, NULL, NULL, false},
};
const struct opt restore_bin_options[] = {
    {"snapshot-id", OPT_VALUE, "ID", "the snapshot to bring back", true},
    {NULL, 0, NULL, NULL, false},
};

/* The value of NAME in "A=x,NAME=y" (borrowed into @buf), or NULL. */
static const char *field(const char *text, const char *name, char *buf, size_t cap)
{
    size_t n = strlen(name);

    for (const char *p = text; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            const char *end = strchr(p + n + 1, ',');
            size_t len = end ? (size_t)(end - p - n - 1) : strlen(p + n + 1);
            if (len >= cap)
                len = cap - 1;
            memcpy(buf, p + n + 1, len);
            buf[len] = '\0';
            return buf;
        }
    }
    return NULL;
}

/* --retention-period: shorthand or JSON. */
static int parse_period(const struct cli *cli, const char *text, bsnap_rbin_rule_options *o,
                        char unit[16])
{
    char value[16];
    const char *v = NULL, *u = NULL;
    unsigned n;
    int r;

    if (text[0] == '{') {
        json_t *doc = json_loads(text, 0, NULL);
        json_t *jv = json_object_get(doc, "RetentionPeriodValue");
        if (json_is_integer(jv) && json_integer_value(jv) > 0 && json_integer_value(jv) < 100000)
            snprintf(value, sizeof value, "%lld", (long long)json_integer_value(jv));
        else
            value[0] = '\0';
        v = value[0] ? value : NULL;
        if (json_is_string(json_object_get(doc, "RetentionPeriodUnit")))
            snprintf(unit, 16, "%s",
                     json_string_value(json_object_get(doc, "RetentionPeriodUnit")));
        else
            unit[0] = '\0';
        u = unit[0] ? unit : NULL;
        json_decref(doc);
    } else {
        v = field(text, "RetentionPeriodValue", value, sizeof value);
        u = field(text, "RetentionPeriodUnit", unit, 16);
    }
    if (!v || !u)
        return output_usage_error(cli->verb, "InvalidParameterValue",
                                  "--retention-period: '%s' is not "
                                  "RetentionPeriodValue=N,RetentionPeriodUnit=DAYS",
                                  text);
    if ((r = arg_uint(cli->verb, "retention-period", v, 1, 100000, &n)) != EXIT_OK)
        return r;
    o->retention_days = n;
    o->retention_unit = u;
    return EXIT_OK;
}

/* --resource-tags: each ResourceTagKey=K[,ResourceTagValue=V], into @tags
 * (whose strings are malloc'd into @bufs, freed by the caller). */
static int parse_tags(const struct cli *cli, const struct args *a, bsnap_tag **ret, size_t *ret_n,
                      char **ret_bufs)
{
    size_t n;
    const char *const *items = arg_list(a, "resource-tags", &n);
    bsnap_tag *tags;
    char *bufs;

    *ret = NULL;
    *ret_n = 0;
    *ret_bufs = NULL;
    if (!n)
        return EXIT_OK;
    tags = calloc(n, sizeof *tags);
    bufs = calloc(n, 2 * 260);
    if (!tags || !bufs) {
        free(tags);
        free(bufs);
        return output_usage_error(cli->verb, "InternalError", "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        char *k = bufs + i * 520, *v = k + 260;
        tags[i].key = field(items[i], "ResourceTagKey", k, 260);
        tags[i].value = field(items[i], "ResourceTagValue", v, 260);
        if (!tags[i].key) {
            free(tags);
            free(bufs);
            return output_usage_error(cli->verb, "InvalidParameterValue",
                                      "--resource-tags: '%s' is not "
                                      "ResourceTagKey=K[,ResourceTagValue=V]",
                                      items[i]);
        }
    }
    *ret = tags;
    *ret_n = n;
    *ret_bufs = bufs;
    return EXIT_OK;
}

static int rule_options(const struct cli *cli, const struct args *a, bsnap_rbin_rule_options *o,
                        char unit[16], char **ret_bufs)
{
    const char *period = arg_value(a, "retention-period");
    bsnap_tag *tags;
    int r;

    o->resource_type = arg_value(a, "resource-type");
    o->description = arg_value(a, "description");
    if (period && (r = parse_period(cli, period, o, unit)) != EXIT_OK)
        return r;
    if ((r = parse_tags(cli, a, &tags, &o->nresource_tags, ret_bufs)) != EXIT_OK)
        return r;
    o->resource_tags = tags;
    o->resource_tags_set = o->nresource_tags > 0;
    return EXIT_OK;
}

int cmd_create_rule(struct cli *cli, const struct args *a)
{
    bsnap_rbin_rule_options o = {0};
    char unit[16], *bufs = NULL;
    json_t *doc = NULL;
    int r;

    if (!arg_value(a, "retention-period"))
        return output_usage_error(cli->verb, "MissingParameter",
                                  "--retention-period is required: "
                                  "RetentionPeriodValue=N,RetentionPeriodUnit=DAYS");
    if ((r = rule_options(cli, a, &o, unit, &bufs)) == EXIT_OK &&
        (r = cli_open_store(cli)) == EXIT_OK) {
        r = bsnap_rbin_rule_create(cli->store, &o, &doc);
        r = output_answer(cli, r, doc);
    }
    free((void *)o.resource_tags);
    free(bufs);
    return r;
}

int cmd_update_rule(struct cli *cli, const struct args *a)
{
    bsnap_rbin_rule_options o = {0};
    char unit[16], *bufs = NULL;
    json_t *doc = NULL;
    int r;

    if ((r = rule_options(cli, a, &o, unit, &bufs)) == EXIT_OK &&
        (r = cli_open_store(cli)) == EXIT_OK) {
        r = bsnap_rbin_rule_update(cli->store, arg_value(a, "identifier"), &o, &doc);
        r = output_answer(cli, r, doc);
    }
    free((void *)o.resource_tags);
    free(bufs);
    return r;
}

int cmd_get_rule(struct cli *cli, const struct args *a)
{
    return cli_id_call(cli, a, "identifier", bsnap_rbin_rule_get);
}

int cmd_delete_rule(struct cli *cli, const struct args *a)
{
    return cli_id_call(cli, a, "identifier", bsnap_rbin_rule_delete);
}

int cmd_list_rules(struct cli *cli, const struct args *a)
{
    bsnap_tag *tags = NULL;
    size_t n = 0;
    char *bufs = NULL;
    json_t *doc = NULL;
    int r;

    if ((r = parse_tags(cli, a, &tags, &n, &bufs)) == EXIT_OK &&
        (r = cli_open_store(cli)) == EXIT_OK) {
        r = bsnap_rbin_rules_list(cli->store, arg_value(a, "resource-type"), tags, n, &doc);
        r = output_answer(cli, r, doc);
    }
    free(tags);
    free(bufs);
    return r;
}

int cmd_list_snapshots_in_recycle_bin(struct cli *cli, const struct args *a)
{
    size_t n;
    const char *const *ids = arg_list(a, "snapshot-ids", &n);
    json_t *doc = NULL;
    int r;

    if ((r = cli_open_store(cli)) != EXIT_OK)
        return r;
    r = bsnap_rbin_snapshots_list(cli->store, ids, n, &doc);
    return output_answer(cli, r, doc);
}

int cmd_restore_snapshot_from_recycle_bin(struct cli *cli, const struct args *a)
{
    return cli_id_call(cli, a, "snapshot-id", bsnap_rbin_snapshot_restore);
}
