/* cmd-keys.c - the KMS analogue: create-key, describe-key, list-keys,
 * enable-key, disable-key, schedule-key-deletion, cancel-key-deletion,
 * create-alias, delete-alias, list-aliases, create-grant, list-grants,
 * revoke-grant, retire-grant, and EC2's EBS encryption settings
 * (encryption by default, the default key). */
#include <stdlib.h>

#include "cmd.h"

const struct opt create_key_options[] = {
    {"description", OPT_VALUE, "TEXT", "description, at most 8192 characters", false},
    {"passphrase", OPT_FLAG, NULL, "derive the key from $BLOCKSNAP_KEY_PASSPHRASE, no key file",
     false},
    {"tags", OPT_LIST, "TAG", "TagKey=K,TagValue=V (or JSON), at most 50", false},
    {NULL, 0, NULL, NULL, false},
};
const struct opt tag_resource_options[] = {
    {"key-id", OPT_VALUE, "KEY", "key id, key ARN, alias name or alias ARN", true},
    {"tags", OPT_LIST, "TAG", "TagKey=K,TagValue=V (or JSON), at most 50", true},
    {NULL, 0, NULL, NULL, false},
};
const struct opt untag_resource_options[] = {
    {"key-id", OPT_VALUE, "KEY", "key id, key ARN, alias name or alias ARN", true},
    {"tag-keys", OPT_LIST, "KEY", "the tag keys to remove", true},
    {NULL, 0, NULL, NULL, false},
};
const struct opt key_id_options[] = {
    {"key-id", OPT_VALUE, "KEY", "key id, key ARN, alias name or alias ARN", true},
    {NULL, 0, NULL, NULL, false},
};
const struct opt list_aliases_options[] = {
    {"key-id", OPT_VALUE, "KEY", "only the aliases of this key", false},
    {NULL, 0, NULL, NULL, false},
};
const struct opt create_alias_options[] = {
    {"alias-name", OPT_VALUE, "alias/NAME", "the new alias (not under alias/aws/)", true},
    {"target-key-id", OPT_VALUE, "KEY", "the key it names (key id or ARN, or an alias)", true},
    {NULL, 0, NULL, NULL, false},
};
const struct opt delete_alias_options[] = {
    {"alias-name", OPT_VALUE, "alias/NAME", "the alias to delete", true},
    {NULL, 0, NULL, NULL, false},
};
const struct opt modify_default_key_options[] = {
    {"kms-key-id", OPT_VALUE, "KEY", "key id, key ARN, alias name or alias ARN", true},
    {NULL, 0, NULL, NULL, false},
};

const struct opt schedule_key_deletion_options[] = {
    {"key-id", OPT_VALUE, "KEY", "key id, key ARN, alias name or alias ARN", true},
    {"pending-window-in-days", OPT_VALUE, "DAYS", "days until it is deleted, 7 to 30 (30)", false},
    {"force", OPT_FLAG, NULL, "delete it then even if snapshots still need it", false},
    {NULL, 0, NULL, NULL, false},
};
const struct opt create_grant_options[] = {
    {"key-id", OPT_VALUE, "KEY", "the key (another account's by its key ARN)", true},
    {"grantee-principal", OPT_VALUE, "ACCOUNT", "12 digits or arn:aws:iam::ACCOUNT:root", true},
    {"operations", OPT_LIST, "OP", "Decrypt, Encrypt, GenerateDataKey, DescribeKey, ...", true},
    {"retiring-principal", OPT_VALUE, "ACCOUNT", "an account that may retire the grant", false},
    {"name", OPT_VALUE, "NAME", "asked for again, the same grant is answered", false},
    {NULL, 0, NULL, NULL, false},
};
const struct opt list_grants_options[] = {
    {"key-id", OPT_VALUE, "KEY", "key id, key ARN, alias name or alias ARN", true},
    {"grant-id", OPT_VALUE, "ID", "only this grant", false},
    {"grantee-principal", OPT_VALUE, "ACCOUNT", "only the grants to this account", false},
    {NULL, 0, NULL, NULL, false},
};
const struct opt revoke_grant_options[] = {
    {"key-id", OPT_VALUE, "KEY", "key id, key ARN, alias name or alias ARN", true},
    {"grant-id", OPT_VALUE, "ID", "the grant", true},
    {NULL, 0, NULL, NULL, false},
};
const struct opt retire_grant_options[] = {
    {"grant-token", OPT_VALUE, "TOKEN", "the grant's token", false},
    {"key-id", OPT_VALUE, "KEY", "the key's ARN, with --grant-id", false},
    {"grant-id", OPT_VALUE, "ID", "the grant, with --key-id", false},
    {NULL, 0, NULL, NULL, false},
};

