/* paging.c - the AWS CLI's paging: --max-items, --starting-token and
 * --page-size.
 *
 * As the aws CLI does it: a verb's results come from the engine page by
 * page (--page-size results a call, the engine's NextToken to the next),
 * the CLI prints at most --max-items of them and, when more remain, its
 * own "NextToken", which --starting-token takes to go on from the first
 * result not printed.  That token is opaque: hex of "bsp1 VERB ARGS SKIP
 * ENGINE-TOKEN", the engine's token of the page where the next result is
 * (empty: the first page) and how many of that page's results were
 * printed already.  It names the verb and a hash of the verb's options
 * (ids, filters, owners: not the paging ones), so the token of another
 * verb or other options is refused; the engine's token is checked by the
 * engine too (the same store and filters).
 *
 * The describe verbs whose engine calls page (snapshots, volumes, images)
 * page through them with cli_describe_paged(); any other verb that prints
 * one list is paged by output_doc() over its whole answer, one page.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

#define TOKEN_MAGIC "bsp1"
/* The engine's page when --max-items is given without --page-size: the
 * most it hands out in one (EC2's, and the aws CLI's default). */
#define PAGE_DEFAULT 1000

int cli_paging_options(struct cli *cli, const struct args *a)
{
    const char *max = arg_value(a, "max-items"), *size = arg_value(a, "page-size");
    const char *start = arg_value(a, "starting-token");
    struct paging *p = &cli->paging;
    int r;

    if (!max && !size && !start)
        return EXIT_OK;
    /* The aws CLI has them on the operations that list: here the describe
     * and list verbs and the get- verbs that print a list. */
    if (strncmp(cli->verb->name, "describe-", 9) != 0 &&
        strncmp(cli->verb->name, "list-", 5) != 0 && strncmp(cli->verb->name, "get-", 4) != 0)
        return output_usage_error(cli->verb, "InvalidParameterCombination",
                                  "--%s: %s prints no list to page",
                                  max    ? "max-items"
                                  : size ? "page-size"
                                         : "starting-token",
                                  cli->verb->name);
    if (max && (r = arg_uint(cli->verb, "max-items", max, 1, UINT32_MAX, &p->max_items)) != EXIT_OK)
        return r;
    if (size && (r = arg_uint(cli->verb, "page-size", size, BSNAP_MAX_RESULTS_MIN, 1000,
                              &p->page_size)) != EXIT_OK)
        return r;
    if (start && !start[0])
        return output_usage_error(cli->verb, "InvalidParameterValue", "--starting-token: empty");
    p->starting_token = start;
    p->on = true;
    /* FNV-1a of the verb's options as given */
    p->args_hash = 14695981039346656037ull;
    for (int k = 0; cli->verb->opts && cli->verb->opts[k].name; k++) {
        const struct optval *ov = &a->v[k];
        const char *one[1] = {ov->value};
        const char *const *v = ov->list ? ov->list : one;
        size_t n = ov->list ? ov->n : ov->value ? 1 : 0;
        if (!ov->set)
            continue;
        for (size_t i = 0; i <= n; i++) { /* the name, then each value */
            const char *t = i ? v[i - 1] : cli->verb->opts[k].name;
            for (size_t j = 0; j <= strlen(t); j++) /* with the NUL: "ab","c" != "a","bc" */
                p->args_hash = (p->args_hash ^ (unsigned char)t[j]) * 1099511628211ull;
        }
    }
    return EXIT_OK;
}

/* ---- the token ------------------------------------------------------------ */

