/* keys.c - region keys, aliases, the EBS key settings and data keys; see
 * keys.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cleanup.h"
#include "error.h"
#include "keys.h"
#include "meta.h"
#include "owner.h"
#include "record.h"
#include "store.h"
#include "util.h"

/* Entries of the "keys" table: "k" + key id -> key record, "a" + alias
 * name -> key id and creation time, "s" + setting -> value. */
#define REC_MAGIC "BSKY"
#define REC_VERSION 1
#define REC_FIXED (4 + 2 + 1 + 1 + 8 + KEYS_CHECK_BYTES + 4)
#define WRAP_MAGIC "BSDK"
#define WRAP_VERSION 1
#define ALIAS_VALUE (36 + 8)
#define DEFAULT_ALIAS "alias/aws/ebs"
#define SET_DEFAULT_KEY "sebs-default-key"
#define SET_BY_DEFAULT "sebs-encryption-by-default"
#define FILE_HEADER "blocksnap-key 1 "
/* "p" + key id -> "BSKP", u16 version 1, u8 kdf (1: PBKDF2-HMAC-SHA256),
 * u8 0, u32 iterations, salt */
#define KDF_MAGIC "BSKP"
#define KDF_VALUE (4 + 2 + 1 + 1 + 4 + KEYS_SALT_BYTES)
#define DELETION_VALUE 9
/* "a", an account and ":", an alias name */
#define ALIAS_KEY_MAX (1 + 13 + KEYS_ALIAS_MAX)

void keys_wipe(void *p, size_t n)
{
    OPENSSL_cleanse(p, n);
}

void key_rec_clear(struct key_rec *k)
{
    free(k->description);
    *k = (struct key_rec){0};
}

/* ---- the record ---- */

static bool uuid_valid(const char *s)
{
    static const int dash[] = {8, 13, 18, 23};
    size_t d = 0;

    if (strlen(s) != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        if (d < 4 && (int)i == dash[d]) {
            if (s[i] != '-')
                return false;
            d++;
        } else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

int key_rec_decode(const char *id, const void *buf, size_t len, struct key_rec *ret)
{
    const uint8_t *p = buf;
    struct key_rec k = {0};
    uint32_t dlen;

    if (len < REC_FIXED || memcmp(p, REC_MAGIC, 4) != 0)
        return bsnap_fail(-EIO, "Store.Corrupt", "key record %s: not a key record", id);
    if (le16_get(p + 4) != REC_VERSION)
        return bsnap_fail(-EIO, "Store.Corrupt", "key record %s: version %u is not known", id,
                          le16_get(p + 4));
    if (!uuid_valid(id))
        return bsnap_fail(-EIO, "Store.Corrupt", "key record %s: bad key id", id);
    dlen = le32_get(p + REC_FIXED - 4);
    if (p[6] < KEY_ENABLED || p[6] > KEY_DISABLED || p[7] < KEY_AWS || p[7] > KEY_CUSTOMER ||
        dlen != len - REC_FIXED || memchr(p + REC_FIXED, 0, dlen))
        return bsnap_fail(-EIO, "Store.Corrupt", "key record %s: damaged", id);
    snprintf(k.id, sizeof k.id, "%s", id);
    k.state = p[6];
    k.manager = p[7];
    k.created_ms = (int64_t)le64_get(p + 8);
    memcpy(k.check, p + 16, KEYS_CHECK_BYTES);
    if (!(k.description = strndup((const char *)p + REC_FIXED, dlen)))
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    *ret = k;
    return 0;
}

int key_rec_encode(const struct key_rec *k, uint8_t **ret_buf, size_t *ret_len)
{
    size_t dlen = k->description ? strlen(k->description) : 0;
    uint8_t *p = malloc(REC_FIXED + dlen);

    if (!p)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    memcpy(p, REC_MAGIC, 4);
    le16_put(p + 4, REC_VERSION);
    p[6] = (uint8_t)k->state;
    p[7] = (uint8_t)k->manager;
    le64_put(p + 8, (uint64_t)k->created_ms);
    memcpy(p + 16, k->check, KEYS_CHECK_BYTES);
    le32_put(p + REC_FIXED - 4, (uint32_t)dlen);
    if (dlen)
        memcpy(p + REC_FIXED, k->description, dlen);
    *ret_buf = p;
    *ret_len = REC_FIXED + dlen;
    return 0;
}

/* ---- AES-256-GCM ---- */

static int crypto_fail(const char *what)
{
    return bsnap_fail(-EIO, "InternalError", "libcrypto: %s failed", what);
}

/* Encrypt @n bytes of @in (may be 0) into @out, with @aad; the tag to @tag. */
static int gcm_seal(const uint8_t key[32], const uint8_t nonce[12], const void *aad, size_t aadlen,
                    const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[16])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len, ok;

    if (!c)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    ok = EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
         EVP_EncryptUpdate(c, NULL, &len, aad, (int)aadlen) == 1 &&
         (n == 0 || EVP_EncryptUpdate(c, out, &len, in, (int)n) == 1) &&
         EVP_EncryptFinal_ex(c, out + n, &len) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : crypto_fail("AES-256-GCM encryption");
}

/* 1 when the tag checks out (@out holds the plaintext), 0 when not (@out
 * wiped), negative errno when libcrypto failed. */
static int gcm_open(const uint8_t key[32], const uint8_t nonce[12], const void *aad, size_t aadlen,
                    const uint8_t *in, size_t n, const uint8_t tag[16], uint8_t *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    uint8_t t[16];
    int len, ok;

    if (!c)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    memcpy(t, tag, 16);
    ok = EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
         EVP_DecryptUpdate(c, NULL, &len, aad, (int)aadlen) == 1 &&
         (n == 0 || EVP_DecryptUpdate(c, out, &len, in, (int)n) == 1) &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, t) == 1;
    if (!ok) {
        EVP_CIPHER_CTX_free(c);
        return crypto_fail("AES-256-GCM decryption");
    }
    ok = EVP_DecryptFinal_ex(c, out + n, &len) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok && n)
        keys_wipe(out, n);
    return ok;
}

/* The check value: the GCM tag of nothing under the material, with the
 * key id as additional data.  It tells a key file that is not this key's
 * and reveals nothing of the material. */
static int key_check(const uint8_t material[KEYS_MATERIAL_BYTES], const char *id,
                     uint8_t out[KEYS_CHECK_BYTES])
{
    static const uint8_t zero_nonce[12];
    char aad[80];
    int n = snprintf(aad, sizeof aad, "blocksnap key check 1 %s", id);

    return gcm_seal(material, zero_nonce, aad, (size_t)n, NULL, 0, NULL, out);
}

static int wrap_aad(char *aad, size_t cap, const char *key_id, const char *purpose)
{
    int n = snprintf(aad, cap, "blocksnap data key 1 %s %s", key_id, purpose);

    if (n < 0 || (size_t)n >= cap)
        return bsnap_fail(-EINVAL, "InvalidParameterValue", "data key purpose too long");
    return n;
}

static void uuid_to_bin(const char *id, uint8_t out[16])
{
    char hex[33];
    size_t j = 0;

    for (size_t i = 0; id[i] && j < 32; i++)
        if (id[i] != '-')
            hex[j++] = id[i];
    hex[j] = '\0';
    if (!hex_decode(hex, 16, out))
        memset(out, 0, 16);
}

