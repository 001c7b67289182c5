/* query.c - --query: a subset of JMESPath (jmespath.org), on jansson.
 *
 * No C JMESPath library is packaged in Debian, so this is one: the
 * reference implementation's grammar (a Pratt parser with its binding
 * powers, python-jmespath's parser.py) and its tree interpreter, for the
 * expressions scripts use: identifiers ("quoted" too), sub-expressions,
 * index [0] [-1], slices [a:b:c], projections [*] and *, flatten [],
 * filters [?...] with == != < <= > >= && || ! and parentheses, literals
 * `...` and 'raw strings', @, multiselect lists [a, b] and hashes
 * {x: a, y: b}, pipes |, and the functions in the table below (&expr
 * where they take one).  What is not in it (another function; a
 * let-expression's $variables) fails to compile with an error that names
 * it.  Compiling checks the whole expression, so an error comes before
 * anything runs.
 *
 * Evaluation follows the spec: a field of a non-object is null, an index
 * or slice of a non-array is null, a projection drops null results and
 * stops at a pipe; false values are null, false, "", [] and {}; < <= > >=
 * order two numbers or two strings (by code point), anything else is null.  A
 * function given a wrong type fails (invalid-type), naming the function.
 */
#include <errno.h>
#include <math.h> /* isfinite(), a macro: no libm */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front.h"

/* ---- tokens --------------------------------------------------------------- */

enum tok {
    T_EOF,
    T_IDENT,  /* unquoted identifier */
    T_QIDENT, /* "quoted identifier" */
    T_LITERAL,
    T_RAW, /* 'raw string' (a literal string) */
    T_NUMBER,
    T_DOT,
    T_STAR,
    T_FLATTEN, /* [] */
    T_FILTER,  /* [? */
    T_LBRACKET,
    T_RBRACKET,
    T_LBRACE,
    T_RBRACE,
    T_LPAREN,
    T_RPAREN,
    T_COMMA,
    T_COLON,
    T_PIPE,
    T_OR,
    T_AND,
    T_NOT,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_CURRENT, /* @ */
    T_EXPREF,  /* & */
};

static const char *const tok_names[] = {
    "the end",   "an identifier", "a quoted identifier",
    "a literal", "a raw string",  "a number",
    "'.'",       "'*'",           "'[]'",
    "'[?'",      "'['",           "']'",
    "'{'",       "'}'",           "'('",
    "')'",       "','",           "':'",
    "'|'",       "'||'",          "'&&'",
    "'!'",       "'=='",          "'!='",
    "'<'",       "'<='",          "'>'",
    "'>='",      "'@'",           "'&'",
};

/* python-jmespath's binding powers */
static int bp(enum tok t)
{
    switch (t) {
    case T_PIPE:
        return 1;
    case T_OR:
        return 2;
    case T_AND:
        return 3;
    case T_EQ:
    case T_NE:
    case T_LT:
    case T_LE:
    case T_GT:
    case T_GE:
        return 5;
    case T_FLATTEN:
        return 9;
    case T_STAR:
        return 20;
    case T_FILTER:
        return 21;
    case T_DOT:
        return 40;
    case T_NOT:
        return 45;
    case T_LBRACE:
        return 50;
    case T_LBRACKET:
        return 55;
    case T_LPAREN:
        return 60;
    default:
        return 0;
    }
}
#define PROJECTION_STOP 10

struct token {
    enum tok t;
    size_t pos;  /* offset in the expression, for messages */
    char *text;  /* identifiers, raw strings: malloc'd */
    json_t *lit; /* literals */
    long num;
};

/* ---- the tree --------------------------------------------------------------- */

enum node_kind {
    N_FIELD,
    N_SUB,        /* a.b: children[0] then children[1] on its result */
    N_INDEX_EXPR, /* a[0]: the same */
    N_INDEX,
    N_SLICE,
    N_IDENTITY,
    N_CURRENT,
    N_LITERAL,
    N_PROJECTION,       /* children: left, right */
    N_VALUE_PROJECTION, /* left.* */
    N_FLATTEN,
    N_FILTER, /* children: left, right, condition */
    N_CMP,
    N_OR,
    N_AND,
    N_NOT,
    N_PIPE,
    N_MULTI_LIST,
    N_MULTI_HASH,
    N_FUNCTION,
    N_EXPREF,
};

struct node {
    enum node_kind kind;
    enum tok cmp;      /* N_CMP */
    char *name;        /* N_FIELD, N_FUNCTION; N_MULTI_HASH: keys in keys[] */
    char **keys;       /* N_MULTI_HASH, one per child */
    json_t *lit;       /* N_LITERAL */
    long index;        /* N_INDEX */
    long slice[3];     /* N_SLICE */
    bool has_slice[3]; /* which of start, stop, step were given */
    struct node **kids;
    size_t nkids;
    const struct function *fn; /* N_FUNCTION */
};

struct bsf_query {
    struct node *root;
};

struct parser {
    const char *src;
    size_t pos;
    struct token cur, next; /* the current token and the one after */
    bool have_next;
    int err;
    unsigned depth, nodes;
};

/* How deep an expression may nest and how many nodes it may have: the
 * parser's recursion, and the interpreter's (as deep as the tree), are
 * bounded. */
#define DEPTH_MAX 200
#define NODES_MAX 2000

static int syntax(struct parser *p, size_t pos, const char *fmt, const char *what)
{
    if (!p->err) {
        char msg[200];
        snprintf(msg, sizeof msg, fmt, what);
        p->err = front_fail(-EINVAL, "InvalidParameterValue",
                            "--query: %s at character %zu of '%.*s'", msg, pos + 1, SHOWN(p->src));
    }
    return p->err;
}

static int unsupported(struct parser *p, size_t pos, const char *what)
{
    if (!p->err)
        p->err = front_fail(-EINVAL, "InvalidParameterValue",
                            "--query: %s (at character %zu) is not in blocksnap's JMESPath subset; "
                            "use --output json and jq",
                            what, pos + 1);
    return p->err;
}

/* ---- the lexer ------------------------------------------------------------------ */

static bool ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool ident_char(char c)
{
    return ident_start(c) || (c >= '0' && c <= '9');
}

/* The text between @open at p->pos and its closing @open, with the
 * escapes of each: JSON's for "..." (decoded by jansson), \' for raw
 * strings (any other backslash is kept, as python-jmespath keeps it), \`
 * for literals.  *@ret: malloc'd. */
