/* config.c - the config and credentials files (bsfront.h, "Settings"):
 * an INI parser that keeps every line, so that an edit rewrites one line
 * and leaves comments, order and other sections as they were, and the
 * precedence that turns flags, environment and files into one profile's
 * settings.
 *
 * The grammar is the part of Python's configparser that the aws CLI's
 * files use: "[section]" headers, "key = value" (or ':') lines, '#' and ';'
 * comment lines, and indented continuation lines (the aws CLI nests "s3 ="
 * settings that way: kept, not interpreted).  A value runs to the end of
 * its line: "#" after a value is part of it, as configparser has it.
 * Pure: no I/O and no environment; the caller reads and writes the files.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "front.h"

struct ini_line {
    char *text;    /* the line as written, without its newline */
    char *section; /* header: the trimmed name; else NULL */
    char *key;     /* "key = value": the trimmed key; else NULL */
    char *value;   /* its trimmed value */
    size_t owner;  /* index of the header this line falls under; SIZE_MAX: none */
};

struct bsf_ini {
    struct ini_line *lines;
    size_t n, cap;
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* @s[0..len) with blanks trimmed at both ends, malloc'd. */
/* A name or value without the blanks around it; carriage returns count
 * as blanks at its ends, so that a value followed by several (one is
 * the CRLF's, dropped with the line end) reads the same once the file is
 * written back with plain line ends. */
static bool is_trim(char c)
{
    return is_space(c) || c == '\r';
}

static char *trimmed(const char *s, size_t len)
{
    while (len && is_trim(*s))
        s++, len--;
    while (len && is_trim(s[len - 1]))
        len--;
    return strndup(s, len);
}

static bool key_valid(const char *k)
{
    return *k && strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
                     strlen(k);
}

static int ini_push(bsf_ini *ini, const char *text, size_t len)
{
    if (ini->n == ini->cap) {
        size_t cap = ini->cap ? ini->cap * 2 : 16;
        struct ini_line *l = realloc(ini->lines, cap * sizeof *l);
        if (!l)
            return -ENOMEM;
        ini->lines = l;
        ini->cap = cap;
    }
    ini->lines[ini->n] = (struct ini_line){.owner = SIZE_MAX};
    if (!(ini->lines[ini->n].text = strndup(text, len)))
        return -ENOMEM;
    ini->n++;
    return 0;
}

void bsf_ini_free(bsf_ini *ini)
{
    if (!ini)
        return;
    for (size_t i = 0; i < ini->n; i++) {
        free(ini->lines[i].text);
        free(ini->lines[i].section);
        free(ini->lines[i].key);
        free(ini->lines[i].value);
    }
    free(ini->lines);
    free(ini);
}

static size_t find_section(const bsf_ini *ini, const char *section)
{
    for (size_t i = 0; i < ini->n; i++)
        if (ini->lines[i].section && strcmp(ini->lines[i].section, section) == 0)
            return i;
    return SIZE_MAX;
}

static size_t find_key(const bsf_ini *ini, size_t header, const char *key)
{
    for (size_t i = header + 1; i < ini->n && !ini->lines[i].section; i++)
        if (ini->lines[i].key && strcmp(ini->lines[i].key, key) == 0)
            return i;
    return SIZE_MAX;
}

/* Interpret line @i (pushed already) as text @t (its text without the
 * CR of a CRLF); @last_key: whether the line before was a key line or its
 * continuation. */
static int parse_text(bsf_ini *ini, size_t i, size_t header, bool *last_key, const char *t)
{
    struct ini_line *l = &ini->lines[i];
    const char *s = t;
    size_t len = strlen(t);

    l->owner = header;
    while (is_space(*s))
        s++;
    if (!*s || *s == '#' || *s == ';') {
        /* Blank lines end a continuation in configparser only when they
         * are followed by an unindented line: keeping the flag is simpler
         * and accepts the same files. */
        *last_key = *last_key && *s;
        return 0;
    }
    if (s != t) {
        if (!*last_key)
            return front_fail(-EINVAL, "ConfigParseError",
                              "line %zu: an indented line continues no setting", i + 1);
        return 0;
    }
    if (*s == '[') {
        const char *end = strrchr(s, ']');
        if (!end || strspn(end + 1, " \t") != strlen(end + 1))
            return front_fail(-EINVAL, "ConfigParseError", "line %zu: a section header has no ']'",
                              i + 1);
        if (!(l->section = trimmed(s + 1, (size_t)(end - s - 1))))
            return -ENOMEM;
        if (!*l->section)
            return front_fail(-EINVAL, "ConfigParseError", "line %zu: a section without a name",
                              i + 1);
        if (find_section(ini, l->section) < i)
            return front_fail(-EINVAL, "ConfigParseError", "line %zu: section [%s] given twice",
                              i + 1, l->section);
        l->owner = SIZE_MAX;
        *last_key = false;
        return 0;
    }
    size_t k = strcspn(s, "=:");
    if (k == len)
        return front_fail(-EINVAL, "ConfigParseError",
                          "line %zu: neither a section, a setting (key = value) nor a comment",
                          i + 1);
    if (header == SIZE_MAX)
        return front_fail(-EINVAL, "ConfigParseError",
                          "line %zu: a setting before the first [section]", i + 1);
    if (!(l->key = trimmed(s, k)) || !(l->value = trimmed(s + k + 1, len - k - 1)))
        return -ENOMEM;
    if (!key_valid(l->key))
        return front_fail(-EINVAL, "ConfigParseError",
                          "line %zu: '%s' is not a setting name (letters, digits, '_', '.', '-')",
                          i + 1, l->key);
    if (find_key(ini, header, l->key) < i)
        return front_fail(-EINVAL, "ConfigParseError", "line %zu: '%s' given twice in [%s]", i + 1,
                          l->key, ini->lines[header].section);
    *last_key = true;
    return 0;
}

/* A line keeps its bytes as the file has them, a CRLF's CR too, so that
 * the file written back (bsf_ini_format()) is the same and reads the
 * same; the CR is left out only where the line is interpreted. */
static int parse_line(bsf_ini *ini, size_t i, size_t header, bool *last_key)
{
    const char *raw = ini->lines[i].text;
    size_t n = strlen(raw);
    char *t;
    int r;

    if (n && raw[n - 1] == '\r')
        n--;
    if (!(t = strndup(raw, n)))
        return -ENOMEM;
    r = parse_text(ini, i, header, last_key, t);
    free(t);
    return r;
}

int bsf_ini_parse(const char *text, size_t len, bsf_ini **ret)
{
    bsf_ini *ini;
    size_t header = SIZE_MAX;
    bool last_key = false;
    int r = 0;

    front_error_clear();
    if (memchr(text, '\0', len))
        return front_fail(-EINVAL, "ConfigParseError", "the file holds a NUL byte");
    if (!(ini = calloc(1, sizeof *ini)))
        return -ENOMEM;
    for (size_t pos = 0; pos < len && r == 0;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;

        r = ini_push(ini, text + pos, end - pos);
        if (r == 0)
            r = parse_line(ini, ini->n - 1, header, &last_key);
        if (r == 0 && ini->lines[ini->n - 1].section)
            header = ini->n - 1;
        pos = end + 1;
    }
    if (r < 0) {
        bsf_ini_free(ini);
        return r;
    }
    *ret = ini;
    return 0;
}

const char *bsf_ini_get(const bsf_ini *ini, const char *section, const char *key)
{
    size_t h, k;

    if (!ini || (h = find_section(ini, section)) == SIZE_MAX ||
        (k = find_key(ini, h, key)) == SIZE_MAX)
        return NULL;
    return ini->lines[k].value;
}

bool bsf_ini_has_section(const bsf_ini *ini, const char *section)
{
    return ini && find_section(ini, section) != SIZE_MAX;
}

const char *bsf_ini_find(const bsf_ini *ini, const char *key, const char *value)
{
    for (size_t i = 0; ini && i < ini->n; i++)
        if (ini->lines[i].key && ini->lines[i].owner != SIZE_MAX &&
            strcmp(ini->lines[i].key, key) == 0 && strcmp(ini->lines[i].value, value) == 0)
            return ini->lines[ini->lines[i].owner].section;
    return NULL;
}

/* Insert a line at @at (moving the rest down) and parse it. */
static int ini_insert(bsf_ini *ini, size_t at, const char *text, size_t header)
{
    bool last_key = false;
    int r = ini_push(ini, text, strlen(text));
    if (r < 0)
        return r;
    struct ini_line l = ini->lines[ini->n - 1];
    memmove(&ini->lines[at + 1], &ini->lines[at], (ini->n - 1 - at) * sizeof l);
    ini->lines[at] = l;
    for (size_t i = at + 1; i < ini->n; i++)
        if (ini->lines[i].owner != SIZE_MAX && ini->lines[i].owner >= at)
            ini->lines[i].owner++;
    return parse_line(ini, at, header, &last_key);
}

int bsf_ini_set(bsf_ini *ini, const char *section, const char *key, const char *value)
{
    size_t h, k, at;
    char *line;
    int r;

    front_error_clear();
    if (!key_valid(key))
        return front_fail(-EINVAL, "InvalidParameterValue",
                          "'%s' is not a setting name (letters, digits, '_', '.', '-')", key);
    if (!*section || strpbrk(section, "[]\n\r") || is_space(section[0]) ||
        is_space(section[strlen(section) - 1]))
        return front_fail(-EINVAL, "InvalidParameterValue", "'%s' is not a section name", section);
    if (strpbrk(value, "\n\r") ||
        (*value && (is_space(value[0]) || is_space(value[strlen(value) - 1]))))
        return front_fail(-EINVAL, "InvalidParameterValue",
                          "the value of '%s' has a line break or blanks at an end", key);
    if (asprintf(&line, "%s = %s", key, value) < 0)
        return -ENOMEM;
    if ((h = find_section(ini, section)) == SIZE_MAX) {
        char *head;
        /* A new section goes at the end, a blank line apart. */
        if (ini->n && ini->lines[ini->n - 1].text[0] && (r = ini_insert(ini, ini->n, "", SIZE_MAX)))
            goto out;
        if (asprintf(&head, "[%s]", section) < 0) {
            r = -ENOMEM;
            goto out;
        }
        r = ini_insert(ini, ini->n, head, SIZE_MAX);
        free(head);
        if (r < 0)
            goto out;
        h = ini->n - 1;
        r = ini_insert(ini, ini->n, line, h);
    } else if ((k = find_key(ini, h, key)) != SIZE_MAX) {
        /* The line is replaced; its continuation lines (a nested value)
         * go with it, as the new value is a plain one. */
        struct ini_line *l = &ini->lines[k];
        size_t end = k + 1;
        while (end < ini->n && !ini->lines[end].section && !ini->lines[end].key &&
               is_space(ini->lines[end].text[0]))
            end++;
        for (size_t i = k + 1; i < end; i++)
            free(ini->lines[i].text);
        memmove(&ini->lines[k + 1], &ini->lines[end], (ini->n - end) * sizeof *l);
        ini->n -= end - k - 1;
        for (size_t i = k + 1; i < ini->n; i++)
            if (ini->lines[i].owner != SIZE_MAX && ini->lines[i].owner > k)
                ini->lines[i].owner -= end - k - 1;
        free(l->text);
        free(l->value);
        l->text = line;
        line = NULL;
        r = (l->value = strdup(value)) ? 0 : -ENOMEM;
    } else {
        /* After the section's last setting (or its header), so that the
         * comments above the next section stay with it. */
        at = h + 1;
        for (size_t i = h + 1; i < ini->n && !ini->lines[i].section; i++)
            if (ini->lines[i].key || (ini->lines[i].text[0] && is_space(ini->lines[i].text[0])))
                at = i + 1;
        r = ini_insert(ini, at, line, h);
    }
out:
    free(line);
    return r;
}

int bsf_ini_format(const bsf_ini *ini, char **ret_text)
{
    struct render_buf b = {0};

    for (size_t i = 0; i < ini->n; i++) {
        render_buf_puts(&b, ini->lines[i].text);
        render_buf_puts(&b, "\n");
    }
    return render_buf_finish(&b, ret_text);
}

/* ---- settings: the precedence ------------------------------------------ */

static bool account_valid(const char *a)
{
    return strlen(a) == 12 && strspn(a, "0123456789") == 12;
}

/* @key of profile @p: the credentials file's [p] first for the settings
 * that belong there, then the config file's [profile p] ([default] for
 * the default profile). */
static const char *profile_get(const bsf_settings_input *in, const char *p, const char *key,
                               const char **ret_source)
{
    char sec[300];
    const char *v = NULL;

    if (strncmp(key, "aws_", 4) == 0 || strcmp(key, "blocksnap_account_id") == 0) {
        if ((v = bsf_ini_get(in->credentials, p, key))) {
            *ret_source = "credentials-file";
            return v;
        }
    }
    if (strcmp(p, "default") == 0)
        snprintf(sec, sizeof sec, "default");
    else
        snprintf(sec, sizeof sec, "profile %.255s", p);
    if ((v = bsf_ini_get(in->config, sec, key)))
        *ret_source = "config-file";
    return v;
}

int bsf_settings_resolve(const bsf_settings_input *in, bsf_settings *ret)
{
    bsf_settings s = {0};
    char sec[300];
    const char *src = NULL;

    front_error_clear();
    if (in->profile_flag) {
        s.profile = in->profile_flag;
        s.profile_source = "flag";
    } else if (in->profile_env && *in->profile_env) {
        s.profile = in->profile_env;
        s.profile_source = "env";
    } else {
        s.profile = "default";
    }
    if (s.profile_source) {
        if (strcmp(s.profile, "default") == 0)
            snprintf(sec, sizeof sec, "default");
        else
            snprintf(sec, sizeof sec, "profile %.255s", s.profile);
        if (strlen(s.profile) > 255 || (!bsf_ini_has_section(in->config, sec) &&
                                        !bsf_ini_has_section(in->credentials, s.profile)))
            return front_fail(-ENOENT, "ProfileNotFound",
                              "the profile '%.255s' is in neither the config nor the "
                              "credentials file",
                              s.profile);
    }

    /* The store: a directory beats a region name at each level, as
     * --store beats --region. */
    if (in->store_flag) {
        s.store_dir = in->store_flag;
        s.store_source = "flag";
    }
    if (in->region_flag) {
        s.region = in->region_flag;
        s.region_source = "flag";
    } else if (!s.store_dir && in->store_env && *in->store_env) {
        s.store_dir = in->store_env;
        s.store_source = "env";
    } else if (in->region_env && *in->region_env) {
        s.region = in->region_env;
        s.region_source = "env";
    } else if ((s.region = profile_get(in, s.profile, "region", &src))) {
        s.region_source = src;
    }
    if (s.region && !s.store_dir) {
        if (strlen(s.region) > 255)
            return front_fail(-EINVAL, "InvalidParameterValue", "a region name is too long");
        snprintf(sec, sizeof sec, "region %.255s", s.region);
        const char *p = bsf_ini_get(in->config, sec, "store_path");
        if (p && p[0] != '/' && strncmp(p, "~/", 2) != 0)
            return front_fail(-EINVAL, "InvalidParameterValue",
                              "[region %s] store_path '%s' is neither absolute nor under ~/",
                              s.region, p);
        if (p) {
            s.store_dir = p;
            s.store_source = "config-file";
        }
    }

    s.access_key = profile_get(in, s.profile, "aws_access_key_id", &src);
    if ((s.account = profile_get(in, s.profile, "blocksnap_account_id", &src))) {
        s.account_source = src;
        if (!account_valid(s.account))
            return front_fail(-EINVAL, "InvalidParameterValue",
                              "profile '%s': blocksnap_account_id '%s' is not 12 digits", s.profile,
                              s.account);
    }
    if ((s.output = profile_get(in, s.profile, "output", &src)))
        s.output_source = src;
    *ret = s;
    return 0;
}

/* ---- the files themselves ---- */

#define CONFIG_FILE_MAX (1u << 20)

char *bsf_expand_home(const char *p)
{
    const char *home = getenv("HOME");
    char *out;

    if (strncmp(p, "~/", 2) == 0 && home && *home)
        return asprintf(&out, "%s/%s", home, p + 2) < 0 ? NULL : out;
    return strdup(p);
}

char *bsf_settings_path(const char *env, const char *name)
{
    const char *e = getenv(env), *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    char *p = NULL;

    if (e && *e)
        return bsf_expand_home(e);
    if (xdg && *xdg && xdg[0] == '/') {
        if (asprintf(&p, "%s/blocksnap/%s", xdg, name) < 0)
            p = NULL;
    } else if (home && *home) {
        if (asprintf(&p, "%s/.config/blocksnap/%s", home, name) < 0)
            p = NULL;
    }
    return p;
}

int bsf_settings_read(const char *path, bsf_ini **ret)
{
    FILE *f;
    char *buf;
    size_t n;
    int r;

    front_error_clear();
    *ret = NULL;
    if (!(f = fopen(path, "re"))) {
        if (errno == ENOENT)
            return 0;
        r = -errno;
        return front_fail(r, "ConfigError", "%s: %s", path, strerror(-r));
    }
    if (!(buf = malloc(CONFIG_FILE_MAX + 1))) {
        fclose(f);
        return front_fail(-ENOMEM, "InternalError", "out of memory");
    }
    /* Read to EOF: the file may be a pipe.  io-ok: a small text file read
     * once through stdio, never a volume. */
    n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
    if (ferror(f) || n > CONFIG_FILE_MAX) {
        r = front_fail(-EIO, "ConfigError", "%s: %s", path,
                       ferror(f) ? "cannot be read" : "larger than 1 MiB");
        fclose(f);
        free(buf);
        return r;
    }
    fclose(f);
    r = bsf_ini_parse(buf, n, ret);
    free(buf);
    if (r < 0 && r != -ENOMEM) {
        /* the parser's error, with the file named: copies, as front_fail()
         * writes the record they are in */
        const bsnap_error *e = bsf_last_error();
        char msg[1024], code[128];
        snprintf(msg, sizeof msg, "%s", e->message);
        snprintf(code, sizeof code, "%s", e->code);
        return front_fail(r, code, "%s: %s", path, msg);
    }
    return r;
}

int bsf_region_store_path(const bsf_ini *config, const char *region, char **ret_path)
{
    char sec[300];
    const char *p;

    front_error_clear();
    *ret_path = NULL;
    snprintf(sec, sizeof sec, "region %.255s", region);
    if (!(p = bsf_ini_get(config, sec, "store_path")))
        return 0;
    if (p[0] != '/' && strncmp(p, "~/", 2) != 0)
        return front_fail(-EINVAL, "InvalidParameterValue",
                          "[region %s] store_path '%s' is neither absolute nor under ~/", region,
                          p);
    if (!(*ret_path = bsf_expand_home(p)))
        return front_fail(-ENOMEM, "InternalError", "out of memory");
    return 1;
}

int bsf_account_for_access_key(const bsf_ini *credentials, const char *access_key,
                               const char **ret_account)
{
    const char *p, *a;

    front_error_clear();
    if (!(p = bsf_ini_find(credentials, "aws_access_key_id", access_key)))
        return front_fail(-ENOENT, "AuthFailure", "access key '%s' is not known", access_key);
    if (!(a = bsf_ini_get(credentials, p, "blocksnap_account_id")) || !account_valid(a))
        return front_fail(-ENOENT, "AuthFailure",
                          "access key '%s' (profile '%s') has no 12-digit blocksnap_account_id",
                          access_key, p);
    *ret_account = a;
    return 0;
}

int bsf_access_key_lookup(const bsf_ini *credentials, const char *access_key,
                          const char **ret_secret, const char **ret_account)
{
    const char *p, *secret, *account;
    int r;

    if ((r = bsf_account_for_access_key(credentials, access_key, &account)) < 0)
        return r;
    p = bsf_ini_find(credentials, "aws_access_key_id", access_key);
    if (!(secret = bsf_ini_get(credentials, p, "aws_secret_access_key")) || !secret[0])
        return front_fail(-ENOENT, "AuthFailure",
                          "access key '%s' (profile '%s') has no aws_secret_access_key", access_key,
                          p);
    *ret_secret = secret;
    *ret_account = account;
    return 0;
}

const char *bsf_ini_section(const bsf_ini *ini, size_t i)
{
    for (size_t k = 0; ini && k < ini->n; k++)
        if (ini->lines[k].section && i-- == 0)
            return ini->lines[k].section;
    return NULL;
}
