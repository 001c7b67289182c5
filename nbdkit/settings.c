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

#define CONFIG_FILE_MAX (1u << 20)

/* "~/x" with $HOME, anything else as it is; malloc'd. */
static char *expand_home(const char *p)
{
    const char *home = getenv("HOME");
    char *out;

    if (strncmp(p, "~/", 2) == 0 && home && *home)
        return asprintf(&out, "%s/%s", home, p + 2) < 0 ? NULL : out;
    return strdup(p);
}

/* The CLI's config (@env BLOCKSNAP_CONFIG_FILE, @name "config") or
 * credentials file, parsed into *@ret (NULL: no such file, or no $HOME nor
 * $XDG_CONFIG_HOME to find it in). */
static int settings_file(const char *env, const char *name, bsf_ini **ret)
{
    const char *e = getenv(env), *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    char *path = NULL, *buf = NULL;
    size_t n = 0;
    FILE *f = NULL;
    int r = -1;

    *ret = NULL;
    if (e && *e)
        path = expand_home(e);
    else if (xdg && xdg[0] == '/' && asprintf(&path, "%s/blocksnap/%s", xdg, name) < 0)
        path = NULL;
    else if (!(xdg && xdg[0] == '/') && home && *home &&
             asprintf(&path, "%s/.config/blocksnap/%s", home, name) < 0)
        path = NULL;
    if (!path)
        return 0;
    if (!(f = fopen(path, "re"))) {
        r = errno == ENOENT ? 0 : -1;
        if (r < 0)
            nbdkit_error("%s: %s (ConfigError)", path, strerror(errno));
        goto out;
    }
    if (!(buf = malloc(CONFIG_FILE_MAX + 1))) {
        nbdkit_error("%s: out of memory", path);
        goto out;
    }
    /* Read to EOF: it may be a pipe.  io-ok: a small text file read once
     * through stdio, never a volume. */
    n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
    if (ferror(f) || n > CONFIG_FILE_MAX) {
        nbdkit_error("%s: %s (ConfigError)", path,
                     ferror(f) ? "cannot be read" : "larger than 1 MiB");
        goto out;
    }
    if (bsf_ini_parse(buf, n, ret) < 0) {
        const bsnap_error *err = bsf_last_error();
        nbdkit_error("%s: %s (%s)", path, err->message, err->code);
        goto out;
    }
    r = 0;
out:
    if (f)
        fclose(f);
    free(buf);
    free(path);
    return r;
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
        path = expand_home(st.store_dir);
    } else {
        /* A region's store: its store_path in the config file, else the
         * default place. */
        char sec[300];
        const char *p = NULL;
        if (st.region) {
            snprintf(sec, sizeof(sec), "region %.255s", st.region);
            p = bsf_ini_get(config, sec, "store_path");
        }
        if (p && p[0] != '/' && strncmp(p, "~/", 2) != 0) {
            nbdkit_error("[region %s] store_path '%s' is neither absolute nor under ~/ "
                         "(InvalidParameterValue)",
                         st.region, p);
            goto out;
        }
        if (p)
            path = expand_home(p);
        else if (bsnap_store_resolve(NULL, st.region, &path) < 0) {
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
