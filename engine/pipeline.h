/* pipeline.h - the machinery of snapshot creation, as snapshot.c uses it.
 *
 * A pipeline reads one volume, hashes and compresses its chunks on every
 * core, appends the new ones to a pack writer and builds the snapshot's
 * block map, diffing against a parent snapshot's map when there is one
 * (pipeline-internal.h says how).  Its caller owns what surrounds it: the
 * volume's file, the pack writer, the snapshot record and the store lock
 * that keeps gc away from the parent's pages while it runs.
 *
 * Use: pipeline_new(), pipeline_run(), pipeline_finish(), pipeline_free().
 * One thread drives a pipeline; it starts and joins its own threads inside
 * pipeline_run().
 */
#ifndef BSNAP_PIPELINE_H
#define BSNAP_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "blockmap.h"
#include "blocksnap.h"
#include "chunk.h"

struct crypt_key;
struct pack_writer;
struct pipeline;
struct source;

/* What a pipeline reads, and against what.  Pointers are borrowed: they
 * stay valid until pipeline_free(). */
struct pipeline_options {
    bsnap_store *s;
    struct source *vol; /* the volume (source.h), or NULL for a copy */
    uint64_t size;      /* its size, bytes */
    /* The parent snapshot's block map, or NULL for a full snapshot. */
    const struct bm_tree *parent;
    /* The changed byte ranges (sorted, not overlapping) to read instead of
     * the whole volume, or NULL; with them, @parent is required, and
     * @parent_size is the parent's volume size (a volume that changed size
     * is read from the shorter end on). */
    const bsnap_range *changed;
    size_t nchanged;
    uint64_t parent_size;
    unsigned threads; /* workers; 0: one per online core (at most 64) */
    /* A copy (copy.c): read the chunks of this snapshot of another store
     * instead of @vol (which is then NULL); @size is the snapshot's size.  A
     * chunk whose source id the translation table (T_CHUNK_XLATE, for the
     * source store @src_uuid) maps to a chunk this store holds is not read
     * at all; the others are read, checked, hashed with this store's key
     * and stored through the usual dedup path, and their translations are
     * committed with the batch that indexes them. */
    bsnap_reader *src;
    const uint8_t *src_uuid;      /* 16 bytes */
    const bsnap_run_options *run; /* progress and cancel, or NULL */
    /* The encrypted lineage the new map belongs to (lineage.h), or NULL:
     * ids are keyed and records sealed with it.  A parent, when given, is
     * of the same lineage. */
    const struct crypt_key *key;
};

/* A pipeline for @o, with its buffers allocated (the store's chunk size).
 * Errors: -EINVAL (InvalidParameterValue: a changed range that is empty,
 * unsorted, overlapping or past the volume's end), -ENOMEM. */
int pipeline_new(const struct pipeline_options *o, struct pipeline **ret_pipeline);

/* Read the whole volume (or its changed ranges) through the reader thread,
 * the workers and, in the calling thread, the ordered writer, which appends
 * new chunks to @pw (borrowed until pipeline_free(); the caller opened it
 * and closes it) and commits their index entries in batches.  The error of
 * the first failing thread is returned and restored in the calling thread.
 * Errors: -ECANCELED (Cancelled), -EIO, -ENOSPC, -ENOMEM, -EAGAIN, and
 * those of reading the volume. */
int pipeline_run(struct pipeline *p, struct pack_writer *pw);

/* After pipeline_run(): store the block map's inner pages, commit the last
 * batch of index entries, and set the map's root page id in @ret_root, the
 * run's counts in @ret_stats (volume_bytes too) and the number of chunks
 * that hold data in @ret_data_chunks.  Errors: those of pipeline_run(). */
int pipeline_finish(struct pipeline *p, chunk_id *ret_root, bsnap_snapshot_stats *ret_stats,
                    uint64_t *ret_data_chunks);

/* Free @p and what it holds (NULL: nothing), but not the pack writer. */
void pipeline_free(struct pipeline *p);

#endif