/* Print @doc (taking it) when the call @r succeeded. */
static int answer(const struct cli *cli, int r, json_t *doc)
{
    if (r < 0)
        return output_engine_error();
    r = doc ? output_doc(cli, doc) : EXIT_OK;
    json_decref(doc);
    return r;
}

/* --tags in KMS's form (TagKey=K,TagValue=V): a usage error when
 * malformed. */
static int kms_tags(const struct cli *cli, const struct args *a, bsnap_tag **ret, size_t *ret_n)
{
    size_t nargs;
    const char *const *args = arg_list(a, "tags", &nargs);

    *ret = NULL;
    *ret_n = 0;
    if (nargs && bsf_kms_tags_parse(args, nargs, ret, ret_n) < 0)
        return output_usage_error(cli->verb, bsf_last_error()->code, "--tags: %s",
                                  bsf_last_error()->message);
    return EXIT_OK;
}

int cmd_create_key(struct cli *cli, const struct args *a)
{
    bsnap_key_options o = {.description = arg_value(a, "description"),
                           .passphrase = arg_flag(a, "passphrase")};
    bsnap_tag *tags = NULL;
    json_t *doc = NULL;
    int r = kms_tags(cli, a, &tags, &o.ntags);

    o.tags = tags;
    if (r == EXIT_OK && (r = cli_open_store(cli)) == EXIT_OK) {
        r = bsnap_key_create(cli->store, &o, &doc);
        r = answer(cli, r, doc);
    }
    free(tags);
    return r;
}

int cmd_tag_resource(struct cli *cli, const struct args *a)
{
    bsnap_tag *tags = NULL;
    size_t n = 0;
    int r = kms_tags(cli, a, &tags, &n);

    if (r == EXIT_OK && (r = cli_open_store(cli)) == EXIT_OK) {
        r = bsnap_key_tag(cli->store, arg_value(a, "key-id"), tags, n);
        r = answer(cli, r, NULL);
    }
    free(tags);
    return r;
}

int cmd_untag_resource(struct cli *cli, const struct args *a)
{
    size_t n;
    const char *const *keys = arg_list(a, "tag-keys", &n);
    int r = cli_open_store(cli);

    if (r != EXIT_OK)
        return r;
    return answer(cli, bsnap_key_untag(cli->store, arg_value(a, "key-id"), keys, n), NULL);
}

int cmd_list_resource_tags(struct cli *cli, const struct args *a)
{
    json_t *doc = NULL;
    int r = cli_open_store(cli);

    if (r != EXIT_OK)
        return r;
    r = bsnap_key_tags_list(cli->store, arg_value(a, "key-id"), &doc);
    return answer(cli, r, doc);
}

int cmd_describe_key(struct cli *cli, const struct args *a)
{
    json_t *doc = NULL;
    int r = cli_open_store(cli);

    if (r != EXIT_OK)
        return r;
    r = bsnap_key_describe(cli->store, arg_value(a, "key-id"), &doc);
    return answer(cli, r, doc);
}

int cmd_list_keys(struct cli *cli, const struct args *a)
{
    json_t *doc = NULL;
    int r = cli_open_store(cli);

    (void)a;
    if (r != EXIT_OK)
        return r;
    r = bsnap_key_list(cli->store, &doc);
    return answer(cli, r, doc);
}

static int set_enabled(struct cli *cli, const struct args *a, bool on)
{
    int r = cli_open_store(cli);

    if (r != EXIT_OK)
        return r;
    r = bsnap_key_set_enabled(cli->store, arg_value(a, "key-id"), on);
    return answer(cli, r, NULL);
}

int cmd_enable_key(struct cli *cli, const struct args *a)
{
    return set_enabled(cli, a, true);
}

int cmd_disable_key(struct cli *cli, const struct args *a)
{
    return set_enabled(cli, a, false);
}

int cmd_schedule_key_deletion(struct cli *cli, const struct args *a)
{
    const char *days = arg_value(a, "pending-window-in-days");
    unsigned n = 0;
    json_t *doc = NULL;
    int r;

    /* the range is the engine's to check: its error names the parameter */
    if (days && (r = arg_uint(cli->verb, "pending-window-in-days", days, 1, 365, &n)) != EXIT_OK)
        return r;
    if ((r = cli_open_store(cli)) != EXIT_OK)
        return r;
    r = bsnap_key_deletion_schedule(cli->store, arg_value(a, "key-id"), n, arg_flag(a, "force"),
                                    &doc);
    return answer(cli, r, doc);
}

int cmd_cancel_key_deletion(struct cli *cli, const struct args *a)
{
    json_t *doc = NULL;
    int r = cli_open_store(cli);

    if (r != EXIT_OK)
        return r;
    r = bsnap_key_deletion_cancel(cli->store, arg_value(a, "key-id"), &doc);
    return answer(cli, r, doc);
}

