/* chunk.h - chunk ids, compression and the checks of stored bytes.
 *
 * A chunk id is XXH3-128 keyed with the store's secret (pages use a second,
 * derived key), so ids cannot be crafted by someone without the store and a
 * data chunk is never mistaken for a page.  The all-zero chunk has the
 * reserved id 0 and is never stored; a hash that happens to be 0 is bumped
 * to 1.  Stored payloads are LZ4 blocks, or raw when LZ4 does not shrink the
 * chunk.
 */
#ifndef BSNAP_CHUNK_H
#define BSNAP_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "blocksnap.h"

typedef struct chunk_id {
    uint8_t b[16];
} chunk_id;

/* Flags of a stored record and of its index entry. */
#define CHUNK_LZ4 0x1u  /* payload is an LZ4 block */
#define CHUNK_PAGE 0x2u /* a block-map page, not volume data */
/* The payload is sealed (crypt.h): slot, nonce, ciphertext, tag. */
#define CHUNK_ENC 0x10u
#define CHUNK_DEAD 0x4u /* index only: refcount fell to 0 and children were released */
/* Index only: named by live pages or snapshots, but its record was lost (a
 * repair found it damaged in its pack).  The entry keeps the references so
 * that a writer storing the chunk again takes it over; a missing page holds
 * no references on its children (nobody could read them). */
#define CHUNK_MISSING 0x8u

/* A block-map page (blockmap.h) is a chunk of BM_FANOUT ids of the level
 * below.  Its size is here, below both, because the index's refcount
 * cascade reads a dying page's children too (index.h). */
#define BM_FANOUT 4096u
#define BM_PAGE_BYTES (BM_FANOUT * sizeof(chunk_id))

void chunk_hash(const bsnap_store *s, bool page, const void *data, size_t len, chunk_id *ret_id);

static inline bool chunk_id_is_zero(const chunk_id *id)
{
    static const chunk_id zero;
    return memcmp(id, &zero, sizeof zero) == 0;
}
static inline bool chunk_id_eq(const chunk_id *a, const chunk_id *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}
/* 32 hex digits and a NUL. */
void chunk_id_hex(const chunk_id *id, char out[33]);

/* Worst-case stored size for @len input bytes. */
size_t chunk_encode_bound(size_t len);
/* Compress @len bytes of @src into @dst (capacity chunk_encode_bound(len)).
 * Returns the stored length; sets CHUNK_LZ4 in *flags when compressed. */
size_t chunk_encode(const void *src, size_t len, void *dst, size_t cap, uint32_t *flags);
/* Expand a stored payload into exactly @orig_len bytes at @dst.  -EIO when
 * the payload does not decode to exactly that many bytes (no error is
 * recorded: the caller knows the chunk, pack and offset to name). */
int chunk_decode(const void *src, size_t slen, uint32_t flags, void *dst, size_t orig_len);

#endif