static int delimited(struct parser *p, char open, char **ret, size_t *ret_len)
{
    const char *s = p->src + p->pos + 1;
    size_t start = p->pos, i = 0, n = 0;
    char *out = malloc(strlen(s) + 1);

    if (!out)
        return p->err = front_fail(-ENOMEM, "InternalError", "out of memory");
    for (; s[i] && s[i] != open; i++) {
        if (s[i] == '\\' && s[i + 1]) {
            if (open == '"') { /* kept for the JSON decoder */
                out[n++] = s[i++];
            } else if (open == '\'' && s[i + 1] != '\'') {
                out[n++] = s[i]; /* a raw string keeps other backslashes */
                continue;
            } else if (open == '`' && s[i + 1] != '`') {
                out[n++] = s[i];
                continue;
            } else {
                i++;
            }
        }
        out[n++] = s[i];
    }
    if (!s[i]) {
        free(out);
        return syntax(p, start, "%s is not closed",
                      open == '"'   ? "a quoted identifier"
                      : open == '`' ? "a literal"
                                    : "a raw string");
    }
    out[n] = '\0';
    p->pos += i + 2;
    *ret = out;
    *ret_len = n;
    return 0;
}

static int lex(struct parser *p, struct token *t)
{
    const char *s;
    char c;

    while (p->src[p->pos] == ' ' || p->src[p->pos] == '\t' || p->src[p->pos] == '\n' ||
           p->src[p->pos] == '\r')
        p->pos++;
    s = p->src + p->pos;
    c = *s;
    *t = (struct token){.t = T_EOF, .pos = p->pos};
    if (!c)
        return 0;
    if (ident_start(c)) {
        size_t n = 1;
        while (ident_char(s[n]))
            n++;
        t->t = T_IDENT;
        if (!(t->text = strndup(s, n)))
            return p->err = front_fail(-ENOMEM, "InternalError", "out of memory");
        p->pos += n;
        return 0;
    }
    if ((c >= '0' && c <= '9') || (c == '-' && s[1] >= '0' && s[1] <= '9')) {
        char *end;
        errno = 0;
        t->num = strtol(s, &end, 10);
        if (errno)
            return syntax(p, p->pos, "%s", "a number out of range");
        t->t = T_NUMBER;
        p->pos += (size_t)(end - s);
        return 0;
    }
    if (c == '"' || c == '\'' || c == '`') {
        char *text = NULL;
        size_t len = 0;
        int r = delimited(p, c, &text, &len);
        if (r < 0)
            return r;
        if (c == '\'') {
            t->t = T_RAW;
            t->text = text;
            return 0;
        }
        if (c == '"') { /* a JSON string */
            char *quoted = NULL;
            json_t *v;
            if (asprintf(&quoted, "\"%s\"", text) < 0) {
                free(text);
                return p->err = front_fail(-ENOMEM, "InternalError", "out of memory");
            }
            free(text);
            v = json_loads(quoted, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
            free(quoted);
            if (!json_is_string(v)) {
                json_decref(v);
                return syntax(p, t->pos, "%s", "a quoted identifier that is not a JSON string");
            }
            t->t = T_QIDENT;
            t->text = strdup(json_string_value(v));
            json_decref(v);
            if (!t->text)
                return p->err = front_fail(-ENOMEM, "InternalError", "out of memory");
            return 0;
        }
        /* `literal`: JSON */
        t->lit = json_loadb(text, len, JSON_DECODE_ANY, NULL);
        free(text);
        if (!t->lit)
            return syntax(p, t->pos, "%s", "a literal that is not JSON");
        t->t = T_LITERAL;
        return 0;
    }
    p->pos++;
    switch (c) {
    case '.':
        t->t = T_DOT;
        return 0;
    case '*':
        t->t = T_STAR;
        return 0;
    case ']':
        t->t = T_RBRACKET;
        return 0;
    case '{':
        t->t = T_LBRACE;
        return 0;
    case '}':
        t->t = T_RBRACE;
        return 0;
    case '(':
        t->t = T_LPAREN;
        return 0;
    case ')':
        t->t = T_RPAREN;
        return 0;
    case ',':
        t->t = T_COMMA;
        return 0;
    case ':':
        t->t = T_COLON;
        return 0;
    case '@':
        t->t = T_CURRENT;
        return 0;
    case '[':
        if (s[1] == ']') {
            p->pos++;
            t->t = T_FLATTEN;
        } else if (s[1] == '?') {
            p->pos++;
            t->t = T_FILTER;
        } else {
            t->t = T_LBRACKET;
        }
        return 0;
    case '|':
        t->t = s[1] == '|' ? (p->pos++, T_OR) : T_PIPE;
        return 0;
    case '&':
        t->t = s[1] == '&' ? (p->pos++, T_AND) : T_EXPREF;
        return 0;
    case '!':
        t->t = s[1] == '=' ? (p->pos++, T_NE) : T_NOT;
        return 0;
    case '<':
        t->t = s[1] == '=' ? (p->pos++, T_LE) : T_LT;
        return 0;
    case '>':
        t->t = s[1] == '=' ? (p->pos++, T_GE) : T_GT;
        return 0;
    case '=':
        if (s[1] == '=') {
            p->pos++;
            t->t = T_EQ;
            return 0;
        }
        return syntax(p, t->pos, "%s", "'=' (compare with '==')");
    case '$':
        return unsupported(p, t->pos, "a variable ($name)");
    default: {
        char what[40];
        if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
            snprintf(what, sizeof what, "the character '%c'", c);
        else
            snprintf(what, sizeof what, "the byte 0x%02x", (unsigned char)c);
        return syntax(p, t->pos, "unexpected %s", what);
    }
    }
}

static void token_clear(struct token *t)
{
    free(t->text);
    json_decref(t->lit);
    *t = (struct token){0};
}

/* Move on to the next token; the current one's text and literal are the
 * caller's to have taken (or are freed here). */
static int advance(struct parser *p)
{
    token_clear(&p->cur);
    if (p->have_next) {
        p->cur = p->next;
        p->next = (struct token){0};
        p->have_next = false;
        return 0;
    }
    return lex(p, &p->cur);
}

static enum tok peek2(struct parser *p)
{
    if (!p->have_next) {
        if (lex(p, &p->next) < 0)
            return T_EOF;
        p->have_next = true;
    }
    return p->next.t;
}

static int expect(struct parser *p, enum tok t)
{
    if (p->err)
        return p->err;
    if (p->cur.t != t) {
        char msg[80];
        snprintf(msg, sizeof msg, "expected %s, found %%s", tok_names[t]);
        return syntax(p, p->cur.pos, msg, tok_names[p->cur.t]);
    }
    return advance(p);
}

/* ---- nodes ---------------------------------------------------------------------- */

static void node_free(struct node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkids; i++) {
        node_free(n->kids[i]);
        if (n->keys)
            free(n->keys[i]);
    }
    free(n->kids);
    free(n->keys);
    free(n->name);
    json_decref(n->lit);
    free(n);
}