static void uuid_from_bin(const uint8_t in[16], char out[KEYS_ID_TEXT])
{
    char hex[33];

    hex_encode(in, 16, hex);
    snprintf(out, KEYS_ID_TEXT, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
             hex + 20);
}

int keys_seal(const uint8_t material[KEYS_MATERIAL_BYTES], const char *key_id, const char *purpose,
              const uint8_t plain[KEYS_DATA_KEY_BYTES], uint8_t out[KEYS_WRAPPED_BYTES])
{
    char aad[512];
    int n = wrap_aad(aad, sizeof aad, key_id, purpose), r;

    if (n < 0)
        return n;
    memcpy(out, WRAP_MAGIC, 4);
    le16_put(out + 4, WRAP_VERSION);
    le16_put(out + 6, 0);
    uuid_to_bin(key_id, out + 8);
    if ((r = random_bytes(out + 24, 12)) < 0)
        return bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
    return gcm_seal(material, out + 24, aad, (size_t)n, plain, KEYS_DATA_KEY_BYTES, out + 36,
                    out + 36 + KEYS_DATA_KEY_BYTES);
}

int keys_unseal(const uint8_t material[KEYS_MATERIAL_BYTES], const char *key_id,
                const char *purpose, const uint8_t in[KEYS_WRAPPED_BYTES],
                uint8_t plain[KEYS_DATA_KEY_BYTES])
{
    char aad[512];
    int n = wrap_aad(aad, sizeof aad, key_id, purpose), r;

    if (n < 0)
        return n;
    r = gcm_open(material, in + 24, aad, (size_t)n, in + 36, KEYS_DATA_KEY_BYTES,
                 in + 36 + KEYS_DATA_KEY_BYTES, plain);
    if (r == 0)
        return bsnap_fail(-EBADMSG, "InvalidCiphertextException",
                          "the wrapped data key does not unwrap with key %s (changed, or "
                          "wrapped for another use)",
                          key_id);
    return r < 0 ? r : 0;
}

/* ---- key files ---- */

int keys_dir(const bsnap_store *s, char **ret_dir)
{
    const char *env = getenv("BLOCKSNAP_KEY_DIR");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    char *d = NULL;
    int r;

    if (env && *env)
        r = asprintf(&d, "%s/%s", env, s->region);
    else if (xdg && *xdg)
        r = asprintf(&d, "%s/blocksnap/keys/%s", xdg, s->region);
    else if (home && *home)
        r = asprintf(&d, "%s/.config/blocksnap/keys/%s", home, s->region);
    else
        return bsnap_fail(-ENOENT, "KeyUnavailableException",
                          "no directory for key files: neither BLOCKSNAP_KEY_DIR, "
                          "XDG_CONFIG_HOME nor HOME is set");
    if (r < 0)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    *ret_dir = d;
    return 0;
}

static int key_file_path(const bsnap_store *s, const char *id, char **ret)
{
    _cleanup_free_ char *dir = NULL;
    int r = keys_dir(s, &dir);

    if (r < 0)
        return r;
    if (asprintf(ret, "%s/%s.key", dir, id) < 0)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    return 0;
}

/* mkdir -p @dir, each new directory 0700. */
static int mkdir_private(const char *dir)
{
    _cleanup_free_ char *p = strdup(dir);

    if (!p)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    for (char *c = p + 1;; c++) {
        if (*c == '/' || *c == '\0') {
            char save = *c;
            *c = '\0';
            if (mkdir(p, 0700) < 0 && errno != EEXIST)
                return bsnap_fail(-errno, "KeyUnavailableException", "key directory %s: %s", p,
                                  strerror(errno));
            *c = save;
            if (!save)
                break;
        }
    }
    return 0;
}

/* Write @material as key @id's file, whole or not at all. */
static int key_file_write(const bsnap_store *s, const char *id,
                          const uint8_t material[KEYS_MATERIAL_BYTES])
{
    _cleanup_free_ char *dir = NULL, *path = NULL, *tmp = NULL;
    char text[sizeof FILE_HEADER + 40 + 2 * KEYS_MATERIAL_BYTES + 2];
    int fd, r, n;

    if (s->dry_run) /* a key file is a write too, made before the commit */
        return error_dry_run();
    if ((r = keys_dir(s, &dir)) < 0 || (r = mkdir_private(dir)) < 0)
        return r;
    if (asprintf(&path, "%s/%s.key", dir, id) < 0 || asprintf(&tmp, "%s/.%s.XXXXXX", dir, id) < 0)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    n = snprintf(text, sizeof text, FILE_HEADER "%s\n", id);
    hex_encode(material, KEYS_MATERIAL_BYTES, text + n);
    n += 2 * KEYS_MATERIAL_BYTES;
    text[n++] = '\n';
    if ((fd = mkstemp(tmp)) < 0) {
        keys_wipe(text, sizeof text);
        return bsnap_fail(-errno, "KeyUnavailableException", "key file %s: %s", path,
                          strerror(errno));
    }
    r = fchmod(fd, 0600) < 0 ? -errno : full_write(fd, text, (size_t)n);
    keys_wipe(text, sizeof text);
    if (r >= 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r >= 0)
        r = -errno;
    if (r >= 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return bsnap_fail(r, "KeyUnavailableException", "key file %s: %s", path, strerror(-r));
    }
    (void)fsync_dir(dir);
    return 0;
}

/* Read key @k's material from its file and check it against the record. */
static int key_file_read(const bsnap_store *s, const struct key_rec *k,
                         uint8_t ret[KEYS_MATERIAL_BYTES])
{
    _cleanup_free_ char *path = NULL;
    char *text = NULL, head[sizeof FILE_HEADER + 40];
    uint8_t m[KEYS_MATERIAL_BYTES], check[KEYS_CHECK_BYTES];
    size_t len = 0, hl;
    int r;

    if ((r = key_file_path(s, k->id, &path)) < 0)
        return r;
    r = file_read_all(path, 4096, &text, &len);
    if (r == -ENOENT)
        return bsnap_fail(-ENOKEY, "KeyUnavailableException",
                          "key %s: its key file %s is missing (the store holds no key "
                          "material: restore the file from a backup)",
                          k->id, path);
    if (r < 0)
        return bsnap_fail(r, "KeyUnavailableException", "key %s: key file %s: %s", k->id, path,
                          strerror(-r));
    hl = (size_t)snprintf(head, sizeof head, FILE_HEADER "%s\n", k->id);
    r = len == hl + 2 * KEYS_MATERIAL_BYTES + 1 && memcmp(text, head, hl) == 0 &&
        text[len - 1] == '\n' && hex_decode(text + hl, KEYS_MATERIAL_BYTES, m);
    keys_wipe(text, len);
    free(text);
    if (!r)
        return bsnap_fail(-EKEYREJECTED, "IncorrectKeyMaterialException",
                          "key %s: key file %s is not a key file of this key", k->id, path);
    if ((r = key_check(m, k->id, check)) < 0 || CRYPTO_memcmp(check, k->check, sizeof check)) {
        keys_wipe(m, sizeof m);
        return r < 0 ? r
                     : bsnap_fail(-EKEYREJECTED, "IncorrectKeyMaterialException",
                                  "key %s: the material in key file %s is not this key's", k->id,
                                  path);
    }
    memcpy(ret, m, sizeof m);
    keys_wipe(m, sizeof m);
    return 0;
}

