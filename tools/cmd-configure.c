/* cmd-configure.c - the config and credentials files: reading them for
 * every verb (cli_settings_load()) and `blocksnap configure`, which writes
 * them as `aws configure` writes ~/.aws/config and ~/.aws/credentials.
 *
 * The grammar and the precedence are the front-end library's
 * (bsf_ini_*, bsf_settings_resolve()); this file does the I/O: where the
 * files are, reading them, and replacing them atomically (a temporary file
 * in the same directory, fsync, rename), the credentials file always with
 * mode 0600.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"

/* The keys that go to the credentials file, as the aws CLI's. */
static bool credentials_key(const char *key)
{
    return strcmp(key, "aws_access_key_id") == 0 || strcmp(key, "aws_secret_access_key") == 0 ||
           strcmp(key, "aws_session_token") == 0 || strcmp(key, "blocksnap_account_id") == 0;
}

/* Read and parse @path into *@ret (NULL when there is no such file).
 * EXIT_OK or EXIT_FAILED after printing why, naming the file. */
static int settings_read(const char *path, bsf_ini **ret)
{
    int r = bsf_settings_read(path, ret);

    if (r == -ENOMEM)
        return output_error_nomem();
    return r < 0 ? output_error(bsf_last_error()) : EXIT_OK;
}

/* Both files, parsed (either may be NULL: no file). */
struct settings_files {
    char *config_path, *credentials_path;
    bsf_ini *config, *credentials;
};

static void settings_files_free(struct settings_files *f)
{
    free(f->config_path);
    free(f->credentials_path);
    bsf_ini_free(f->config);
    bsf_ini_free(f->credentials);
}

static int settings_files_read(struct settings_files *f)
{
    int r;

    f->config_path = bsf_settings_path("BLOCKSNAP_CONFIG_FILE", "config");
    f->credentials_path = bsf_settings_path("BLOCKSNAP_SHARED_CREDENTIALS_FILE", "credentials");
    if (!f->config_path || !f->credentials_path) {
        fprintf(stderr, "blocksnap: error: no config directory: set $HOME or $XDG_CONFIG_HOME "
                        "(ConfigError)\n");
        return EXIT_FAILED;
    }
    if ((r = settings_read(f->config_path, &f->config)) != EXIT_OK)
        return r;
    return settings_read(f->credentials_path, &f->credentials);
}

static int settings_resolve(const struct cli *cli, const struct settings_files *f,
                            bsf_settings *ret)
{
    bsf_settings_input in = {
        .config = f->config,
        .credentials = f->credentials,
        .profile_flag = cli->profile,
        .profile_env = getenv("BLOCKSNAP_PROFILE"),
        .store_flag = cli->store_dir,
        .region_flag = cli->region,
        .store_env = getenv("BLOCKSNAP_STORE"),
        .region_env = getenv("BLOCKSNAP_REGION"),
    };

    if (bsf_settings_resolve(&in, ret) < 0)
        return output_error(bsf_last_error());
    return EXIT_OK;
}

int cli_settings_load(struct cli *cli)
{
    struct settings_files f = {0};
    bsf_settings s;
    int r;

    if ((r = settings_files_read(&f)) != EXIT_OK || (r = settings_resolve(cli, &f, &s)) != EXIT_OK)
        goto out;
    /* Copies: the files' text goes with them. */
    if ((s.region && !(cli->region_buf = strdup(s.region))) ||
        (s.store_dir && !(cli->store_buf = bsf_expand_home(s.store_dir))) ||
        (s.account && !(cli->account = strdup(s.account))) ||
        (!cli->output && s.output && !(cli->output_buf = strdup(s.output)))) {
        r = output_error_nomem();
        goto out;
    }
    cli->region = cli->region_buf;
    cli->store_dir = cli->store_buf;
    /* Kept for cli_region_path() (another region's store). */
    cli->config = f.config;
    f.config = NULL;
    if (cli->output_buf) {
        if (strcmp(s.output, "json") != 0 && strcmp(s.output, "text") != 0 &&
            strcmp(s.output, "table") != 0) {
            output_line("blocksnap: error: %s: profile '%s': output '%s' is not json, text or "
                        "table (InvalidParameterValue)",
                        f.config_path, s.profile, s.output);
            r = EXIT_FAILED;
            goto out;
        }
        cli->output = cli->output_buf;
    }
out:
    settings_files_free(&f);
    return r;
}