static struct node *node_new(struct parser *p, enum node_kind kind)
{
    struct node *n;

    if (++p->nodes > NODES_MAX) {
        syntax(p, p->cur.pos, "%s", "an expression too long");
        return NULL;
    }
    n = calloc(1, sizeof *n);
    if (!n && !p->err)
        p->err = front_fail(-ENOMEM, "InternalError", "out of memory");
    if (n)
        n->kind = kind;
    return n;
}

/* Append @kid to @n (taking it; both freed on failure, NULL returned). */
static struct node *node_add(struct parser *p, struct node *n, struct node *kid)
{
    struct node **k;

    if (!n || !kid) {
        node_free(n);
        node_free(kid);
        return NULL;
    }
    if (!(k = realloc(n->kids, (n->nkids + 1) * sizeof *k))) {
        node_free(n);
        node_free(kid);
        if (!p->err)
            p->err = front_fail(-ENOMEM, "InternalError", "out of memory");
        return NULL;
    }
    n->kids = k;
    n->kids[n->nkids++] = kid;
    return n;
}

static struct node *node2(struct parser *p, enum node_kind kind, struct node *a, struct node *b)
{
    if (!a || !b) {
        node_free(a);
        node_free(b);
        return NULL;
    }
    return node_add(p, node_add(p, node_new(p, kind), a), b);
}

/* ---- the parser (python-jmespath's parser.py) --------------------------- */

static struct node *expression(struct parser *p, int rbp);
static struct node *led(struct parser *p, enum tok t, size_t pos, struct node *left);
static const struct function *function_find(const char *name);

static struct node *multi_select_list(struct parser *p)
{
    struct node *n = node_new(p, N_MULTI_LIST);

    for (;;) {
        n = node_add(p, n, expression(p, 0));
        if (!n)
            return NULL;
        if (p->cur.t == T_RBRACKET)
            break;
        if (expect(p, T_COMMA) < 0) {
            node_free(n);
            return NULL;
        }
    }
    if (expect(p, T_RBRACKET) < 0) {
        node_free(n);
        return NULL;
    }
    return n;
}

static struct node *multi_select_hash(struct parser *p)
{
    struct node *n = node_new(p, N_MULTI_HASH);

    for (;;) {
        char *key, **keys;
        if (!n)
            return NULL;
        if (p->cur.t != T_IDENT && p->cur.t != T_QIDENT) {
            syntax(p, p->cur.pos, "expected a key, found %s", tok_names[p->cur.t]);
            node_free(n);
            return NULL;
        }
        key = p->cur.text;
        p->cur.text = NULL;
        if (!(keys = realloc(n->keys, (n->nkids + 1) * sizeof *keys))) {
            free(key);
            node_free(n);
            p->err = front_fail(-ENOMEM, "InternalError", "out of memory");
            return NULL;
        }
        n->keys = keys;
        n->keys[n->nkids] = key; /* freed with the node even if the value fails */
        if (advance(p) < 0 || expect(p, T_COLON) < 0) {
            free(key);
            node_free(n);
            return NULL;
        }
        n = node_add(p, n, expression(p, 0));
        if (!n) {
            free(key);
            return NULL;
        }
        if (p->cur.t == T_COMMA) {
            if (advance(p) < 0) {
                node_free(n);
                return NULL;
            }
        } else if (p->cur.t == T_RBRACE) {
            if (advance(p) < 0) {
                node_free(n);
                return NULL;
            }
            return n;
        } else {
            syntax(p, p->cur.pos, "expected ',' or '}', found %s", tok_names[p->cur.t]);
            node_free(n);
            return NULL;
        }
    }
}

static struct node *parse_dot_rhs(struct parser *p, int rbp)
{
    switch (p->cur.t) {
    case T_IDENT:
    case T_QIDENT:
    case T_STAR:
        return expression(p, rbp);
    case T_LBRACKET:
        return expect(p, T_LBRACKET) < 0 ? NULL : multi_select_list(p);
    case T_LBRACE:
        return expect(p, T_LBRACE) < 0 ? NULL : multi_select_hash(p);
    default:
        syntax(p, p->cur.pos, "expected a name, '[' or '{' after '.', found %s",
               tok_names[p->cur.t]);
        return NULL;
    }
}

static struct node *parse_projection_rhs(struct parser *p, int rbp)
{
    if (bp(p->cur.t) < PROJECTION_STOP)
        return node_new(p, N_IDENTITY);
    if (p->cur.t == T_LBRACKET || p->cur.t == T_FILTER)
        return expression(p, rbp);
    if (p->cur.t == T_DOT)
        return expect(p, T_DOT) < 0 ? NULL : parse_dot_rhs(p, rbp);
    syntax(p, p->cur.pos, "unexpected %s after a projection", tok_names[p->cur.t]);
    return NULL;
}

/* [number] or [start:stop:step], the '[' taken. */
static struct node *parse_index(struct parser *p)
{
    struct node *n;
    int part = 0;

    if (p->cur.t != T_COLON && peek2(p) != T_COLON) {
        if (!(n = node_new(p, N_INDEX)))
            return NULL;
        n->index = p->cur.num;
        if (expect(p, T_NUMBER) < 0 || expect(p, T_RBRACKET) < 0) {
            node_free(n);
            return NULL;
        }
        return n;
    }
    if (!(n = node_new(p, N_SLICE)))
        return NULL;
    while (p->cur.t != T_RBRACKET && !p->err) {
        if (p->cur.t == T_COLON) {
            if (++part == 3) {
                syntax(p, p->cur.pos, "%s", "a slice of more than three parts");
                break;
            }
        } else if (p->cur.t == T_NUMBER) {
            n->slice[part] = p->cur.num;
            n->has_slice[part] = true;
        } else {
            syntax(p, p->cur.pos, "unexpected %s in a slice", tok_names[p->cur.t]);
            break;
        }
        advance(p);
    }
    if (n->has_slice[2] && n->slice[2] == 0)
        syntax(p, p->cur.pos, "%s", "a slice step of 0");
    if (p->err || expect(p, T_RBRACKET) < 0) {
        node_free(n);
        return NULL;
    }
    return n;
}

