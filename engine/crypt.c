/* crypt.c - AES-256-GCM sealing of stored records, keyed ids, the key
 * ring; see crypt.h. */
#include "crypt.h"

#include <assert.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "error.h"
#include "store-handle.h"
#include "util.h"

_Static_assert(CRYPT_SECRET_BYTES == STORE_SECRET_BYTES, "an id secret is the store's size");

static int libcrypto_fail(const char *what)
{
    return bsnap_fail(-EIO, "InternalError", "libcrypto: %s failed", what);
}

/* HKDF-SHA256 of @ikm with a fixed salt and @info, @n bytes to @out. */
static int hkdf(const uint8_t *ikm, size_t ikm_len, const char *info, uint8_t *out, size_t n)
{
    static const char salt[] = "blocksnap data key v1";
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    size_t len = n;
    int ok;

    if (!c)
        return libcrypto_fail("HKDF");
    ok = EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_CTX_set_hkdf_md(c, EVP_sha256()) == 1 &&
         EVP_PKEY_CTX_set1_hkdf_salt(c, (const unsigned char *)salt, (int)strlen(salt)) == 1 &&
         EVP_PKEY_CTX_set1_hkdf_key(c, ikm, (int)ikm_len) == 1 &&
         EVP_PKEY_CTX_add1_hkdf_info(c, (const unsigned char *)info, (int)strlen(info)) == 1 &&
         EVP_PKEY_derive(c, out, &len) == 1 && len == n;
    EVP_PKEY_CTX_free(c);
    return ok ? 0 : libcrypto_fail("HKDF");
}

int crypt_key_derive(uint64_t slot, const uint8_t data_key[CRYPT_KEY_BYTES], struct crypt_key *ret)
{
    struct crypt_key k = {.slot = slot};
    int r;

    assert(slot != 0);
    /* One label per use, so no two uses share bytes of the output. */
    if ((r = hkdf(data_key, CRYPT_KEY_BYTES, "record aead", k.aead, sizeof k.aead)) < 0 ||
        (r = hkdf(data_key, CRYPT_KEY_BYTES, "chunk ids", k.secret, sizeof k.secret)) < 0 ||
        (r = hkdf(data_key, CRYPT_KEY_BYTES, "page ids", k.page_secret, sizeof k.page_secret)) <
            0) {
        OPENSSL_cleanse(&k, sizeof k);
        return r;
    }
    *ret = k;
    OPENSSL_cleanse(&k, sizeof k);
    return 0;
}

void crypt_hash(const bsnap_store *s, const struct crypt_key *k, bool page, const void *data,
                size_t len, chunk_id *ret_id)
{
    const uint8_t *secret =
        k ? (page ? k->page_secret : k->secret) : (page ? s->page_secret : s->secret);
    XXH128_canonical_t c;

    XXH128_canonicalFromHash(&c, XXH3_128bits_withSecret(data, len, secret, CRYPT_SECRET_BYTES));
    memcpy(ret_id->b, c.digest, 16);
    if (chunk_id_is_zero(ret_id))
        ret_id->b[15] = 1; /* 0 is reserved for the zero chunk */
}

/* AES-256-GCM fetched once: an implicit fetch per record (what
 * EVP_aes_256_gcm() costs in OpenSSL 3) looks the algorithm up under the
 * library's locks, from every pipeline worker at once.  NULL if the fetch
 * failed; then the legacy object is used. */
static EVP_CIPHER *gcm_fetched;
static pthread_once_t gcm_once = PTHREAD_ONCE_INIT;

