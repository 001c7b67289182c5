/* key-tags.c - the tags of keys (KMS CreateKey's Tags, TagResource,
 * UntagResource, ListResourceTags).
 *
 * A key's tags are one entry "t" + key id of the keys table: u16 count,
 * then per tag u16 key length, key, u16 value length, value (docs/
 * format.md).  Tags are their key's owner's: only the owner sets, removes
 * or lists them.  A change is checked whole before anything is written.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "keys.h"
#include "meta.h"
#include "store.h"
#include "util.h"

#define KEY_TAGS_MAX 50
#define TAG_KEY_CHARS 128
#define TAG_VALUE_CHARS 256

struct ktags {
    size_t n;
    char *k[KEY_TAGS_MAX], *v[KEY_TAGS_MAX];
};

static void ktags_clear(struct ktags *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->k[i]);
        free(t->v[i]);
    }
    t->n = 0;
}

/* Key @id's tags (none: 0 of them). */
static int ktags_load(meta_txn *txn, const char *id, struct ktags *ret)
{
    char k[1 + KEYS_ID_TEXT];
    const uint8_t *p;
    const void *v;
    size_t vlen, off = 2, n;
    int r;

    k[0] = 't';
    memcpy(k + 1, id, 36);
    ret->n = 0;
    r = meta_get(txn, T_KEYS, k, 37, &v, &vlen);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    p = v;
    if (vlen < 2 || (n = le16_get(p)) > KEY_TAGS_MAX)
        return bsnap_fail(-EIO, "Store.Corrupt", "key %s: damaged tags", id);
    for (size_t i = 0; i < n; i++) {
        size_t kl, vl;
        if (off + 2 > vlen || off + 2 + (kl = le16_get(p + off)) + 2 > vlen ||
            off + 4 + kl + (vl = le16_get(p + off + 2 + kl)) > vlen ||
            !(ret->k[i] = strndup((const char *)p + off + 2, kl)) ||
            !(ret->v[i] = strndup((const char *)p + off + 4 + kl, vl))) {
            free(i < n ? ret->k[i] : NULL);
            ret->n = i;
            ktags_clear(ret);
            return bsnap_fail(-EIO, "Store.Corrupt", "key %s: damaged tags", id);
        }
        ret->n = i + 1;
        off += 4 + kl + vl;
    }
    return 0;
}

static int ktags_save(meta_txn *txn, const char *id, const struct ktags *t)
{
    char k[1 + KEYS_ID_TEXT];
    size_t len = 2, off = 2;
    uint8_t *buf;
    int r;

    k[0] = 't';
    memcpy(k + 1, id, 36);
    if (!t->n) {
        r = meta_del(txn, T_KEYS, k, 37);
        return r == -ENOENT ? 0 : r;
    }
    for (size_t i = 0; i < t->n; i++)
        len += 4 + strlen(t->k[i]) + strlen(t->v[i]);
    if (!(buf = malloc(len)))
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    le16_put(buf, (uint16_t)t->n);
    for (size_t i = 0; i < t->n; i++) {
        size_t kl = strlen(t->k[i]), vl = strlen(t->v[i]);
        le16_put(buf + off, (uint16_t)kl);
        memcpy(buf + off + 2, t->k[i], kl);
        le16_put(buf + off + 2 + kl, (uint16_t)vl);
        memcpy(buf + off + 4 + kl, t->v[i], vl);
        off += 4 + kl + vl;
    }
    r = meta_put(txn, T_KEYS, k, 37, buf, len);
    free(buf);
    return r;
}

int keys_tags_check(const bsnap_tag *tags, size_t n)
{
    int r;

    if (n > KEY_TAGS_MAX) {
        bsnap_fail(-EINVAL, "TagException", "%zu tags: a key has at most %d", n, KEY_TAGS_MAX);
        return error_set_parameter("Tags");
    }
    for (size_t i = 0; i < n; i++) {
        if (!tags[i].key || !tags[i].key[0] ||
            (r = bsnap_text_check("TagKey", tags[i].key, TAG_KEY_CHARS)) < 0) {
            bsnap_fail(-EINVAL, "TagException", "tag %zu: a TagKey is 1 to %d characters", i,
                       TAG_KEY_CHARS);
            return error_set_parameter("Tags[%zu].TagKey", i);
        }
        if (strncmp(tags[i].key, "aws:", 4) == 0) {
            bsnap_fail(-EINVAL, "TagException", "tag '%.64s': keys starting with aws: are reserved",
                       tags[i].key);
            return error_set_parameter("Tags[%zu].TagKey", i);
        }
        if (tags[i].value && (r = bsnap_text_check("TagValue", tags[i].value, TAG_VALUE_CHARS)) < 0)
            return error_set_parameter("Tags[%zu].TagValue", i);
    }
    return 0;
}

