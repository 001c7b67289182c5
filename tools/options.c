/* options.c - the command-line parser: AWS CLI style.
 *
 * "--flag VALUE" and "--flag=VALUE"; list flags take every following
 * argument up to the next one that starts with "--" ("--snapshot-ids a b c"),
 * and may be repeated; "--" ends the options.  Global options are accepted
 * before and after the verb.  Every mistake is a usage error (exit 2).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

static bool is_option(const char *s)
{
    return s[0] == '-' && s[1] == '-' && s[2] != '\0';
}

/* Find @name (@len bytes) in @table; its index or -1. */
static int find_opt(const struct opt *table, const char *name, size_t len)
{
    if (!table)
        return -1;
    for (int i = 0; table[i].name; i++)
        if (strlen(table[i].name) == len && strncmp(table[i].name, name, len) == 0)
            return i;
    return -1;
}

static int list_push(const struct verb *verb, const char *name, struct optval *ov,
                     const char *value)
{
    const char **l = realloc(ov->list, (ov->n + 1) * sizeof *l);

    if (!l)
        return output_usage_error(verb, "InternalError", "out of memory parsing --%s", name);
    ov->list = l;
    ov->list[ov->n++] = value;
    return EXIT_OK;
}

int options_parse(int argc, char **argv, int first, const struct verb *verb, struct args *a,
                  int *ret_next)
{
    int i = first;
    bool only_positional = false;

    a->verb = verb;
    for (; i < argc; i++) {
        const char *arg = argv[i], *name, *eq, *inline_value = NULL;
        const struct opt *o;
        struct optval *ov;
        size_t len;
        int k;

        if (!only_positional && strcmp(arg, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (only_positional || !is_option(arg)) {
            if (!verb)
                break; /* the verb itself */
            if (!only_positional && arg[0] == '-' && arg[1] != '\0')
                return output_usage_error(verb, "UnknownParameter", "unknown option '%s'", arg);
            if (a->npos >= verb->max_positional || a->npos >= ARGS_MAX_POSITIONAL)
                return output_usage_error(verb, "UnknownParameter", "unexpected argument '%s'",
                                          arg);
            a->pos[a->npos++] = arg;
            continue;
        }
        name = arg + 2;
        eq = strchr(name, '=');
        len = eq ? (size_t)(eq - name) : strlen(name);
        if (eq)
            inline_value = eq + 1;
        if ((k = find_opt(verb ? verb->opts : NULL, name, len)) >= 0) {
            o = &verb->opts[k];
            ov = &a->v[k];
        } else if ((k = find_opt(global_options, name, len)) >= 0) {
            o = &global_options[k];
            ov = &a->global[k];
        } else {
            bsf_suggest sg;
            char hint[512];

            bsf_suggest_init(&sg, name, len);
            for (int j = 0; verb && verb->opts[j].name; j++)
                bsf_suggest_add(&sg, verb->opts[j].name);
            for (int j = 0; global_options[j].name; j++)
                bsf_suggest_add(&sg, global_options[j].name);
            return output_usage_error(verb, "UnknownParameter", "unknown option '--%.*s'%s",
                                      (int)len, name,
                                      bsf_suggest_text(&sg, "--", hint, sizeof hint));
        }

        if (o->kind == OPT_FLAG) {
            if (inline_value)
                return output_usage_error(verb, "InvalidParameterValue",
                                          "option --%s takes no value", o->name);
            ov->set = true;
            continue;
        }
        if (o->kind == OPT_VALUE) {
            if (ov->set)
                return output_usage_error(verb, "InvalidParameterValue", "option --%s given twice",
                                          o->name);
            if (!inline_value) {
                if (i + 1 >= argc || is_option(argv[i + 1]))
                    return output_usage_error(verb, "MissingParameter",
                                              "option --%s needs a value (%s)", o->name,
                                              o->metavar);
                inline_value = argv[++i];
            }
            ov->set = true;
            ov->value = inline_value;
            continue;
        }
        /* OPT_LIST */
        ov->set = true;
        if (inline_value && list_push(verb, o->name, ov, inline_value) != EXIT_OK)
            return EXIT_USAGE;
        while (i + 1 < argc && !is_option(argv[i + 1]) && strcmp(argv[i + 1], "--") != 0)
            if (list_push(verb, o->name, ov, argv[++i]) != EXIT_OK)
                return EXIT_USAGE;
        if (ov->n == 0)
            return output_usage_error(verb, "MissingParameter",
                                      "option --%s needs at least one value (%s)", o->name,
                                      o->metavar);
    }
    if (ret_next)
        *ret_next = i;
    if (!verb)
        return EXIT_OK;
    for (int k = 0; verb->opts && verb->opts[k].name; k++)
        if (verb->opts[k].required && !a->v[k].set)
            return output_usage_error(verb, "MissingParameter", "missing required option --%s",
                                      verb->opts[k].name);
    return EXIT_OK;
}

void args_free(struct args *a)
{
    for (int k = 0; k < ARGS_MAX_OPTS; k++) {
        free(a->v[k].list);
        free(a->global[k].list);
        a->v[k].list = a->global[k].list = NULL;
    }
}

static const struct optval *lookup(const struct args *a, const char *name)
{
    int k = a->verb ? find_opt(a->verb->opts, name, strlen(name)) : -1;

    if (k >= 0)
        return &a->v[k];
    k = find_opt(global_options, name, strlen(name));
    /* Asking for an option no table has is a programmer error. */
    if (k < 0) {
        fprintf(stderr, "blocksnap: internal error: no option --%s\n", name);
        abort();
    }
    return &a->global[k];
}

const char *arg_value(const struct args *a, const char *name)
{
    const struct optval *ov = lookup(a, name);

    return ov->set ? ov->value : NULL;
}

bool arg_flag(const struct args *a, const char *name)
{
    return lookup(a, name)->set;
}

const char *const *arg_list(const struct args *a, const char *name, size_t *ret_n)
{
    const struct optval *ov = lookup(a, name);

    *ret_n = ov->n;
    return ov->list;
}

int arg_uint(const struct verb *verb, const char *name, const char *text, unsigned min,
             unsigned max, unsigned *ret)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end || errno || v < min || v > max)
        return output_usage_error(verb, "InvalidParameterValue",
                                  "--%s: '%s' is not a number from %u to %u", name, text, min, max);
    *ret = (unsigned)v;
    return EXIT_OK;
}