int cmd_create_grant(struct cli *cli, const struct args *a)
{
    bsnap_grant_options o = {.key_id = arg_value(a, "key-id"),
                             .grantee_principal = arg_value(a, "grantee-principal"),
                             .retiring_principal = arg_value(a, "retiring-principal"),
                             .name = arg_value(a, "name")};
    json_t *doc = NULL;
    int r = cli_open_store(cli);

    if (r != EXIT_OK)
        return r;
    o.operations = arg_list(a, "operations", &o.noperations);
    r = bsnap_grant_create(cli->store, &o, &doc);
    return answer(cli, r, doc);
}

int cmd_list_grants(struct cli *cli, const struct args *a)
{
    json_t *doc = NULL;
    int r = cli_open_store(cli);

    if (r != EXIT_OK)
        return r;
    r = bsnap_grant_list(cli->store, arg_value(a, "key-id"), arg_value(a, "grant-id"),
                         arg_value(a, "grantee-principal"), &doc);
    return answer(cli, r, doc);
}

int cmd_revoke_grant(struct cli *cli, const struct args *a)
{
    int r = cli_open_store(cli);

    if (r != EXIT_OK)
        return r;
    r = bsnap_grant_revoke(cli->store, arg_value(a, "key-id"), arg_value(a, "grant-id"));
    return answer(cli, r, NULL);
}

int cmd_retire_grant(struct cli *cli, const struct args *a)
{
    const char *token = arg_value(a, "grant-token"), *key = arg_value(a, "key-id"),
               *grant = arg_value(a, "grant-id");
    int r;

    if (token ? key || grant : !key || !grant)
        return output_usage_error(cli->verb, "MissingParameter",
                                  "give --grant-token, or --key-id and --grant-id");
    if ((r = cli_open_store(cli)) != EXIT_OK)
        return r;
    r = bsnap_grant_retire(cli->store, token, key, grant);
    return answer(cli, r, NULL);
}

int cmd_create_alias(struct cli *cli, const struct args *a)
{
    int r = cli_open_store(cli);

    if (r != EXIT_OK)
        return r;
    return answer(
        cli,
        bsnap_alias_create(cli->store, arg_value(a, "alias-name"), arg_value(a, "target-key-id")),
        NULL);
}

int cmd_delete_alias(struct cli *cli, const struct args *a)
{
    int r = cli_open_store(cli);

    if (r != EXIT_OK)
        return r;
    r = bsnap_alias_delete(cli->store, arg_value(a, "alias-name"));
    return answer(cli, r, NULL);
}

int cmd_list_aliases(struct cli *cli, const struct args *a)
{
    json_t *doc = NULL;
    int r = cli_open_store(cli);

    if (r != EXIT_OK)
        return r;
    r = bsnap_alias_list(cli->store, arg_value(a, "key-id"), &doc);
    return answer(cli, r, doc);
}

static int by_default(struct cli *cli, int set)
{
    json_t *doc = NULL;
    int r = cli_open_store(cli);

    if (r != EXIT_OK)
        return r;
    r = set < 0 ? bsnap_ebs_encryption_by_default_get(cli->store, &doc)
                : bsnap_ebs_encryption_by_default_set(cli->store, set, &doc);
    return answer(cli, r, doc);
}

int cmd_enable_ebs_encryption_by_default(struct cli *cli, const struct args *a)
{
    (void)a;
    return by_default(cli, 1);
}

int cmd_disable_ebs_encryption_by_default(struct cli *cli, const struct args *a)
{
    (void)a;
    return by_default(cli, 0);
}

int cmd_get_ebs_encryption_by_default(struct cli *cli, const struct args *a)
{
    (void)a;
    return by_default(cli, -1);
}

int cmd_get_ebs_default_kms_key_id(struct cli *cli, const struct args *a)
{
    json_t *doc = NULL;
    int r = cli_open_store(cli);

    (void)a;
    if (r != EXIT_OK)
        return r;
    r = bsnap_ebs_default_key_get(cli->store, &doc);
    return answer(cli, r, doc);
}

int cmd_modify_ebs_default_kms_key_id(struct cli *cli, const struct args *a)
{
    json_t *doc = NULL;
    int r = cli_open_store(cli);

    if (r != EXIT_OK)
        return r;
    r = bsnap_ebs_default_key_modify(cli->store, arg_value(a, "kms-key-id"), &doc);
    return answer(cli, r, doc);
}

int cmd_reset_ebs_default_kms_key_id(struct cli *cli, const struct args *a)
{
    json_t *doc = NULL;
    int r = cli_open_store(cli);

    (void)a;
    if (r != EXIT_OK)
        return r;
    r = bsnap_ebs_default_key_reset(cli->store, &doc);
    return answer(cli, r, doc);
}
