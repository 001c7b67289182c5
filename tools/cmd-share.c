/* cmd-share.c - modify-snapshot-attribute, describe-snapshot-attribute,
 * reset-snapshot-attribute: a snapshot's create-volume permissions.  As
 * EC2's, modify and reset print nothing on success. */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

/* The permission change of a modify verb: --PERM_OPT (shorthand or JSON,
 * EC2's structured form), or the flat one (--operation-type add|remove
 * with --user-ids and --GROUPS_OPT: EC2's OperationType, UserId.N,
 * UserGroup.N).  @c may point into *@ret_doc and *@ret_block, which the
 * caller frees; a usage error is printed and returned. */
int cli_permission_change(struct cli *cli, const struct args *a, const char *perm_opt,
                          const char *groups_opt, bsnap_permission_change *c, json_t **ret_doc,
                          void **ret_block)
{
    const char *perm = arg_value(a, perm_opt), *op = arg_value(a, "operation-type");
    size_t nusers, ngroups;
    const char *const *users = arg_list(a, "user-ids", &nusers);
    const char *const *groups = arg_list(a, groups_opt, &ngroups);

    if (perm && (op || nusers || ngroups))
        return output_usage_error(cli->verb, "InvalidParameterCombination",
                                  "give --%s, or --operation-type with --user-ids and --%s, not "
                                  "both",
                                  perm_opt, groups_opt);
    if (perm) {
        if (bsf_permission_parse(perm, c, ret_doc, ret_block) < 0)
            return output_usage_error(cli->verb, bsf_last_error()->code, "--%s: %s", perm_opt,
                                      bsf_last_error()->message);
    } else if (!op) {
        return output_usage_error(cli->verb, "MissingParameter",
                                  "give --%s, or --operation-type add|remove", perm_opt);
    } else if (strcmp(op, "add") == 0) {
        *c = (bsnap_permission_change){
            .add_users = users, .nadd_users = nusers, .add_groups = groups, .nadd_groups = ngroups};
    } else if (strcmp(op, "remove") == 0) {
        *c = (bsnap_permission_change){.remove_users = users,
                                       .nremove_users = nusers,
                                       .remove_groups = groups,
                                       .nremove_groups = ngroups};
    } else {
        return output_usage_error(cli->verb, "InvalidParameterValue",
                                  "--operation-type: '%s' is not add or remove", op);
    }
    return EXIT_OK;
}

int cmd_modify_snapshot_attribute(struct cli *cli, const struct args *a)
{
    const char *attr = arg_value(a, "attribute");
    bsnap_permission_change c = {0};
    json_t *doc = NULL;
    void *block = NULL;
    int r;

    if ((r = cli_permission_change(cli, a, "create-volume-permission", "group-names", &c, &doc,
                                   &block)) != EXIT_OK)
        return r;
    if ((r = cli_open_store(cli)) == EXIT_OK &&
        bsnap_snapshot_attribute_modify(cli->store, arg_value(a, "snapshot-id"),
                                        attr ? attr : "createVolumePermission", &c) < 0)
        r = output_engine_error();
    free(block);
    json_decref(doc);
    return r;
}

int cmd_describe_snapshot_attribute(struct cli *cli, const struct args *a)
{
    json_t *doc = NULL;
    int r = cli_open_store(cli);

    if (r != EXIT_OK)
        return r;
    if (bsnap_snapshot_attribute_describe(cli->store, arg_value(a, "snapshot-id"),
                                          arg_value(a, "attribute"), &doc) < 0)
        return output_engine_error();
    r = output_doc(cli, doc);
    json_decref(doc);
    return r;
}

int cmd_reset_snapshot_attribute(struct cli *cli, const struct args *a)
{
    int r = cli_open_store(cli);

    if (r == EXIT_OK && bsnap_snapshot_attribute_reset(cli->store, arg_value(a, "snapshot-id"),
                                                       arg_value(a, "attribute")) < 0)
        r = output_engine_error();
    return r;
}
