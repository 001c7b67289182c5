/* nbd.c - the NBD source: a volume read from an NBD server through libnbd
 * (qemu-nbd serving a qcow2 file, a running QEMU's export, nbdkit).
 *
 * One connection, opened with the URI the user gave (libnbd parses it).
 * At open the whole disk's block status is fetched: base:allocation gives
 * the data runs (extents that are neither holes nor zero are read; zero
 * extents become zero chunks without a request), and a second meta
 * context, when asked for (qemu:dirty-bitmap:NAME), its dirty runs.
 *
 * Reads: the pipeline's workers call nbd_pread_src() at once; a worker
 * splits its piece into requests of REQ_BYTES and sends them all with
 * nbd_aio_pread() before it waits, so that several requests are in flight
 * on the one connection while the other workers hash and compress.  The
 * handle is driven by one worker at a time (src->lock): nbd_poll() from
 * two threads at once would race for the replies.  One connection, not one
 * per worker: qemu-nbd serves one client unless started with --shared, and
 * a second connection would wait for the first to close.
 *
 * A server that goes away fails the read in progress and every later one
 * with the same error, naming the volume and the offset; the snapshot then
 * fails and leaves the store as it was (snapshot.c).
 */
#include "source.h"

#include <errno.h>
#include <libnbd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"

/* One request: qemu-nbd and nbdkit answer up to 32 MiB; 64 KiB requests
 * keep four in flight per 256 KiB piece (bench/run nbd measured it). */
#define REQ_BYTES (64u << 10)
/* What a worker asks for at a time: 32 requests in flight, so that the
 * reads of one worker overlap the other's hashing (with 256 KiB pieces,
 * four requests, the snapshot read at a quarter of the export's speed). */
#define READ_BYTES (2u << 20)
/* How long a wait for replies lasts before it looks at the cancel flag. */
#define POLL_MS 1000
/* Block status is asked for this much at a time: servers need not answer
 * for 4 GiB or more at once. */
#define STATUS_BYTES (1ull << 30)

#define ALLOCATION "base:allocation"

struct runs {
    bsnap_range *v;
    size_t n, cap;
};

struct nbd_source {
    struct source base;
    struct nbd_handle *h;
    pthread_mutex_t lock; /* who drives the handle */
    bool dead;            /* the connection failed: every read fails */
    bool cancelled;       /* ... because a read was cancelled */
    bool have_alloc;      /* the server gave base:allocation */
    struct runs data;     /* data runs, sorted and merged */
    char *context;        /* the changed-block context, or NULL */
    struct runs dirty;    /* its dirty runs */
};

/* Append [@a, @b) to @r, merged with the last run when they touch. */
static int runs_add(struct runs *r, uint64_t a, uint64_t b)
{
    bsnap_range *nv;

    if (a >= b)
        return 0;
    if (r->n > 0 && r->v[r->n - 1].offset + r->v[r->n - 1].length == a) {
        r->v[r->n - 1].length += b - a;
        return 0;
    }
    nv = array_grow(r->v, r->n, &r->cap, sizeof *nv, 256);
    if (!nv)
        return -ENOMEM;
    r->v = nv;
    r->v[r->n++] = (bsnap_range){a, b - a};
    return 0;
}

/* ---- block status ---- */

struct status_walk {
    struct nbd_source *n;
    uint64_t alloc_end, dirty_end; /* how far each context has answered */
    int err;
};

/* Add the extents of one context's answer that lie past *@done (an earlier
 * answer of that context may have reached further than the other's). */
static int walk_entries(struct status_walk *w, struct runs *r, uint64_t *done, uint64_t offset,
                        const uint32_t *entries, size_t nr, uint32_t want_mask, bool want_set)
{
    uint64_t pos = offset, size = w->n->base.size;

    for (size_t i = 0; i + 1 < nr && pos < size; i += 2) {
        uint64_t end = MIN(pos + entries[i], size), a = MAX(pos, *done);
        bool set = (entries[i + 1] & want_mask) != 0;
        if (entries[i] == 0)
            break;
        if (set == want_set && a < end && runs_add(r, a, end) < 0)
            return -ENOMEM;
        pos = end;
        *done = MAX(*done, end);
    }
    return 0;
}