/* Derive key @k's material from the passphrase in the environment and
 * check it against the record. */
static int key_derive(const struct key_rec *k, uint8_t ret[KEYS_MATERIAL_BYTES])
{
    const char *pass = getenv(KEYS_PASSPHRASE_ENV);
    uint8_t m[KEYS_MATERIAL_BYTES], check[KEYS_CHECK_BYTES];
    int r;

    if (!pass || !*pass)
        return bsnap_fail(-ENOKEY, "KeyUnavailableException",
                          "key %s is derived from a passphrase: %s is not set", k->id,
                          KEYS_PASSPHRASE_ENV);
    if (PKCS5_PBKDF2_HMAC(pass, (int)strlen(pass), k->kdf_salt, KEYS_SALT_BYTES,
                          (int)k->kdf_iterations, EVP_sha256(), KEYS_MATERIAL_BYTES, m) != 1)
        return crypto_fail("PBKDF2");
    if ((r = key_check(m, k->id, check)) < 0 || CRYPTO_memcmp(check, k->check, sizeof check)) {
        keys_wipe(m, sizeof m);
        return r < 0 ? r
                     : bsnap_fail(-EKEYREJECTED, "IncorrectKeyMaterialException",
                                  "key %s: the passphrase in %s is not this key's", k->id,
                                  KEYS_PASSPHRASE_ENV);
    }
    memcpy(ret, m, sizeof m);
    keys_wipe(m, sizeof m);
    return 0;
}

/* Key @k's material, from its file or its passphrase. */
static int key_material(const bsnap_store *s, const struct key_rec *k,
                        uint8_t ret[KEYS_MATERIAL_BYTES])
{
    return k->kdf_iterations ? key_derive(k, ret) : key_file_read(s, k, ret);
}

/* ---- lookups ---- */

/* The calling account's ARN prefix: aliases and keys are named in its
 * namespace. */
static int arn_prefix(const bsnap_store *s, char *out, size_t cap)
{
    return snprintf(out, cap, "arn:aws:kms:%s:%s:", s->region, s->caller);
}

int keys_arn_prefix(const bsnap_store *s, char *out, size_t cap)
{
    return arn_prefix(s, out, cap);
}

void keys_arn(const bsnap_store *s, const struct key_rec *k, char *out, size_t cap)
{
    snprintf(out, cap, "arn:aws:kms:%s:%s:key/%s", s->region, owner_of(s, k->owner), k->id);
}

/* The entry key of key @id's entry @letter ('k' record, 'p' passphrase,
 * 'o' owner, 'd' deletion) into @k (38 bytes). */
static void entry_key(char letter, const char *id, char k[1 + KEYS_ID_TEXT])
{
    k[0] = letter;
    memcpy(k + 1, id, 36);
}

static int key_load(meta_txn *txn, const char *id, struct key_rec *ret)
{
    char k[1 + KEYS_ID_TEXT];
    const void *v;
    size_t vlen;
    int r;

    if (!uuid_valid(id))
        return -ENOENT;
    entry_key('k', id, k);
    if ((r = meta_get(txn, T_KEYS, k, 37, &v, &vlen)) < 0 ||
        (r = key_rec_decode(id, v, vlen, ret)) < 0)
        return r;
    entry_key('p', id, k);
    r = meta_get(txn, T_KEYS, k, 37, &v, &vlen);
    if (r == 0 && (vlen != KDF_VALUE || memcmp(v, KDF_MAGIC, 4) != 0 ||
                   le16_get((const uint8_t *)v + 4) != 1 || ((const uint8_t *)v)[6] != 1 ||
                   le32_get((const uint8_t *)v + 8) == 0))
        r = bsnap_fail(-EIO, "Store.Corrupt", "key %s: damaged passphrase parameters", id);
    if (r == 0) {
        ret->kdf_iterations = le32_get((const uint8_t *)v + 8);
        memcpy(ret->kdf_salt, (const uint8_t *)v + 12, KEYS_SALT_BYTES);
    }
    if (r == -ENOENT || r == 0) {
        entry_key('o', id, k);
        r = meta_get(txn, T_KEYS, k, 37, &v, &vlen);
        if (r == 0 && (vlen != 12 || strspn(v, "0123456789") < 12))
            r = bsnap_fail(-EIO, "Store.Corrupt", "key %s: damaged owner", id);
        if (r == 0) {
            memcpy(ret->owner, v, 12);
            ret->owner[12] = '\0';
        }
    }
    if (r == -ENOENT || r == 0) {
        /* "d": i64 deletion date (ms), u8 flags (1: even when in use) */
        entry_key('d', id, k);
        r = meta_get(txn, T_KEYS, k, 37, &v, &vlen);
        if (r == 0 &&
            (vlen != DELETION_VALUE || (int64_t)le64_get(v) <= 0 || ((const uint8_t *)v)[8] > 1))
            r = bsnap_fail(-EIO, "Store.Corrupt", "key %s: damaged deletion entry", id);
        if (r == 0) {
            ret->deletion_ms = (int64_t)le64_get(v);
            ret->delete_in_use = ((const uint8_t *)v)[8] == 1;
        }
    }
    if (r < 0 && r != -ENOENT) {
        key_rec_clear(ret);
        return r;
    }
    return 0;
}

static int key_save(meta_txn *txn, const struct key_rec *rec)
{
    _cleanup_free_ uint8_t *buf = NULL;
    char k[1 + KEYS_ID_TEXT];
    size_t len;
    int r = key_rec_encode(rec, &buf, &len);

    entry_key('k', rec->id, k);
    if (r >= 0)
        r = meta_put(txn, T_KEYS, k, 37, buf, len);
    if (r >= 0 && rec->kdf_iterations) {
        uint8_t v[KDF_VALUE] = {0};
        memcpy(v, KDF_MAGIC, 4);
        le16_put(v + 4, 1);
        v[6] = 1;
        le32_put(v + 8, rec->kdf_iterations);
        memcpy(v + 12, rec->kdf_salt, KEYS_SALT_BYTES);
        entry_key('p', rec->id, k);
        r = meta_put(txn, T_KEYS, k, 37, v, sizeof v);
    }
    if (r >= 0 && rec->owner[0]) {
        entry_key('o', rec->id, k);
        r = meta_put(txn, T_KEYS, k, 37, rec->owner, 12);
    }
    if (r >= 0) {
        uint8_t v[DELETION_VALUE];
        entry_key('d', rec->id, k);
        le64_put(v, (uint64_t)rec->deletion_ms);
        v[8] = rec->delete_in_use;
        r = rec->deletion_ms ? meta_put(txn, T_KEYS, k, 37, v, sizeof v)
                             : meta_del(txn, T_KEYS, k, 37);
        if (r == -ENOENT)
            r = 0;
    }
    return r;
}

int keys_load(meta_txn *txn, const char *id, struct key_rec *ret)
{
    return key_load(txn, id, ret);
}

int keys_save(meta_txn *txn, const struct key_rec *k)
{
    return key_save(txn, k);
}

/* The table key of alias @name of @account into @k: "a" + name for the
 * store's account (as before keys had owners), "a" + account + ":" + name
 * for another; its length, or 0 when the name is too long. */