int cli_parse_tags(const struct cli *cli, const struct args *a, bool empty_value,
                   bsnap_tag **ret_tags, size_t *ret_n)
{
    size_t nargs;
    const char *const *args = arg_list(a, "tags", &nargs);

    *ret_tags = NULL;
    *ret_n = 0;
    if (nargs == 0)
        return EXIT_OK;
    if (bsf_tags_parse(args, nargs, ret_tags, ret_n) < 0)
        return output_usage_error(cli->verb, bsf_last_error()->code, "--tags: %s",
                                  bsf_last_error()->message);
    for (size_t i = 0; empty_value && i < *ret_n; i++)
        if (!(*ret_tags)[i].value)
            (*ret_tags)[i].value = "";
    return EXIT_OK;
}

int cli_parse_filters(const struct cli *cli, const struct args *a, bsnap_filter **ret,
                      size_t *ret_n)
{
    size_t nargs;
    const char *const *args = arg_list(a, "filters", &nargs);

    *ret = NULL;
    *ret_n = 0;
    if (nargs > 0 && bsf_filters_parse(args, nargs, ret, ret_n) < 0)
        return output_usage_error(cli->verb, bsf_last_error()->code, "--filters: %s",
                                  bsf_last_error()->message);
    return EXIT_OK;
}

int cli_describe_options(const struct cli *cli, const struct args *a, const char *ids_name,
                         bsnap_describe_options *ret)
{
    bsnap_describe_options o = {0};
    const char *max = arg_value(a, "max-results");
    bsnap_filter *filters = NULL;
    unsigned n = 0;
    int r;

    /* EC2 allows 5 and more (a larger page is cut to 1000 by the engine). */
    if (max && (r = arg_uint(cli->verb, "max-results", max, BSNAP_MAX_RESULTS_MIN, UINT32_MAX,
                             &n)) != EXIT_OK)
        return r;
    if ((r = cli_parse_filters(cli, a, &filters, &o.nfilters)) != EXIT_OK)
        return r;
    o.filters = filters;
    o.ids = arg_list(a, ids_name, &o.nids);
    o.max_results = n;
    o.next_token = arg_value(a, "next-token");
    *ret = o;
    return EXIT_OK;
}

int cli_check_text(const struct cli *cli, const char *name, const char *value, size_t max)
{
    char field[64];

    snprintf(field, sizeof field, "--%s", name);
    if (bsnap_text_check(field, value, max) < 0)
        return output_usage_error(cli->verb, bsnap_last_error()->code, "%s",
                                  bsnap_last_error()->message);
    return EXIT_OK;
}

/* Largest file:// value read (the engine refuses more anyway). */
#define INPUT_TEXT_MAX (1u << 20)

int cli_input_text(const char *name, const char *v, char **ret_buf, const char **ret)
{
    FILE *f;
    char *buf;
    size_t n;
    int err;

    *ret_buf = NULL;
    *ret = v;
    if (!v || strncmp(v, "file://", 7) != 0)
        return EXIT_OK;
    f = fopen(v + 7, "r");
    if (!f) {
        output_line("blocksnap: error: --%s: %s: %s (InvalidParameterValue)", name, v + 7,
                    strerror(errno));
        return EXIT_FAILED;
    }
    /* fread reads to EOF (or one byte past the limit), whatever the file
     * is: a pipe or /dev/stdin as well as a regular file.  A read error (a
     * directory, EIO) must not pass for the end of a shorter input. */
    buf = malloc(INPUT_TEXT_MAX + 2);
    /* io-ok: one small JSON file per run, read once */
    n = buf ? fread(buf, 1, INPUT_TEXT_MAX + 1, f) : 0;
    err = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (!buf || n > INPUT_TEXT_MAX || err) {
        free(buf);
        output_line("blocksnap: error: --%s: %s: %s (InvalidParameterValue)", name, v + 7,
                    !buf  ? "out of memory"
                    : err ? strerror(err)
                          : "larger than 1 MiB");
        return EXIT_FAILED;
    }
    buf[n] = '\0';
    *ret_buf = buf;
    *ret = buf;
    return EXIT_OK;
}