int cli_region_path(const struct cli *cli, const char *region, char **ret_path)
{
    int r = bsf_region_store_path(cli->config, region, ret_path);

    if (r == -ENOMEM)
        return output_error_nomem();
    if (r < 0)
        return output_error(bsf_last_error());
    if (r == 0 && bsnap_store_resolve(NULL, region, ret_path) < 0)
        return output_engine_error();
    return EXIT_OK;
}

/* ---- writing ------------------------------------------------------------ */

/* Make the directories above @path (0700, as the default
 * ~/.config/blocksnap is private).  Best effort: the open reports what
 * matters. */
static void make_parents(const char *path)
{
    char *d = strdup(path);

    for (char *p = d ? d + 1 : NULL; p && (p = strchr(p, '/')); p++) {
        *p = '\0';
        (void)mkdir(d, 0700);
        *p = '/';
    }
    free(d);
}

/* Replace @path with @text atomically: a temporary file beside it (beside
 * the target of a symbolic link, which stays a link), written, fsync'd and
 * renamed over it.  The credentials file (@private) gets 0600; the config
 * file keeps its mode, or 0600 when new. */
static int write_atomic(const char *path, const char *text, bool private_file)
{
    char *real = realpath(path, NULL), *tmp = NULL, *dir = NULL;
    const char *target = real ? real : path;
    mode_t mode = 0600;
    struct stat st;
    size_t len = strlen(text);
    int fd = -1, r = EXIT_FAILED;

    if (!private_file && stat(target, &st) == 0)
        mode = st.st_mode & 07777;
    make_parents(target);
    if (asprintf(&tmp, "%s.tmp-%ld", target, (long)getpid()) < 0) {
        tmp = NULL;
        r = output_error_nomem();
        goto out;
    }
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 || fchmod(fd, mode) < 0)
        goto fail;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto fail;
        off += (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, target) < 0)
        goto fail;
    /* The rename itself durable. */
    if ((dir = strdup(target))) {
        int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
    r = EXIT_OK;
    goto out;
fail:
    output_line("blocksnap: error: %s: %s (ConfigError)", target, strerror(errno));
    if (fd >= 0)
        close(fd);
    if (tmp)
        unlink(tmp);
out:
    free(dir);
    free(tmp);
    free(real);
    return r;
}

static int write_ini(const char *path, const bsf_ini *ini, bool private_file)
{
    char *text;
    int r;

    if (bsf_ini_format(ini, &text) < 0)
        return output_error_nomem();
    r = write_atomic(path, text, private_file);
    free(text);
    return r;
}

/* ---- configure ---------------------------------------------------------- */

/* Where KEY lives: "region.R.store_path", "default.K", "profile.P.K", or a
 * plain K of the profile in use. */
struct setting {
    bool credentials;  /* in the credentials file */
    char section[300]; /* its section */
    char key[128];
};

static int setting_parse(const struct cli *cli, const char *profile, const char *name,
                         struct setting *ret)
{
    const char *k = name, *p = profile;
    char pbuf[256];

    if (strncmp(name, "region.", 7) == 0) {
        const char *dot = strrchr(name + 7, '.');
        if (!dot || dot == name + 7 || strcmp(dot + 1, "store_path") != 0)
            return output_usage_error(cli->verb, "InvalidParameterValue",
                                      "'%s': a region's setting is region.NAME.store_path", name);
        ret->credentials = false;
        snprintf(ret->section, sizeof ret->section, "region %.*s", (int)(dot - name - 7), name + 7);
        snprintf(ret->key, sizeof ret->key, "store_path");
        return EXIT_OK;
    }
    if (strncmp(name, "default.", 8) == 0) {
        p = "default";
        k = name + 8;
    } else if (strncmp(name, "profile.", 8) == 0) {
        const char *dot = strrchr(name + 8, '.');
        if (!dot || dot == name + 8 || (size_t)(dot - name - 8) >= sizeof pbuf)
            return output_usage_error(cli->verb, "InvalidParameterValue",
                                      "'%s': expecting profile.NAME.KEY", name);
        snprintf(pbuf, sizeof pbuf, "%.*s", (int)(dot - name - 8), name + 8);
        p = pbuf;
        k = dot + 1;
    }
    if (!*k || strlen(k) >= sizeof ret->key || strchr(k, '.'))
        return output_usage_error(cli->verb, "InvalidParameterValue", "'%s' is not a setting name",
                                  name);
    ret->credentials = credentials_key(k);
    if (ret->credentials || strcmp(p, "default") == 0)
        snprintf(ret->section, sizeof ret->section, "%s", p);
    else
        snprintf(ret->section, sizeof ret->section, "profile %s", p);
    snprintf(ret->key, sizeof ret->key, "%s", k);
    return EXIT_OK;
}