static size_t alias_key(const bsnap_store *s, const char *account, const char *name,
                        char k[ALIAS_KEY_MAX])
{
    size_t n = strlen(name), o = 1;

    if (n > KEYS_ALIAS_MAX)
        return 0;
    k[0] = 'a';
    if (strcmp(account, s->account) != 0) {
        memcpy(k + 1, account, 12);
        k[13] = ':';
        o = 14;
    }
    memcpy(k + o, name, n);
    return o + n;
}

/* The key id alias @name of @account names: 0, or -ENOENT (nothing
 * recorded). */
static int alias_load(const bsnap_store *s, meta_txn *txn, const char *account, const char *name,
                      char ret_id[KEYS_ID_TEXT], int64_t *ret_created)
{
    char k[ALIAS_KEY_MAX];
    const void *v;
    size_t vlen, kl = alias_key(s, account, name, k);
    int r;

    if (!kl)
        return -ENOENT;
    if ((r = meta_get(txn, T_KEYS, k, kl, &v, &vlen)) < 0)
        return r;
    if (vlen != ALIAS_VALUE)
        return bsnap_fail(-EIO, "Store.Corrupt", "alias %s: damaged record", name);
    memcpy(ret_id, v, 36);
    ret_id[36] = '\0';
    if (ret_created)
        *ret_created = (int64_t)le64_get((const uint8_t *)v + 36);
    return 0;
}

/* Name @id @name in the calling account's aliases. */
static int alias_save(const bsnap_store *s, meta_txn *txn, const char *name, const char *id)
{
    char k[ALIAS_KEY_MAX];
    uint8_t v[ALIAS_VALUE];
    size_t kl = alias_key(s, s->caller, name, k);

    memcpy(v, id, 36);
    le64_put(v + 36, (uint64_t)time_now_ms());
    return meta_put(txn, T_KEYS, k, kl, v, sizeof v);
}

static int not_found(const bsnap_store *s, const char *ref)
{
    char arn[160];

    if (strncmp(ref, "arn:", 4) == 0 || strncmp(ref, "alias/", 6) != 0) {
        if (strncmp(ref, "arn:", 4) == 0 || !uuid_valid(ref))
            return bsnap_fail(-ENOENT, "NotFoundException", "Invalid keyId '%s'", ref);
        arn_prefix(s, arn, sizeof arn);
        return bsnap_fail(-ENOENT, "NotFoundException", "Key '%skey/%s' does not exist", arn, ref);
    }
    arn_prefix(s, arn, sizeof arn);
    return bsnap_fail(-ENOENT, "NotFoundException", "Alias %s%s is not found.", arn, ref);
}

/* Make the default key and its alias (AWS-managed) in @txn. */
static int default_key_create(bsnap_store *s, meta_txn *txn, char ret_id[KEYS_ID_TEXT]);

/* Resolve @ref (key id, key ARN, alias name, alias ARN) to its record, as
 * keys_resolve() says. */
static int key_resolve(bsnap_store *s, meta_txn *txn, const char *ref, bool create,
                       struct key_rec *ret)
{
    char region[80], account[13], id[KEYS_ID_TEXT];
    const char *name = ref;
    int n = 0, r;

    strcpy(account, s->caller);
    if (strncmp(ref, "arn:", 4) == 0) {
        /* arn:aws:kms:REGION:ACCOUNT:key/ID or :alias/NAME; another
         * region's is not visible here */
        if (sscanf(ref, "arn:aws:kms:%79[^:]:%12[0-9]:%n", region, account, &n) != 2 || n == 0 ||
            strcmp(region, s->region) != 0 || strlen(account) != 12)
            return not_found(s, ref);
        name = ref + n;
        if (strncmp(name, "key/", 4) == 0)
            name += 4;
        else if (strncmp(name, "alias/", 6) != 0)
            return not_found(s, ref);
    }
    if (strncmp(name, "alias/", 6) == 0) {
        r = alias_load(s, txn, account, name, id, NULL);
        if (r == -ENOENT && create && strcmp(name, DEFAULT_ALIAS) == 0 &&
            strcmp(account, s->caller) == 0)
            r = default_key_create(s, txn, id);
        if (r == -ENOENT)
            return not_found(s, ref);
        if (r < 0)
            return r;
        name = id;
    }
    r = key_load(txn, name, ret);
    if (r == -ENOENT)
        return not_found(s, ref);
    if (r < 0)
        return r;
    /* a key is named by its owner's ids; another account's only by ARN */
    if (strcmp(owner_of(s, ret->owner), account) != 0) {
        key_rec_clear(ret);
        return not_found(s, ref);
    }
    return 0;
}

int keys_resolve(bsnap_store *s, meta_txn *txn, const char *ref, bool create, struct key_rec *ret)
{
    return key_resolve(s, txn, ref, create, ret);
}

int keys_owned(const bsnap_store *s, const struct key_rec *k, const char *action)
{
    char arn[256];

    if (strcmp(owner_of(s, k->owner), s->caller) == 0)
        return 0;
    keys_arn(s, k, arn, sizeof arn);
    return bsnap_fail(-EACCES, "AccessDeniedException",
                      "User: arn:aws:iam::%s:root is not authorized to perform: %s on resource: "
                      "%s",
                      s->caller, action, arn);
}

int keys_allowed(const bsnap_store *s, meta_txn *txn, const struct key_rec *k, unsigned op)
{
    char action[64];
    int r;

    if (strcmp(owner_of(s, k->owner), s->caller) == 0)
        return 0;
    if ((r = grants_allow(txn, k->id, s->caller, op)) != 0)
        return r < 0 ? r : 0;
    snprintf(action, sizeof action, "kms:%s", keys_op_name(op));
    return keys_owned(s, k, action);
}

