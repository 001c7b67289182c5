/* fuzz-pack-record.c - libFuzzer harness for the pack file and record
 * header parsers, and the payload decoder behind them.
 *
 * The input is what a reader finds on disk: optionally a 32-byte pack file
 * header (when its first bytes are the pack magic), then a 48-byte record
 * header and its payload.  Checks the parsers' promises:
 *  - they return 0 or -EIO, nothing else, and never read past 48/32 bytes;
 *  - an accepted record has only the LZ4/PAGE/ENC flags, non-zero lengths
 *    within the limits, and encodes back to exactly the bytes it came from;
 *  - decoding an accepted payload gives 0 or -EIO, never more bytes than
 *    asked for; a sealed one (ENC) is opened with a fixed key first, which
 *    gives 0 or -EBADMSG, and leaves no byte outside the payload changed.
 * Random bytes rarely pass the header checksum, so each input is parsed a
 * second time with its checksum fixed up: that reaches the checks behind it. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "chunk.h"
#include "crypt.h"
#include "pack.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_record(const uint8_t *hdr, const uint8_t *payload, size_t plen)
{
    struct pack_record rec;
    uint8_t again[PACK_RECORD_HEADER_BYTES];
    int r = pack_record_parse(hdr, &rec);

    if (r == -EIO)
        return;
    if (r != 0)
        abort();
    if (rec.flags & ~(CHUNK_LZ4 | CHUNK_PAGE | CHUNK_ENC))
        abort();
    if (rec.stored_len == 0 || rec.orig_len == 0 || rec.orig_len > PACK_RECORD_MAX_PAYLOAD ||
        rec.stored_len > PACK_RECORD_MAX_PAYLOAD + 65536)
        abort();
    pack_record_encode(&rec, again);
    if (memcmp(again, hdr, PACK_RECORD_HEADER_BYTES) != 0)
        abort(); /* the format has one encoding of each header */
    if (plen >= rec.stored_len && (rec.flags & CHUNK_ENC)) {
        static struct crypt_key key;
        static const uint8_t dk[CRYPT_KEY_BYTES] = {1, 2, 3};
        uint8_t *buf = malloc((size_t)rec.stored_len + 1);
        if (!buf)
            return;
        if (!key.slot && crypt_key_derive(crypt_payload_slot(payload) | 1, dk, &key) < 0)
            abort();
        memcpy(buf, payload, rec.stored_len);
        buf[rec.stored_len] = 0xa5;
        r = crypt_open(&key, &rec.id, rec.flags, rec.orig_len, buf, rec.stored_len);
        if ((r != 0 && r != -EBADMSG) || buf[rec.stored_len] != 0xa5)
            abort();
        free(buf);
        return;
    }
    if (plen >= rec.stored_len) {
        /* one guard byte past what was asked for must stay untouched */
        uint8_t *out = malloc((size_t)rec.orig_len + 1);
        if (!out)
            return;
        out[rec.orig_len] = 0xa5;
        r = chunk_decode(payload, rec.stored_len, rec.flags, out, rec.orig_len);
        if ((r != 0 && r != -EIO) || out[rec.orig_len] != 0xa5)
            abort();
        if (r == 0 && !(rec.flags & CHUNK_LZ4) && memcmp(out, payload, rec.orig_len) != 0)
            abort();
        free(out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t hdr[PACK_RECORD_HEADER_BYTES];
    size_t off = 0;

    if (size >= PACK_HEADER_BYTES) {
        uint32_t n = 0;
        uint8_t uuid[16];
        int r = pack_header_parse(data, &n, uuid);
        if (r != 0 && r != -EIO)
            abort();
        if (r == 0) {
            if (memcmp(data, PACK_MAGIC, 8) != 0 || le32_get(data + 8) != PACK_VERSION ||
                n != le32_get(data + 12) || memcmp(uuid, data + 16, 16) != 0)
                abort();
            off = PACK_HEADER_BYTES;
        }
    }
    if (size - off < PACK_RECORD_HEADER_BYTES)
        return 0;
    /* A copy of exactly 48 bytes, so ASan sees any read past the header. */
    {
        uint8_t *exact = malloc(PACK_RECORD_HEADER_BYTES);
        if (!exact)
            return 0;
        memcpy(exact, data + off, PACK_RECORD_HEADER_BYTES);
        check_record(exact, data + off + PACK_RECORD_HEADER_BYTES,
                     size - off - PACK_RECORD_HEADER_BYTES);
        free(exact);
    }
    /* Again with a good magic, header length and checksum. */
    memcpy(hdr, data + off, sizeof hdr);
    le32_put(hdr, PACK_RECORD_MAGIC);
    le16_put(hdr + 6, PACK_RECORD_HEADER_BYTES);
    le64_put(hdr + 40, XXH3_64bits(hdr, 40));
    check_record(hdr, data + off + PACK_RECORD_HEADER_BYTES, size - off - PACK_RECORD_HEADER_BYTES);
    return 0;
}
