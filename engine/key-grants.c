/* key-grants.c - key grants (KMS CreateGrant, ListGrants, RevokeGrant,
 * RetireGrant): how another account of the same store may use a customer
 * key, to restore, copy or launch what is shared with it and encrypted
 * under that key.
 *
 * A grant is an entry "g" + grant id of the keys table (docs/format.md,
 * "grants"): the key, the grantee account, the operations it allows, an
 * optional retiring account and name, and its creation time.  The owner of
 * a key uses it without grants; anyone else needs a grant whose operations
 * include the one asked for (keys_allowed() in keys.c asks
 * grants_allow()).  Deleting a key drops its grants (grants_drop()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "error.h"
#include "keys.h"
#include "meta.h"
#include "owner.h"
#include "store.h"
#include "util.h"

#define GRANT_MAGIC "BSGR"
#define GRANT_VERSION 1
/* KMS's quota of grants per key. */
#define GRANTS_PER_KEY_MAX 50000

/* Whether the @n bytes at @p are all of @set (no NUL needed after them). */
static bool all_of(const void *p, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++)
        if (!((const uint8_t *)p)[i] || !strchr(set, ((const uint8_t *)p)[i]))
            return false;
    return true;
}

#define DIGITS "0123456789"
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:/_-"

int grant_decode(const char *key, size_t klen, const void *val, size_t vlen, struct grant *ret)
{
    const uint8_t *p = val;
    struct grant g = {0};
    size_t nl;

    if (klen != GRANT_ID_HEX || vlen < GRANT_FIXED || memcmp(p, GRANT_MAGIC, 4) != 0 ||
        le16_get(p + 4) != GRANT_VERSION)
        return bsnap_fail(-EIO, "Store.Corrupt", "keys table: a damaged grant entry");
    nl = le16_get(p + GRANT_FIXED - 2);
    g.ops = le16_get(p + 6);
    /* what grant_encode() writes, and nothing else: an id of lower-case
     * hex, a key id of its form, accounts of 12 digits (the retiring one
     * 12 NULs when none), a name of the allowed characters */
    if (nl != vlen - GRANT_FIXED || nl > GRANT_NAME_MAX || !g.ops || (g.ops & ~KEY_OP_ALL) ||
        !all_of(key, GRANT_ID_HEX, "0123456789abcdef") || !all_of(p + 8, 36, "0123456789abcdef-") ||
        !all_of(p + 44, 12, DIGITS) ||
        (p[56] ? !all_of(p + 56, 12, DIGITS)
               : memcmp(p + 56, "\0\0\0\0\0\0\0\0\0\0\0\0", 12) != 0) ||
        !all_of(p + GRANT_FIXED, nl, NAME_CHARS))
        return bsnap_fail(-EIO, "Store.Corrupt", "grant %.*s: damaged",
                          (int)(klen > 64 ? 64 : klen), key);
    memcpy(g.id, key, GRANT_ID_HEX);
    memcpy(g.key_id, p + 8, 36);
    memcpy(g.grantee, p + 44, 12);
    if (p[56])
        memcpy(g.retiring, p + 56, 12);
    g.created_ms = (int64_t)le64_get(p + 68);
    memcpy(g.name, p + GRANT_FIXED, nl);
    *ret = g;
    return 0;
}

size_t grant_encode(const struct grant *g, uint8_t v[GRANT_FIXED + GRANT_NAME_MAX])
{
    size_t nl = strlen(g->name);

    memset(v, 0, GRANT_FIXED);
    memcpy(v, GRANT_MAGIC, 4);
    le16_put(v + 4, GRANT_VERSION);
    le16_put(v + 6, (uint16_t)g->ops);
    memcpy(v + 8, g->key_id, 36);
    memcpy(v + 44, g->grantee, 12);
    if (g->retiring[0])
        memcpy(v + 56, g->retiring, 12);
    le64_put(v + 68, (uint64_t)g->created_ms);
    le16_put(v + GRANT_FIXED - 2, (uint16_t)nl);
    memcpy(v + GRANT_FIXED, g->name, nl);
    return GRANT_FIXED + nl;
}

static int grant_save(meta_txn *txn, const struct grant *g)
{
    uint8_t v[GRANT_FIXED + GRANT_NAME_MAX];
    char k[1 + GRANT_ID_HEX];
    size_t n = grant_encode(g, v);

    k[0] = 'g';
    memcpy(k + 1, g->id, GRANT_ID_HEX);
    return meta_put(txn, T_KEYS, k, sizeof k, v, n);
}

/* Every grant, or those of key @key_id, into a malloc'd array. */
struct grant_list {
    const char *key_id; /* NULL: all */
    struct grant *v;
    size_t n, cap;
};