static int key_new(bsnap_store *s, meta_txn *txn, enum key_manager manager, const char *description,
                   bool passphrase, struct key_rec *ret)
{
    uint8_t m[KEYS_MATERIAL_BYTES], u[16];
    struct key_rec k = {.state = KEY_ENABLED, .manager = manager};
    int r;

    if ((r = random_bytes(u, sizeof u)) < 0 || (r = random_bytes(m, sizeof m)) < 0)
        return bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    uuid_from_bin(u, k.id);
    k.created_ms = time_now_ms();
    owner_stamp(s, k.owner);
    if (!(k.description = strdup(description ? description : ""))) {
        keys_wipe(m, sizeof m);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    if (passphrase) {
        /* the material is the passphrase's, not the random bytes */
        k.kdf_iterations = KEYS_KDF_ITERATIONS;
        if ((r = random_bytes(k.kdf_salt, sizeof k.kdf_salt)) < 0) {
            r = bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
        } else {
            const char *pass = getenv(KEYS_PASSPHRASE_ENV);
            if (!pass || !*pass)
                r = bsnap_fail(-EINVAL, "InvalidParameterValue",
                               "a key derived from a passphrase needs the passphrase in %s",
                               KEYS_PASSPHRASE_ENV);
            else if (PKCS5_PBKDF2_HMAC(pass, (int)strlen(pass), k.kdf_salt, KEYS_SALT_BYTES,
                                       (int)k.kdf_iterations, EVP_sha256(), KEYS_MATERIAL_BYTES,
                                       m) != 1)
                r = crypto_fail("PBKDF2");
        }
        if (r < 0) {
            keys_wipe(m, sizeof m);
            key_rec_clear(&k);
            return r;
        }
    }
    r = key_check(m, k.id, k.check);
    if (r >= 0 && !passphrase)
        r = key_file_write(s, k.id, m);
    keys_wipe(m, sizeof m);
    if (r >= 0 && (r = key_save(txn, &k)) < 0 && !passphrase) {
        _cleanup_free_ char *path = NULL;
        if (key_file_path(s, k.id, &path) == 0)
            unlink(path);
    }
    if (r < 0) {
        key_rec_clear(&k);
        return r;
    }
    *ret = k;
    return 0;
}

static int default_key_create(bsnap_store *s, meta_txn *txn, char ret_id[KEYS_ID_TEXT])
{
    struct key_rec k = {0};
    int r =
        key_new(s, txn, KEY_AWS,
                "Default key that protects my EBS volumes when no other key is defined", false, &k);

    if (r >= 0)
        r = alias_save(s, txn, DEFAULT_ALIAS, k.id);
    if (r >= 0)
        memcpy(ret_id, k.id, KEYS_ID_TEXT);
    key_rec_clear(&k);
    return r;
}

/* Run @fn in a write transaction (committed when it succeeds). */
static int in_write(bsnap_store *s, int (*fn)(bsnap_store *, meta_txn *, void *), void *ud)
{
    meta_txn *txn;
    int r = meta_txn_begin(s->meta, true, &txn);

    if (r < 0)
        return r;
    r = fn(s, txn, ud);
    if (r < 0) {
        meta_txn_abort(txn);
        return r;
    }
    return meta_txn_commit(txn);
}

/* ---- data keys ---- */

/* A key pending deletion is unusable (KMSInvalidStateException), a
 * disabled one too (DisabledException). */
static int usable(const bsnap_store *s, const struct key_rec *k)
{
    char arn[256];

    keys_arn(s, k, arn, sizeof arn);
    if (k->deletion_ms)
        return bsnap_fail(-EPERM, "KMSInvalidStateException", "%s is pending deletion.", arn);
    if (k->state == KEY_DISABLED)
        return bsnap_fail(-EPERM, "DisabledException", "%s is disabled.", arn);
    return 0;
}

/* The table key of the calling account's setting @name ("s" + name for
 * the store's account, "s" + name + "/" + account for another). */
static size_t setting_key(const bsnap_store *s, const char *name, char k[80])
{
    if (strcmp(s->caller, s->account) == 0)
        return (size_t)snprintf(k, 80, "%s", name);
    return (size_t)snprintf(k, 80, "%s/%s", name, s->caller);
}

struct dk_new {
    const char *ref, *purpose;
    uint8_t *wrapped, *plain;
    char *arn;
};

static int data_key_new_txn(bsnap_store *s, meta_txn *txn, void *ud)
{
    struct dk_new *d = ud;
    struct key_rec k = {0};
    char ref[KEYS_ID_TEXT], sk[80];
    uint8_t m[KEYS_MATERIAL_BYTES];
    const char *use = d->ref;
    const void *v;
    size_t vlen, skl = setting_key(s, SET_DEFAULT_KEY, sk);
    int r;

    if (!use) {
        r = meta_get(txn, T_KEYS, sk, skl, &v, &vlen);
        if (r == 0 && vlen == 36) {
            memcpy(ref, v, 36);
            ref[36] = '\0';
            use = ref;
        } else if (r == 0 || r == -ENOENT) {
            use = DEFAULT_ALIAS;
        } else {
            return r;
        }
    }
    r = key_resolve(s, txn, use, true, &k);
    if (r >= 0)
        r = usable(s, &k);
    if (r >= 0)
        r = keys_allowed(s, txn, &k, KEY_OP_GENERATE_DATA_KEY);
    if (r >= 0)
        r = key_material(s, &k, m);
    if (r >= 0) {
        uint8_t plain[KEYS_DATA_KEY_BYTES];
        if ((r = random_bytes(plain, sizeof plain)) < 0)
            r = bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
        else
            r = keys_seal(m, k.id, d->purpose, plain, d->wrapped);
        keys_wipe(m, sizeof m);
        if (r >= 0)
            memcpy(d->plain, plain, sizeof plain);
        keys_wipe(plain, sizeof plain);
    }
    if (r >= 0 && d->arn)
        keys_arn(s, &k, d->arn, 2048);
    key_rec_clear(&k);
    return r;
}

int keys_data_key_new(bsnap_store *s, const char *key_ref, const char *purpose,
                      uint8_t ret_wrapped[KEYS_WRAPPED_BYTES],
                      uint8_t ret_plain[KEYS_DATA_KEY_BYTES], char *ret_key_arn)
{
    struct dk_new d = {key_ref, purpose, ret_wrapped, ret_plain, ret_key_arn};

    /* A write transaction: naming the default key may make it. */
    return in_write(s, data_key_new_txn, &d);
}

int keys_data_key_open(bsnap_store *s, const uint8_t wrapped[KEYS_WRAPPED_BYTES],
                       const char *purpose, uint8_t ret_plain[KEYS_DATA_KEY_BYTES])
{
    return keys_data_key_open_flags(s, wrapped, purpose, 0, ret_plain);
}

int keys_data_key_open_flags(bsnap_store *s, const uint8_t wrapped[KEYS_WRAPPED_BYTES],
                             const char *purpose, unsigned flags,
                             uint8_t ret_plain[KEYS_DATA_KEY_BYTES])
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct key_rec k = {0};
    char id[KEYS_ID_TEXT];
    uint8_t m[KEYS_MATERIAL_BYTES];
    int r;

    if (memcmp(wrapped, WRAP_MAGIC, 4) != 0 || le16_get(wrapped + 4) != WRAP_VERSION)
        return bsnap_fail(-EBADMSG, "InvalidCiphertextException",
                          "not a wrapped data key (or of an unknown version)");
    uuid_from_bin(wrapped + 8, id);
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0)
        return r;
    /* by its id, whoever owns it: the grant check says who may use it */
    r = key_load(txn, id, &k);
    if (r == -ENOENT)
        return bsnap_fail(-ENOENT, "NotFoundException",
                          "Key '%s' does not exist (deleted, or of another store)", id);
    if (r < 0)
        return r;
    if (!(flags & KEYS_OPEN_STORE)) {
        r = usable(s, &k);
        if (r >= 0)
            r = keys_allowed(s, txn, &k, KEY_OP_DECRYPT);
    } else if (!k.deletion_ms) {
        /* the store's upkeep: a key pending deletion still opens, so that
         * what needs it can be deleted; a disabled one does not */
        r = usable(s, &k);
    }
    if (r >= 0)
        r = key_material(s, &k, m);
    if (r >= 0) {
        r = keys_unseal(m, k.id, purpose, wrapped, ret_plain);
        keys_wipe(m, sizeof m);
    }
    key_rec_clear(&k);
    return r;
}

int keys_key_arn(bsnap_store *s, const char *key_ref, char ret_arn[KEYS_ARN_MAX])
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct key_rec k = {0};
    int r;

    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0)
        return r;
    r = key_resolve(s, txn, key_ref, false, &k);
    if (r >= 0)
        keys_arn(s, &k, ret_arn, KEYS_ARN_MAX);
    key_rec_clear(&k);
    return r;
}

int keys_encryption_by_default(bsnap_store *s, bool *ret_on)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    const void *v;
    char sk[80];
    size_t vlen, skl = setting_key(s, SET_BY_DEFAULT, sk);
    int r;

    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0)
        return r;
    r = meta_get(txn, T_KEYS, sk, skl, &v, &vlen);
    if (r < 0 && r != -ENOENT)
        return r;
    *ret_on = r == 0 && vlen == 1 && *(const char *)v == '1';
    return 0;
}

