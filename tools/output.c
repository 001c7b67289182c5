/* output.c - what the CLI prints: documents on stdout, errors on stderr.
 *
 * Documents are the engine's, rendered by the front-end library's
 * bsf_render() in the --output format.  Errors are one line,
 * "blocksnap: error: MESSAGE (Code)", as the engine recorded them.  Every
 * message goes out through bsf_escape(): it may quote what the user typed
 * or a name from the store, and an ESC or a newline in those must neither
 * reach the terminal nor forge a line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

const char *output_format(const struct cli *cli, const char *fallback)
{
    return cli->output ? cli->output : fallback;
}

int output_doc(const struct cli *cli, const json_t *doc)
{
    json_t *paged = NULL;
    int r;

    /* A verb that lists and does not page through the engine's pages
     * itself (cli_describe_paged()): its whole answer is one page. */
    if (!cli->paging.on || cli->dry_run)
        return output_render(cli, doc);
    if ((r = cli_page_doc(cli, doc, &paged)) != EXIT_OK)
        return r;
    r = output_render(cli, paged);
    json_decref(paged);
    return r;
}

int output_answer(const struct cli *cli, int r, json_t *doc)
{
    if (r < 0) {
        json_decref(doc);
        return output_engine_error();
    }
    r = output_doc(cli, doc);
    json_decref(doc);
    return r;
}

int cli_id_call(struct cli *cli, const struct args *a, const char *opt, cli_id_call_func fn)
{
    json_t *doc = NULL;
    int r;

    if ((r = cli_open_store(cli)) != EXIT_OK)
        return r;
    r = fn(cli->store, arg_value(a, opt), &doc);
    return output_answer(cli, r, doc);
}

int cli_usage_verb(struct cli *cli, const char *const *ids, size_t n, const char *member,
                   cli_usage_func fn, const char *const *sizes)
{
    json_t *doc, *list;
    int r;

    if ((r = cli_open_store(cli)) != EXIT_OK)
        return r;
    doc = json_object();
    list = json_array();
    if (!doc || !list || json_object_set_new(doc, member, list) < 0) {
        json_decref(doc);
        return output_error_nomem();
    }
    for (size_t i = 0; i < n; i++) {
        json_t *o = NULL;
        if (fn(cli->store, ids[i], &o) < 0) {
            json_decref(doc);
            return output_engine_error();
        }
        if (!o || json_array_append_new(list, o) < 0) {
            json_decref(doc);
            return output_error_nomem();
        }
    }
    r = output_sized_doc(cli, doc, sizes);
    json_decref(doc);
    return r;
}

static int render(const struct cli *cli, const json_t *doc);

int output_render(const struct cli *cli, const json_t *doc)
{
    json_t *sel = NULL;
    int r;

    if (cli->dry_run)
        return EXIT_OK;
    if (!cli->query)
        return render(cli, doc);
    /* --query picks from the whole answer (NextToken too), as the aws
     * CLI's; the result is rendered in the --output form like a document */
    if (bsf_query_run(cli->query, doc, &sel) < 0)
        return output_error(bsf_last_error());
    r = render(cli, sel);
    json_decref(sel);
    return r;
}

static int render(const struct cli *cli, const json_t *doc)
{
    char *text = NULL, title[64];
    size_t n = 0;

    /* The table's title is the operation, as the AWS CLI's: the verb in
     * CamelCase ("describe-snapshots" -> "DescribeSnapshots"). */
    for (const char *p = cli->verb->name; *p && n + 1 < sizeof title; p++) {
        if (*p == '-')
            continue;
        title[n++] = (p == cli->verb->name || p[-1] == '-') && *p >= 'a' && *p <= 'z'
                         ? (char)(*p - 'a' + 'A')
                         : *p;
    }
    title[n] = '\0';
    if (bsf_render(doc, output_format(cli, "json"), title, &text) < 0)
        return output_error(bsf_last_error());
    fputs(text, stdout);
    free(text);
    return EXIT_OK;
}

/* In @v and every object and array below it, the integer members named in
 * @names become bsf_size_text() strings.  -1 when out of memory. */
