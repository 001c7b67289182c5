/* pack.h - append-only pack files.
 *
 * A pack is a 32-byte file header followed by records, each a 48-byte
 * header (magic, flags, chunk id, stored and original length, checksum of
 * the payload, checksum of the header) and the payload.  Exact layout in
 * docs/format.md; the encoders and parsers here are the only code that
 * knows it.
 *
 * Writers: each writing process appends to a pack it holds an exclusive
 * flock on (an unsealed pack left by an earlier writer, or a new one whose
 * number comes from the metadata counter).  A pack that reached the store's
 * pack size is sealed: never appended to again.  pack_writer_sync() makes
 * everything appended durable; callers sync before committing metadata that
 * names the records (ARCHITECTURE: data before metadata).
 *
 * Readers: pack_read_chunk() verifies the record header, the payload
 * checksum, the decompressed length and the chunk id before it returns a
 * byte; any mismatch is -EIO naming chunk, pack and offset.  Open pack fds
 * are cached per store (thread-safe).
 */
#ifndef BSNAP_PACK_H
#define BSNAP_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blocksnap.h"
#include "chunk.h"

#define PACK_MAGIC "BSNPACK\0"
#define PACK_VERSION 1
#define PACK_HEADER_BYTES 32
#define PACK_RECORD_MAGIC 0x43525342u /* "BSRC" little-endian */
#define PACK_RECORD_HEADER_BYTES 48
/* Largest payload a record may hold: a 4 MiB chunk that did not compress,
 * or a 64 KiB page. */
#define PACK_RECORD_MAX_PAYLOAD (4u << 20)

/* Where a chunk is stored. */
struct chunk_loc {
    uint32_t pack;
    uint32_t flags;  /* CHUNK_* */
    uint64_t offset; /* of the record header */
    uint32_t stored_len;
    uint32_t orig_len;
};

/* A parsed record header. */
struct pack_record {
    uint32_t flags;
    chunk_id id;
    uint32_t stored_len;
    uint32_t orig_len;
    uint64_t checksum;
};

/* Encode/parse a record header (48 bytes).  Parsing checks the magic, the
 * header checksum and the length limits: -EIO (nothing recorded) if any
 * fails. */
void pack_record_encode(const struct pack_record *rec, uint8_t out[PACK_RECORD_HEADER_BYTES]);
int pack_record_parse(const uint8_t in[PACK_RECORD_HEADER_BYTES], struct pack_record *ret);
/* Parse a pack file header; -EIO unless magic, version are right.  Sets
 * *ret_pack and copies the store uuid. */
int pack_header_parse(const uint8_t in[PACK_HEADER_BYTES], uint32_t *ret_pack,
                      uint8_t ret_uuid[16]);

struct pack_writer;

/* @fresh: always start a new pack (gc, which must not append to a pack it
 * is about to rewrite). */
int pack_writer_open(bsnap_store *s, bool fresh, struct pack_writer **ret_writer);
/* Append one record; *ret_loc says where.  May move to a new pack when the
 * current one is full. */
int pack_writer_append(struct pack_writer *w, const chunk_id *id, uint32_t flags,
                       const void *payload, uint32_t stored_len, uint32_t orig_len,
                       struct chunk_loc *ret_loc);
/* Write out buffered records and fdatasync every pack touched since the
 * last sync. */
int pack_writer_sync(struct pack_writer *w);
/* Remember the current end: everything appended so far is named by
 * committed metadata.  pack_writer_abort() cuts back to the last mark. */
void pack_writer_mark(struct pack_writer *w);
/* Give back what was appended since the last mark (a failed run): the
 * current pack is truncated to the mark, or removed if this writer created
 * it and nothing in it was committed.  Best effort; gc reclaims the rest. */
void pack_writer_abort(struct pack_writer *w);
/* A pack a writer appended to, and where its appends began (after the
 * file header for a pack it created). */
struct pack_span {
    uint32_t pack;
    uint64_t start;
    bool created;
};
/* The packs @w appended to since open, in order; valid until the next
 * append or pack_writer_close(). */
const struct pack_span *pack_writer_spans(const struct pack_writer *w, size_t *ret_n);
/* Call @fn for each whole record of pack @n from offset @from to the end
 * of the file (@end: just past its payload); stops at a header that does
 * not parse, or at @fn's first negative return, which is returned. */
typedef int (*pack_record_func)(void *ud, const struct pack_record *rec, uint64_t offset,
                                uint64_t end);
int pack_records_foreach(bsnap_store *s, uint32_t n, uint64_t from, pack_record_func fn, void *ud);
/* Truncate pack @n to @size bytes, or with @remove delete it.  Only for
 * bytes no metadata names.  0 or -errno (nothing recorded). */
int pack_cut(bsnap_store *s, uint32_t n, uint64_t size, bool remove);
/* Bytes appended (headers included) since open. */
uint64_t pack_writer_bytes(const struct pack_writer *w);
/* Close without syncing (unsynced records are garbage for gc); NULL ok. */
void pack_writer_close(struct pack_writer *w);

/* Per-store cache of read-only pack fds. */
struct pack_cache;
int pack_cache_new(struct pack_cache **ret);
void pack_cache_free(struct pack_cache *c);
/* Drop a cached fd (after gc removed the file). */
void pack_cache_forget(bsnap_store *s, uint32_t pack);

/* Read, check and expand the chunk @id stored at @loc into @out (capacity
 * loc->orig_len).  Errors: -EIO / -ENOENT, recorded, naming chunk, pack,
 * offset and what failed. */
int pack_read_chunk(bsnap_store *s, const chunk_id *id, const struct chunk_loc *loc, void *out);
/* A chunk's record as its store holds it, opened: the encoded bytes (an
 * LZ4 block when @flags has CHUNK_LZ4, else the raw bytes), decrypted when
 * the record was sealed (CHUNK_ENC is then left out of @flags). */
struct stored_payload {
    const uint8_t *data; /* NULL: none (a zero chunk) */
    uint32_t len;
    uint32_t flags;
};
/* pack_read_chunk(), and, with @ret_stored, the record's encoded bytes,
 * checked (checksum, authentication, expansion, id), in this thread's
 * scratch buffer: valid until the thread's next pack read.  A copy between
 * stores writes them again instead of compressing the chunk again. */
int pack_read_chunk_stored(bsnap_store *s, const chunk_id *id, const struct chunk_loc *loc,
                           void *out, struct stored_payload *ret_stored);
/* Whether @loc holds a record of @id: its header read and parsed, its id,
 * lengths and page flag equal to @loc's.  1 when it does, 0 when not (or
 * the pack is missing or short), negative errno on failure.  gc's guard:
 * one small read, not the payload. */
int pack_record_at(bsnap_store *s, const chunk_id *id, const struct chunk_loc *loc);
/* Read and check a record's stored payload without expanding it (gc copies
 * records as they are).  @out has capacity loc->stored_len. */
int pack_read_payload(bsnap_store *s, const chunk_id *id, const struct chunk_loc *loc, void *out);

/* Path of pack @n (malloc'd), and the number of a pack file name (false if
 * the name is not a pack's). */
char *pack_path(const bsnap_store *s, uint32_t n);
bool pack_name_parse(const char *name, uint32_t *ret_n);

#endif