static char *token_make(const struct cli *cli, uint64_t skip, const char *engine)
{
    static const char hex[] = "0123456789abcdef";
    char *text = NULL, *out;
    size_t n;

    if (asprintf(&text, TOKEN_MAGIC " %s %016" PRIx64 " %" PRIu64 " %s", cli->verb->name,
                 cli->paging.args_hash, skip, engine ? engine : "") < 0)
        return NULL;
    n = strlen(text);
    if ((out = malloc(2 * n + 1))) {
        for (size_t i = 0; i < n; i++) {
            out[2 * i] = hex[(unsigned char)text[i] >> 4];
            out[2 * i + 1] = hex[(unsigned char)text[i] & 15];
        }
        out[2 * n] = '\0';
    }
    free(text);
    return out;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode --starting-token @tok of verb @verb: *@ret_skip and the engine's
 * token (malloc'd in *@ret_engine; NULL: the first page).  EXIT_OK or
 * EXIT_FAILED after saying why. */
static int token_read(const struct cli *cli, const char *tok, uint64_t *ret_skip, char **ret_engine)
{
    const char *verb = cli->verb->name;
    size_t n = strlen(tok), vlen = strlen(verb);
    char *text = NULL, *end, hash[18];
    uint64_t skip;
    int ok = n % 2 == 0 && n <= 8192;

    if (ok && !(text = malloc(n / 2 + 1)))
        return output_error_nomem();
    for (size_t i = 0; ok && i < n / 2; i++) {
        int hi = hexval(tok[2 * i]), lo = hexval(tok[2 * i + 1]);
        ok = hi >= 0 && lo >= 0 && (hi || lo);
        if (ok)
            text[i] = (char)(hi << 4 | lo);
    }
    if (ok) {
        text[n / 2] = '\0';
        snprintf(hash, sizeof hash, " %016" PRIx64, cli->paging.args_hash);
        ok = !strncmp(text, TOKEN_MAGIC " ", 5) && !strncmp(text + 5, verb, vlen) &&
             !strncmp(text + 5 + vlen, hash, 17) && text[22 + vlen] == ' ' &&
             text[23 + vlen] >= '0' && text[23 + vlen] <= '9';
    }
    if (ok) {
        errno = 0;
        skip = strtoull(text + 23 + vlen, &end, 10);
        ok = !errno && *end == ' ';
    }
    if (!ok) {
        free(text);
        output_line("blocksnap: error: --starting-token: '%.100s%s' is not a NextToken that %s "
                    "printed with these options (InvalidParameterValue)",
                    tok, n > 100 ? "..." : "", verb);
        return EXIT_FAILED;
    }
    *ret_skip = skip;
    *ret_engine = end[1] ? strdup(end + 1) : NULL;
    if (end[1] && !*ret_engine) {
        free(text);
        return output_error_nomem();
    }
    free(text);
    return EXIT_OK;
}

/* ---- the walk -------------------------------------------------------------- */

/* The one list of @doc: its only member that is an array, or NULL. */
static const char *list_key(const json_t *doc)
{
    const char *key, *found = NULL;
    json_t *v;

    json_object_foreach ((json_t *)doc, key, v)
        if (json_is_array(v)) {
            if (found)
                return NULL;
            found = key;
        }
    return found;
}

/* One page: @engine_token (NULL: the first) and at most @max results,
 * 0: as many as the call gives.  EXIT_OK with *@ret, else the error
 * printed. */
typedef int (*page_fn)(const struct cli *cli, const void *ud, uint32_t max,
                       const char *engine_token, json_t **ret);

static int walk(const struct cli *cli, page_fn fn, const void *ud, json_t **ret)
{
    const struct paging *p = &cli->paging;
    uint64_t skip = 0, taken = 0;
    char *etok = NULL, *next_tok = NULL, *key = NULL;
    json_t *out = NULL, *items = json_array(), *page = NULL;
    int r = EXIT_OK;

    if (!items)
        return output_error_nomem();
    if (p->starting_token && (r = token_read(cli, p->starting_token, &skip, &etok)) != EXIT_OK)
        goto out;
    for (;;) {
        json_t *list, *item;
        const char *next;
        size_t n, i;

        if ((r = fn(cli, ud,
                    p->page_size   ? p->page_size
                    : p->max_items ? PAGE_DEFAULT
                                   : 0,
                    etok, &page)) != EXIT_OK)
            goto out;
        if (!out && !list_key(page)) {
            output_line(
                "blocksnap: error: %s printed no one list to page (InvalidParameterCombination)",
                cli->verb->name);
            r = EXIT_FAILED;
            goto out;
        }
        /* the key outlives the first page */
        if (!out && (!(key = strdup(list_key(page))) || !(out = json_copy(page)))) {
            r = output_error_nomem();
            goto out;
        }
        list = json_object_get(page, key);
        n = json_array_size(list);
        next = json_string_value(json_object_get(page, "NextToken"));
        for (i = skip; i < n; i++) {
            if (p->max_items && taken == p->max_items)
                break;
            item = json_array_get(list, i);
            if (json_array_append(items, item) < 0) {
                r = output_error_nomem();
                goto out;
            }
            taken++;
        }
        if (i < n) { /* stopped inside this page: go on from its result i */
            if (!(next_tok = token_make(cli, i, etok))) {
                r = output_error_nomem();
                goto out;
            }
            break;
        }
        skip = skip > n ? skip - n : 0;
        if (!next)
            break;
        free(etok);
        if (!(etok = strdup(next))) {
            r = output_error_nomem();
            goto out;
        }
        json_decref(page);
        page = NULL;
        if (p->max_items && taken == p->max_items) { /* more remain, from the next page */
            if (!(next_tok = token_make(cli, 0, etok)))
                r = output_error_nomem();
            break;
        }
    }
    if (r == EXIT_OK) {
        json_object_del(out, "NextToken");
        if (json_object_set(out, key, items) < 0 ||
            (next_tok && json_object_set_new(out, "NextToken", json_string(next_tok)) < 0))
            r = output_error_nomem();
    }
out:
    if (r == EXIT_OK)
        *ret = out;
    else
        json_decref(out);
    json_decref(page);
    json_decref(items);
    free(etok);
    free(next_tok);
    free(key);
    return r;
}

/* ---- the two kinds of verbs ----------------------------------------------- */

struct engine_pages {
    cli_describe_fn fn;
    const void *ud;
    const bsnap_describe_options *o;
};

static int engine_page(const struct cli *cli, const void *ud, uint32_t max,
                       const char *engine_token, json_t **ret)
{
    const struct engine_pages *e = ud;
    bsnap_describe_options o = *e->o;

    o.max_results = max;
    o.next_token = engine_token;
    if (e->fn(cli->store, e->ud, &o, ret) < 0)
        return output_engine_error();
    return EXIT_OK;
}

int cli_describe_paged(const struct cli *cli, cli_describe_fn fn, const void *ud,
                       const bsnap_describe_options *o)
{
    struct engine_pages e = {fn, ud, o};
    json_t *doc = NULL;
    int r;

    if (!cli->paging.on) {
        if (fn(cli->store, ud, o, &doc) < 0)
            return output_engine_error();
    } else {
        if (o->max_results || o->next_token)
            return output_usage_error(cli->verb, "InvalidParameterCombination",
                                      "--max-results and --next-token are one page of EC2's: "
                                      "not with --max-items, --page-size or --starting-token");
        if ((r = walk(cli, engine_page, &e, &doc)) != EXIT_OK)
            return r;
    }
    r = output_render(cli, doc);
    json_decref(doc);
    return r;
}

static int whole_page(const struct cli *cli, const void *ud, uint32_t max, const char *engine_token,
                      json_t **ret)
{
    (void)max;
    if (engine_token) { /* a token of this verb names no engine page */
        output_line("blocksnap: error: --starting-token: not a NextToken that %s printed "
                    "(InvalidParameterValue)",
                    cli->verb->name);
        return EXIT_FAILED;
    }
    *ret = json_incref((json_t *)ud); /* only read */
    return EXIT_OK;
}

int cli_page_doc(const struct cli *cli, const json_t *doc, json_t **ret)
{
    return walk(cli, whole_page, doc, ret);
}