/* A value the rest of blocksnap would refuse is refused when it is set. */
static int setting_check(const struct cli *cli, const struct setting *s, const char *v)
{
    bool ok = true;
    const char *want = "";

    if (strcmp(s->key, "region") == 0) {
        ok = *v && strlen(v) <= 64 &&
             strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(v);
        want = "1 to 64 of [a-z0-9-]";
    } else if (strcmp(s->key, "blocksnap_account_id") == 0) {
        ok = strlen(v) == 12 && strspn(v, "0123456789") == 12;
        want = "12 digits";
    } else if (strcmp(s->key, "output") == 0) {
        ok = strcmp(v, "json") == 0 || strcmp(v, "text") == 0 || strcmp(v, "table") == 0;
        want = "json, text or table";
    } else if (strcmp(s->key, "store_path") == 0) {
        ok = v[0] == '/' || strncmp(v, "~/", 2) == 0;
        want = "an absolute path or one under ~/";
    }
    if (!ok)
        return output_usage_error(cli->verb, "InvalidParameterValue", "%s: '%s' is not %s", s->key,
                                  v, want);
    return EXIT_OK;
}

static const char *current_profile(const struct cli *cli)
{
    const char *e = getenv("BLOCKSNAP_PROFILE");
    return cli->profile ? cli->profile : e && *e ? e : "default";
}

static int configure_set(struct cli *cli, struct settings_files *f, const char *name,
                         const char *value)
{
    struct setting s;
    bsf_ini **ini;
    int r;

    if ((r = setting_parse(cli, current_profile(cli), name, &s)) != EXIT_OK ||
        (r = setting_check(cli, &s, value)) != EXIT_OK)
        return r;
    ini = s.credentials ? &f->credentials : &f->config;
    if (!*ini && (r = bsf_ini_parse("", 0, ini)) < 0)
        return output_error_nomem();
    if ((r = bsf_ini_set(*ini, s.section, s.key, value)) < 0) {
        if (r == -ENOMEM)
            return output_error_nomem();
        return output_usage_error(cli->verb, bsf_last_error()->code, "%s",
                                  bsf_last_error()->message);
    }
    return write_ini(s.credentials ? f->credentials_path : f->config_path, *ini, s.credentials);
}

static int configure_get(struct cli *cli, const struct settings_files *f, const char *name)
{
    struct setting s;
    const char *v;
    int r;

    if ((r = setting_parse(cli, current_profile(cli), name, &s)) != EXIT_OK)
        return r;
    v = bsf_ini_get(s.credentials ? f->credentials : f->config, s.section, s.key);
    if (!v)
        return EXIT_FAILED; /* as `aws configure get`: nothing printed, exit 1 */
    output_escaped(stdout, v);
    putchar('\n');
    return EXIT_OK;
}

/* A secret shown as the aws CLI shows it: its last four characters. */
static void masked(char *out, size_t size, const char *v)
{
    size_t n = v ? strlen(v) : 0;
    if (!v)
        snprintf(out, size, "<not set>");
    else
        snprintf(out, size, "****************%s", n > 4 ? v + n - 4 : "");
}

static void list_row(const char *name, const char *value, const char *source)
{
    printf("%-12s ", name);
    output_escaped(stdout, value ? value : "<not set>");
    printf("%*s %s\n", value && strlen(value) < 28 ? (int)(28 - strlen(value)) : (value ? 0 : 19),
           "", source ? source : "-");
}

