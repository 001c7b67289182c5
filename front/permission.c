/* permission.c - the AWS CLI's --create-volume-permission and
 * --launch-permission arguments: 'Add=[{UserId=…},{Group=all}],Remove=[…]'
 * in shorthand, or the same as JSON, read into a bsnap_permission_change.
 * Which values are valid (12 digits, "all") is the engine's to say. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "front.h"

#define PERM_FAIL(...) front_fail(-EINVAL, "InvalidParameterValue", __VA_ARGS__)

/* The items of @list (an array, or one object): each an object of one
 * field, UserId or Group, whose string goes to @users or @groups (NULL:
 * count only into *@nusers / *@ngroups). */
static int read_items(const json_t *list, const char *what, const char **users, size_t *nusers,
                      const char **groups, size_t *ngroups)
{
    size_t i, n = json_is_array(list) ? json_array_size(list) : 1;

    if (!json_is_array(list) && !json_is_object(list))
        return PERM_FAIL("permission %s: expected a list of {UserId=…} or {Group=all}", what);
    for (i = 0; i < n; i++) {
        const json_t *it = json_is_array(list) ? json_array_get(list, i) : list;
        const json_t *u = json_object_get(it, "UserId"), *g = json_object_get(it, "Group");
        if (!json_is_object(it) || json_object_size(it) != 1 ||
            (!json_is_string(u) && !json_is_string(g)))
            return PERM_FAIL("permission %s item %zu: expected {UserId=ACCOUNT} or {Group=all}",
                             what, i + 1);
        if (u && users)
            users[*nusers] = json_string_value(u);
        if (g && groups)
            groups[*ngroups] = json_string_value(g);
        if (u)
            (*nusers)++;
        else
            (*ngroups)++;
    }
    return 0;
}

int bsf_permission_parse(const char *arg, bsnap_permission_change *ret, json_t **ret_doc,
                         void **ret_block)
{
    static const struct sh_syntax sx = {"permission", "InvalidParameterValue", "Add", true};
    bsnap_permission_change c = {0};
    json_t *doc = NULL, *add, *rem;
    const char **block;
    const char *k;
    json_t *v;
    size_t n;
    int r;

    front_error_clear();
    if (arg[0] == '{') {
        json_error_t jerr;
        doc = json_loads(arg, 0, &jerr);
        if (!doc || !json_is_object(doc)) {
            json_decref(doc);
            return PERM_FAIL("permission: malformed JSON: %s", doc ? "not an object" : jerr.text);
        }
    } else if ((r = shorthand_parse(arg, &sx, &doc)) < 0) {
        return r;
    }
    json_object_foreach (doc, k, v) {
        if (strcmp(k, "Add") != 0 && strcmp(k, "Remove") != 0) {
            r = PERM_FAIL("permission: unknown field %s (expected Add or Remove)", k);
            goto fail;
        }
    }
    add = json_object_get(doc, "Add");
    rem = json_object_get(doc, "Remove");
    /* count, then fill one block of pointers into @doc's strings */
    if ((add && (r = read_items(add, "Add", NULL, &c.nadd_users, NULL, &c.nadd_groups)) < 0) ||
        (rem &&
         (r = read_items(rem, "Remove", NULL, &c.nremove_users, NULL, &c.nremove_groups)) < 0))
        goto fail;
    n = c.nadd_users + c.nadd_groups + c.nremove_users + c.nremove_groups;
    block = calloc(n ? n : 1, sizeof *block);
    if (!block) {
        r = front_fail(-ENOMEM, "InternalError", "out of memory");
        goto fail;
    }
    c.add_users = block;
    c.add_groups = block + c.nadd_users;
    c.remove_users = block + c.nadd_users + c.nadd_groups;
    c.remove_groups = block + c.nadd_users + c.nadd_groups + c.nremove_users;
    c.nadd_users = c.nadd_groups = c.nremove_users = c.nremove_groups = 0;
    if (add)
        read_items(add, "Add", (const char **)c.add_users, &c.nadd_users,
                   (const char **)c.add_groups, &c.nadd_groups);
    if (rem)
        read_items(rem, "Remove", (const char **)c.remove_users, &c.nremove_users,
                   (const char **)c.remove_groups, &c.nremove_groups);
    *ret = c;
    *ret_doc = doc;
    *ret_block = block;
    return 0;
fail:
    json_decref(doc);
    return r;
}
