/* help.c - usage text and the man page, printed from the verb table.
 *
 * Everything here reads main.c's tables; nothing holds text of its own but
 * the page's frame (name, description, exit status, environment).  Lines
 * are wrapped to 79 columns, and tests/cli checks that they fit in 80.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"

#define WIDTH 79
#define OPT_COLUMN 28

static const char *const description =
    "blocksnap keeps incremental, deduplicated, copy-on-write snapshots of raw disk images "
    "and block devices in a store: a directory of append-only pack files and an LMDB "
    "database.  Its verbs and their JSON output mirror the AWS CLI's \"aws ec2\" ones.";

static const char *const store_text =
    "The store is --store DIR, else the store of region --region NAME, else "
    "$BLOCKSNAP_STORE, else the region $BLOCKSNAP_REGION, else the profile's region (the "
    "config file, see configure), else the region \"local\".  A region's store is its "
    "store_path in the config file, else $XDG_DATA_HOME/blocksnap/NAME.  It is created on "
    "first use.";

static const char *const exit_text =
    "0 success; 1 the operation failed (the error is printed as \"blocksnap: error: MESSAGE "
    "(Code)\" on stderr, an interrupted operation as \"blocksnap: error: interrupted\" after it "
    "has undone its work); 2 a usage error (unknown verb or option, missing required option, "
    "malformed option value).";

/* Length of the word at @p; with @groups a bracketed group "[--a B ...]"
 * or "(X | Y)" counts as one word, so usage lines break between groups. */
static size_t word_len(const char *p, bool groups)
{
    size_t n = 0;
    int depth = 0;

    for (; p[n] && (depth > 0 || p[n] != ' '); n++) {
        if (groups && (p[n] == '[' || p[n] == '('))
            depth++;
        else if (groups && (p[n] == ']' || p[n] == ')') && depth > 0)
            depth--;
    }
    return n;
}

/* Print @text word-wrapped to WIDTH and a newline: the first word at the
 * cursor (which is at column @col), continuation lines indented by @indent. */
static void wrap_text(const char *text, size_t col, size_t indent, bool groups)
{
    bool first = true;

    for (const char *p = text; *p;) {
        size_t word = word_len(p, groups);
        if (!first && col + 1 + word > WIDTH) {
            printf("\n%*s", (int)indent, "");
            col = indent;
        } else if (!first) {
            putchar(' ');
            col++;
        }
        printf("%.*s", (int)word, p);
        col += word;
        first = false;
        p += word;
        while (*p == ' ')
            p++;
    }
    putchar('\n');
}

static void wrap(const char *text, size_t col, size_t indent)
{
    wrap_text(text, col, indent, false);
}

static void print_options(const struct opt *opts)
{
    for (const struct opt *o = opts; o && o->name; o++) {
        char left[64];
        int n = snprintf(left, sizeof left, "  --%s%s%s", o->name, o->metavar ? " " : "",
                         o->metavar ? o->metavar : "");
        char help[160];

        snprintf(help, sizeof help, "%s%s", o->help, o->required ? " (required)" : "");
        if (n >= OPT_COLUMN - 1) {
            printf("%s\n%*s", left, OPT_COLUMN, "");
            wrap(help, OPT_COLUMN, OPT_COLUMN);
        } else {
            printf("%-*s", OPT_COLUMN, left);
            wrap(help, OPT_COLUMN, OPT_COLUMN);
        }
    }
}

void help_main(void)
{
    printf("Usage: blocksnap [GLOBAL OPTIONS] VERB [OPTIONS]\n\n");
    wrap(description, 0, 0);
    printf("\nVerbs:\n");
    for (const struct verb *v = verbs; v->name; v++) {
        /* A name too long for its column gets a line of its own. */
        if (strlen(v->name) > OPT_COLUMN - 4)
            printf("  %s\n%*s", v->name, OPT_COLUMN, "");
        else
            printf("  %-*s", OPT_COLUMN - 2, v->name);
        wrap(v->summary, OPT_COLUMN, OPT_COLUMN);
    }
    printf("  %-*s", OPT_COLUMN - 2, "help [VERB | --man]");
    wrap("this help, a verb's help, or the man page", OPT_COLUMN, OPT_COLUMN);
    printf("\nGlobal options:\n");
    print_options(global_options);
    printf("\n");
    wrap(store_text, 0, 0);
    printf("\nRun 'blocksnap VERB --help' for the options of a verb.\n");
}