static struct node *project_if_slice(struct parser *p, struct node *left, struct node *right)
{
    bool slice = right && right->kind == N_SLICE;
    struct node *ix = node2(p, N_INDEX_EXPR, left, right);

    if (!slice || !ix)
        return ix;
    return node2(p, N_PROJECTION, ix, parse_projection_rhs(p, bp(T_STAR)));
}

static struct node *nud(struct parser *p, struct token *t)
{
    struct node *n;

    switch (t->t) {
    case T_LITERAL:
        if ((n = node_new(p, N_LITERAL))) {
            n->lit = t->lit;
            t->lit = NULL;
        }
        return n;
    case T_RAW:
        if ((n = node_new(p, N_LITERAL)) && !(n->lit = json_string(t->text))) {
            node_free(n);
            syntax(p, t->pos, "%s", "a raw string that is not UTF-8");
            return NULL;
        }
        return n;
    case T_IDENT:
    case T_QIDENT:
        if (t->t == T_QIDENT && p->cur.t == T_LPAREN) {
            syntax(p, t->pos, "%s", "a quoted function name");
            return NULL;
        }
        if ((n = node_new(p, N_FIELD))) {
            n->name = t->text;
            t->text = NULL;
        }
        return n;
    case T_STAR:
        n = node_new(p, N_IDENTITY);
        return node2(p, N_VALUE_PROJECTION, n,
                     p->cur.t == T_RBRACKET ? node_new(p, N_IDENTITY)
                                            : parse_projection_rhs(p, bp(T_STAR)));
    case T_FILTER:
        return led(p, T_FILTER, t->pos, node_new(p, N_IDENTITY));
    case T_LBRACE:
        return multi_select_hash(p);
    case T_LPAREN:
        n = expression(p, 0);
        if (n && expect(p, T_RPAREN) < 0) {
            node_free(n);
            return NULL;
        }
        return n;
    case T_FLATTEN:
        n = node_add(p, node_new(p, N_FLATTEN), node_new(p, N_IDENTITY));
        return node2(p, N_PROJECTION, n, parse_projection_rhs(p, bp(T_FLATTEN)));
    case T_NOT:
        return node_add(p, node_new(p, N_NOT), expression(p, bp(T_NOT)));
    case T_LBRACKET:
        if (p->cur.t == T_NUMBER || p->cur.t == T_COLON)
            return project_if_slice(p, node_new(p, N_IDENTITY), parse_index(p));
        if (p->cur.t == T_STAR && peek2(p) == T_RBRACKET) {
            if (advance(p) < 0 || advance(p) < 0)
                return NULL;
            return node2(p, N_PROJECTION, node_new(p, N_IDENTITY),
                         parse_projection_rhs(p, bp(T_STAR)));
        }
        return multi_select_list(p);
    case T_CURRENT:
        return node_new(p, N_CURRENT);
    case T_EXPREF:
        return node_add(p, node_new(p, N_EXPREF), expression(p, 0));
    default:
        syntax(p, t->pos, "unexpected %s", tok_names[t->t]);
        return NULL;
    }
}

static struct node *led(struct parser *p, enum tok t, size_t pos, struct node *left)
{
    struct node *n, *right;

    if (!left)
        return NULL;
    switch (t) {
    case T_DOT:
        if (p->cur.t != T_STAR) {
            right = parse_dot_rhs(p, bp(T_DOT));
            if (right && left->kind == N_SUB)
                return node_add(p, left, right);
            return node2(p, N_SUB, left, right);
        }
        if (advance(p) < 0) {
            node_free(left);
            return NULL;
        }
        return node2(p, N_VALUE_PROJECTION, left, parse_projection_rhs(p, bp(T_DOT)));
    case T_PIPE:
        return node2(p, N_PIPE, left, expression(p, bp(T_PIPE)));
    case T_OR:
        return node2(p, N_OR, left, expression(p, bp(T_OR)));
    case T_AND:
        return node2(p, N_AND, left, expression(p, bp(T_AND)));
    case T_LPAREN: {
        if (left->kind != N_FIELD) {
            node_free(left);
            syntax(p, pos, "%s", "a call of something that is not a function name");
            return NULL;
        }
        n = node_new(p, N_FUNCTION);
        if (!n) {
            node_free(left);
            return NULL;
        }
        n->name = left->name;
        left->name = NULL;
        node_free(left);
        if (!(n->fn = function_find(n->name))) {
            char what[160];
            snprintf(what, sizeof what, "the function %.64s()", n->name);
            unsupported(p, pos, what);
            node_free(n);
            return NULL;
        }
        while (p->cur.t != T_RPAREN) {
            if (!(n = node_add(p, n, expression(p, 0))))
                return NULL;
            if (p->cur.t == T_COMMA && advance(p) < 0)
                break;
            if (p->cur.t == T_EOF) {
                syntax(p, p->cur.pos, "%s", "a function call without ')'");
                break;
            }
        }
        if (p->err || expect(p, T_RPAREN) < 0) {
            node_free(n);
            return NULL;
        }
        return n;
    }
    case T_FILTER: {
        struct node *cond = expression(p, 0);
        if (!cond || expect(p, T_RBRACKET) < 0) {
            node_free(cond);
            node_free(left);
            return NULL;
        }
        right =
            p->cur.t == T_FLATTEN ? node_new(p, N_IDENTITY) : parse_projection_rhs(p, bp(T_FILTER));
        n = node2(p, N_FILTER, left, right);
        return node_add(p, n, cond);
    }
    case T_EQ:
    case T_NE:
    case T_LT:
    case T_LE:
    case T_GT:
    case T_GE:
        n = node2(p, N_CMP, left, expression(p, bp(t)));
        if (n)
            n->cmp = t;
        return n;
    case T_FLATTEN:
        n = node_add(p, node_new(p, N_FLATTEN), left);
        return node2(p, N_PROJECTION, n, parse_projection_rhs(p, bp(T_FLATTEN)));
    case T_LBRACKET:
        if (p->cur.t == T_NUMBER || p->cur.t == T_COLON) {
            right = parse_index(p);
            if (right && left->kind == N_INDEX_EXPR && right->kind != N_SLICE)
                return node_add(p, left, right);
            return project_if_slice(p, left, right);
        }
        if (expect(p, T_STAR) < 0 || expect(p, T_RBRACKET) < 0) {
            node_free(left);
            return NULL;
        }
        return node2(p, N_PROJECTION, left, parse_projection_rhs(p, bp(T_STAR)));
    default:
        node_free(left);
        syntax(p, pos, "unexpected %s", tok_names[t]);
        return NULL;
    }
}

