/* copy.h - what the rest of the engine needs of copy.c (copy-snapshot). */
#ifndef BSNAP_COPY_H
#define BSNAP_COPY_H

#include <stdint.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "blocksnap.h"
#include "meta.h"

/* gc, in its write transaction @txn, after the index lost its dead
 * entries: remove every translation (T_CHUNK_XLATE) that names a chunk the
 * index no longer holds; their number in @ret_n. */
int copy_prune(meta_txn *txn, uint64_t *ret_n);

/* The hash of what makes two copy calls (copy-snapshot, copy-image) the
 * same request: the calling account, the source store, then each field in
 * turn (request_hash_str(); NULL hashes unlike "").  request_hash_end()
 * writes it as 32 hex digits in @hash and returns the call's token:
 * @client_token when given, else "=" and the hash, in @autotok. */
struct request_hash {
    XXH3_state_t st;
};
void request_hash_begin(struct request_hash *h, const bsnap_store *dst, const bsnap_store *src);
void request_hash_str(struct request_hash *h, const char *field);
const char *request_hash_end(struct request_hash *h, const char *client_token, char hash[33],
                             char autotok[40]);

#endif
