/* xref.h - cross-reference tables: the catalog's secondary indexes.
 *
 * The records (snapshots, volumes, images) are keyed by id.  The questions
 * a describe call, a delete or a mount asks by something else -- which
 * snapshots has this volume, which are children of that one, which
 * resources carry tag KEY, which live images map this snapshot -- are
 * answered by tables whose keys are "KEY\0ID" (so one prefix walk gives the
 * ids in id order) and that are derived data:
 *
 *   T_SNAP_BY_VOLUME  volume id \0 snapshot id        -> ""
 *   T_SNAP_BY_PARENT  parent id \0 snapshot id        -> ""
 *   T_SNAP_TAGS       tag key \0 snapshot id          -> tag value
 *   T_VOL_TAGS        tag key \0 volume id            -> tag value
 *   T_IMAGE_TAGS      tag key \0 image id             -> tag value
 *   T_IMAGE_BY_SNAP   snapshot id \0 live image id    -> ""
 *
 * (A tag key too long for an LMDB key is stored as "\1" and the hex of its
 * XXH3-128: lookups hash the same way, and callers check the record.)
 *
 * Guarantees: the tables change only inside the write transaction that
 * changes the record (catalog.c, image.c call xref_*_update with the old and
 * the new record), so a crash leaves them matching.  Each group (snapshots
 * and volumes, images) carries a marker in T_INFO; a store written by a
 * version without the tables has no marker: its first write builds the
 * group in that write's own transaction (xref_*_ensure), and until then
 * readers do without (xref_*_ready() is false: scan the records).
 * verify checks the tables against the records; verify --repair rebuilds
 * them.
 */
#ifndef BSNAP_XREF_H
#define BSNAP_XREF_H

#include <stdbool.h>

#include "meta.h"
#include "record.h"

/* Keys: "@key\0@id" into @out (capacity XREF_KEY_MAX); returns the length. */
#define XREF_KEY_MAX 480
size_t xref_key(const char *key, const char *id, char out[XREF_KEY_MAX]);

/* Add (@add) or remove the entry @key/@id of @t, with @value (NULL: "").
 * Removing an absent entry is not an error. */
int xref_set(meta_txn *txn, meta_table t, const char *key, const char *id, const char *value,
             bool add);
/* Move @id's tag entries in @t from @old to @new (either may be NULL). */
int xref_tags_update(meta_txn *txn, meta_table t, const char *id, const struct tags *old,
                     const struct tags *new);

/* Groups and their markers. */
enum xref_group { XREF_CATALOG, XREF_IMAGES };
/* 1 when @g's tables are built (readers may use them), 0 when not. */
int xref_ready(meta_txn *txn, enum xref_group g);
/* Mark @g built, in @txn. */
int xref_mark(meta_txn *txn, enum xref_group g);
/* Empty table @t (a rebuild). */
int xref_clear(meta_txn *txn, meta_table t);

/* ---- walks: ids in id order, merged from several sources ---- */

struct xref_walk;
int xref_walk_new(meta_txn *txn, const char *after, struct xref_walk **ret);
/* A source: the ids under @key in @t (@key NULL: the keys of @t itself, a
 * record table). */
int xref_walk_add(struct xref_walk *w, meta_table t, const char *key);
/* The same, only the entries whose value (a tag's value) matches a value
 * of @match (wildcards as EC2's); @match must outlive the walk. */
int xref_walk_add_matching(struct xref_walk *w, meta_table t, const char *key,
                           const bsnap_filter *match);
/* A source: these ids (any order; duplicates are fine). */
int xref_walk_add_ids(struct xref_walk *w, const char *const *ids, size_t n);
/* The next id (> the walk's after and every id returned), deduplicated
 * across sources: 1 and @ret_id, 0 at the end, or -errno. */
int xref_walk_next(struct xref_walk *w, char ret_id[BSNAP_ID_MAX]);
void xref_walk_free(struct xref_walk *w);

/* Whether a filter value is a plain value (no wildcard), usable as a key. */
bool xref_exact(const char *value);

#endif