/* ---- the public calls ---- */

/* Whether @ref names the default alias (by name or ARN). */
static bool is_default_ref(const bsnap_store *s, const char *ref)
{
    char prefix[160];
    size_t pl = (size_t)arn_prefix(s, prefix, sizeof prefix);

    if (strncmp(ref, prefix, pl) == 0)
        ref += pl;
    return strcmp(ref, DEFAULT_ALIAS) == 0;
}

struct describe_ctx {
    const char *ref;
    struct key_rec k;
};

static int describe_txn(bsnap_store *s, meta_txn *txn, void *ud)
{
    struct describe_ctx *d = ud;
    int r = key_resolve(s, txn, d->ref, true, &d->k);

    if (r >= 0 && (r = keys_allowed(s, txn, &d->k, KEY_OP_DESCRIBE_KEY)) < 0)
        key_rec_clear(&d->k);
    return r;
}

/* Resolve @ref for a describe: a read, or a write when it names the
 * default key that is not made yet. */
static int resolve_read(bsnap_store *s, const char *ref, struct key_rec *ret)
{
    struct describe_ctx d = {.ref = ref};
    meta_txn *txn;
    int r = meta_txn_begin(s->meta, false, &txn);

    if (r < 0)
        return r;
    r = key_resolve(s, txn, ref, false, ret);
    if (r >= 0 && (r = keys_allowed(s, txn, ret, KEY_OP_DESCRIBE_KEY)) < 0)
        key_rec_clear(ret);
    meta_txn_abort(txn);
    if (r != -ENOENT || !is_default_ref(s, ref))
        return r;
    bsnap_error_clear();
    if ((r = in_write(s, describe_txn, &d)) < 0) {
        key_rec_clear(&d.k);
        return r;
    }
    *ret = d.k;
    return 0;
}

struct create_ctx {
    const bsnap_key_options *o;
    struct key_rec k;
};

static int create_txn(bsnap_store *s, meta_txn *txn, void *ud)
{
    struct create_ctx *c = ud;
    int r = key_new(s, txn, KEY_CUSTOMER, c->o->description, c->o->passphrase, &c->k);

    /* a failed put aborts the transaction, and key_new()'s file is the
     * one thing left: unreferenced, it unwraps nothing */
    if (r >= 0 && c->o->ntags)
        r = keys_tags_put(txn, c->k.id, c->o->tags, c->o->ntags);
    return r;
}

int bsnap_key_create(bsnap_store *s, const bsnap_key_options *opts, json_t **ret_doc)
{
    static const bsnap_key_options none;
    struct create_ctx c = {.o = opts ? opts : &none};
    int r;

    bsnap_error_clear();
    keys_expire(s);
    if (c.o->description &&
        (r = bsnap_text_check("Description", c.o->description, KEYS_DESCRIPTION_MAX)) < 0)
        return error_param(r, "Description");
    if ((r = keys_tags_check(c.o->tags, c.o->ntags)) < 0)
        return r;
    if ((r = in_write(s, create_txn, &c)) >= 0)
        r = json_key_metadata(s, &c.k, ret_doc);
    key_rec_clear(&c.k);
    /* the one input a create can lack is the passphrase */
    return error_param(r, "Passphrase");
}

int bsnap_key_describe(bsnap_store *s, const char *key_id, json_t **ret_doc)
{
    struct key_rec k = {0};
    int r;

    bsnap_error_clear();
    keys_expire(s);
    if ((r = resolve_read(s, key_id, &k)) >= 0)
        r = json_key_metadata(s, &k, ret_doc);
    key_rec_clear(&k);
    return error_param(r, "KeyId");
}

/* Call @fn for each entry of the table whose key begins with @prefix (one
 * letter), in key order; @fn's negative return stops the walk. */
static int walk(meta_txn *txn, char prefix,
                int (*fn)(void *ud, const char *key, size_t klen, const void *val, size_t vlen),
                void *ud)
{
    meta_cursor *cur = NULL;
    const void *k = &prefix, *v;
    size_t klen = 1, vlen;
    int r = meta_cursor_open(txn, T_KEYS, &cur);

    if (r < 0)
        return r;
    for (r = meta_cursor_get(cur, CUR_SET_RANGE, &k, &klen, &v, &vlen);
         r >= 0 && klen > 1 && *(const char *)k == prefix;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        if ((r = fn(ud, (const char *)k + 1, klen - 1, v, vlen)) < 0)
            break;
    }
    meta_cursor_close(cur);
    return r == -ENOENT ? 0 : r < 0 ? r : 0;
}

struct id_list {
    const bsnap_store *s;
    meta_txn *txn;
    char (*ids)[KEYS_ID_TEXT];
    size_t n, cap;
};

static int list_key(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    struct id_list *l = ud;
    char k[1 + KEYS_ID_TEXT];
    const void *o;
    size_t olen;
    void *na;
    int r;

    (void)val;
    (void)vlen;
    if (klen != 36)
        return bsnap_fail(-EIO, "Store.Corrupt", "key table: an entry with a bad key id");
    /* the calling account's keys only */
    k[0] = 'o';
    memcpy(k + 1, key, 36);
    r = meta_get(l->txn, T_KEYS, k, 37, &o, &olen);
    if (r < 0 && r != -ENOENT)
        return r;
    if (r == 0 && olen != 12)
        return bsnap_fail(-EIO, "Store.Corrupt", "key %.36s: damaged owner", key);
    if (memcmp(r == 0 ? o : l->s->account, l->s->caller, 12) != 0)
        return 0;
    if (!(na = array_grow(l->ids, l->n, &l->cap, sizeof *l->ids, 16)))
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    l->ids = na;
    memcpy(l->ids[l->n], key, 36);
    l->ids[l->n++][36] = '\0';
    return 0;
}

int bsnap_key_list(bsnap_store *s, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct id_list l = {.s = s};
    int r;

    bsnap_error_clear();
    keys_expire(s);
    if ((r = meta_txn_begin(s->meta, false, &txn)) >= 0 &&
        (l.txn = txn, r = walk(txn, 'k', list_key, &l)) >= 0)
        r = json_key_list(s, (const char(*)[KEYS_ID_TEXT])l.ids, l.n, ret_doc);
    free(l.ids);
    return r;
}

struct state_ctx {
    const char *ref;
    bool enable;
};

static int state_txn(bsnap_store *s, meta_txn *txn, void *ud)
{
    struct state_ctx *c = ud;
    struct key_rec k = {0};
    char arn[256];
    int r = key_resolve(s, txn, c->ref, false, &k);

    if (r < 0)
        return r;
    keys_arn(s, &k, arn, sizeof arn);
    r = keys_owned(s, &k, c->enable ? "kms:EnableKey" : "kms:DisableKey");
    if (r >= 0 && k.manager == KEY_AWS)
        r = bsnap_fail(-EPERM, "KMSInvalidStateException",
                       "%s is an AWS managed key: it cannot be enabled or disabled", arn);
    if (r >= 0 && k.deletion_ms)
        r = bsnap_fail(-EPERM, "KMSInvalidStateException", "%s is pending deletion.", arn);
    if (r >= 0 && k.state != (c->enable ? KEY_ENABLED : KEY_DISABLED)) {
        k.state = c->enable ? KEY_ENABLED : KEY_DISABLED;
        r = key_save(txn, &k);
    }
    key_rec_clear(&k);
    return r;
}

