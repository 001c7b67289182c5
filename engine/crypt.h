/* crypt.h - encryption at rest of stored chunks and block-map pages.
 *
 * An encrypted volume lineage has a 256-bit data key (lineage.h makes and
 * unwraps it).  From it this module derives, with HKDF-SHA256, three
 * things (struct crypt_key): the AES-256-GCM key that seals the lineage's
 * records, and the two XXH3 secrets that key its chunk ids and page ids.
 * So ids of encrypted data depend on the data key: the same plaintext under
 * two data keys has unrelated ids, and an id says nothing about the
 * plaintext to whoever lacks the key.
 *
 * A sealed payload (docs/format.md, "Encryption at rest") is
 *     slot (8, LE) | nonce (12) | ciphertext of the stored bytes | tag (16)
 * where the stored bytes are the LZ4 block (or raw chunk) a plain record
 * would hold, the slot names the lineage (so a reader finds the key from
 * the record alone), the nonce is random, and the additional data binds
 * the ciphertext to its chunk id, its flags (page or data, LZ4 or raw),
 * its original length and its slot.
 *
 * The key ring: every store handle keeps the crypt keys opened through it,
 * by slot.  Keys are added, never removed before the store is closed, so
 * a pointer crypt_ring_find() returns stays valid until bsnap_store_close()
 * (the ring wipes them then).  Lookups take no lock; adds take one.  Any
 * thread.
 */
#ifndef BSNAP_CRYPT_H
#define BSNAP_CRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blocksnap.h"
#include "chunk.h"

#define CRYPT_KEY_BYTES 32
#define CRYPT_SECRET_BYTES 192 /* STORE_SECRET_BYTES: an XXH3 secret */
#define CRYPT_SLOT_BYTES 8
#define CRYPT_NONCE_BYTES 12
#define CRYPT_TAG_BYTES 16
/* Bytes in front of the ciphertext, and the whole overhead of a sealed
 * payload over the stored bytes it seals. */
#define CRYPT_HEAD_BYTES (CRYPT_SLOT_BYTES + CRYPT_NONCE_BYTES)
#define CRYPT_OVERHEAD (CRYPT_HEAD_BYTES + CRYPT_TAG_BYTES)
/* The most lineage keys one store handle holds open. */
#define CRYPT_RING_MAX 1024

/* What a lineage's data key gives. */
struct crypt_key {
    uint64_t slot; /* never 0 */
    uint8_t aead[CRYPT_KEY_BYTES];
    uint8_t secret[CRYPT_SECRET_BYTES];      /* keys data chunk ids */
    uint8_t page_secret[CRYPT_SECRET_BYTES]; /* keys block-map page ids */
};

/* Derive @ret from @data_key (HKDF-SHA256, a label per use).  -EIO
 * (InternalError) if libcrypto fails. */
int crypt_key_derive(uint64_t slot, const uint8_t data_key[CRYPT_KEY_BYTES], struct crypt_key *ret);

/* The id of chunk or page @data under @k (NULL: the store's own secrets),
 * as chunk_hash() does it. */
void crypt_hash(const bsnap_store *s, const struct crypt_key *k, bool page, const void *data,
                size_t len, chunk_id *ret_id);

/* Seal in place: @buf holds @len stored bytes at buf + CRYPT_HEAD_BYTES and
 * has room for CRYPT_TAG_BYTES after them; @flags are the record's CHUNK_*
 * flags (CHUNK_ENC included), @orig_len its original length.  On success
 * the sealed payload is @buf, len + CRYPT_OVERHEAD bytes.  -EIO
 * (InternalError) if libcrypto fails. */
int crypt_seal(const struct crypt_key *k, const chunk_id *id, uint32_t flags, uint32_t orig_len,
               uint8_t *buf, size_t len);

/* Open in place the sealed payload @buf of @stored_len bytes: on success
 * the stored bytes are at buf + CRYPT_HEAD_BYTES, stored_len -
 * CRYPT_OVERHEAD of them.  -EBADMSG when the payload is too short or does
 * not authenticate (nothing recorded: the caller names the chunk), -EIO
 * when libcrypto fails. */
int crypt_open(const struct crypt_key *k, const chunk_id *id, uint32_t flags, uint32_t orig_len,
               uint8_t *buf, size_t stored_len);

/* Seal @len bytes of @in into @out (may be @in) under @k with a fresh
 * random nonce (written to @ret_nonce) and additional data @aad, the tag to
 * @ret_tag: the form of an encrypted writable volume's overlay chunks
 * (cow-crypt.h), whose nonce and tag live apart from the ciphertext.  Its
 * additional data starts with a label of its own, so nothing sealed one
 * way opens the other.  -EIO (InternalError) if libcrypto fails. */
int crypt_seal_detached(const struct crypt_key *k, const uint8_t *aad, size_t aad_len,
                        const void *in, void *out, size_t len, uint8_t ret_nonce[CRYPT_NONCE_BYTES],
                        uint8_t ret_tag[CRYPT_TAG_BYTES]);
/* Open what crypt_seal_detached() sealed: -EBADMSG (nothing recorded;
 * @out wiped) when it does not authenticate, -EIO when libcrypto fails. */
int crypt_open_detached(const struct crypt_key *k, const uint8_t *aad, size_t aad_len,
                        const uint8_t nonce[CRYPT_NONCE_BYTES], const uint8_t tag[CRYPT_TAG_BYTES],
                        const void *in, void *out, size_t len);

/* The slot a sealed payload names (it has at least CRYPT_SLOT_BYTES). */
uint64_t crypt_payload_slot(const uint8_t *payload);

/* The key ring of a store handle. */
struct crypt_ring;
int crypt_ring_new(struct crypt_ring **ret);
void crypt_ring_free(struct crypt_ring *ring); /* NULL ok; wipes the keys */
/* The open key of @slot, or NULL. */
const struct crypt_key *crypt_ring_find(const bsnap_store *s, uint64_t slot);
/* Derive and add the key of @slot from @data_key (or find it if present).
 * *ret_key borrowed until the store is closed.  -ENOMEM, -ENOSPC (more
 * than CRYPT_RING_MAX keys), -EIO; recorded. */
int crypt_ring_add(bsnap_store *s, uint64_t slot, const uint8_t data_key[CRYPT_KEY_BYTES],
                   const struct crypt_key **ret_key);

#endif
