/* idmap.h - an open-addressing hash map from 16-byte ids to two uint64_t
 * values (verify's memo of pages, gc's bookkeeping).  The all-zero key is
 * the empty marker and cannot be stored (it is the zero chunk, which is
 * never stored either). */
#ifndef BSNAP_IDMAP_H
#define BSNAP_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap_entry {
    uint8_t key[16];
    uint64_t v[2];
};

struct idmap {
    struct idmap_entry *e;
    size_t cap, n;
};

/* Find @key; NULL if absent. */
struct idmap_entry *idmap_get(const struct idmap *m, const uint8_t key[16]);
/* Find or insert @key (values zeroed on insert); NULL on ENOMEM. */
struct idmap_entry *idmap_put(struct idmap *m, const uint8_t key[16]);
void idmap_free(struct idmap *m);

#endif
