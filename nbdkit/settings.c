/* settings.c - the store and the calling account of the nbdkit plugin,
 * picked as the CLI picks them, from the same config and credentials files
 * (the front-end library's bsf_settings_resolve() decides; this file finds
 * and reads the files).  See settings.h. */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocksnap.h"
#include "bsfront.h"
#include "settings.h"

/* The CLI's config (@env BLOCKSNAP_CONFIG_FILE, @name "config") or
 * credentials file, parsed into *@ret (NULL: no such file, or no $HOME nor
 * $XDG_CONFIG_HOME to find it in). */
static int settings_file(const char *env, const char *name, bsf_ini **ret)
{
    char *path = bsf_settings_path(env, name);
    int r;

    *ret = NULL;
    if (!path)
        return 0;
    r = bsf_settings_read(path, ret);
    free(path);
    if (r < 0) {
        const bsnap_error *err = bsf_last_error();
        nbdkit_error("%s (%s)", err->message, err->code);
        return -1;
    }
    return 0;
}

int settings_resolve(const char *store, const char *region, const char *profile,
                     const char *account_flag, char **ret_store_path, char **ret_account)
{
    bsf_ini *config = NULL, *credentials = NULL;
    bsf_settings st;
    char *path = NULL, *account = NULL;
    int r = -1;

    if (settings_file("BLOCKSNAP_CONFIG_FILE", "config", &config) < 0 ||
        settings_file("BLOCKSNAP_SHARED_CREDENTIALS_FILE", "credentials", &credentials) < 0)
        goto out;
    bsf_settings_input in = {
        .config = config,
        .credentials = credentials,
        .profile_flag = profile,
        .profile_env = getenv("BLOCKSNAP_PROFILE"),
        .store_flag = store,
        .region_flag = region,
        .store_env = getenv("BLOCKSNAP_STORE"),
        .region_env = getenv("BLOCKSNAP_REGION"),
    };
    if (bsf_settings_resolve(&in, &st) < 0) {
        const bsnap_error *err = bsf_last_error();
        nbdkit_error("%s (%s)", err->message, err->code);
        goto out;
    }
    if (st.store_dir) {
        path = bsf_expand_home(st.store_dir);
    } else {
        /* A region's store: its store_path in the config file, else the
         * default place. */
        int found = st.region ? bsf_region_store_path(config, st.region, &path) : 0;
        if (found < 0) {
            const bsnap_error *err = bsf_last_error();
            nbdkit_error("%s (%s)", err->message, err->code);
            goto out;
        }
        if (!found && bsnap_store_resolve(NULL, st.region, &path) < 0) {
            const bsnap_error *err = bsnap_last_error();
            nbdkit_error("region=%s: %s (%s)", st.region, err->message, err->code);
            goto out;
        }
    }
    if (!path || (account_flag ? !(account = strdup(account_flag))
                               : st.account && !(account = strdup(st.account)))) {
        nbdkit_error("out of memory");
        goto out;
    }
    *ret_store_path = path;
    path = NULL;
    *ret_account = account;
    account = NULL;
    r = 0;
out:
    free(path);
    free(account);
    bsf_ini_free(config);
    bsf_ini_free(credentials);
    return r;
}
