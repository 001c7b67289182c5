/* fuzz-permission.c - libFuzzer harness for bsf_permission_parse() (the
 * --create-volume-permission and --launch-permission arguments) and the
 * record's permissions it leads to.
 *
 * The input is one argument (NUL-terminated at its first NUL).  Checks: it
 * returns; on failure the error is -EINVAL; on success every listed string
 * is non-NULL and the counts add up, and the users that are 12 digits,
 * added to a struct shares and written into a snapshot record, read back
 * the same (sorted, each once). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bsfront.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_lists(const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!v[i])
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *arg = malloc(size + 1);
    bsnap_permission_change c;
    struct snapshot_rec r = {0}, back = {0};
    json_t *doc = NULL;
    void *block = NULL;
    char *json = NULL;
    size_t len;

    if (!arg)
        abort();
    memcpy(arg, data, size);
    arg[size] = '\0';
    if (bsf_permission_parse(arg, &c, &doc, &block) < 0) {
        if (bsf_last_error()->err != -EINVAL && bsf_last_error()->err != -ENOMEM)
            abort();
        free(arg);
        return 0;
    }
    check_lists(c.add_users, c.nadd_users);
    check_lists(c.add_groups, c.nadd_groups);
    check_lists(c.remove_users, c.nremove_users);
    check_lists(c.remove_groups, c.nremove_groups);
    snprintf(r.id, sizeof r.id, "snap-0123456789abcdef0");
    r.cvp.all = c.nadd_groups > 0;
    for (size_t i = 0; i < c.nadd_users; i++)
        if (strlen(c.add_users[i]) == 12 && strspn(c.add_users[i], "0123456789") == 12 &&
            shares_add(&r.cvp, c.add_users[i]) < 0)
            abort();
    for (size_t i = 1; i < r.cvp.n; i++)
        if (strcmp(r.cvp.users[i - 1], r.cvp.users[i]) >= 0)
            abort(); /* sorted, each once */
    if (snapshot_rec_encode(&r, &json, &len) < 0 || snapshot_rec_decode(json, len, &back) < 0)
        abort();
    if (back.cvp.all != r.cvp.all || back.cvp.n != r.cvp.n)
        abort();
    for (size_t i = 0; i < r.cvp.n; i++)
        if (strcmp(back.cvp.users[i], r.cvp.users[i]) != 0)
            abort();
    free(json);
    snapshot_rec_clear(&back);
    snapshot_rec_clear(&r);
    free(block);
    json_decref(doc);
    free(arg);
    return 0;
}