static int status_cb(void *ud, const char *context, uint64_t offset, uint32_t *entries, size_t nr,
                     int *error)
{
    struct status_walk *w = ud;
    int r = 0;

    (void)error;
    if (strcmp(context, ALLOCATION) == 0)
        /* read what is neither a hole nor zero: a hole without the zero
         * flag may read as data (a backing file's) */
        r = walk_entries(w, &w->n->data, &w->alloc_end, offset, entries, nr, LIBNBD_STATE_ZERO,
                         false);
    else if (w->n->context && strcmp(context, w->n->context) == 0)
        r = walk_entries(w, &w->n->dirty, &w->dirty_end, offset, entries, nr, 1, true);
    if (r < 0)
        w->err = r;
    return 0;
}

static int fetch_status(struct nbd_source *n)
{
    struct status_walk w = {.n = n};
    uint64_t off = 0, size = n->base.size;

    while (off < size) {
        uint64_t next;
        if (nbd_block_status(n->h, MIN(size - off, STATUS_BYTES), off,
                             (nbd_extent_callback){.callback = status_cb, .user_data = &w}, 0) < 0)
            return bsnap_fail(-EIO, "VolumeReadError", "volume %s: block status at offset %llu: %s",
                              n->base.shown, (unsigned long long)off, nbd_get_error());
        if (w.err < 0)
            return bsnap_fail(w.err, "InternalError", "out of memory");
        next = UINT64_MAX;
        if (n->have_alloc)
            next = w.alloc_end;
        if (n->context)
            next = MIN(next, w.dirty_end);
        if (next <= off)
            return bsnap_fail(-EIO, "VolumeReadError",
                              "volume %s: the NBD server's block status at offset %llu "
                              "describes nothing",
                              n->base.shown, (unsigned long long)off);
        off = next;
    }
    return 0;
}

/* ---- reads ---- */

struct wait {
    unsigned pending;
    int err;
};

static int read_done(void *ud, int *error)
{
    struct wait *w = ud;

    w->pending--;
    if (*error && !w->err)
        w->err = *error;
    return 1; /* retire the command */
}

static ssize_t read_fail(struct nbd_source *n, uint64_t off, int err, const char *why)
{
    if (nbd_aio_is_dead(n->h) > 0 || nbd_aio_is_closed(n->h) > 0) {
        n->dead = true;
        return bsnap_fail(-EIO, "VolumeReadError",
                          "volume %s: the NBD server closed the connection (read at offset "
                          "%llu: %s)",
                          n->base.shown, (unsigned long long)off, why);
    }
    return bsnap_fail(err ? -err : -EIO, "VolumeReadError", "volume %s: read at offset %llu: %s",
                      n->base.shown, (unsigned long long)off, why);
}

