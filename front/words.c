/* words.c - the engine's names said in a front end's words.
 *
 * The engine's messages name EC2 parameters ("NoBootCheck",
 * "BlockDeviceMappings[0].Ebs.SnapshotId") and API operations
 * ("RepairStore"), and say where (bsnap_error.refs).  A front end rewrites
 * those spans, and only those, in its own words: the CLI's are here
 * (bsf_cli_word()); the API server keeps the names as they are.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "front.h"

/* The operations the CLI runs as verbs of its own (the rest of EC2's
 * actions are its verbs by the parameter rule, without the dashes). */
static const struct {
    const char *name, *word;
} cli_words[] = {
    {"VerifyStore", "blocksnap verify"},   {"RepairStore", "blocksnap verify --repair"},
    {"CollectGarbage", "blocksnap gc"},    {"CreateImage", "create-image"},
    {"RegisterImage", "register-image"},   {"DescribeImages", "describe-images"},
    {"CreateSnapshot", "create-snapshot"}, {"DescribeSnapshots", "describe-snapshots"},
    {"CopySnapshot", "copy-snapshot"},
};

const char *bsf_cli_word(void *ud, const char *name, char buf[BSF_WORD_MAX])
{
    size_t o = 0;

    (void)ud;
    for (size_t i = 0; i < ARRAY_SIZE(cli_words); i++)
        if (strcmp(cli_words[i].name, name) == 0)
            return cli_words[i].word;
    /* A parameter is its option: SnapshotId -> --snapshot-id; of a path
     * (BlockDeviceMappings[0].Ebs.SnapshotId), its first member's. */
    buf[o++] = '-';
    buf[o++] = '-';
    for (size_t i = 0; name[i] && name[i] != '[' && name[i] != '.' && o + 3 < BSF_WORD_MAX; i++) {
        unsigned char c = (unsigned char)name[i];
        if (isupper(c) && i > 0 &&
            (islower((unsigned char)name[i - 1]) || isdigit((unsigned char)name[i - 1])))
            buf[o++] = '-';
        buf[o++] = (char)tolower(c);
    }
    buf[o] = '\0';
    return buf;
}

int bsf_refs_rewrite(const char *msg, const bsnap_error_ref *refs, size_t nrefs, bsf_word_func word,
                     void *ud, char **ret_text)
{
    struct render_buf b = {0};
    size_t len = strlen(msg), at = 0;

    for (size_t i = 0; i < nrefs; i++) {
        char name[BSF_WORD_MAX], buf[BSF_WORD_MAX];
        const char *w;

        /* refs come in order, inside the message; anything else is kept */
        if (refs[i].offset < at || refs[i].offset + refs[i].length > len ||
            refs[i].length >= sizeof name)
            continue;
        memcpy(name, msg + refs[i].offset, refs[i].length);
        name[refs[i].length] = '\0';
        w = word ? word(ud, name, buf) : NULL;
        render_buf_add(&b, msg + at, refs[i].offset - at);
        render_buf_puts(&b, w ? w : name);
        at = refs[i].offset + refs[i].length;
    }
    render_buf_puts(&b, msg + at);
    return render_buf_finish(&b, ret_text);
}

int bsf_error_message(const bsnap_error *e, bsf_word_func word, void *ud, char **ret_text)
{
    return bsf_refs_rewrite(e->message ? e->message : "", e->refs,
                            e->nrefs <= BSNAP_ERROR_REFS_MAX ? e->nrefs : 0, word, ud, ret_text);
}
