/* chunk.c - keyed XXH3-128 ids and LZ4; see chunk.h. */
#include <string.h>

#include "chunk.h"

#include <errno.h>
#include <lz4.h>
#include <xxhash.h>

#include "store-handle.h"
#include "util.h"

void chunk_hash(const bsnap_store *s, bool page, const void *data, size_t len, chunk_id *ret_id)
{
    XXH128_hash_t h =
        XXH3_128bits_withSecret(data, len, page ? s->page_secret : s->secret, STORE_SECRET_BYTES);
    XXH128_canonical_t c;

    XXH128_canonicalFromHash(&c, h);
    memcpy(ret_id->b, c.digest, 16);
    if (chunk_id_is_zero(ret_id))
        ret_id->b[15] = 1; /* 0 is reserved for the zero chunk */
}

void chunk_id_hex(const chunk_id *id, char out[33])
{
    hex_encode(id->b, 16, out);
}

size_t chunk_encode_bound(size_t len)
{
    return (size_t)LZ4_compressBound((int)len);
}

size_t chunk_encode(const void *src, size_t len, void *dst, size_t cap, uint32_t *flags)
{
    int n = LZ4_compress_default(src, dst, (int)len, (int)cap);

    /* Keep the compressed form only when it saves at least 1/32: below that
     * the decompression costs more than the bytes it saves. */
    if (n > 0 && (size_t)n < len - len / 32) {
        *flags |= CHUNK_LZ4;
        return (size_t)n;
    }
    memcpy(dst, src, len);
    *flags &= ~CHUNK_LZ4;
    return len;
}

int chunk_decode(const void *src, size_t slen, uint32_t flags, void *dst, size_t orig_len)
{
    if (!(flags & CHUNK_LZ4)) {
        if (slen != orig_len)
            return -EIO;
        memcpy(dst, src, slen);
        return 0;
    }
    if (slen > INT32_MAX || orig_len > INT32_MAX)
        return -EIO;
    int n = LZ4_decompress_safe(src, dst, (int)slen, (int)orig_len);
    if (n < 0 || (size_t)n != orig_len)
        return -EIO;
    return 0;
}
