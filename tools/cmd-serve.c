/* cmd-serve.c - serve: the EC2 API server (serve/, blocksnap-serve.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blocksnap-serve.h"
#include "cmd.h"

const struct opt serve_options[] = {
    {"listen", OPT_VALUE, "ADDR:PORT", "address to listen on (port 0: any free port)", true},
    {"tls-cert", OPT_VALUE, "PEM", "serve HTTPS with this certificate (with --tls-key)", false},
    {"tls-key", OPT_VALUE, "PEM", "the certificate's private key", false},
    {"threads", OPT_VALUE, "N", "requests served at once (default 16)", false},
    {"max-body", OPT_VALUE, "BYTES", "largest request body (default 1048576; more: 413)", false},
    {"max-connections", OPT_VALUE, "N", "connections at once (default 256)", false},
    {"timeout", OPT_VALUE, "SECONDS", "time for a request to arrive, idle timeout (default 30)",
     false},
    {"grace", OPT_VALUE, "SECONDS", "at SIGTERM, time for requests in flight (default 10)", false},
    {NULL, 0, NULL, NULL, false},
};

/* The stores of the config file's [region NAME] sections with a
 * store_path that exists, other than @main. */
static int config_regions(const struct cli *cli, const char *main, char ***ret, size_t *ret_n)
{
    char **v = NULL;
    size_t n = 0;
    const char *sec;

    for (size_t i = 0; (sec = bsf_ini_section(cli->config, i)); i++) {
        char *path = NULL, **grown;
        if (strncmp(sec, "region ", 7) != 0)
            continue;
        if (bsf_region_store_path(cli->config, sec + 7, &path) <= 0)
            continue;
        if (strcmp(path, main) == 0 || access(path, F_OK) != 0 ||
            !(grown = realloc(v, (n + 1) * sizeof *v))) {
            free(path);
            continue;
        }
        v = grown;
        v[n++] = path;
    }
    *ret = v;
    *ret_n = n;
    return EXIT_OK;
}

int cmd_serve(struct cli *cli, const struct args *a)
{
    static const char *const limits[] = {"threads", "max-body", "max-connections", "timeout",
                                         "grace"};
    static const unsigned maxima[] = {1024, 1u << 30, 100000, 86400, 86400};
    unsigned values[5] = {0};
    bsnap_serve_options o = {0};
    bsnap_serve_error err;
    char **extra = NULL, *creds = NULL;
    const char **paths = NULL;
    size_t nextra = 0;
    int r;

    for (size_t i = 0; i < 5; i++) {
        const char *v = arg_value(a, limits[i]);
        if (v && (r = arg_uint(cli->verb, limits[i], v, 1, maxima[i], &values[i])) != EXIT_OK)
            return r;
    }
    if (!arg_value(a, "tls-cert") != !arg_value(a, "tls-key"))
        return output_usage_error(cli->verb, "InvalidParameterCombination",
                                  "give --tls-cert and --tls-key together");
    /* The main store is made here when missing, with the profile's
     * region and account (as a writing verb makes it), then closed: the
     * server opens every store itself. */
    if ((r = cli_open_store(cli)) != EXIT_OK)
        return r;
    bsnap_store_close(cli->store);
    cli->store = NULL;
    if (!(creds = bsf_settings_path("BLOCKSNAP_SHARED_CREDENTIALS_FILE", "credentials")))
        return output_error_nomem();
    config_regions(cli, cli->store_path, &extra, &nextra);
    if (!(paths = calloc(nextra + 1, sizeof *paths))) {
        r = output_error_nomem();
        goto out;
    }
    paths[0] = cli->store_path;
    for (size_t i = 0; i < nextra; i++)
        paths[i + 1] = extra[i];
    o.listen = arg_value(a, "listen");
    o.tls_cert = arg_value(a, "tls-cert");
    o.tls_key = arg_value(a, "tls-key");
    o.store_paths = paths;
    o.nstores = nextra + 1;
    o.credentials_path = creds;
    o.threads = values[0];
    o.max_body = values[1];
    o.max_connections = values[2];
    o.timeout_s = values[3];
    o.grace_s = values[4];
    o.quiet = cli->quiet;
    if (bsnap_serve_run(&o, &err) < 0) {
        output_line("blocksnap: error: %s (%s)", err.message, err.code);
        r = EXIT_FAILED;
    } else {
        r = EXIT_OK;
    }
out:
    for (size_t i = 0; i < nextra; i++)
        free(extra[i]);
    free(extra);
    free(paths);
    free(creds);
    return r;
}
