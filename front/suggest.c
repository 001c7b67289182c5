/* suggest.c - "did you mean": the names closest to a mistyped one.
 *
 * The distance is Damerau-Levenshtein's in its restricted form (optimal
 * string alignment: insertions, deletions, substitutions and swaps of two
 * neighbours, each costing one), computed in two rows plus the one before
 * for the swaps.  A name is offered when it is within a cutoff that grows
 * with the length of the mistyped word (one edit for up to 3 characters, two
 * up to 6, three beyond), and only the closest ones are kept, at most
 * BSF_SUGGEST_MAX of them, in the order they were offered.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "front.h"

/* Longest name compared; longer ones are never suggested. */
#define NAME_MAX_LEN 128

size_t bsf_distance(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t rows[3][NAME_MAX_LEN + 1], *prev2 = rows[0], *prev = rows[1], *cur = rows[2], *t;

    if (alen > NAME_MAX_LEN || blen > NAME_MAX_LEN)
        return SIZE_MAX;
    for (size_t j = 0; j <= blen; j++)
        prev[j] = j;
    for (size_t i = 1; i <= alen; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= blen; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t d = prev[j] + 1;

            if (cur[j - 1] + 1 < d)
                d = cur[j - 1] + 1;
            if (prev[j - 1] + cost < d)
                d = prev[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                prev2[j - 2] + 1 < d)
                d = prev2[j - 2] + 1;
            cur[j] = d;
        }
        t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[blen];
}

void bsf_suggest_init(bsf_suggest *s, const char *word, size_t len)
{
    memset(s, 0, sizeof *s);
    s->word = word;
    s->len = len;
    s->best = len <= 3 ? 1 : len <= 6 ? 2 : 3;
}

void bsf_suggest_add(bsf_suggest *s, const char *name)
{
    size_t d = bsf_distance(s->word, s->len, name, strlen(name));

    if (d == 0 || d > s->best)
        return;
    if (d < s->best || s->n == 0) {
        s->best = d;
        s->n = 0;
    }
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return;
    if (s->n < BSF_SUGGEST_MAX)
        s->names[s->n++] = name;
}

const char *bsf_suggest_text(const bsf_suggest *s, const char *prefix, char *buf, size_t size)
{
    size_t o = 0;
    int n;

    buf[0] = '\0';
    if (s->n == 0)
        return buf;
    n = snprintf(buf, size, "; did you mean ");
    for (size_t i = 0; i < s->n && n >= 0 && (o += (size_t)n) < size; i++)
        n = snprintf(buf + o, size - o, "%s'%s%s'",
                     i == 0          ? ""
                     : i + 1 == s->n ? " or "
                                     : ", ",
                     prefix, s->names[i]);
    if (n >= 0 && (o += (size_t)n) < size)
        snprintf(buf + o, size - o, "?");
    return buf;
}