static struct node *expression(struct parser *p, int rbp)
{
    struct token t;
    struct node *left;

    if (p->err)
        return NULL;
    if (++p->depth > DEPTH_MAX) {
        syntax(p, p->cur.pos, "%s", "an expression nested too deep");
        return NULL;
    }
    t = p->cur;
    p->cur = (struct token){0};
    if (advance(p) < 0) {
        token_clear(&t);
        p->depth--;
        return NULL;
    }
    left = nud(p, &t);
    token_clear(&t);
    while (left && !p->err && rbp < bp(p->cur.t)) {
        enum tok op = p->cur.t;
        size_t pos = p->cur.pos;
        if (op == T_NOT || op == T_LBRACE || op == T_STAR) { /* no led */
            syntax(p, pos, "unexpected %s", tok_names[op]);
            break;
        }
        if (advance(p) < 0)
            break;
        left = led(p, op, pos, left);
    }
    p->depth--;
    if (p->err) {
        node_free(left);
        return NULL;
    }
    return left;
}

int bsf_query_compile(const char *expr, bsf_query **ret)
{
    struct parser p = {.src = expr};
    struct node *root;
    bsf_query *q;

    front_error_clear();
    if (lex(&p, &p.cur) < 0)
        return p.err;
    if (p.cur.t == T_EOF)
        return front_fail(-EINVAL, "InvalidParameterValue", "--query: empty expression");
    root = expression(&p, 0);
    if (root && p.cur.t != T_EOF)
        syntax(&p, p.cur.pos, "unexpected %s after the expression", tok_names[p.cur.t]);
    token_clear(&p.cur);
    token_clear(&p.next);
    if (p.err || !root) {
        node_free(root);
        return p.err ? p.err : front_fail(-EINVAL, "InvalidParameterValue", "--query: invalid");
    }
    if (!(q = malloc(sizeof *q))) {
        node_free(root);
        return front_fail(-ENOMEM, "InternalError", "out of memory");
    }
    q->root = root;
    *ret = q;
    return 0;
}

void bsf_query_free(bsf_query *q)
{
    if (!q)
        return;
    node_free(q->root);
    free(q);
}

/* ---- the interpreter -------------------------------------------------------------- */

struct eval {
    int err;
};

static json_t *eval(struct eval *e, const struct node *n, json_t *v);

static bool is_false(const json_t *v)
{
    return !v || json_is_null(v) || json_is_false(v) ||
           (json_is_string(v) && json_string_length(v) == 0) ||
           (json_is_array(v) && json_array_size(v) == 0) ||
           (json_is_object(v) && json_object_size(v) == 0);
}

static json_t *nomem(struct eval *e)
{
    if (!e->err)
        e->err = front_fail(-ENOMEM, "InternalError", "out of memory");
    return NULL;
}

/* A result: never NULL but on an error (null is json_null()). */
static json_t *null_value(void)
{
    return json_null();
}