static int sizes_for_people(json_t *v, const char *const *names)
{
    const char *key;
    json_t *m;
    size_t i;

    if (json_is_array(v)) {
        json_array_foreach (v, i, m)
            if (sizes_for_people(m, names) < 0)
                return -1;
        return 0;
    }
    if (!json_is_object(v))
        return 0;
    /* replacing a member's value keeps the iteration valid */
    json_object_foreach (v, key, m) {
        char buf[BSF_SIZE_TEXT_MAX];
        bool named = false;
        for (i = 0; names[i] && !named; i++)
            named = !strcmp(key, names[i]);
        if (named && json_is_integer(m) && json_integer_value(m) >= 0) {
            if (json_object_set_new(
                    v, key, json_string(bsf_size_text((uint64_t)json_integer_value(m), buf))) < 0)
                return -1;
        } else if (sizes_for_people(m, names) < 0) {
            return -1;
        }
    }
    return 0;
}

int output_sized_doc(const struct cli *cli, const json_t *doc, const char *const *names)
{
    const char *format = output_format(cli, "json");
    json_t *copy;
    int r;

    /* JSON is for programs: exact integers, always */
    if (!strcmp(format, "json"))
        return output_doc(cli, doc);
    if (!(copy = json_deep_copy(doc)))
        return output_error_nomem();
    r = sizes_for_people(copy, names) < 0 ? output_error_nomem() : output_doc(cli, copy);
    json_decref(copy);
    return r;
}

int output_error_nomem(void)
{
    fprintf(stderr, "blocksnap: error: out of memory (InternalError)\n");
    return EXIT_FAILED;
}

void output_escaped(FILE *f, const char *s)
{
    char *e = NULL;

    if (bsf_escape(s, &e) < 0) {
        fputs("(out of memory)", f);
        return;
    }
    fputs(e, f);
    free(e);
}

void output_line(const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    output_escaped(stderr, n >= 0 ? msg : "blocksnap: error: out of memory");
    fputs("\n", stderr);
    free(n >= 0 ? msg : NULL);
}

int output_engine_error(void)
{
    return output_error(bsnap_last_error());
}

int output_error(const bsnap_error *e)
{
    if (e->err == -ECANCELED) {
        fprintf(stderr, "blocksnap: error: interrupted\n");
        return EXIT_FAILED;
    }
    char *msg = cli_message(e);

    fputs("blocksnap: error: ", stderr);
    output_escaped(stderr, msg && msg[0] ? msg : strerror(e->err ? -e->err : EIO));
    free(msg);
    fputs(" (", stderr);
    output_escaped(stderr, e->code[0] ? e->code : "InternalError");
    fputs(")", stderr);
    if (e->reason && e->reason[0]) { /* EBS direct's Reason */
        fputs(" reason ", stderr);
        output_escaped(stderr, e->reason);
    }
    fputs("\n", stderr);
    return EXIT_FAILED;
}

int output_usage_error(const struct verb *verb, const char *code, const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;
    int n;

    fputs("blocksnap: error: ", stderr);
    va_start(ap, fmt);
    n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    output_escaped(stderr, n >= 0 ? msg : "(out of memory)");
    free(n >= 0 ? msg : NULL);
    fprintf(stderr, " (%s)\n", code);
    if (verb)
        fprintf(stderr, "Try 'blocksnap %s --help'\n", verb->name);
    else
        fprintf(stderr, "Try 'blocksnap --help'\n");
    return EXIT_USAGE;
}

char *cli_message(const bsnap_error *e)
{
    char *msg = NULL;

    if (bsf_error_message(e, bsf_cli_word, NULL, &msg) < 0)
        return strdup(e->message ? e->message : "");
    return msg;
}

void output_log(void *ud, int level, const char *category, const char *msg)
{
    const struct cli *cli = ud;
    const bsnap_error_ref *refs;
    size_t nrefs;
    char *text = NULL;

    /* Not "error:": that prefix is kept for the one line that says why the
     * command failed. */
    /* Notices say what a long wait waits for (a store's lock). */
    if (level <= BSNAP_LOG_NOTICE && !cli->quiet) {
        fprintf(stderr, "blocksnap: %s: ", category);
    } else if (level >= BSNAP_LOG_DEBUG) {
        fprintf(stderr, "blocksnap: debug: %s: ", category);
    } else {
        return;
    }
    /* the engine's names in the CLI's words */
    refs = bsnap_log_refs(&nrefs);
    if (nrefs && bsf_refs_rewrite(msg, refs, nrefs, bsf_cli_word, NULL, &text) == 0)
        msg = text;
    output_escaped(stderr, msg);
    fputs("\n", stderr);
    free(text);
}
