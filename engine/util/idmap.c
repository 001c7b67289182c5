/* idmap.c - see idmap.h. */
#include "idmap.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static size_t slot(const struct idmap *m, const uint8_t key[16])
{
    return (size_t)le64_get(key) & (m->cap - 1);
}

static bool empty(const struct idmap_entry *e)
{
    return mem_is_zero(e->key, 16);
}

struct idmap_entry *idmap_get(const struct idmap *m, const uint8_t key[16])
{
    if (!m->cap)
        return NULL;
    for (size_t i = slot(m, key);; i = (i + 1) & (m->cap - 1)) {
        if (empty(&m->e[i]))
            return NULL;
        if (memcmp(m->e[i].key, key, 16) == 0)
            return &m->e[i];
    }
}

static int grow(struct idmap *m)
{
    struct idmap old = *m;

    m->cap = old.cap ? old.cap * 2 : 1024;
    m->e = calloc(m->cap, sizeof *m->e);
    m->n = 0;
    if (!m->e) {
        *m = old;
        return -1;
    }
    for (size_t i = 0; i < old.cap; i++)
        if (!empty(&old.e[i]))
            *idmap_put(m, old.e[i].key) = old.e[i];
    free(old.e);
    return 0;
}

struct idmap_entry *idmap_put(struct idmap *m, const uint8_t key[16])
{
    if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
        return NULL;
    for (size_t i = slot(m, key);; i = (i + 1) & (m->cap - 1)) {
        if (empty(&m->e[i])) {
            memcpy(m->e[i].key, key, 16);
            m->e[i].v[0] = m->e[i].v[1] = 0;
            m->n++;
            return &m->e[i];
        }
        if (memcmp(m->e[i].key, key, 16) == 0)
            return &m->e[i];
    }
}

void idmap_free(struct idmap *m)
{
    free(m->e);
    m->e = NULL;
    m->cap = m->n = 0;
}