static bool json_eq(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!json_eq(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    if (json_is_object(a) && json_is_object(b)) {
        const char *k;
        json_t *x;
        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_foreach ((json_t *)a, k, x) {
            json_t *y = json_object_get(b, k);
            if (!y || !json_eq(x, y))
                return false;
        }
        return true;
    }
    return json_equal(a, b);
}

static json_t *project(struct eval *e, json_t *base, const struct node *right,
                       const struct node *cond)
{
    json_t *out, *el;
    size_t i;

    if (!json_is_array(base)) {
        json_decref(base);
        return null_value();
    }
    if (!(out = json_array())) {
        json_decref(base);
        return nomem(e);
    }
    json_array_foreach (base, i, el) {
        json_t *r;
        if (cond) {
            json_t *c = eval(e, cond, el);
            bool keep = c && !is_false(c);
            json_decref(c);
            if (e->err)
                break;
            if (!keep)
                continue;
        }
        r = eval(e, right, el);
        if (!r)
            break;
        if (!json_is_null(r) && json_array_append(out, r) < 0)
            nomem(e);
        json_decref(r);
        if (e->err)
            break;
    }
    json_decref(base);
    if (e->err) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static json_t *slice(struct eval *e, const struct node *n, json_t *v)
{
    long len, step, start, stop;
    json_t *out;

    if (!json_is_array(v))
        return null_value();
    len = (long)json_array_size(v);
    step = n->has_slice[2] ? n->slice[2] : 1;
    /* Python's slice.indices() */
    if (n->has_slice[0]) {
        start = n->slice[0];
        if (start < 0)
            start = start + len < 0 ? (step < 0 ? -1 : 0) : start + len;
        else if (start >= len)
            start = step < 0 ? len - 1 : len;
    } else {
        start = step < 0 ? len - 1 : 0;
    }
    if (n->has_slice[1]) {
        stop = n->slice[1];
        if (stop < 0)
            stop = stop + len < 0 ? (step < 0 ? -1 : 0) : stop + len;
        else if (stop >= len)
            stop = step < 0 ? len - 1 : len;
    } else {
        stop = step < 0 ? -1 : len;
    }
    if (!(out = json_array()))
        return nomem(e);
    for (long i = start; step > 0 ? i < stop : i > stop; i += step)
        if (json_array_append(out, json_array_get(v, (size_t)i)) < 0) {
            json_decref(out);
            return nomem(e);
        }
    return out;
}

static json_t *compare(struct eval *e, const struct node *n, json_t *v)
{
    json_t *a = eval(e, n->kids[0], v), *b = a ? eval(e, n->kids[1], v) : NULL;
    json_t *r = NULL;

    if (a && b) {
        if (n->cmp == T_EQ || n->cmp == T_NE) {
            bool eq = json_eq(a, b);
            r = json_boolean(n->cmp == T_EQ ? eq : !eq);
        } else if (json_is_number(a) && json_is_number(b)) {
            double x = json_number_value(a), y = json_number_value(b);
            r = json_boolean(n->cmp == T_LT   ? x < y
                             : n->cmp == T_LE ? x <= y
                             : n->cmp == T_GT ? x > y
                                              : x >= y);
        } else if (json_is_string(a) && json_is_string(b)) {
            /* by code points, as python-jmespath: UTF-8's byte order */
            int c = strcmp(json_string_value(a), json_string_value(b));
            r = json_boolean(n->cmp == T_LT   ? c < 0
                             : n->cmp == T_LE ? c <= 0
                             : n->cmp == T_GT ? c > 0
                                              : c >= 0);
        } else {
            r = null_value(); /* ordering is for numbers and strings */
        }
    }
    json_decref(a);
    json_decref(b);
    return r;
}

static json_t *call(struct eval *e, const struct node *n, json_t *v);

static json_t *eval(struct eval *e, const struct node *n, json_t *v)
{
    json_t *a, *b, *out;
    size_t i;

    if (e->err)
        return NULL;
    switch (n->kind) {
    case N_FIELD:
        a = json_is_object(v) ? json_object_get(v, n->name) : NULL;
        return a ? json_incref(a) : null_value();
    case N_SUB:
    case N_INDEX_EXPR:
        a = json_incref(v);
        for (i = 0; i < n->nkids && a; i++) {
            b = eval(e, n->kids[i], a);
            json_decref(a);
            a = b;
        }
        return a;
    case N_INDEX: {
        long len = json_is_array(v) ? (long)json_array_size(v) : 0, k = n->index;
        if (!json_is_array(v))
            return null_value();
        if (k < 0)
            k += len;
        if (k < 0 || k >= len)
            return null_value();
        return json_incref(json_array_get(v, (size_t)k));
    }
    case N_SLICE:
        return slice(e, n, v);
    case N_IDENTITY:
    case N_CURRENT:
        return json_incref(v);
    case N_LITERAL:
        return json_incref(n->lit);
    case N_PROJECTION:
        a = eval(e, n->kids[0], v);
        return a ? project(e, a, n->kids[1], NULL) : NULL;
    case N_FILTER:
        a = eval(e, n->kids[0], v);
        return a ? project(e, a, n->kids[1], n->kids[2]) : NULL;
    case N_VALUE_PROJECTION: {
        const char *k;
        json_t *x;
        a = eval(e, n->kids[0], v);
        if (!a)
            return NULL;
        if (!json_is_object(a)) {
            json_decref(a);
            return null_value();
        }
        if (!(b = json_array())) {
            json_decref(a);
            return nomem(e);
        }
        json_object_foreach (a, k, x)
            if (json_array_append(b, x) < 0)
                nomem(e);
        json_decref(a);
        if (e->err) {
            json_decref(b);
            return NULL;
        }
        return project(e, b, n->kids[1], NULL);
    }
    case N_FLATTEN:
        a = eval(e, n->kids[0], v);
        if (!a || !json_is_array(a)) {
            json_decref(a);
            return a ? null_value() : NULL;
        }
        if (!(out = json_array())) {
            json_decref(a);
            return nomem(e);
        }
        json_array_foreach (a, i, b)
            if (json_is_array(b) ? json_array_extend(out, b) < 0 : json_array_append(out, b) < 0)
                nomem(e);
        json_decref(a);
        if (e->err) {
            json_decref(out);
            return NULL;
        }
        return out;
    case N_CMP:
        return compare(e, n, v);
    case N_OR:
        a = eval(e, n->kids[0], v);
        if (!a || !is_false(a))
            return a;
        json_decref(a);
        return eval(e, n->kids[1], v);
    case N_AND:
        a = eval(e, n->kids[0], v);
        if (!a || is_false(a))
            return a;
        json_decref(a);
        return eval(e, n->kids[1], v);
    case N_NOT:
        a = eval(e, n->kids[0], v);
        if (!a)
            return NULL;
        b = json_boolean(is_false(a));
        json_decref(a);
        return b;
    case N_PIPE:
        a = eval(e, n->kids[0], v);
        if (!a)
            return NULL;
        b = eval(e, n->kids[1], a);
        json_decref(a);
        return b;
    case N_MULTI_LIST:
        if (json_is_null(v))
            return null_value();
        if (!(out = json_array()))
            return nomem(e);
        for (i = 0; i < n->nkids; i++) {
            if (!(a = eval(e, n->kids[i], v)))
                break;
            if (json_array_append_new(out, a) < 0)
                nomem(e);
        }
        if (e->err) {
            json_decref(out);
            return NULL;
        }
        return out;
    case N_MULTI_HASH:
        if (json_is_null(v))
            return null_value();
        if (!(out = json_object()))
            return nomem(e);
        for (i = 0; i < n->nkids; i++) {
            if (!(a = eval(e, n->kids[i], v)))
                break;
            if (json_object_set_new(out, n->keys[i], a) < 0)
                nomem(e);
        }
        if (e->err) {
            json_decref(out);
            return NULL;
        }
        return out;
    case N_FUNCTION:
        return call(e, n, v);
    case N_EXPREF:
        /* only a function's argument: call() evaluates it per element */
        e->err = front_fail(-EINVAL, "InvalidParameterValue",
                            "--query: an expression reference (&...) outside a function");
        return NULL;
    }
    return null_value();
}

/* ---- functions ------------------------------------------------------------------ */

/* The types a function's argument may have, as bits. */
enum {
    A_NUMBER = 1,
    A_STRING = 2,
    A_ARRAY = 4,
    A_OBJECT = 8,
    A_BOOL = 16,
    A_NULL = 32,
    A_EXPREF = 64,
    A_ANY = 63,
};

struct function {
    const char *name;
    unsigned nargs;   /* exactly, or at least with @variadic */
    unsigned args[3]; /* the types of each */
    json_t *(*run)(struct eval *e, const struct node *n, json_t *v, json_t **args);
};

static json_t *type_error(struct eval *e, const char *fn, const char *what)
{
    if (!e->err)
        e->err = front_fail(-EINVAL, "InvalidParameterValue", "--query: %s(): invalid-type: %s", fn,
                            what);
    return NULL;
}

static const char *type_name(const json_t *v)
{
    return json_is_number(v)    ? "number"
           : json_is_string(v)  ? "string"
           : json_is_array(v)   ? "array"
           : json_is_object(v)  ? "object"
           : json_is_boolean(v) ? "boolean"
                                : "null";
}

static json_t *fn_length(struct eval *e, const struct node *n, json_t *v, json_t **a)
{
    (void)e, (void)n, (void)v;
    if (json_is_string(a[0])) {
        /* characters, not bytes */
        size_t chars = 0;
        for (const char *s = json_string_value(a[0]); *s; s++)
            chars += ((unsigned char)*s & 0xc0) != 0x80;
        return json_integer((json_int_t)chars);
    }
    return json_integer(
        (json_int_t)(json_is_array(a[0]) ? json_array_size(a[0]) : json_object_size(a[0])));
}

static json_t *fn_keys_values(struct eval *e, const struct node *n, json_t *v, json_t **a)
{
    bool keys = !strcmp(n->name, "keys");
    json_t *out = json_array(), *x;
    const char *k;

    (void)v;
    if (!out)
        return nomem(e);
    json_object_foreach (a[0], k, x)
        if (json_array_append_new(out, keys ? json_string(k) : json_incref(x)) < 0)
            nomem(e);
    if (e->err) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static json_t *fn_contains(struct eval *e, const struct node *n, json_t *v, json_t **a)
{
    (void)e, (void)n, (void)v;
    if (json_is_string(a[0]))
        return json_boolean(json_is_string(a[1]) &&
                            strstr(json_string_value(a[0]), json_string_value(a[1])));
    for (size_t i = 0; i < json_array_size(a[0]); i++)
        if (json_eq(json_array_get(a[0], i), a[1]))
            return json_true();
    return json_false();
}

static json_t *fn_starts_ends(struct eval *e, const struct node *n, json_t *v, json_t **a)
{
    const char *s = json_string_value(a[0]), *x = json_string_value(a[1]);
    size_t ls = strlen(s), lx = strlen(x);

    (void)e, (void)v;
    if (!strcmp(n->name, "starts_with"))
        return json_boolean(!strncmp(s, x, lx));
    return json_boolean(lx <= ls && !strcmp(s + ls - lx, x));
}

static json_t *fn_to_string(struct eval *e, const struct node *n, json_t *v, json_t **a)
{
    char *s;
    json_t *r;

    (void)n, (void)v;
    if (json_is_string(a[0]))
        return json_incref(a[0]);
    if (!(s = json_dumps(a[0], JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER)))
        return nomem(e);
    r = json_string(s);
    free(s);
    return r ? r : nomem(e);
}

static json_t *fn_to_number(struct eval *e, const struct node *n, json_t *v, json_t **a)
{
    const char *s;
    char *end;

    (void)e, (void)n, (void)v;
    if (json_is_number(a[0]))
        return json_incref(a[0]);
    if (!json_is_string(a[0]))
        return null_value();
    s = json_string_value(a[0]);
    /* a decimal number only: not "0x10", "inf" or "nan" */
    if (!s[0] || s[strspn(s, "0123456789+-.eE")])
        return null_value();
    errno = 0;
    if (!strpbrk(s, ".eE")) { /* an integer, as python's int() */
        long long i = strtoll(s, &end, 10);
        return *end || errno ? null_value() : json_integer((json_int_t)i);
    }
    {
        double d = strtod(s, &end);
        return *end || errno || !isfinite(d) ? null_value() : json_real(d);
    }
}

static json_t *fn_type(struct eval *e, const struct node *n, json_t *v, json_t **a)
{
    (void)e, (void)n, (void)v;
    return json_string(type_name(a[0]));
}

static json_t *fn_reverse(struct eval *e, const struct node *n, json_t *v, json_t **a)
{
    json_t *out;
    size_t len;

    (void)n, (void)v;
    if (json_is_string(a[0])) { /* by characters */
        const char *s = json_string_value(a[0]);
        size_t l = strlen(s), o = l;
        char *r = malloc(l + 1);
        if (!r)
            return nomem(e);
        for (size_t i = 0; i < l;) {
            size_t cl = 1;
            while (i + cl < l && ((unsigned char)s[i + cl] & 0xc0) == 0x80)
                cl++;
            o -= cl;
            memcpy(r + o, s + i, cl);
            i += cl;
        }
        r[l] = '\0';
        out = json_string(r);
        free(r);
        return out ? out : nomem(e);
    }
    if (!(out = json_array()))
        return nomem(e);
    len = json_array_size(a[0]);
    for (size_t i = len; i-- > 0;)
        if (json_array_append(out, json_array_get(a[0], i)) < 0) {
            json_decref(out);
            return nomem(e);
        }
    return out;
}

static json_t *fn_join(struct eval *e, const struct node *n, json_t *v, json_t **a)
{
    struct render_buf b = {0};
    char *text = NULL;
    json_t *el, *r;
    size_t i;

    (void)v;
    json_array_foreach (a[1], i, el) {
        if (!json_is_string(el))
            return type_error(e, n->name, "the array holds something that is not a string");
        if (i)
            render_buf_puts(&b, json_string_value(a[0]));
        render_buf_puts(&b, json_string_value(el));
    }
    if (render_buf_finish(&b, &text) < 0)
        return nomem(e);
    r = json_string(text);
    free(text);
    return r ? r : nomem(e);
}

/* Sort keys of an array: all numbers or all strings. */
struct keyed {
    json_t *key;
    size_t index;
};

static int key_cmp(const json_t *a, const json_t *b)
{
    if (json_is_number(a)) {
        double p = json_number_value(a), q = json_number_value(b);
        return p < q ? -1 : p > q;
    }
    return strcmp(json_string_value(a), json_string_value(b));
}

static int keyed_cmp(const void *x, const void *y)
{
    const struct keyed *a = x, *b = y;
    int c = key_cmp(a->key, b->key);

    return c ? c : (a->index > b->index) - (a->index < b->index); /* stable */
}

/* The key of each element of @arr: the element (@by NULL) or @by on it.
 * *@ret: malloc'd, keys owned. */
static int keys_of(struct eval *e, const char *fn, json_t *arr, const struct node *by,
                   struct keyed **ret)
{
    size_t n = json_array_size(arr);
    struct keyed *k = calloc(n ? n : 1, sizeof *k);
    bool numbers = false;

    if (!k)
        return nomem(e), -1;
    for (size_t i = 0; i < n; i++) {
        json_t *el = json_array_get(arr, i);
        k[i].index = i;
        k[i].key = by ? eval(e, by, el) : json_incref(el);
        if (!k[i].key || (!json_is_number(k[i].key) && !json_is_string(k[i].key)) ||
            (i && numbers != json_is_number(k[i].key))) {
            for (size_t j = 0; j <= i; j++)
                json_decref(k[j].key);
            free(k);
            if (!e->err)
                type_error(e, fn, "the keys must be all numbers or all strings");
            return -1;
        }
        numbers = json_is_number(k[i].key);
    }
    *ret = k;
    return 0;
}

static json_t *fn_sort(struct eval *e, const struct node *n, json_t *v, json_t **a)
{
    const struct node *by = n->nkids > 1 ? n->kids[1]->kids[0] : NULL;
    size_t len = json_array_size(a[0]);
    struct keyed *k;
    json_t *out;

    (void)v;
    if (keys_of(e, n->name, a[0], by, &k) < 0)
        return NULL;
    qsort(k, len, sizeof *k, keyed_cmp);
    out = json_array();
    for (size_t i = 0; i < len; i++) {
        if (out && json_array_append(out, json_array_get(a[0], k[i].index)) < 0) {
            json_decref(out);
            out = NULL;
        }
        json_decref(k[i].key);
    }
    free(k);
    return out ? out : nomem(e);
}

static json_t *fn_max_min(struct eval *e, const struct node *n, json_t *v, json_t **a)
{
    bool max = !strncmp(n->name, "max", 3), byfn = n->nkids > 1;
    const struct node *by = byfn ? n->kids[1]->kids[0] : NULL;
    size_t len = json_array_size(a[0]), best = 0;
    struct keyed *k;
    json_t *r;

    (void)v;
    if (len == 0)
        return null_value();
    if (keys_of(e, n->name, a[0], by, &k) < 0)
        return NULL;
    for (size_t i = 1; i < len; i++) { /* the first of equal ones */
        int c = key_cmp(k[i].key, k[best].key);
        if (max ? c > 0 : c < 0)
            best = i;
    }
    r = json_incref(byfn ? json_array_get(a[0], best) : k[best].key);
    for (size_t i = 0; i < len; i++)
        json_decref(k[i].key);
    free(k);
    return r;
}

static json_t *fn_sum(struct eval *e, const struct node *n, json_t *v, json_t **a)
{
    double sum = 0;
    bool ints = true;
    json_int_t isum = 0;
    json_t *el;
    size_t i;

    (void)v;
    json_array_foreach (a[0], i, el) {
        if (!json_is_number(el))
            return type_error(e, n->name, "the array holds something that is not a number");
        sum += json_number_value(el);
        ints = ints && json_is_integer(el);
        if (ints)
            isum += json_integer_value(el);
    }
    return ints ? json_integer(isum) : json_real(sum);
}

static json_t *fn_not_null(struct eval *e, const struct node *n, json_t *v, json_t **a)
{
    (void)e, (void)v;
    for (size_t i = 0; i < n->nkids; i++)
        if (!json_is_null(a[i]))
            return json_incref(a[i]);
    return null_value();
}

static const struct function functions[] = {
    {"length", 1, {A_STRING | A_ARRAY | A_OBJECT}, fn_length},
    {"keys", 1, {A_OBJECT}, fn_keys_values},
    {"values", 1, {A_OBJECT}, fn_keys_values},
    {"contains", 2, {A_ARRAY | A_STRING, A_ANY}, fn_contains},
    {"starts_with", 2, {A_STRING, A_STRING}, fn_starts_ends},
    {"ends_with", 2, {A_STRING, A_STRING}, fn_starts_ends},
    {"to_string", 1, {A_ANY}, fn_to_string},
    {"to_number", 1, {A_ANY}, fn_to_number},
    {"type", 1, {A_ANY}, fn_type},
    {"reverse", 1, {A_ARRAY | A_STRING}, fn_reverse},
    {"join", 2, {A_STRING, A_ARRAY}, fn_join},
    {"sort", 1, {A_ARRAY}, fn_sort},
    {"sort_by", 2, {A_ARRAY, A_EXPREF}, fn_sort},
    {"max", 1, {A_ARRAY}, fn_max_min},
    {"min", 1, {A_ARRAY}, fn_max_min},
    {"max_by", 2, {A_ARRAY, A_EXPREF}, fn_max_min},
    {"min_by", 2, {A_ARRAY, A_EXPREF}, fn_max_min},
    {"sum", 1, {A_ARRAY}, fn_sum},
    {"not_null", 0, {0}, fn_not_null}, /* one or more of anything */
};

static const struct function *function_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(functions); i++)
        if (!strcmp(functions[i].name, name))
            return &functions[i];
    return NULL;
}

static unsigned type_bit(const json_t *v)
{
    return json_is_number(v)    ? A_NUMBER
           : json_is_string(v)  ? A_STRING
           : json_is_array(v)   ? A_ARRAY
           : json_is_object(v)  ? A_OBJECT
           : json_is_boolean(v) ? A_BOOL
                                : A_NULL;
}

static json_t *call(struct eval *e, const struct node *n, json_t *v)
{
    const struct function *f = n->fn;
    json_t *args[8] = {0}, *r = NULL;
    size_t nargs = n->nkids, i;

    if (f->nargs ? nargs != f->nargs : nargs < 1 || nargs > ARRAY_SIZE(args)) {
        if (!e->err)
            e->err = front_fail(-EINVAL, "InvalidParameterValue",
                                "--query: %s() takes %s%u argument%s, not %zu", f->name,
                                f->nargs ? "" : "1 to ", f->nargs ? f->nargs : 8,
                                f->nargs == 1 ? "" : "s", nargs);
        return NULL;
    }
    for (i = 0; i < nargs; i++) {
        unsigned want = f->nargs ? f->args[i] : A_ANY;
        if (n->kids[i]->kind == N_EXPREF) {
            if (!(want & A_EXPREF)) {
                type_error(e, f->name, "an expression reference (&...) where a value goes");
                goto out;
            }
            continue; /* evaluated by the function, per element */
        }
        if (want == A_EXPREF) {
            char what[96];
            snprintf(what, sizeof what, "argument %zu must be an expression reference (&...)",
                     i + 1);
            type_error(e, f->name, what);
            goto out;
        }
        if (!(args[i] = eval(e, n->kids[i], v)))
            goto out;
        if (!(type_bit(args[i]) & want)) {
            char what[96];
            snprintf(what, sizeof what, "argument %zu is a %s", i + 1, type_name(args[i]));
            type_error(e, f->name, what);
            goto out;
        }
    }
    r = f->run(e, n, v, args);
out:
    for (i = 0; i < nargs && i < ARRAY_SIZE(args); i++)
        json_decref(args[i]);
    return e->err ? (json_decref(r), NULL) : r;
}

int bsf_query_run(const bsf_query *q, const json_t *doc, json_t **ret)
{
    struct eval e = {0};
    json_t *r;

    front_error_clear();
    r = eval(&e, q->root, (json_t *)doc); /* only read: results share its values */
    if (!r)
        return e.err ? e.err : front_fail(-ENOMEM, "InternalError", "out of memory");
    *ret = r;
    return 0;
}