static void gcm_fetch(void)
{
    gcm_fetched = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

/* Released when the library goes: a plugin (nbdkit's) is unloaded with
 * dlclose(), after which the pointer above is gone and LeakSanitizer
 * reports the cipher. */
__attribute__((destructor)) static void gcm_release(void)
{
    EVP_CIPHER_free(gcm_fetched);
    gcm_fetched = NULL;
}

static const EVP_CIPHER *gcm(void)
{
    pthread_once(&gcm_once, gcm_fetch);
    return gcm_fetched ? gcm_fetched : EVP_aes_256_gcm();
}

/* "BSC1" | chunk id | flags (LE 16) | original length (LE 32) | slot (LE 64) */
#define AAD_BYTES (4 + 16 + 2 + 4 + 8)

static void make_aad(const struct crypt_key *k, const chunk_id *id, uint32_t flags,
                     uint32_t orig_len, uint8_t out[AAD_BYTES])
{
    memcpy(out, "BSC1", 4);
    memcpy(out + 4, id->b, 16);
    /* Only what the record header keeps: CHUNK_LZ4 | CHUNK_PAGE | CHUNK_ENC. */
    le16_put(out + 20, (uint16_t)(flags & (CHUNK_LZ4 | CHUNK_PAGE | CHUNK_ENC)));
    le32_put(out + 22, orig_len);
    le64_put(out + 26, k->slot);
}

uint64_t crypt_payload_slot(const uint8_t *payload)
{
    return le64_get(payload);
}

int crypt_seal(const struct crypt_key *k, const chunk_id *id, uint32_t flags, uint32_t orig_len,
               uint8_t *buf, size_t len)
{
    uint8_t aad[AAD_BYTES];
    uint8_t *nonce = buf + CRYPT_SLOT_BYTES, *text = buf + CRYPT_HEAD_BYTES;
    EVP_CIPHER_CTX *c;
    int n, ok;

    if (len > INT32_MAX)
        return bsnap_fail(-EINVAL, "InternalError", "record of %zu bytes to seal", len);
    le64_put(buf, k->slot);
    /* A random nonce per record: 2^32 records under one data key keep the
     * chance of a repeat below 2^-32 (docs/format.md). */
    if (RAND_bytes(nonce, CRYPT_NONCE_BYTES) != 1)
        return libcrypto_fail("RAND_bytes");
    make_aad(k, id, flags, orig_len, aad);
    c = EVP_CIPHER_CTX_new();
    if (!c)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    ok = EVP_EncryptInit_ex(c, gcm(), NULL, k->aead, nonce) == 1 &&
         EVP_EncryptUpdate(c, NULL, &n, aad, (int)sizeof aad) == 1 &&
         (len == 0 || EVP_EncryptUpdate(c, text, &n, text, (int)len) == 1) &&
         EVP_EncryptFinal_ex(c, text + len, &n) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, CRYPT_TAG_BYTES, text + len) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : libcrypto_fail("AES-256-GCM encryption");
}

int crypt_open(const struct crypt_key *k, const chunk_id *id, uint32_t flags, uint32_t orig_len,
               uint8_t *buf, size_t stored_len)
{
    uint8_t aad[AAD_BYTES];
    uint8_t *nonce = buf + CRYPT_SLOT_BYTES, *text = buf + CRYPT_HEAD_BYTES;
    size_t len;
    EVP_CIPHER_CTX *c;
    int n, ok;

    if (stored_len < CRYPT_OVERHEAD || stored_len > INT32_MAX || crypt_payload_slot(buf) != k->slot)
        return -EBADMSG;
    len = stored_len - CRYPT_OVERHEAD;
    make_aad(k, id, flags, orig_len, aad);
    c = EVP_CIPHER_CTX_new();
    if (!c)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    ok = EVP_DecryptInit_ex(c, gcm(), NULL, k->aead, nonce) == 1 &&
         EVP_DecryptUpdate(c, NULL, &n, aad, (int)sizeof aad) == 1 &&
         (len == 0 || EVP_DecryptUpdate(c, text, &n, text, (int)len) == 1) &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, CRYPT_TAG_BYTES, text + len) == 1;
    if (!ok) {
        EVP_CIPHER_CTX_free(c);
        return libcrypto_fail("AES-256-GCM decryption");
    }
    ok = EVP_DecryptFinal_ex(c, text + len, &n) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok) {
        OPENSSL_cleanse(text, len); /* nothing unauthenticated is left behind */
        return -EBADMSG;
    }
    return 0;
}

int crypt_seal_detached(const struct crypt_key *k, const uint8_t *aad, size_t aad_len,
                        const void *in, void *out, size_t len, uint8_t ret_nonce[CRYPT_NONCE_BYTES],
                        uint8_t ret_tag[CRYPT_TAG_BYTES])
{
    uint8_t fin[16];
    EVP_CIPHER_CTX *c;
    int n, ok;

    if (len > INT32_MAX || aad_len > INT32_MAX)
        return bsnap_fail(-EINVAL, "InternalError", "%zu bytes to seal", len);
    if (RAND_bytes(ret_nonce, CRYPT_NONCE_BYTES) != 1)
        return libcrypto_fail("RAND_bytes");
    c = EVP_CIPHER_CTX_new();
    if (!c)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    ok = EVP_EncryptInit_ex(c, gcm(), NULL, k->aead, ret_nonce) == 1 &&
         EVP_EncryptUpdate(c, NULL, &n, aad, (int)aad_len) == 1 &&
         (len == 0 || EVP_EncryptUpdate(c, out, &n, in, (int)len) == 1) &&
         EVP_EncryptFinal_ex(c, fin, &n) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, CRYPT_TAG_BYTES, ret_tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : libcrypto_fail("AES-256-GCM encryption");
}