static ssize_t nbd_pread_src(struct source *src, void *buf, size_t len, uint64_t off)
{
    struct nbd_source *n = (struct nbd_source *)src;
    struct wait w = {0};
    ssize_t r = (ssize_t)len;

    pthread_mutex_lock(&n->lock);
    if (n->dead) {
        pthread_mutex_unlock(&n->lock);
        if (n->cancelled)
            return bsnap_fail(-ECANCELED, "Cancelled", "snapshot interrupted");
        return bsnap_fail(-EIO, "VolumeReadError",
                          "volume %s: the NBD server closed the connection (read at offset %llu)",
                          src->shown, (unsigned long long)off);
    }
    for (size_t done = 0; done < len; done += REQ_BYTES) {
        size_t k = MIN((size_t)REQ_BYTES, len - done);
        nbd_completion_callback cb = {.callback = read_done, .user_data = &w};
        if (nbd_aio_pread(n->h, (uint8_t *)buf + done, k, off + done, cb, 0) < 0) {
            r = read_fail(n, off + done, nbd_get_errno(), nbd_get_error());
            break;
        }
        w.pending++;
    }
    /* Wait for what was sent, even after a failure: the buffer is the
     * caller's only until this returns.  A dead connection retires every
     * command it had in flight with an error.  A cancel gives up on a
     * server that does not answer; the source is then dead, so that no
     * later call drives the handle and lets a late reply land in a buffer
     * that is no longer the caller's (libnbd reads only inside its calls). */
    while (w.pending > 0) {
        int p = nbd_poll(n->h, POLL_MS);
        if (p < 0) {
            if (r >= 0)
                r = read_fail(n, off, nbd_get_errno(), nbd_get_error());
            n->dead = true;
            break;
        }
        if (p == 0 && src->cancel && *src->cancel) {
            n->dead = n->cancelled = true;
            r = bsnap_fail(-ECANCELED, "Cancelled", "snapshot interrupted");
            break;
        }
    }
    if (r >= 0 && w.err)
        r = read_fail(n, off, w.err, strerror(w.err));
    pthread_mutex_unlock(&n->lock);
    return r;
}

/* ---- where the data is ---- */

