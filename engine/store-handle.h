/* store-handle.h - the handle of an open store: the state every module
 * borrows (paths, modes, keys, metadata environment, pack and page caches).
 *
 * The modules the store's opening sets up (chunk, pack, index, block map)
 * include this, not store.h: store.c creates their caches, so they sit
 * below it.  Fields are set when the store is opened and never change
 * after, but for what the caches keep behind their own locks.
 */
#ifndef BSNAP_STORE_HANDLE_H
#define BSNAP_STORE_HANDLE_H

#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "blocksnap.h"
#include "meta.h"

#define STORE_SECRET_BYTES 192

struct pack_cache; /* pack.c */
struct page_cache; /* blockmap.c */
struct crypt_ring; /* crypt.c */

struct bsnap_store {
    /* A view (bsnap_store_view()): the handle it was made of, whose
     * pointers below it borrows; NULL for a handle that owns them. */
    bsnap_store *base;
    char *path;
    char *packs_dir;
    char *pins_dir;
    unsigned flags;
    meta *meta;
    /* Modes of what the engine creates inside the store: private to the
     * owner (0700, 0600) unless the store directory carries the setgid
     * bit, which shares it read-only with the directory's group (02750,
     * 0640; liblmdb's lock.mdb 0660, since its readers write there). */
    mode_t dir_mode;
    mode_t file_mode;

    uint32_t format;
    uint32_t chunk_size;
    uint64_t pack_limit;
    uint8_t uuid[16];
    char uuid_text[37];
    char region[65];
    char account[13];
    /* The calling account (bsnap_store_set_account()): owns what it
     * creates, sees and acts on only what it owns (owner.c). */
    char caller[13];
    /* bsnap_store_set_dry_run(): the first write of an operation (a
     * metadata commit, a new pack, a file) ends it with DryRunOperation. */
    bool dry_run;
    /* bsnap_store_set_clock(): a fake clock (Unix ms) for the Recycle Bin's
     * times, or 0: the real one. */
    int64_t clock_ms;
    uint8_t secret[STORE_SECRET_BYTES];      /* keys data chunk ids */
    uint8_t page_secret[STORE_SECRET_BYTES]; /* keys block-map page ids */

    struct pack_cache *packs;
    struct page_cache *pages;
    /* The data keys of encrypted lineages opened through this handle. */
    struct crypt_ring *ring;
};

/* Give @fd (a file just created in the store) the store's file mode,
 * whatever the umask.  0 or -errno. */
static inline int store_fchmod(const bsnap_store *s, int fd)
{
    /* Created with 0600, which no umask widens: only a shared store needs
     * more. */
    if (s->file_mode != 0600 && fchmod(fd, s->file_mode) < 0)
        return -errno;
    return 0;
}

#endif
