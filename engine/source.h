/* source.h - what a snapshot reads: a volume's bytes and where its data is.
 *
 * A source is one of two kinds, behind the same few calls:
 *  - a file or block device (source.c): pread(), holes from
 *    SEEK_DATA/SEEK_HOLE (a block device is all data);
 *  - an NBD export (nbd.c, through libnbd): reads with several requests in
 *    flight, holes from the server's base:allocation block status, and
 *    optionally the dirty extents of another meta context (a QEMU dirty
 *    bitmap) as a changed-block list.
 *
 * The pipeline (pipeline.c) reads through source_pread() from all its
 * workers at once and asks source_seek() where the data is from its reader
 * thread; snapshot.c opens the source, keys the volume record by
 * source->key and checks the source is unchanged after the last read.
 *
 * Every failing call records its error (bsnap_fail) naming the source by
 * source->shown, which never holds a secret: the URI of an NBD source is
 * shown and recorded without its user name and without query parameters
 * other than socket (a tls-psk-file path, for one).
 */
#ifndef BSNAP_SOURCE_H
#define BSNAP_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "blocksnap.h"

/* The largest volume: 1 PiB.  Building a block map keeps 32 bytes per leaf
 * page in memory (128 MiB for 1 PiB); far larger volumes would exhaust it
 * (docs/reliability.md).  Larger volumes are refused with -EFBIG. */
#define VOLUME_SIZE_MAX (1ull << 50)

struct source;

struct source_ops {
    /* Read [@off, @off + @len) into @buf (from alloc_aligned(); @off a
     * multiple of the chunk size).  Returns @len, or -errno with the error
     * recorded (VolumeReadError, or VolumeChanged for a file that shrank).
     * Called from several threads at once. */
    ssize_t (*pread)(struct source *src, void *buf, size_t len, uint64_t off);
    /* The first offset at or after @off that holds data (@data) or is a
     * hole (!@data), in *@ret.  -ENXIO: no data at or after @off;
     * -EOPNOTSUPP: the source cannot say (read everything).  Nothing
     * recorded.  One thread at a time. */
    int (*seek)(struct source *src, uint64_t off, bool data, uint64_t *ret);
    /* After the last read: whether the source is still the volume it was
     * when opened, of the same size (VolumeChanged, recorded). */
    int (*check)(struct source *src);
    void (*close)(struct source *src);
};

struct source {
    const struct source_ops *ops;
    uint64_t size;
    /* The key of the volume's record: a file's canonical path, an NBD
     * source's URI without secrets.  Owned by the source. */
    char *key;
    /* What messages call it: the path as given, or the key of an NBD URI.
     * Owned by the source. */
    char *shown;
    /* Set by the caller, optional: when *cancel becomes non-zero, a read
     * waiting for a server that does not answer gives up (-ECANCELED,
     * Cancelled) within a second, and every later read fails. */
    const volatile int *cancel;
    /* How many bytes one read should ask for, or 0: the pipeline's piece
     * (PIECE_BYTES, sized for a core's cache).  A source whose reads wait
     * on a round trip (NBD) asks for more, so that more is in flight. */
    size_t read_bytes;
};

/* Whether @spec names an NBD export (nbd:, nbds:, nbd+unix:, ... URIs)
 * rather than a file. */
bool source_is_uri(const char *spec);

/* Open @spec for reading: an NBD URI or a file/block device.  With an NBD
 * URI, @context (optional) is a meta context to ask the server for besides
 * base:allocation, whose extents source_changed() returns.  Errors, named
 * after the source: -ENOENT (InvalidVolume.NotFound), -EINVAL
 * (InvalidParameterValue: not a file or device, a malformed URI, a context
 * the server does not offer, or a context with a file), -EFBIG (larger
 * than 1 PiB), -EIO (VolumeReadError: the server cannot be reached or
 * refuses), -ENOMEM. */
int source_open(const char *spec, const char *context, struct source **ret_source);

/* The extents that @context (given to source_open()) marks dirty, as
 * sorted byte ranges (malloc'd; *@ret_n of them, maybe 0).  Errors: -EIO
 * (VolumeReadError), -ENOMEM. */
int source_changed(struct source *src, bsnap_range **ret_ranges, size_t *ret_n);

/* Close @src (NULL: nothing). */
void source_close(struct source *src);

/* The URI @uri as recorded and shown: scheme, host and port, export name
 * and the socket parameter only (user name, other query parameters and
 * the fragment dropped).  malloc'd, or NULL when out of memory.  Pure: it
 * is fuzzed (tests/fuzz/fuzz-uri.c). */
char *source_uri_redact(const char *uri);

/* Open a volume file for reading: regular file or block device.  Sets the
 * size and canonical path (malloc'd).  Errors name the path. */
int volume_open(const char *path, int *ret_fd, uint64_t *ret_size, char **ret_canonical);

/* nbd.c: open an NBD source (source_open() for a URI). */
int nbd_source_open(const char *uri, const char *context, struct source **ret_source);
int nbd_source_changed(struct source *src, bsnap_range **ret_ranges, size_t *ret_n);

#endif