int bsnap_key_set_enabled(bsnap_store *s, const char *key_id, bool enabled)
{
    struct state_ctx c = {key_id, enabled};

    bsnap_error_clear();
    keys_expire(s);
    return error_param(in_write(s, state_txn, &c), "KeyId");
}

/* KMS's alias rule: "alias/" and 1 to 250 of [A-Za-z0-9/_-], not
 * "alias/aws/" (reserved for AWS managed keys). */
static int alias_check(const char *name)
{
    size_t n = strlen(name);

    if (strncmp(name, "alias/", 6) != 0 || n <= 6 || n > KEYS_ALIAS_MAX ||
        strspn(name + 6, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_-") !=
            n - 6)
        return bsnap_fail(-EINVAL, "InvalidAliasNameException",
                          "alias name '%s' must be alias/ and 1 to 250 of A-Z a-z 0-9 / _ -", name);
    if (strncmp(name, "alias/aws/", 10) == 0)
        return bsnap_fail(-EINVAL, "InvalidAliasNameException",
                          "alias %s: names that begin with alias/aws/ are reserved for AWS "
                          "managed keys",
                          name);
    return 0;
}

struct alias_ctx {
    const char *name, *target;
};

static int alias_create_txn(bsnap_store *s, meta_txn *txn, void *ud)
{
    struct alias_ctx *c = ud;
    struct key_rec k = {0};
    char id[KEYS_ID_TEXT], prefix[160];
    int r = alias_load(s, txn, s->caller, c->name, id, NULL);

    arn_prefix(s, prefix, sizeof prefix);
    if (r == 0)
        return bsnap_fail(-EEXIST, "AlreadyExistsException",
                          "An alias with the name %s%s already exists", prefix, c->name);
    if (r != -ENOENT)
        return r;
    if ((r = key_resolve(s, txn, c->target, false, &k)) < 0)
        return error_param(r, "TargetKeyId");
    if ((r = keys_owned(s, &k, "kms:CreateAlias")) < 0)
        ;
    else if (k.manager == KEY_AWS)
        r = bsnap_fail(-EPERM, "KMSInvalidStateException",
                       "%skey/%s is an AWS managed key: an alias cannot name it", prefix, k.id);
    else if (k.deletion_ms)
        r = bsnap_fail(-EPERM, "KMSInvalidStateException", "%skey/%s is pending deletion.", prefix,
                       k.id);
    else
        r = alias_save(s, txn, c->name, k.id);
    key_rec_clear(&k);
    return error_param(r, "TargetKeyId");
}

int bsnap_alias_create(bsnap_store *s, const char *alias_name, const char *target_key_id)
{
    struct alias_ctx c = {alias_name, target_key_id};
    int r;

    bsnap_error_clear();
    if ((r = alias_check(alias_name)) < 0)
        return error_param(r, "AliasName");
    return error_param(in_write(s, alias_create_txn, &c), "AliasName");
}

static int alias_delete_txn(bsnap_store *s, meta_txn *txn, void *ud)
{
    struct alias_ctx *c = ud;
    char k[ALIAS_KEY_MAX];
    size_t n = alias_key(s, s->caller, c->name, k);
    int r = n ? meta_del(txn, T_KEYS, k, n) : -ENOENT;

    return r == -ENOENT ? not_found(s, c->name) : r;
}

int bsnap_alias_delete(bsnap_store *s, const char *alias_name)
{
    struct alias_ctx c = {alias_name, NULL};
    int r;

    bsnap_error_clear();
    if ((r = alias_check(alias_name)) < 0)
        return error_param(r, "AliasName");
    return error_param(in_write(s, alias_delete_txn, &c), "AliasName");
}

struct alias_list {
    const bsnap_store *s;
    const char *only; /* a key id, or NULL */
    struct key_alias *a;
    size_t n, cap;
};

static int list_alias(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    struct alias_list *l = ud;
    struct key_alias *na;

    /* the calling account's: "alias/..." are the store account's,
     * "ACCOUNT:alias/..." another's */
    if (klen > 13 && key[12] == ':') {
        if (memcmp(key, l->s->caller, 12) != 0)
            return 0;
        key += 13;
        klen -= 13;
    } else if (strcmp(l->s->caller, l->s->account) != 0) {
        return 0;
    }
    if (klen > KEYS_ALIAS_MAX || vlen != ALIAS_VALUE)
        return bsnap_fail(-EIO, "Store.Corrupt", "key table: a damaged alias entry");
    if (l->only && memcmp(val, l->only, 36) != 0)
        return 0;
    if (!(na = array_grow(l->a, l->n, &l->cap, sizeof *l->a, 16)))
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    l->a = na;
    na = &l->a[l->n++];
    memcpy(na->name, key, klen);
    na->name[klen] = '\0';
    memcpy(na->target, val, 36);
    na->target[36] = '\0';
    na->created_ms = (int64_t)le64_get((const uint8_t *)val + 36);
    return 0;
}

int bsnap_alias_list(bsnap_store *s, const char *key_id, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct alias_list l = {.s = s};
    struct key_rec k = {0};
    int r;

    bsnap_error_clear();
    keys_expire(s);
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0)
        return r;
    if (key_id) {
        if ((r = key_resolve(s, txn, key_id, false, &k)) < 0 ||
            (r = keys_owned(s, &k, "kms:ListAliases")) < 0) {
            key_rec_clear(&k);
            return error_param(r, "KeyId");
        }
        l.only = k.id;
    }
    if ((r = walk(txn, 'a', list_alias, &l)) >= 0)
        r = json_alias_list(s, l.a, l.n, ret_doc);
    free(l.a);
    key_rec_clear(&k);
    return r;
}

/* ---- the EBS settings ---- */

int bsnap_ebs_encryption_by_default_get(bsnap_store *s, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    const void *v;
    char sk[80];
    size_t vlen, skl = setting_key(s, SET_BY_DEFAULT, sk);
    int r;

    bsnap_error_clear();
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0)
        return r;
    r = meta_get(txn, T_KEYS, sk, skl, &v, &vlen);
    if (r < 0 && r != -ENOENT)
        return r;
    return json_key_setting("EbsEncryptionByDefault", NULL,
                            r == 0 && vlen == 1 && *(const char *)v == '1', ret_doc);
}

static int by_default_txn(bsnap_store *s, meta_txn *txn, void *ud)
{
    char sk[80];
    size_t skl = setting_key(s, SET_BY_DEFAULT, sk);

    return meta_put(txn, T_KEYS, sk, skl, *(bool *)ud ? "1" : "0", 1);
}

int bsnap_ebs_encryption_by_default_set(bsnap_store *s, bool on, json_t **ret_doc)
{
    int r;

    bsnap_error_clear();
    if ((r = in_write(s, by_default_txn, &on)) < 0)
        return r;
    return json_key_setting("EbsEncryptionByDefault", NULL, on, ret_doc);
}

/* The default key setting as its ARN: the key's, or the default alias's
 * when none is set. */