/* Set @tags (NULL values: "") on @t, replacing values of present keys. */
static int ktags_set(struct ktags *t, const bsnap_tag *tags, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        char *v = strdup(tags[i].value ? tags[i].value : "");
        while (j < t->n && strcmp(t->k[j], tags[i].key) != 0)
            j++;
        if (!v)
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        if (j == t->n) {
            if (t->n == KEY_TAGS_MAX) {
                free(v);
                bsnap_fail(-EINVAL, "TagException", "a key has at most %d tags", KEY_TAGS_MAX);
                return error_set_parameter("Tags");
            }
            if (!(t->k[j] = strdup(tags[i].key))) {
                free(v);
                return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            }
            t->v[t->n++] = v;
        } else {
            free(t->v[j]);
            t->v[j] = v;
        }
    }
    return 0;
}

int keys_tags_put(meta_txn *txn, const char *id, const bsnap_tag *tags, size_t n)
{
    struct ktags t = {0};
    int r = ktags_load(txn, id, &t);

    if (r >= 0)
        r = ktags_set(&t, tags, n);
    if (r >= 0)
        r = ktags_save(txn, id, &t);
    ktags_clear(&t);
    return r;
}

struct change_ctx {
    const char *ref;
    const bsnap_tag *tags;     /* set these, or */
    const char *const *remove; /* remove these keys */
    size_t n;
};

static int change_txn(bsnap_store *s, meta_txn *txn, void *ud)
{
    struct change_ctx *c = ud;
    struct key_rec k = {0};
    struct ktags t = {0};
    char arn[256];
    int r = keys_resolve(s, txn, c->ref, false, &k);

    if (r < 0)
        return error_param(r, "KeyId");
    keys_arn(s, &k, arn, sizeof arn);
    if ((r = keys_owned(s, &k, c->tags ? "kms:TagResource" : "kms:UntagResource")) >= 0 &&
        k.deletion_ms)
        r = bsnap_fail(-EPERM, "KMSInvalidStateException", "%s is pending deletion.", arn);
    if (r >= 0)
        r = ktags_load(txn, k.id, &t);
    if (r >= 0 && c->tags) {
        r = ktags_set(&t, c->tags, c->n);
    } else if (r >= 0) {
        for (size_t i = 0; i < c->n; i++)
            for (size_t j = 0; j < t.n; j++)
                if (strcmp(t.k[j], c->remove[i]) == 0) {
                    free(t.k[j]);
                    free(t.v[j]);
                    t.k[j] = t.k[t.n - 1];
                    t.v[j] = t.v[t.n - 1];
                    t.n--;
                    break;
                }
    }
    if (r >= 0)
        r = ktags_save(txn, k.id, &t);
    ktags_clear(&t);
    key_rec_clear(&k);
    return error_param(r, "KeyId");
}

int bsnap_key_tag(bsnap_store *s, const char *key_id, const bsnap_tag *tags, size_t ntags)
{
    struct change_ctx c = {key_id, tags, NULL, ntags};
    int r;

    bsnap_error_clear();
    if (ntags == 0) {
        bsnap_fail(-EINVAL, "ValidationException", "no tag to set");
        return error_set_parameter("Tags");
    }
    if ((r = keys_tags_check(tags, ntags)) < 0)
        return r;
    keys_expire(s);
    return keys_in_write(s, change_txn, &c);
}

int bsnap_key_untag(bsnap_store *s, const char *key_id, const char *const *tag_keys, size_t n)
{
    struct change_ctx c = {key_id, NULL, tag_keys, n};

    bsnap_error_clear();
    if (n == 0) {
        bsnap_fail(-EINVAL, "ValidationException", "no tag key to remove");
        return error_set_parameter("TagKeys");
    }
    keys_expire(s);
    return keys_in_write(s, change_txn, &c);
}

int bsnap_key_tags_list(bsnap_store *s, const char *key_id, json_t **ret_doc)
{
    meta_txn *txn = NULL;
    struct key_rec k = {0};
    struct ktags t = {0};
    json_t *arr = NULL, *doc = NULL;
    int r;

    bsnap_error_clear();
    keys_expire(s);
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0)
        return r;
    if ((r = keys_resolve(s, txn, key_id, false, &k)) >= 0 &&
        (r = keys_owned(s, &k, "kms:ListResourceTags")) >= 0)
        r = ktags_load(txn, k.id, &t);
    meta_txn_abort(txn);
    if (r >= 0 && !(arr = json_array()))
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    for (size_t i = 0; r >= 0 && i < t.n; i++)
        if (json_array_append_new(
                arr, json_pack("{s:s, s:s}", "TagKey", t.k[i], "TagValue", t.v[i])) < 0)
            r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    if (r >= 0 && !(doc = json_pack("{s:o, s:b}", "Tags", arr, "Truncated", 0)))
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    else if (r < 0)
        json_decref(arr);
    ktags_clear(&t);
    key_rec_clear(&k);
    if (r < 0)
        return error_param(r, "KeyId");
    *ret_doc = doc;
    return 0;
}