void help_verb(const struct verb *verb)
{
    char summary[256];
    int col;

    if (verb->synopsis[0]) {
        col = printf("Usage: blocksnap %s ", verb->name);
        wrap_text(verb->synopsis, (size_t)col, strlen("Usage: "), true);
    } else {
        printf("Usage: blocksnap %s\n", verb->name);
    }
    printf("\n");
    /* The summary as a sentence: capital first letter, full stop. */
    snprintf(summary, sizeof summary, "%s.", verb->summary);
    if (summary[0] >= 'a' && summary[0] <= 'z')
        summary[0] = (char)(summary[0] - 'a' + 'A');
    wrap(summary, 0, 0);
    if (verb->details) {
        printf("\n");
        wrap(verb->details, 0, 0);
    }
    if (verb->opts && verb->opts[0].name) {
        printf("\nOptions:\n");
        print_options(verb->opts);
    }
    printf("\nGlobal options:\n");
    print_options(global_options);
}

/* ---- man page ------------------------------------------------------------ */

/* Write @s for roff: escape backslashes and dashes, and keep a line from
 * starting with a control character. */
static void roff(const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", stdout);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", stdout);
        else if (*s == '-')
            fputs("\\-", stdout);
        else
            putchar(*s);
    }
}

static void man_options(const struct opt *opts)
{
    for (const struct opt *o = opts; o && o->name; o++) {
        if (o->metavar) {
            printf(".TP\n.BI \"\\-\\-");
            roff(o->name);
            printf(" \" \"");
            roff(o->metavar);
            printf("\"\n");
        } else {
            printf(".TP\n.B \\-\\-");
            roff(o->name);
            printf("\n");
        }
        roff(o->help);
        printf("%s\n", o->required ? " (required)." : ".");
    }
}

void help_man(void)
{
    printf(".\\\" Generated by `blocksnap help --man` from tools/main.c; do not edit.\n");
    printf(".TH BLOCKSNAP 1 \"\" \"blocksnap %s\" \"User Commands\"\n", bsnap_version());
    printf(".SH NAME\nblocksnap \\- incremental, deduplicated snapshots of disk images\n");
    printf(".SH SYNOPSIS\n.B blocksnap\n[\\fIGLOBAL OPTIONS\\fR] \\fIVERB\\fR [\\fIOPTIONS\\fR]\n");
    printf(".SH DESCRIPTION\n");
    roff(description);
    printf("\n.PP\n");
    roff(store_text);
    printf("\n.SH GLOBAL OPTIONS\n");
    man_options(global_options);
    printf(".SH VERBS\n");
    for (const struct verb *v = verbs; v->name; v++) {
        printf(".SS %s\n.B blocksnap %s\n", v->name, v->name);
        roff(v->synopsis);
        printf("\n.PP\n");
        roff(v->summary);
        printf(".\n");
        if (v->details) {
            printf(".PP\n");
            roff(v->details);
            printf("\n");
        }
        man_options(v->opts);
    }
    printf(".SH EXIT STATUS\n");
    roff(exit_text);
    printf("\n.SH ENVIRONMENT\n.TP\n.B BLOCKSNAP_STORE\nthe store directory when neither "
           "\\-\\-store nor \\-\\-region is given.\n.TP\n.B BLOCKSNAP_REGION\nthe region "
           "when none of \\-\\-store, \\-\\-region and BLOCKSNAP_STORE is given.\n.TP\n"
           ".B BLOCKSNAP_PROFILE\nthe profile when \\-\\-profile is not given.\n.TP\n"
           ".B BLOCKSNAP_CONFIG_FILE\nthe config file (default "
           "$XDG_CONFIG_HOME/blocksnap/config).\n.TP\n.B BLOCKSNAP_SHARED_CREDENTIALS_FILE\nthe "
           "credentials file (default $XDG_CONFIG_HOME/blocksnap/credentials).\n.TP\n"
           ".B XDG_CONFIG_HOME\nwhere the config files live (default ~/.config).\n.TP\n"
           ".B XDG_DATA_HOME\nwhere named stores "
           "live (default ~/.local/share).\n.TP\n.B BLOCKSNAP_DEBUG\ncomma-separated debug "
           "categories (pack, snapshot, ...) or \"all\", logged on stderr.\n");
    printf(".SH SEE ALSO\n.BR fuse2fs (1),\n.BR losetup (8)\n");
}