static int collect(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    struct grant_list *l = ud;
    struct grant g;
    void *na;
    int r = grant_decode(key, klen, val, vlen, &g);

    if (r < 0)
        return r;
    if (l->key_id && strcmp(g.key_id, l->key_id) != 0)
        return 0;
    if (!(na = array_grow(l->v, l->n, &l->cap, sizeof *l->v, 8)))
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    l->v = na;
    l->v[l->n++] = g;
    return 0;
}

static int grants_of(meta_txn *txn, const char *key_id, struct grant_list *ret)
{
    *ret = (struct grant_list){.key_id = key_id};
    int r = keys_walk(txn, 'g', collect, ret);

    if (r < 0) {
        free(ret->v);
        ret->v = NULL;
    }
    return r;
}

int grants_allow(meta_txn *txn, const char *key_id, const char *account, unsigned op)
{
    struct grant_list l;
    int r = grants_of(txn, key_id, &l), yes = 0;

    if (r < 0)
        return r;
    for (size_t i = 0; i < l.n && !yes; i++)
        yes = strcmp(l.v[i].grantee, account) == 0 && (l.v[i].ops & op) == op;
    free(l.v);
    return yes;
}

int grants_drop(meta_txn *txn, const char *key_id)
{
    struct grant_list l;
    char k[1 + GRANT_ID_HEX];
    int r = grants_of(txn, key_id, &l);

    k[0] = 'g';
    for (size_t i = 0; r >= 0 && i < l.n; i++) {
        memcpy(k + 1, l.v[i].id, GRANT_ID_HEX);
        r = meta_del(txn, T_KEYS, k, sizeof k);
    }
    free(l.v);
    return r;
}

/* ---- inputs ---- */

/* A principal: 12 digits or arn:aws:iam::ACCOUNT:root, into @ret. */
static int principal_parse(const char *p, const char *param, char ret[13])
{
    const char *a = p;

    if (strncmp(p, "arn:aws:iam::", 13) == 0 && strlen(p) == 13 + 12 + 5 &&
        strcmp(p + 25, ":root") == 0)
        a = p + 13;
    if (strspn(a, "0123456789") != 12 || (a == p && strlen(p) != 12)) {
        if (strcmp(param, "GranteePrincipal") == 0)
            bsnap_fail(-EINVAL, "InvalidArnException",
                       "@{GranteePrincipal} '%.80s' is not an account id (12 digits) or "
                       "arn:aws:iam::ACCOUNT:root",
                       p);
        else
            bsnap_fail(-EINVAL, "InvalidArnException",
                       "@{RetiringPrincipal} '%.80s' is not an account id (12 digits) or "
                       "arn:aws:iam::ACCOUNT:root",
                       p);
        return error_set_parameter("%s", param);
    }
    memcpy(ret, a, 12);
    ret[12] = '\0';
    return 0;
}

static int ops_parse(const char *const *v, size_t n, unsigned *ret)
{
    unsigned ops = 0, op;

    if (n == 0) {
        bsnap_fail(-EINVAL, "ValidationException", "a grant needs at least one operation");
        return error_set_parameter("Operations");
    }
    for (size_t i = 0; i < n; i++) {
        for (op = 1; op <= KEY_OP_DESCRIBE_KEY; op <<= 1)
            if (strcmp(v[i], keys_op_name(op)) == 0)
                break;
        if (op > KEY_OP_DESCRIBE_KEY) {
            bsnap_fail(-EINVAL, "ValidationException",
                       "operation '%.64s' is not one a grant of a symmetric key can give "
                       "(Decrypt, Encrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, "
                       "ReEncryptFrom, ReEncryptTo, CreateGrant, RetireGrant, DescribeKey)",
                       v[i]);
            return error_set_parameter("Operations[%zu]", i);
        }
        ops |= op;
    }
    *ret = ops;
    return 0;
}

static int name_check(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > GRANT_NAME_MAX ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:/_-") != n) {
        bsnap_fail(-EINVAL, "ValidationException",
                   "grant name '%.64s' must be 1 to 256 of A-Z a-z 0-9 : / _ -", name);
        return error_set_parameter("Name");
    }
    return 0;
}

/* ---- the calls ---- */

struct create_ctx {
    const bsnap_grant_options *o;
    struct grant g;
};