int crypt_open_detached(const struct crypt_key *k, const uint8_t *aad, size_t aad_len,
                        const uint8_t nonce[CRYPT_NONCE_BYTES], const uint8_t tag[CRYPT_TAG_BYTES],
                        const void *in, void *out, size_t len)
{
    uint8_t fin[16], t[CRYPT_TAG_BYTES];
    EVP_CIPHER_CTX *c;
    int n, ok;

    if (len > INT32_MAX || aad_len > INT32_MAX)
        return -EBADMSG;
    memcpy(t, tag, sizeof t);
    c = EVP_CIPHER_CTX_new();
    if (!c)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    ok = EVP_DecryptInit_ex(c, gcm(), NULL, k->aead, nonce) == 1 &&
         EVP_DecryptUpdate(c, NULL, &n, aad, (int)aad_len) == 1 &&
         (len == 0 || EVP_DecryptUpdate(c, out, &n, in, (int)len) == 1) &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, CRYPT_TAG_BYTES, t) == 1;
    if (!ok) {
        EVP_CIPHER_CTX_free(c);
        return libcrypto_fail("AES-256-GCM decryption");
    }
    ok = EVP_DecryptFinal_ex(c, fin, &n) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok) {
        OPENSSL_cleanse(out, len); /* nothing unauthenticated is left behind */
        return -EBADMSG;
    }
    return 0;
}

/* ---- the key ring ---- */

struct crypt_ring {
    pthread_mutex_t lock; /* serializes adds */
    _Atomic size_t n;     /* keys[0..n) are set and never change */
    struct crypt_key *keys[CRYPT_RING_MAX];
};

int crypt_ring_new(struct crypt_ring **ret)
{
    struct crypt_ring *ring = calloc(1, sizeof *ring);

    if (!ring)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    pthread_mutex_init(&ring->lock, NULL);
    *ret = ring;
    return 0;
}

void crypt_ring_free(struct crypt_ring *ring)
{
    if (!ring)
        return;
    for (size_t i = 0; i < atomic_load(&ring->n); i++) {
        OPENSSL_cleanse(ring->keys[i], sizeof *ring->keys[i]);
        free(ring->keys[i]);
    }
    pthread_mutex_destroy(&ring->lock);
    free(ring);
}

static const struct crypt_key *ring_find(const struct crypt_ring *ring, uint64_t slot)
{
    size_t n = atomic_load_explicit(&ring->n, memory_order_acquire);

    for (size_t i = 0; i < n; i++)
        if (ring->keys[i]->slot == slot)
            return ring->keys[i];
    return NULL;
}

const struct crypt_key *crypt_ring_find(const bsnap_store *s, uint64_t slot)
{
    return s->ring ? ring_find(s->ring, slot) : NULL;
}

int crypt_ring_add(bsnap_store *s, uint64_t slot, const uint8_t data_key[CRYPT_KEY_BYTES],
                   const struct crypt_key **ret_key)
{
    struct crypt_ring *ring = s->ring;
    const struct crypt_key *found;
    struct crypt_key *k;
    size_t n;
    int r;

    pthread_mutex_lock(&ring->lock);
    found = ring_find(ring, slot);
    if (found) {
        pthread_mutex_unlock(&ring->lock);
        *ret_key = found;
        return 0;
    }
    n = atomic_load(&ring->n);
    if (n == CRYPT_RING_MAX) {
        pthread_mutex_unlock(&ring->lock);
        return bsnap_fail(-ENOSPC, "InternalError", "more than %d data keys open at once",
                          CRYPT_RING_MAX);
    }
    k = malloc(sizeof *k);
    if (!k) {
        pthread_mutex_unlock(&ring->lock);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    r = crypt_key_derive(slot, data_key, k);
    if (r < 0) {
        free(k);
        pthread_mutex_unlock(&ring->lock);
        return r;
    }
    ring->keys[n] = k;
    atomic_store_explicit(&ring->n, n + 1, memory_order_release);
    pthread_mutex_unlock(&ring->lock);
    *ret_key = k;
    return 0;
}
