/* cmd-lifecycle.c - lifecycle policies, as `aws dlm` has them:
 * create-lifecycle-policy, get-lifecycle-policies, get-lifecycle-policy,
 * update-lifecycle-policy, delete-lifecycle-policy, and
 * run-lifecycle-policies (blocksnap's: what a timer calls). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"

#define POLICY_OPTS                                                                          \
    {"description", OPT_VALUE, "TEXT", "up to 500 letters, digits, spaces, _ and -", false}, \
        {"state", OPT_VALUE, "STATE", "ENABLED or DISABLED", false},                         \
        {"execution-role-arn", OPT_VALUE, "ARN", "recorded and shown, not used", false},     \
    {                                                                                        \
        "policy-details", OPT_VALUE, "JSON", "targets and schedules, or file://PATH", false  \
    }

const struct opt create_policy_options[] = {
    POLICY_OPTS,
    {NULL, 0, NULL, NULL, false},
};
const struct opt update_policy_options[] = {
    {"policy-id", OPT_VALUE, "ID", "the policy (policy-...)", true},
    POLICY_OPTS,
    {NULL, 0, NULL, NULL, false},
};
const struct opt get_policies_options[] = {
    {"policy-ids", OPT_LIST, "ID", "only these policies", false},
    {"state", OPT_VALUE, "STATE", "only those ENABLED, DISABLED or in ERROR", false},
    {"resource-types", OPT_LIST, "TYPE", "only those of these resource types (VOLUME)", false},
    {"target-tags", OPT_LIST, "KEY=VALUE", "only those targeting one of these tags", false},
    {"tags-to-add", OPT_LIST, "KEY=VALUE", "only those adding one of these tags", false},
    {NULL, 0, NULL, NULL, false},
};
const struct opt policy_id_options[] = {
    {"policy-id", OPT_VALUE, "ID", "the policy (policy-...)", true},
    {NULL, 0, NULL, NULL, false},
};
const struct opt run_policies_options[] = {
    {"policy-ids", OPT_LIST, "ID", "only these policies (default: every enabled one)", false},
    {"now", OPT_VALUE, "TIME", "run as at this UTC time, 2026-12-07T10:00:00Z (a fake clock)",
     false},
    {NULL, 0, NULL, NULL, false},
};

/* The options create and update share; @ret_buf holds a file:// text. */
static int policy_options(const struct args *a, bsnap_lifecycle_policy_options *o, char **ret_buf)
{
    o->description = arg_value(a, "description");
    o->state = arg_value(a, "state");
    o->execution_role_arn = arg_value(a, "execution-role-arn");
    return cli_input_text("policy-details", arg_value(a, "policy-details"), ret_buf,
                          &o->policy_details);
}

int cmd_create_lifecycle_policy(struct cli *cli, const struct args *a)
{
    bsnap_lifecycle_policy_options o = {0};
    char *buf = NULL;
    json_t *doc = NULL;
    int r;

    if (!arg_value(a, "description") || !arg_value(a, "state") || !arg_value(a, "policy-details"))
        return output_usage_error(cli->verb, "MissingParameter",
                                  "--description, --state and --policy-details are required");
    if ((r = policy_options(a, &o, &buf)) == EXIT_OK && (r = cli_open_store(cli)) == EXIT_OK) {
        r = bsnap_lifecycle_policy_create(cli->store, &o, &doc);
        r = output_answer(cli, r, doc);
    }
    free(buf);
    return r;
}

int cmd_update_lifecycle_policy(struct cli *cli, const struct args *a)
{
    bsnap_lifecycle_policy_options o = {0};
    char *buf = NULL;
    json_t *doc = NULL;
    int r;

    if ((r = policy_options(a, &o, &buf)) == EXIT_OK && (r = cli_open_store(cli)) == EXIT_OK) {
        r = bsnap_lifecycle_policy_update(cli->store, arg_value(a, "policy-id"), &o, &doc);
        r = output_answer(cli, r, doc);
    }
    free(buf);
    return r;
}

int cmd_delete_lifecycle_policy(struct cli *cli, const struct args *a)
{
    return cli_id_call(cli, a, "policy-id", bsnap_lifecycle_policy_delete);
}

int cmd_get_lifecycle_policy(struct cli *cli, const struct args *a)
{
    return cli_id_call(cli, a, "policy-id", bsnap_lifecycle_policy_get);
}

int cmd_get_lifecycle_policies(struct cli *cli, const struct args *a)
{
    bsnap_lifecycle_filter f = {0};
    json_t *doc = NULL;
    int r;

    f.policy_ids = arg_list(a, "policy-ids", &f.npolicy_ids);
    f.state = arg_value(a, "state");
    f.resource_types = arg_list(a, "resource-types", &f.nresource_types);
    f.target_tags = arg_list(a, "target-tags", &f.ntarget_tags);
    f.tags_to_add = arg_list(a, "tags-to-add", &f.ntags_to_add);
    if ((r = cli_open_store(cli)) != EXIT_OK)
        return r;
    r = bsnap_lifecycle_policies_get(cli->store, &f, &doc);
    return output_answer(cli, r, doc);
}

bool cli_time_value(const char *text, int64_t *ret_ms)
{
    struct tm tm = {0};
    int ms = 0, n = 0, len = (int)strlen(text);
    char frac[4] = "";

    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6 ||
        n != 19)
        return false;
    if (text[n] == '.' && sscanf(text + n, ".%3[0-9]%n", frac, &len) == 1 && strlen(frac) == 3) {
        ms = atoi(frac);
        n += 4;
    }
    if (strcmp(text + n, "Z") != 0 || tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
        tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *ret_ms = (int64_t)timegm(&tm) * 1000 + ms;
    return true;
}

int cli_parse_time(const struct cli *cli, const char *what, const char *text, int64_t *ret_ms)
{
    if (!cli_time_value(text, ret_ms))
        return output_usage_error(cli->verb, "InvalidParameterValue",
                                  "%s: '%s' is not a UTC time such as 2026-12-07T10:00:00Z", what,
                                  text);
    return EXIT_OK;
}

int cmd_run_lifecycle_policies(struct cli *cli, const struct args *a)
{
    const char *now = arg_value(a, "now");
    size_t n, failed = 0;
    const char *const *ids = arg_list(a, "policy-ids", &n);
    int64_t now_ms = 0;
    json_t *doc = NULL;
    int r;

    if (now && (r = cli_parse_time(cli, "--now", now, &now_ms)) != EXIT_OK)
        return r;
    if ((r = cli_open_store(cli)) != EXIT_OK)
        return r;
    if (bsnap_lifecycle_run(cli->store, ids, n, now_ms, &doc, &failed) < 0)
        return output_engine_error();
    r = output_doc(cli, doc);
    json_decref(doc);
    if (r == EXIT_OK && failed) {
        fprintf(stderr, "blocksnap: error: %zu lifecycle action%s failed (see Error)\n", failed,
                failed == 1 ? "" : "s");
        r = EXIT_FAILED;
    }
    return r;
}