static int create_txn(bsnap_store *s, meta_txn *txn, void *ud)
{
    struct create_ctx *c = ud;
    struct key_rec k = {0};
    struct grant_list l = {0};
    char arn[256];
    int r = keys_resolve(s, txn, c->o->key_id, false, &k);

    if (r < 0)
        return error_param(r, "KeyId");
    keys_arn(s, &k, arn, sizeof arn);
    if (k.manager == KEY_AWS) {
        r = bsnap_fail(-EACCES, "AccessDeniedException",
                       "%s is an AWS managed key: it cannot be granted to another account", arn);
        goto out;
    }
    if ((r = keys_allowed(s, txn, &k, KEY_OP_CREATE_GRANT)) < 0 || (r = keys_usable(s, &k)) < 0)
        goto out;
    /* a grantee passes on no more than it was given */
    for (unsigned op = 1; op <= KEY_OP_DESCRIBE_KEY && r >= 0; op <<= 1)
        if (c->g.ops & op)
            r = keys_allowed(s, txn, &k, op);
    if (r < 0 || (r = grants_of(txn, k.id, &l)) < 0)
        goto out;
    /* KMS: a named grant asked for again is the same grant */
    for (size_t i = 0; c->g.name[0] && i < l.n; i++)
        if (strcmp(l.v[i].name, c->g.name) == 0 && strcmp(l.v[i].grantee, c->g.grantee) == 0 &&
            strcmp(l.v[i].retiring, c->g.retiring) == 0 && l.v[i].ops == c->g.ops) {
            c->g = l.v[i];
            goto out;
        }
    if (l.n >= GRANTS_PER_KEY_MAX) {
        r = bsnap_fail(-EDQUOT, "LimitExceededException", "%s has %d grants, as many as a key may",
                       arn, GRANTS_PER_KEY_MAX);
        goto out;
    }
    memcpy(c->g.key_id, k.id, KEYS_ID_TEXT);
    c->g.created_ms = time_now_ms();
    {
        uint8_t raw[GRANT_ID_HEX / 2];
        if ((r = random_bytes(raw, sizeof raw)) < 0) {
            r = bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
            goto out;
        }
        hex_encode(raw, sizeof raw, c->g.id);
    }
    r = grant_save(txn, &c->g);
out:
    free(l.v);
    key_rec_clear(&k);
    return error_param(r, "KeyId");
}

int bsnap_grant_create(bsnap_store *s, const bsnap_grant_options *o, json_t **ret_doc)
{
    struct create_ctx c = {.o = o};
    json_t *doc;
    int r;

    bsnap_error_clear();
    keys_expire(s);
    if ((r = principal_parse(o->grantee_principal, "GranteePrincipal", c.g.grantee)) < 0 ||
        (o->retiring_principal &&
         (r = principal_parse(o->retiring_principal, "RetiringPrincipal", c.g.retiring)) < 0) ||
        (r = ops_parse(o->operations, o->noperations, &c.g.ops)) < 0 ||
        (o->name && (r = name_check(o->name)) < 0))
        return r;
    if (o->name)
        snprintf(c.g.name, sizeof c.g.name, "%s", o->name);
    if ((r = keys_in_write(s, create_txn, &c)) < 0)
        return r;
    bsnap_debug("keys", "key %s: grant %s to %s", c.g.key_id, c.g.id, c.g.grantee);
    /* The token is the grant id: a local store has no eventual
     * consistency for a token to bridge. */
    doc = json_pack("{s:s, s:s}", "GrantToken", c.g.id, "GrantId", c.g.id);
    if (!doc)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    *ret_doc = doc;
    return 0;
}

static json_t *grant_json(const bsnap_store *s, const struct key_rec *k, const struct grant *g)
{
    char arn[256], date[32], who[64], issuer[64];
    json_t *o, *ops = json_array();

    keys_arn(s, k, arn, sizeof arn);
    time_format_ms(g->created_ms, date, sizeof date);
    snprintf(who, sizeof who, "arn:aws:iam::%s:root", g->grantee);
    snprintf(issuer, sizeof issuer, "arn:aws:iam::%s:root", owner_of(s, k->owner));
    for (unsigned op = 1; ops && op <= KEY_OP_DESCRIBE_KEY; op <<= 1)
        if (g->ops & op)
            json_array_append_new(ops, json_string(keys_op_name(op)));
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "KeyId", arn, "GrantId", g->id, "Name",
                  g->name, "CreationDate", date, "GranteePrincipal", who, "IssuingAccount", issuer,
                  "Operations", ops);
    if (o && g->retiring[0]) {
        snprintf(who, sizeof who, "arn:aws:iam::%s:root", g->retiring);
        json_object_set_new(o, "RetiringPrincipal", json_string(who));
    }
    return o;
}

