/* cmd-tags.c - create-tags, delete-tags.  Like EC2's, they print nothing on
 * success. */
#include <stdlib.h>

#include "cmd.h"

int cmd_create_tags(struct cli *cli, const struct args *a)
{
    size_t nres, ntags;
    const char *const *res = arg_list(a, "resources", &nres);
    bsnap_tag *tags = NULL;
    int r;

    if ((r = cli_parse_tags(cli, a, true, &tags, &ntags)) != EXIT_OK)
        return r;
    if ((r = cli_open_store(cli)) == EXIT_OK &&
        bsnap_tags_create(cli->store, res, nres, tags, ntags) < 0)
        r = output_engine_error();
    free(tags);
    return r;
}

int cmd_delete_tags(struct cli *cli, const struct args *a)
{
    size_t nres, ntags;
    const char *const *res = arg_list(a, "resources", &nres);
    bsnap_tag *tags = NULL;
    static const bsnap_tag none[1];
    int r;

    if ((r = cli_parse_tags(cli, a, false, &tags, &ntags)) != EXIT_OK)
        return r;
    if ((r = cli_open_store(cli)) == EXIT_OK &&
        bsnap_tags_delete(cli->store, res, nres, tags ? tags : none, ntags) < 0)
        r = output_engine_error();
    free(tags);
    return r;
}