static int configure_list(struct cli *cli, const struct settings_files *f)
{
    bsf_settings s;
    char ak[32], sk[32];
    const char *src = NULL;
    char *store = NULL;
    int r;

    if ((r = settings_resolve(cli, f, &s)) != EXIT_OK)
        return r;
    masked(ak, sizeof ak, s.access_key);
    const char *secret = bsf_ini_get(f->credentials, s.profile, "aws_secret_access_key");
    masked(sk, sizeof sk, secret);
    if (s.access_key)
        src = bsf_ini_get(f->credentials, s.profile, "aws_access_key_id") ? "credentials-file"
                                                                          : "config-file";
    printf("%-12s %-28s %s\n", "Name", "Value", "Source");
    list_row("profile", s.profile, s.profile_source);
    list_row("access_key", ak, s.access_key ? src : NULL);
    list_row("secret_key", sk, secret ? "credentials-file" : NULL);
    list_row("account", s.account ? s.account : "<the store's>", s.account_source);
    list_row("region", s.region ? s.region : "<local>", s.region_source);
    if (s.store_dir)
        store = bsf_expand_home(s.store_dir);
    else if (bsnap_store_resolve(NULL, s.region, &store) < 0)
        return output_engine_error();
    list_row("store", store ? store : "<out of memory>", s.store_dir ? s.store_source : "default");
    free(store);
    list_row("output", s.output ? s.output : "json", s.output_source);
    list_row("config", f->config_path, f->config ? "file" : "absent");
    list_row("credentials", f->credentials_path, f->credentials ? "file" : "absent");
    return EXIT_OK;
}

/* One prompt of the interactive configure: "Region [us-east-1]: ".  An
 * empty answer keeps the value.  EXIT_OK, or EXIT_FAILED at the end of
 * input. */
static int prompt(const char *label, const char *shown, char *buf, size_t size)
{
    fprintf(stderr, "%s [%s]: ", label, shown);
    fflush(stderr);
    if (!fgets(buf, (int)size, stdin))
        return EXIT_FAILED;
    buf[strcspn(buf, "\r\n")] = '\0';
    return EXIT_OK;
}

static int configure_interactive(struct cli *cli, struct settings_files *f)
{
    static const struct {
        const char *key, *label;
        bool secret;
    } q[] = {
        {"aws_access_key_id", "Access key id", true},
        {"aws_secret_access_key", "Secret access key", true},
        {"blocksnap_account_id", "Account id (12 digits)", false},
        {"region", "Default region name", false},
        {"output", "Default output format", false},
    };
    char answer[5][1024], shown[64];
    const char *p = current_profile(cli);
    int r;

    /* Every answer first, then the writes: input that ends half way
     * changes nothing. */
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        struct setting s;
        if ((r = setting_parse(cli, p, q[i].key, &s)) != EXIT_OK)
            return r;
        const char *cur = bsf_ini_get(s.credentials ? f->credentials : f->config, s.section, s.key);
        if (q[i].secret && cur)
            masked(shown, sizeof shown, cur);
        else
            snprintf(shown, sizeof shown, "%.60s", cur ? cur : "None");
        if (prompt(q[i].label, shown, answer[i], sizeof answer[i]) != EXIT_OK) {
            fprintf(stderr, "\nblocksnap: error: the input ended: nothing written\n");
            return EXIT_FAILED;
        }
        if (answer[i][0] && (r = setting_check(cli, &s, answer[i])) != EXIT_OK)
            return r;
    }
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
        if (answer[i][0] && (r = configure_set(cli, f, q[i].key, answer[i])) != EXIT_OK)
            return r;
    return EXIT_OK;
}

int cmd_configure(struct cli *cli, const struct args *a)
{
    struct settings_files f = {0};
    const char *sub = a->npos ? a->pos[0] : NULL;
    int r;

    if (sub && strcmp(sub, "set") == 0 && a->npos != 3)
        return output_usage_error(cli->verb, "MissingParameter", "configure set KEY VALUE");
    if (sub && (strcmp(sub, "get") == 0) && a->npos != 2)
        return output_usage_error(cli->verb, "MissingParameter", "configure get KEY");
    if (sub && strcmp(sub, "list") == 0 && a->npos != 1)
        return output_usage_error(cli->verb, "InvalidParameterValue",
                                  "configure list takes no argument");
    if (sub && strcmp(sub, "set") && strcmp(sub, "get") && strcmp(sub, "list"))
        return output_usage_error(cli->verb, "InvalidParameterValue",
                                  "'%s' is not set, get or list", sub);
    if ((r = settings_files_read(&f)) != EXIT_OK)
        goto out;
    if (!sub)
        r = configure_interactive(cli, &f);
    else if (strcmp(sub, "set") == 0)
        r = configure_set(cli, &f, a->pos[1], a->pos[2]);
    else if (strcmp(sub, "get") == 0)
        r = configure_get(cli, &f, a->pos[1]);
    else
        r = configure_list(cli, &f);
out:
    settings_files_free(&f);
    return r;
}