int bsnap_grant_list(bsnap_store *s, const char *key_id, const char *grant_id,
                     const char *grantee_principal, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct key_rec k = {0};
    struct grant_list l = {0};
    char grantee[13] = "";
    json_t *arr = NULL, *doc = NULL;
    int r;

    bsnap_error_clear();
    keys_expire(s);
    if (grantee_principal &&
        (r = principal_parse(grantee_principal, "GranteePrincipal", grantee)) < 0)
        return r;
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0)
        return r;
    if ((r = keys_resolve(s, txn, key_id, false, &k)) < 0 ||
        (r = keys_owned(s, &k, "kms:ListGrants")) < 0) {
        key_rec_clear(&k);
        return error_param(r, "KeyId");
    }
    if ((r = grants_of(txn, k.id, &l)) >= 0 && !(arr = json_array()))
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    for (size_t i = 0; r >= 0 && i < l.n; i++) {
        if ((grant_id && strcmp(l.v[i].id, grant_id) != 0) ||
            (grantee[0] && strcmp(l.v[i].grantee, grantee) != 0))
            continue;
        if (json_array_append_new(arr, grant_json(s, &k, &l.v[i])) < 0)
            r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    if (r >= 0 && !(doc = json_pack("{s:o, s:b}", "Grants", arr, "Truncated", 0)))
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    else if (r < 0)
        json_decref(arr);
    free(l.v);
    key_rec_clear(&k);
    if (r < 0)
        return r;
    *ret_doc = doc;
    return 0;
}

struct end_ctx {
    const char *key_ref; /* NULL: find the grant by @grant_id alone (a token) */
    const char *grant_id;
    bool revoke;
};

static int end_txn(bsnap_store *s, meta_txn *txn, void *ud)
{
    struct end_ctx *c = ud;
    struct grant_list l = {0};
    struct key_rec k = {0};
    const struct grant *g = NULL;
    char key[1 + GRANT_ID_HEX];
    int r = 0;

    if (c->key_ref) {
        if ((r = keys_resolve(s, txn, c->key_ref, false, &k)) < 0 ||
            (c->revoke && (r = keys_owned(s, &k, "kms:RevokeGrant")) < 0)) {
            key_rec_clear(&k);
            return error_param(r, "KeyId");
        }
    }
    if ((r = grants_of(txn, c->key_ref ? k.id : NULL, &l)) < 0)
        goto out;
    for (size_t i = 0; i < l.n && !g; i++)
        if (strcmp(l.v[i].id, c->grant_id) == 0)
            g = &l.v[i];
    if (!g) {
        r = bsnap_fail(-ENOENT, "NotFoundException", "Grant ID %.80s not found", c->grant_id);
        r = error_param(r, c->key_ref ? "GrantId" : "GrantToken");
        goto out;
    }
    if (!c->key_ref && (r = keys_load(txn, g->key_id, &k)) < 0)
        goto out;
    /* KMS: the key's account, the retiring principal, or a grantee whose
     * grant includes RetireGrant may retire it */
    if (!c->revoke && strcmp(owner_of(s, k.owner), s->caller) != 0 &&
        strcmp(g->retiring, s->caller) != 0 &&
        !(strcmp(g->grantee, s->caller) == 0 && (g->ops & KEY_OP_RETIRE_GRANT))) {
        r = bsnap_fail(-EACCES, "AccessDeniedException",
                       "User: arn:aws:iam::%s:root is not authorized to perform: kms:RetireGrant "
                       "on grant %s",
                       s->caller, g->id);
        r = error_param(r, c->key_ref ? "GrantId" : "GrantToken");
        goto out;
    }
    key[0] = 'g';
    memcpy(key + 1, g->id, GRANT_ID_HEX);
    r = meta_del(txn, T_KEYS, key, sizeof key);
    if (r >= 0)
        bsnap_debug("keys", "key %s: grant %s %s", g->key_id, g->id,
                    c->revoke ? "revoked" : "retired");
out:
    free(l.v);
    key_rec_clear(&k);
    return r;
}

int bsnap_grant_revoke(bsnap_store *s, const char *key_id, const char *grant_id)
{
    struct end_ctx c = {key_id, grant_id, true};

    bsnap_error_clear();
    keys_expire(s);
    return keys_in_write(s, end_txn, &c);
}

int bsnap_grant_retire(bsnap_store *s, const char *grant_token, const char *key_id,
                       const char *grant_id)
{
    struct end_ctx c = {key_id, grant_token ? grant_token : grant_id, false};

    bsnap_error_clear();
    if ((grant_token && (key_id || grant_id)) || (!grant_token && (!key_id || !grant_id))) {
        bsnap_fail(-EINVAL, "ValidationException",
                   "a grant is retired by its token, or by its key and grant id");
        return error_set_parameter("GrantToken");
    }
    keys_expire(s);
    if (grant_token)
        c.key_ref = NULL;
    return keys_in_write(s, end_txn, &c);
}
