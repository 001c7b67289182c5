/* cmd-keys.c - the KMS analogue: create-key, describe-key, list-keys,
 * enable-key, disable-key, create-alias, delete-alias, list-aliases, and
 * EC2's EBS encryption settings (encryption by default, the default key). */
#include <stdlib.h>

#include "cmd.h"

const struct opt create_key_options[] = {
    {"description", OPT_VALUE, "TEXT", "description, at most 8192 characters", false},
    {"passphrase", OPT_FLAG, NULL, "derive the key from $BLOCKSNAP_KEY_PASSPHRASE, no key file",
     false},
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

/* Print @doc (taking it) when the call @r succeeded. */
static int answer(const struct cli *cli, int r, json_t *doc)
{
    if (r < 0)
        return output_engine_error();
    r = doc ? output_doc(cli, doc) : EXIT_OK;
    json_decref(doc);
    return r;
}

int cmd_create_key(struct cli *cli, const struct args *a)
{
    bsnap_key_options o = {arg_value(a, "description"), arg_flag(a, "passphrase")};
    json_t *doc = NULL;
    int r = cli_open_store(cli);

    if (r != EXIT_OK)
        return r;
    r = bsnap_key_create(cli->store, &o, &doc);
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