static int default_key_arn(const bsnap_store *s, meta_txn *txn, char *out, size_t cap)
{
    char prefix[160], sk[80];
    const void *v;
    size_t vlen, skl = setting_key(s, SET_DEFAULT_KEY, sk);
    int r = meta_get(txn, T_KEYS, sk, skl, &v, &vlen);

    arn_prefix(s, prefix, sizeof prefix);
    if (r == -ENOENT) {
        snprintf(out, cap, "%s%s", prefix, DEFAULT_ALIAS);
        return 0;
    }
    if (r < 0)
        return r;
    if (vlen != 36)
        return bsnap_fail(-EIO, "Store.Corrupt", "key table: a damaged default key setting");
    snprintf(out, cap, "%skey/%.36s", prefix, (const char *)v);
    return 0;
}

int bsnap_ebs_default_key_get(bsnap_store *s, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    char arn[256];
    int r;

    bsnap_error_clear();
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0 ||
        (r = default_key_arn(s, txn, arn, sizeof arn)) < 0)
        return r;
    return json_key_setting("KmsKeyId", arn, false, ret_doc);
}

struct modify_ctx {
    const char *ref; /* NULL: reset */
    char arn[256];
};

static int modify_txn(bsnap_store *s, meta_txn *txn, void *ud)
{
    struct modify_ctx *c = ud;
    struct key_rec k = {0};
    char sk[80];
    size_t skl = setting_key(s, SET_DEFAULT_KEY, sk);
    int r;

    if (!c->ref) {
        r = meta_del(txn, T_KEYS, sk, skl);
        if (r < 0 && r != -ENOENT)
            return r;
        return default_key_arn(s, txn, c->arn, sizeof c->arn);
    }
    /* as EC2 checks KmsKeyId: it must name a usable key */
    if ((r = key_resolve(s, txn, c->ref, true, &k)) >= 0 &&
        (r = keys_owned(s, &k, "kms:DescribeKey")) >= 0)
        r = usable(s, &k);
    if (r >= 0)
        r = meta_put(txn, T_KEYS, sk, skl, k.id, 36);
    if (r >= 0)
        r = default_key_arn(s, txn, c->arn, sizeof c->arn);
    key_rec_clear(&k);
    return r;
}

int bsnap_ebs_default_key_modify(bsnap_store *s, const char *key_id, json_t **ret_doc)
{
    struct modify_ctx c = {.ref = key_id};
    int r;

    bsnap_error_clear();
    if ((r = in_write(s, modify_txn, &c)) < 0)
        return error_param(r, "KmsKeyId");
    return json_key_setting("KmsKeyId", c.arn, false, ret_doc);
}

int bsnap_ebs_default_key_reset(bsnap_store *s, json_t **ret_doc)
{
    struct modify_ctx c = {.ref = NULL};
    int r;

    bsnap_error_clear();
    if ((r = in_write(s, modify_txn, &c)) < 0)
        return r;
    return json_key_setting("KmsKeyId", c.arn, false, ret_doc);
}

/* ---- shared with key-grants.c and key-deletion.c ---- */

int keys_in_write(bsnap_store *s, int (*fn)(bsnap_store *, meta_txn *, void *), void *ud)
{
    return in_write(s, fn, ud);
}

int keys_walk(meta_txn *txn, char prefix,
              int (*fn)(void *ud, const char *key, size_t klen, const void *val, size_t vlen),
              void *ud)
{
    return walk(txn, prefix, fn, ud);
}

const char *keys_op_name(unsigned op)
{
    static const char *const names[] = {
        "Decrypt",       "Encrypt",     "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
        "ReEncryptFrom", "ReEncryptTo", "CreateGrant",     "RetireGrant",
        "DescribeKey",
    };

    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (op == 1u << i)
            return names[i];
    return NULL;
}

/* The aliases and default-key settings that name a key being dropped,
 * collected first: a cursor walk does not delete under itself. */
struct drop_ctx {
    const char *id;
    char letter;
    char (*keys)[ALIAS_KEY_MAX + 1];
    size_t *lens;
    size_t n, cap;
};

static int drop_alias(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    struct drop_ctx *d = ud;
    void *nk, *nl;

    if (vlen < 36 || memcmp(val, d->id, 36) != 0 || klen >= ALIAS_KEY_MAX ||
        (d->letter == 'a'
             ? vlen != ALIAS_VALUE
             : vlen != 36 || strncmp(key, &SET_DEFAULT_KEY[1], strlen(SET_DEFAULT_KEY) - 1) != 0))
        return 0;
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 4;
        if (!(nk = realloc(d->keys, cap * sizeof *d->keys)))
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        d->keys = nk;
        if (!(nl = realloc(d->lens, cap * sizeof *d->lens)))
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        d->lens = nl;
        d->cap = cap;
    }
    d->keys[d->n][0] = d->letter;
    memcpy(d->keys[d->n] + 1, key, klen);
    d->lens[d->n++] = klen + 1;
    return 0;
}

int keys_drop(meta_txn *txn, const char *id)
{
    static const char letters[] = "kpodt";
    struct drop_ctx d = {.id = id, .letter = 'a'};
    char k[1 + KEYS_ID_TEXT];
    int r = walk(txn, 'a', drop_alias, &d);

    if (r >= 0) {
        d.letter = 's';
        r = walk(txn, 's', drop_alias, &d);
    }
    for (size_t i = 0; r >= 0 && i < d.n; i++)
        r = meta_del(txn, T_KEYS, d.keys[i], d.lens[i]);
    free(d.keys);
    free(d.lens);
    for (size_t i = 0; r >= 0 && letters[i]; i++) {
        entry_key(letters[i], id, k);
        r = meta_del(txn, T_KEYS, k, 37);
        if (r == -ENOENT)
            r = 0;
    }
    if (r >= 0)
        r = grants_drop(txn, id);
    return r;
}

int keys_usable(const bsnap_store *s, const struct key_rec *k)
{
    return usable(s, k);
}

int keys_file_remove(const bsnap_store *s, const char *id)
{
    _cleanup_free_ char *path = NULL;
    int r = key_file_path(s, id, &path);

    if (r < 0)
        return r;
    if (unlink(path) < 0 && errno != ENOENT)
        return bsnap_fail(-errno, "KeyUnavailableException", "key file %s: %s", path,
                          strerror(errno));
    return 0;
}

int keys_manager_of(meta_txn *txn, const char *key_arn, enum key_manager *ret)
{
    struct key_rec k = {0};
    const char *id = strrchr(key_arn, '/');
    int r;

    if (!id || strstr(key_arn, ":key/") + 4 != id)
        return -ENOENT;
    if ((r = key_load(txn, id + 1, &k)) < 0)
        return r;
    *ret = k.manager;
    key_rec_clear(&k);
    return 0;
}

int keys_default_key_arn(bsnap_store *s, char ret_arn[KEYS_ARN_MAX])
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    char ref[KEYS_ID_TEXT] = "", sk[80];
    size_t vlen, skl = setting_key(s, SET_DEFAULT_KEY, sk);
    const void *v;
    int r;

    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0)
        return r;
    r = meta_get(txn, T_KEYS, sk, skl, &v, &vlen);
    if (r < 0 && r != -ENOENT)
        return r;
    if (r == 0 && vlen == 36) {
        memcpy(ref, v, 36);
        ref[36] = '\0';
    }
    meta_txn_abort(steal_ptr(txn));
    return keys_key_arn(s, ref[0] ? ref : DEFAULT_ALIAS, ret_arn);
}