/* The first run of @r that ends after @off, or r->n. */
static size_t runs_find(const struct runs *r, uint64_t off)
{
    size_t lo = 0, hi = r->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->v[mid].offset + r->v[mid].length <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int nbd_seek(struct source *src, uint64_t off, bool data, uint64_t *ret)
{
    struct nbd_source *n = (struct nbd_source *)src;
    size_t i;

    if (!n->have_alloc)
        return -EOPNOTSUPP;
    i = runs_find(&n->data, off);
    if (data) {
        if (i == n->data.n)
            return -ENXIO;
        *ret = MAX(off, n->data.v[i].offset);
    } else {
        *ret = i == n->data.n || n->data.v[i].offset > off
                   ? off
                   : n->data.v[i].offset + n->data.v[i].length;
    }
    return 0;
}

static int nbd_check(struct source *src)
{
    struct nbd_source *n = (struct nbd_source *)src;

    if (n->dead)
        return bsnap_fail(-EIO, "VolumeReadError",
                          "volume %s: the NBD server closed the connection", src->shown);
    return 0;
}

static void nbd_close_src(struct source *src)
{
    struct nbd_source *n = (struct nbd_source *)src;

    if (n->h) {
        if (!n->dead)
            nbd_shutdown(n->h, 0);
        nbd_close(n->h);
    }
    pthread_mutex_destroy(&n->lock);
    free(n->data.v);
    free(n->dirty.v);
    free(n->context);
}

static const struct source_ops nbd_ops = {
    .pread = nbd_pread_src,
    .seek = nbd_seek,
    .check = nbd_check,
    .close = nbd_close_src,
};

/* libnbd's message @msg with the URI @uri as given replaced by the one
 * shown: libnbd quotes a URI it cannot parse whole, secrets and all.
 * Into @out of @cap bytes. */
static const char *scrub(const char *msg, const char *uri, const char *shown, char *out, size_t cap)
{
    const char *at = msg ? strstr(msg, uri) : NULL;

    if (!msg)
        return NULL;
    if (!at || !uri[0])
        return msg;
    snprintf(out, cap, "%.*s%s%s", (int)(at - msg), msg, shown, at + strlen(uri));
    return out;
}

/* The error of a failed connection: a URI libnbd cannot use is the
 * caller's parameter; anything else is the server's side. */
static int connect_fail(struct nbd_source *n, const char *uri)
{
    char buf[1024];
    int e = nbd_get_errno();
    const char *msg = scrub(nbd_get_error(), uri, n->base.shown, buf, sizeof buf);

    if (e == EINVAL || e == ENOTSUP || e == EPROTONOSUPPORT)
        return bsnap_fail(-EINVAL, "InvalidParameterValue", "volume %s: not a usable NBD URI: %s",
                          n->base.shown, msg ? msg : "invalid");
    return bsnap_fail(-EIO, "VolumeReadError", "volume %s: cannot connect to the NBD server: %s",
                      n->base.shown, msg ? msg : strerror(e ? e : EIO));
}

int nbd_source_open(const char *uri, const char *context, struct source **ret_source)
{
    struct nbd_source *n = calloc(1, sizeof *n);
    int64_t size;
    int r;

    if (!n)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    pthread_mutex_init(&n->lock, NULL);
    n->base.ops = &nbd_ops;
    n->base.read_bytes = READ_BYTES;
    n->base.key = source_uri_redact(uri);
    n->base.shown = n->base.key ? strdup(n->base.key) : NULL;
    n->context = context ? strdup(context) : NULL;
    n->h = nbd_create();
    if (!n->base.key || !n->base.shown || (context && !n->context) || !n->h) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto fail;
    }
    if (context && (!context[0] || strcmp(context, ALLOCATION) == 0)) {
        r = bsnap_fail(-EINVAL, "InvalidParameterValue",
                       "changed blocks: '%s' is not a meta context of dirty extents (for a "
                       "QEMU bitmap: nbd:qemu:dirty-bitmap:NAME)",
                       context);
        goto fail;
    }
    /* tls-psk-file=FILE in the URI names a local file: allowed (the user
     * gave it), and never recorded (source_uri_redact()). */
    nbd_set_uri_allow_local_file(n->h, true);
    if (nbd_add_meta_context(n->h, ALLOCATION) < 0 ||
        (context && nbd_add_meta_context(n->h, context) < 0) || nbd_connect_uri(n->h, uri) < 0) {
        r = connect_fail(n, uri);
        goto fail;
    }
    size = nbd_get_size(n->h);
    if (size < 0) {
        r = bsnap_fail(-EIO, "VolumeReadError", "volume %s: size: %s", n->base.shown,
                       nbd_get_error());
        goto fail;
    }
    n->base.size = (uint64_t)size;
    if (n->base.size > VOLUME_SIZE_MAX) {
        r = bsnap_fail(-EFBIG, "InvalidParameterValue",
                       "volume %s is %llu bytes: larger than the largest volume, 1 PiB",
                       n->base.shown, (unsigned long long)n->base.size);
        goto fail;
    }
    n->have_alloc = nbd_can_meta_context(n->h, ALLOCATION) > 0;
    if (context && nbd_can_meta_context(n->h, context) <= 0) {
        r = bsnap_fail(-EINVAL, "InvalidParameterValue",
                       "volume %s: the NBD server does not offer the meta context %s (qemu-nbd "
                       "exports a bitmap NAME with -B NAME as qemu:dirty-bitmap:NAME)",
                       n->base.shown, context);
        goto fail;
    }
    if (n->have_alloc || context) {
        r = fetch_status(n);
        if (r < 0)
            goto fail;
    }
    bsnap_debug("nbd", "volume %s: %llu bytes, %zu data runs%s", n->base.shown,
                (unsigned long long)n->base.size, n->data.n,
                n->have_alloc ? "" : " (no base:allocation: all data)");
    *ret_source = &n->base;
    return 0;
fail:
    source_close(&n->base);
    return r;
}

int nbd_source_changed(struct source *src, bsnap_range **ret_ranges, size_t *ret_n)
{
    struct nbd_source *n = (struct nbd_source *)src;
    bsnap_range *v;

    if (src->ops != &nbd_ops || !n->context)
        return bsnap_fail(-EINVAL, "InvalidParameterValue",
                          "volume %s: no meta context of changed blocks was asked for", src->shown);
    v = malloc((n->dirty.n ? n->dirty.n : 1) * sizeof *v);
    if (!v)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    if (n->dirty.n)
        memcpy(v, n->dirty.v, n->dirty.n * sizeof *v);
    *ret_ranges = v;
    *ret_n = n->dirty.n;
    return 0;
}
