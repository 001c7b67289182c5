/* meta.c - LMDB environment and tables; see meta.h.
 *
 * The fault guard: liblmdb trusts its pages, so a damaged page number or
 * length can make it read outside the map (SIGSEGV) or past the end of the
 * file (SIGBUS), or fail one of its assertions (abort).  Every liblmdb call
 * runs through guarded(), which sets a thread-local jump buffer.
 * liblmdb's assertion callback (the environment's own) jumps back to it.
 * The SIGSEGV/SIGBUS handler is process-wide, so it is the caller's
 * choice: installed by bsnap_set_fault_guard(true) (the CLI and the FUSE
 * view ask for it) and (re)installed when a store opens after that, it
 * jumps back when the fault happened inside such a call and passes the
 * signal on to the handler it replaced otherwise (a real bug still
 * crashes, and a sanitizer still reports it).  A library user who does not
 * ask keeps its own handlers, and a fault in a damaged file kills its
 * process as liblmdb alone would.  The environment is then marked damaged: every later call fails
 * with the same Store.Corrupt error, and the transaction is abandoned (a
 * write transaction that never commits leaves the file as it was).
 * sigsetjmp does not save the signal mask (a system call on every lookup);
 * the handler runs with SA_NODEFER instead, so the signal is not left
 * blocked after the jump.
 *
 * Writing into a damaged file would also damage it further (liblmdb copies
 * a page with a bad mp_lower/mp_upper into a dirty one, overflowing the
 * heap), so the first write transaction of each open runs the structure
 * check (metacheck.h) first, and refuses to write (that one and every later
 * one) when it finds anything; reads go on, guarded.  The check does not
 * walk the file again when it is, to the inode's ctime, the one a process
 * that checked it last left ("the verified state" below).
 * And a record a read returns is checked to lie inside the file, so that a
 * damaged size cannot send the caller past its end.
 */
#include "meta.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "error.h"
#include "fault.h"
#include "util.h"

struct meta {
    MDB_env *env; /* NULL when the file was too damaged to open */
    MDB_dbi dbi[T__COUNT];
    bool absent[T__COUNT]; /* an optional table the file lacks (read-only open) */
    bool rdonly;
    char *file; /* DIR/data.mdb */
    pthread_mutex_t lock;
    bool checked;        /* the structure check ran and passed */
    atomic_bool damaged; /* set once; then every call fails with why */
    atomic_bool nowrite; /* the structure check found damage: writes fail with why */
    bool dry_run;        /* a commit of a write transaction aborts it (meta_set_dry_run()) */
    char why[1200];      /* written under lock before damaged or nowrite is set */
    bsnap_error_ref why_refs[BSNAP_ERROR_REFS_MAX]; /* the names why refers to */
    size_t why_nrefs;
    uintptr_t map; /* where the file is mapped, or 0: not known */
    size_t psize;
    /* The verified state (see "the verified state" below); under lock. */
    char *stamp;    /* meta/checked, or NULL: a single-file environment */
    bool trusted;   /* the file as `trust` describes it is sound */
    bool stamp_due; /* write the stamp on close */
    bool by_stamp;  /* this open's check was the stamp's, not the walk */
    unsigned skips; /* walks skipped in a row, counting this open's */
    struct fstate {
        uint64_t dev, ino, size;
        int64_t ctime_s, ctime_ns;
    } trust;
};

struct meta_txn {
    meta *m;
    MDB_txn *txn;
    bool write;
    uintptr_t end; /* read transaction: the end of the pages it can see */
};

struct meta_cursor {
    meta_txn *txn;
    MDB_cursor *cur;
};

static const char *const table_names[T__COUNT] = {
    [T_INFO] = "info",
    [T_CHUNKS] = "chunks",
    [T_SNAPSHOTS] = "snapshots",
    [T_VOLUMES] = "volumes",
    [T_VOLPATHS] = "volpaths",
    [T_PINS] = "pins",
    [T_IMAGES] = "images",
    [T_SNAP_BY_VOLUME] = "snapshots-by-volume",
    [T_SNAP_BY_PARENT] = "snapshots-by-parent",
    [T_SNAP_TAGS] = "snapshot-tags",
    [T_VOL_TAGS] = "volume-tags",
    [T_IMAGE_TAGS] = "image-tags",
    [T_IMAGE_BY_SNAP] = "images-by-snapshot",
    [T_CHUNK_XLATE] = "copy-chunks",
    [T_COPIES] = "copies",
    [T_KEYS] = "keys",
    [T_TEMPLATES] = "launch-templates",
    [T_LIFECYCLE] = "lifecycle",
    [T_VOL_BY_SNAP] = "volumes-by-snapshot",
    [T_EBS] = "ebs-direct",
    [T_INSTANCES] = "instances",
};

const char *meta_table_name(meta_table t)
{
    return t < T__COUNT ? table_names[t] : "?";
}

/* The map is sparse, so a large size costs nothing until it is used.
 * BLOCKSNAP_MAP_SIZE (bytes) lets tests make it small to provoke
 * MDB_MAP_FULL. */
#define MAP_SIZE_DEFAULT (256ull << 30)

static int lmdb_fail(int rc, const char *what)
{
    switch (rc) {
    case MDB_NOTFOUND:
        return bsnap_fail(-ENOENT, "Store.Corrupt", "metadata: %s: %s", what, mdb_strerror(rc));
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
        return bsnap_fail(-ENOSPC, "Store.Full", "metadata: %s: %s", what, mdb_strerror(rc));
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        return bsnap_fail(-EIO, "Store.Corrupt", "metadata: %s: %s", what, mdb_strerror(rc));
    case MDB_READERS_FULL:
        return bsnap_fail(-EAGAIN, "Store.Busy", "metadata: %s: %s", what, mdb_strerror(rc));
    default:
        if (rc > 0)
            return bsnap_fail(-rc, rc == ENOSPC ? "Store.Full" : "Store.Error", "metadata: %s: %s",
                              what, mdb_strerror(rc));
        return bsnap_fail(-EIO, "Store.Error", "metadata: %s: %s", what, mdb_strerror(rc));
    }
}

/* ---- the fault guard ---- */

static _Thread_local sigjmp_buf *guard_jb;
static _Thread_local int guard_sig; /* the signal, or 0 for an assertion */
static _Thread_local char guard_assert[200];
/* What guarded() returns for a call that faulted: no liblmdb code (those
 * are errno values and -30799 to -30780). */
#define FAULTED (-1000000)
static struct sigaction guard_prev_segv, guard_prev_bus;
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static bool guard_on; /* under guard_lock: bsnap_set_fault_guard(true) */

static void guard_handler(int sig, siginfo_t *si, void *uc)
{
    const struct sigaction *prev = sig == SIGBUS ? &guard_prev_bus : &guard_prev_segv;
    sigjmp_buf *jb = guard_jb;

    if (jb) {
        guard_jb = NULL;
        guard_sig = sig;
        siglongjmp(*jb, 1);
    }
    /* Not ours: what was there before handles it.  For the default
     * action, put it back and raise the signal again: it kills the process
     * as it would have. */
    if (prev->sa_flags & SA_SIGINFO) {
        prev->sa_sigaction(sig, si, uc);
    } else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
        prev->sa_handler(sig);
    } else {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(sig, &dfl, NULL);
        raise(sig);
    }
}

/* liblmdb's assertions (compiled in by Debian) check some of what a
 * damaged page breaks, then abort: inside a guarded call, the same way
 * out as a fault. */
static void guard_assert_cb(MDB_env *env, const char *msg)
{
    sigjmp_buf *jb = guard_jb;

    (void)env;
    if (jb) {
        guard_jb = NULL;
        guard_sig = 0;
        snprintf(guard_assert, sizeof guard_assert, "%s", msg);
        siglongjmp(*jb, 1);
    }
}

/* Install the handler for @sig unless it is there (on every open: a
 * program, or a test harness, may have replaced it since). */
static bool guard_installed(int sig)
{
    struct sigaction cur;

    return sigaction(sig, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
           cur.sa_sigaction == guard_handler;
}

static int guard_install_one(int sig, struct sigaction *prev)
{
    struct sigaction sa;

    if (guard_installed(sig))
        return 0;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = guard_handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, prev) < 0 ? -errno : 0;
}

/* Put back the handler ours replaced, unless another one replaced ours
 * since (that one stays). */
static void guard_remove_one(int sig, const struct sigaction *prev)
{
    if (guard_installed(sig))
        sigaction(sig, prev, NULL);
}

/* At a store's opening: when the caller asked for the guard, install it
 * again if a program or a test harness replaced it since. */
static void guard_install(void)
{
    pthread_mutex_lock(&guard_lock);
    if (guard_on) {
        guard_install_one(SIGSEGV, &guard_prev_segv);
        guard_install_one(SIGBUS, &guard_prev_bus);
    }
    pthread_mutex_unlock(&guard_lock);
}

int bsnap_set_fault_guard(bool on)
{
    int r = 0;

    bsnap_error_clear();
    pthread_mutex_lock(&guard_lock);
    if (on) {
        r = guard_install_one(SIGSEGV, &guard_prev_segv);
        if (r == 0)
            r = guard_install_one(SIGBUS, &guard_prev_bus);
        if (r < 0)
            guard_remove_one(SIGSEGV, &guard_prev_segv);
        guard_on = r == 0;
    } else if (guard_on) {
        guard_remove_one(SIGBUS, &guard_prev_bus);
        guard_remove_one(SIGSEGV, &guard_prev_segv);
        guard_on = false;
    }
    pthread_mutex_unlock(&guard_lock);
    if (r < 0)
        return bsnap_fail(r, "InternalError", "fault guard: sigaction: %s", strerror(-r));
    return 0;
}

/* Mark @m damaged and return its error: with @all, every later call fails
 * (a fault inside liblmdb, a file it cannot open); without, every later
 * write (the structure check found damage: reads go on through the guard,
 * every record checked; restores read unpinned).  The first reason stays. */
static int meta_mark(meta *m, bool all, const char *fmt, ...) BSNAP_PRINTF(3, 4);

static int meta_mark(meta *m, bool all, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&m->lock);
    if (!atomic_load(&m->damaged) && (all || !atomic_load(&m->nowrite))) {
        va_start(ap, fmt);
        m->why_nrefs = error_vformat(m->why, sizeof m->why, m->why_refs, fmt, ap);
        va_end(ap);
        atomic_store(all ? &m->damaged : &m->nowrite, true);
        bsnap_debug("meta", "%s", m->why);
    }
    pthread_mutex_unlock(&m->lock);
    return bsnap_fail_text(-EIO, "Store.Corrupt", m->why, m->why_refs, m->why_nrefs);
}

/* The error of a damaged environment, or 0. */
static int meta_refuse(meta *m)
{
    if (!atomic_load(&m->damaged))
        return 0;
    return bsnap_fail_text(-EIO, "Store.Corrupt", m->why, m->why_refs, m->why_nrefs);
}

/* One liblmdb call with its arguments, run by guarded(). */
struct lcall {
    int (*fn)(struct lcall *c);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val *k, *v;
    MDB_cursor *cur;
    MDB_cursor_op op;
    unsigned flags;
    const char *name;
    MDB_txn **ret_txn;
    MDB_cursor **ret_cur;
    MDB_dbi *ret_dbi;
};

static int l_txn_begin(struct lcall *c)
{
    return mdb_txn_begin(c->env, NULL, c->flags, c->ret_txn);
}

static int l_txn_commit(struct lcall *c)
{
    return mdb_txn_commit(c->txn);
}

static int l_txn_abort(struct lcall *c)
{
    mdb_txn_abort(c->txn);
    return 0;
}

static int l_dbi_open(struct lcall *c)
{
    return mdb_dbi_open(c->txn, c->name, c->flags, c->ret_dbi);
}

static int l_get(struct lcall *c)
{
    return mdb_get(c->txn, c->dbi, c->k, c->v);
}

static int l_put(struct lcall *c)
{
    return mdb_put(c->txn, c->dbi, c->k, c->v, c->flags);
}

static int l_del(struct lcall *c)
{
    return mdb_del(c->txn, c->dbi, c->k, NULL);
}

static int l_cursor_open(struct lcall *c)
{
    return mdb_cursor_open(c->txn, c->dbi, c->ret_cur);
}

static int l_cursor_get(struct lcall *c)
{
    return mdb_cursor_get(c->cur, c->k, c->v, c->op);
}

static int l_cursor_put(struct lcall *c)
{
    return mdb_cursor_put(c->cur, c->k, c->v, MDB_CURRENT);
}

static int l_cursor_del(struct lcall *c)
{
    return mdb_cursor_del(c->cur, 0);
}

/* Run @c->fn and return what it returns; a SIGSEGV/SIGBUS inside it marks
 * @m damaged (the error recorded) and returns FAULTED instead of killing
 * the process. */
static int guarded(meta *m, const char *what, struct lcall *c)
{
    sigjmp_buf jb;
    int rc;

    if (sigsetjmp(jb, 0)) {
        guard_jb = NULL;
        if (guard_sig)
            meta_mark(m, true,
                      "metadata: %s is damaged (liblmdb faulted with %s in %s): run "
                      "@{VerifyStore}",
                      m->file, guard_sig == SIGBUS ? "SIGBUS" : "SIGSEGV", what);
        else
            meta_mark(m, true,
                      "metadata: %s is damaged (liblmdb faulted: %s, in %s): run "
                      "@{VerifyStore}",
                      m->file, guard_assert, what);
        return FAULTED;
    }
    guard_jb = &jb;
    rc = c->fn(c);
    guard_jb = NULL;
    return rc;
}

/* The error of a guarded call that returned @rc (not 0). */
static int lmdb_err(meta *m, int rc, const char *what)
{
    return rc == FAULTED ? meta_refuse(m) : lmdb_fail(rc, what);
}

/* The same, where absence is expected: -ENOENT, not recorded. */
static int call_fail(meta *m, int rc, const char *what)
{
    return rc == MDB_NOTFOUND ? -ENOENT : lmdb_err(m, rc, what);
}

/* ---- the verified state ----
 *
 * The walk reads every page in use, so its cost grows with the metadata
 * (50 ms for the 104 MiB file of 100,000 snapshots), and every writing
 * process paid it again although the file was the one the last writer
 * left.  What it guards against is damage from outside between runs, and
 * every such change of the file (a write, a truncation, a copy or a
 * restore over it, a repair) leaves the inode with a new ctime, which no
 * program can set back.  So a process that found the file sound (by the
 * walk, or by the stamp) and then changed it only through its own commits
 * records, when it closes the store, the state it leaves: meta/checked
 * (beside data.mdb) holds the data file's device, inode, size and
 * ctime, a digest of its two meta pages, the number of walks skipped in a
 * row, and a digest of the line itself.  The next process's first write
 * skips the walk when the file matches all of it, and walks otherwise (no
 * stamp, a damaged one, another file, any change since), and at least
 * once every STAMP_MAX_SKIPS + 1 writing processes (damage below the file
 * system, a bit flipped on the disk, leaves ctime as it was).  The chain is
 * kept honest at both ends:
 *  - each write transaction, once it holds the writer lock, must find the
 *    file as this process last left it, or the process writes no stamp
 *    (someone else changed it meanwhile: the next process walks);
 *  - the stamp is written only once the coarse clock (the one ctime comes
 *    from) has moved past the recorded ctime, and the file is looked at
 *    again after that, so that a change in the same clock tick cannot hide
 *    behind an equal ctime.
 * A stamp lost (a crash, no write permission) costs only the next walk;
 * the walk that finds damage removes it. */
#define STAMP_MAX_SKIPS META_STAMP_MAX_SKIPS
#define STAMP_MAGIC "blocksnap-metacheck-stamp 1"

static bool fstate_get(meta *m, struct fstate *s)
{
    mdb_filehandle_t fd;
    struct stat st;

    if (!m->env || mdb_env_get_fd(m->env, &fd) || fstat(fd, &st) < 0)
        return false;
    *s = (struct fstate){.dev = (uint64_t)st.st_dev,
                         .ino = (uint64_t)st.st_ino,
                         .size = (uint64_t)st.st_size,
                         .ctime_s = (int64_t)st.st_ctim.tv_sec,
                         .ctime_ns = (int64_t)st.st_ctim.tv_nsec};
    return true;
}

static bool fstate_eq(const struct fstate *a, const struct fstate *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->ctime_s == b->ctime_s &&
           a->ctime_ns == b->ctime_ns;
}

/* XXH3 of the two meta pages as they are on disk. */
static bool meta_pages_digest(meta *m, uint64_t *ret)
{
    mdb_filehandle_t fd;
    size_t len = 2 * m->psize;
    uint8_t *buf;
    bool ok;

    if (!m->env || !m->psize || mdb_env_get_fd(m->env, &fd) || !(buf = alloc_aligned(len)))
        return false;
    ok = full_pread(fd, buf, len, 0) == (ssize_t)len;
    if (ok)
        *ret = XXH3_64bits(buf, len);
    free(buf);
    return ok;
}

/* The stamp's one line for the file in state @s. */
static void stamp_line(const struct fstate *s, uint64_t digest, unsigned skips, char *out, size_t n)
{
    int len = snprintf(out, n,
                       STAMP_MAGIC " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRId64 ".%09" PRId64
                                   " %016" PRIx64 " %u",
                       s->dev, s->ino, s->size, s->ctime_s, s->ctime_ns, digest, skips);

    if (len > 0 && (size_t)len < n)
        snprintf(out + len, n - (size_t)len, " %016" PRIx64 "\n",
                 (uint64_t)XXH3_64bits(out, (size_t)len));
}

/* Whether the stamp vouches for the file as it is now; if so, this
 * process trusts it from here. */
static bool stamp_matches(meta *m)
{
    _cleanup_free_ char *buf = NULL;
    char want[256];
    struct fstate now = {0};
    uint64_t digest;
    unsigned skips;
    size_t n;

    if (!m->stamp || !fstate_get(m, &now) || !meta_pages_digest(m, &digest))
        return false;
    if (file_read_all(m->stamp, sizeof want - 1, &buf, &n) < 0 || n == 0)
        return false;
    if (sscanf(buf, STAMP_MAGIC " %*s %*s %*s %*s %*s %u", &skips) != 1)
        return false;
    stamp_line(&now, digest, skips, want, sizeof want);
    if (strcmp(buf, want) != 0) {
        bsnap_debug("meta", "%s: the file changed since its stamp: the structure check walks",
                    m->file);
        return false;
    }
    if (skips >= STAMP_MAX_SKIPS) {
        bsnap_debug("meta", "%s: %u walks skipped in a row: the structure check walks", m->file,
                    skips);
        return false;
    }
    pthread_mutex_lock(&m->lock);
    m->trust = now;
    m->trusted = true;
    m->by_stamp = true;
    m->skips = skips + 1;
    m->stamp_due = true;
    pthread_mutex_unlock(&m->lock);
    bsnap_debug("meta", "%s: unchanged since its stamp: the structure check does not walk",
                m->file);
    return true;
}

/* A write transaction now holds the writer lock: the file must be as
 * this process last left it. */
static void trust_on_begin(meta *m)
{
    struct fstate now = {0};

    pthread_mutex_lock(&m->lock);
    if (m->trusted && (!fstate_get(m, &now) || !fstate_eq(&now, &m->trust))) {
        m->trusted = false;
        bsnap_debug("meta", "%s: changed by someone else: no stamp", m->file);
    }
    pthread_mutex_unlock(&m->lock);
}

/* This process's own commit: the state it leaves is trusted. */
static void trust_on_commit(meta *m)
{
    pthread_mutex_lock(&m->lock);
    if (m->trusted && !fstate_get(m, &m->trust))
        m->trusted = false;
    m->stamp_due = m->trusted;
    pthread_mutex_unlock(&m->lock);
}

/* On close: record the state this process vouches for. */
static void stamp_write(meta *m)
{
    char line[256], *tmp = NULL;
    struct fstate now = {0};
    struct timespec t;
    uint64_t digest;
    struct stat st;
    mdb_filehandle_t dfd;
    bool ok = false;
    int fd, i;

    /* whole seconds: a file system whose times are coarser than the
     * clock's tick (a later change in the same second would keep ctime) */
    if (!fstate_get(m, &now) || !fstate_eq(&now, &m->trust) || now.ctime_ns == 0)
        return;
    /* a change in ctime's clock tick would leave ctime as it is */
    for (i = 0; i < 200; i++) {
        if (clock_gettime(CLOCK_REALTIME_COARSE, &t) < 0)
            return;
        if (t.tv_sec > now.ctime_s || (t.tv_sec == now.ctime_s && t.tv_nsec > now.ctime_ns))
            break;
        nanosleep(&(struct timespec){.tv_nsec = 500000}, NULL);
    }
    if (i == 200 || !fstate_get(m, &now) || !fstate_eq(&now, &m->trust) ||
        !meta_pages_digest(m, &digest) || mdb_env_get_fd(m->env, &dfd) || fstat(dfd, &st) < 0)
        return;
    stamp_line(&now, digest, m->skips, line, sizeof line);
    if (asprintf(&tmp, "%s.%ld.tmp", m->stamp, (long)getpid()) < 0)
        return;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
        size_t len = strlen(line);
        ok = fchmod(fd, st.st_mode & 0666) == 0 && write(fd, line, len) == (ssize_t)len;
        ok = close(fd) == 0 && ok && rename(tmp, m->stamp) == 0;
        if (!ok)
            unlink(tmp);
    }
    if (!ok)
        bsnap_debug("meta", "%s: no stamp written: %m", m->stamp);
    free(tmp);
}

bool meta_check_skipped(meta *m)
{
    bool r;

    pthread_mutex_lock(&m->lock);
    r = m->by_stamp;
    pthread_mutex_unlock(&m->lock);
    return r;
}

/* ---- the structure check ---- */

struct first_problem {
    metacheck_func fn;
    void *ud;
    char first[900];
};

static void keep_first(void *ud, const char *problem)
{
    struct first_problem *f = ud;

    if (!f->first[0])
        snprintf(f->first, sizeof f->first, "%s", problem);
    if (f->fn)
        f->fn(f->ud, problem);
}

int meta_check(meta *m, metacheck_func fn, void *ud, struct metacheck_stats *ret_stats)
{
    struct first_problem f = {.fn = fn, .ud = ud};
    struct metacheck_stats st = {0};
    struct fstate before = {0}, after = {0};
    bool same;
    int fd, r = -EAGAIN;

    same = fstate_get(m, &before);
    fd = open(m->file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return bsnap_fail(-errno, errno == ENOENT ? "Store.Corrupt" : "Store.Error",
                          "metadata: %s: %m", m->file);
    /* Inside a read transaction, so that no writer reuses the pages of the
     * snapshot being read; a writer that overwrote its meta page since
     * (two commits) makes it start again with a newer one. */
    for (int tries = 0; r == -EAGAIN && tries < 8; tries++) {
        struct lcall c = {.fn = l_txn_begin, .env = m->env, .flags = MDB_RDONLY};
        MDB_txn *txn = NULL;
        uint64_t txnid = 0;

        f.first[0] = '\0';
        if (m->env && !atomic_load(&m->damaged)) {
            c.ret_txn = &txn;
            if (guarded(m, "begin read transaction", &c) == 0)
                txnid = mdb_txn_id(txn);
        }
        r = metacheck_fd(fd, "meta/data.mdb", txnid, keep_first, &f, &st);
        if (txn) {
            struct lcall a = {.fn = l_txn_abort, .txn = txn};
            guarded(m, "abort", &a);
        }
    }
    close(fd);
    if (r == -EAGAIN)
        return bsnap_fail(-EAGAIN, "Store.Busy",
                          "metadata: %s: writers kept replacing the snapshot being checked",
                          m->file);
    if (r < 0)
        return r;
    /* the state walked is trusted when no commit changed the file
     * during the walk */
    same = same && fstate_get(m, &after) && fstate_eq(&before, &after);
    pthread_mutex_lock(&m->lock);
    m->checked = st.problems == 0;
    m->trusted = m->checked && same;
    m->trust = after;
    m->by_stamp = false;
    m->skips = 0;
    m->stamp_due = m->trusted;
    pthread_mutex_unlock(&m->lock);
    if (st.problems && m->stamp)
        (void)unlink(m->stamp);
    if (st.problems)
        meta_mark(m, false,
                  "metadata: %s is damaged (%" PRIu64 " problem%s, the first: %s): run "
                  "@{RepairStore}",
                  m->file, st.problems, st.problems == 1 ? "" : "s", f.first);
    *ret_stats = st;
    return 0;
}

/* Before the first write: refuse to write into a damaged file. */
static int check_before_write(meta *m)
{
    struct metacheck_stats st;
    bool checked;
    int r;

    if (atomic_load(&m->nowrite))
        return bsnap_fail_text(-EIO, "Store.Corrupt", m->why, m->why_refs, m->why_nrefs);
    pthread_mutex_lock(&m->lock);
    checked = m->checked;
    pthread_mutex_unlock(&m->lock);
    if (checked)
        return 0;
    if (stamp_matches(m)) {
        pthread_mutex_lock(&m->lock);
        m->checked = true;
        pthread_mutex_unlock(&m->lock);
        return 0;
    }
    r = meta_check(m, NULL, NULL, &st);
    if (r < 0)
        return r;
    if (atomic_load(&m->nowrite))
        return bsnap_fail_text(-EIO, "Store.Corrupt", m->why, m->why_refs, m->why_nrefs);
    return meta_refuse(m);
}

/* ---- environment ---- */

/* Where liblmdb mapped the data file.  liblmdb does not say (the map
 * address of mdb_env_info is the MDB_FIXEDMAP one), so it is looked up in
 * /proc/self/maps by the file's device and inode.  0 when not found:
 * records are then not checked to lie in the file. */
static uintptr_t map_find(MDB_env *env)
{
    mdb_filehandle_t fd;
    struct stat st;
    char line[512];
    uintptr_t found = 0;
    FILE *f;

    if (mdb_env_get_fd(env, &fd) || fstat(fd, &st) < 0 || !(f = fopen("/proc/self/maps", "re")))
        return 0;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off, ino;
        unsigned maj, min;
        if (sscanf(line, "%lx-%lx %*s %lx %x:%x %lu", &lo, &hi, &off, &maj, &min, &ino) == 6 &&
            off == 0 && ino == st.st_ino && makedev(maj, min) == st.st_dev)
            found = lo;
    }
    fclose(f);
    return found;
}

/* Open the tables in a read transaction; -ENOENT when one is missing. */
static int open_tables(meta *m, bool create)
{
    struct lcall c = {.fn = l_txn_begin, .env = m->env, .flags = create ? 0 : MDB_RDONLY};
    MDB_txn *txn = NULL;
    int rc;

    c.ret_txn = &txn;
    rc = guarded(m, "open", &c);
    if (rc)
        return lmdb_err(m, rc, "open");
    if (create)
        trust_on_begin(m);
    for (int i = 0; i < T__COUNT; i++) {
        struct lcall o = {.fn = l_dbi_open,
                          .txn = txn,
                          .name = table_names[i],
                          .flags = create ? MDB_CREATE : 0,
                          .ret_dbi = &m->dbi[i]};
        rc = guarded(m, "open", &o);
        /* A read-only open of an older store: the optional tables read
         * as empty (see meta.h). */
        if (rc == MDB_NOTFOUND && !create && m->rdonly && i >= T_FIRST_OPTIONAL) {
            m->absent[i] = true;
            rc = 0;
            continue;
        }
        if (rc)
            break;
    }
    if (rc == 0) {
        c = (struct lcall){.fn = l_txn_commit, .txn = txn};
        rc = guarded(m, "open", &c);
        if (rc == 0 && create)
            trust_on_commit(m);
        return rc ? lmdb_err(m, rc, "open") : 0;
    }
    c = (struct lcall){.fn = l_txn_abort, .txn = txn};
    guarded(m, "open", &c);
    if (rc == MDB_NOTFOUND && !create)
        return -ENOENT;
    return lmdb_err(m, rc, "open");
}

/* Whether an open that failed with @rc met a damaged file: verify can then
 * still open the store and name the damage. */
static bool damage_code(int rc)
{
    return rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH || rc == MDB_CORRUPTED ||
           rc == MDB_PAGE_NOTFOUND || rc == MDB_INCOMPATIBLE;
}

static int env_create(meta *m)
{
    int rc = mdb_env_create(&m->env);

    if (rc)
        return rc;
    mdb_env_set_maxdbs(m->env, T__COUNT + 4);
    mdb_env_set_maxreaders(m->env, 1024);
    mdb_env_set_assert(m->env, guard_assert_cb);
    return 0;
}

static void env_drop(meta *m)
{
    if (m->env)
        mdb_env_close(m->env);
    m->env = NULL;
}

/* @dir is the environment's directory, or with @nosubdir its data file. */
static int open_at(const char *dir, bool rdonly, bool nosubdir, meta **ret_meta)
{
    meta *m = calloc(1, sizeof *m);
    const char *env_size = getenv("BLOCKSNAP_MAP_SIZE");
    size_t map_size = MAP_SIZE_DEFAULT;
    int rc, r, dead;

    if (!m || (nosubdir ? !(m->file = strdup(dir)) : asprintf(&m->file, "%s/data.mdb", dir) < 0)) {
        free(m);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    if (!nosubdir && asprintf(&m->stamp, "%s/checked", dir) < 0) {
        free(m->file);
        free(m);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    pthread_mutex_init(&m->lock, NULL);
    guard_install();
    if (env_size && *env_size)
        map_size = (size_t)strtoull(env_size, NULL, 10);
    m->rdonly = rdonly;
    rc = env_create(m);
    if (rc)
        goto fail;
    /* NOTLS: read transactions move between threads (FUSE pool, pipeline);
     * NORDAHEAD: random index lookups gain nothing from readahead.  Where
     * the address space is small (valgrind, 32-bit), halve the map until
     * it fits. */
    for (;;) {
        rc = mdb_env_set_mapsize(m->env, map_size);
        if (rc)
            goto fail;
        rc = mdb_env_open(m->env, dir,
                          MDB_NOTLS | MDB_NORDAHEAD | (rdonly ? MDB_RDONLY : 0) |
                              (nosubdir ? MDB_NOSUBDIR : 0),
                          0600); /* private; a shared store widens it (store.c) */
        if ((rc != EINVAL && rc != ENOMEM) || map_size <= (1ull << 30))
            break;
        map_size /= 2;
        env_drop(m);
        rc = env_create(m);
        if (rc)
            goto fail;
    }
    if (damage_code(rc)) {
        env_drop(m);
        r = meta_mark(m, true, "metadata: %s is damaged (%s): run @{VerifyStore}", m->file,
                      mdb_strerror(rc));
        goto damaged;
    }
    if (rc)
        goto fail;
    mdb_reader_check(m->env, &dead);
    if (dead)
        bsnap_debug("meta", "cleared %d stale reader %s", dead,
                    plural((uint64_t)dead, "slot", "slots"));
    /* A data file may end before its last page: the pages past its end
     * are free ones liblmdb never wrote (a transaction's loose pages).  One
     * cut short by damage is found by the structure check (a page in use
     * past the end), and a read past the end (SIGBUS) by the guard. */
    {
        MDB_envinfo ei;
        MDB_stat es;
        if (mdb_env_info(m->env, &ei) == 0 && mdb_env_stat(m->env, &es) == 0) {
            m->map = map_find(m->env);
            m->psize = es.ms_psize;
        }
    }
    /* Creating a table writes: only after the structure check. */
    r = open_tables(m, false);
    if (r == -ENOENT && !rdonly) {
        r = check_before_write(m);
        if (r == 0)
            r = open_tables(m, true);
    }
    if (r == -ENOENT)
        r = bsnap_fail(-ENOENT, "Store.Corrupt", "metadata: table missing in %s", dir);
    if (r < 0 && (atomic_load(&m->damaged) || (r == -EIO && bsnap_last_error()->code &&
                                               !strcmp(bsnap_last_error()->code, "Store.Corrupt"))))
        goto damaged;
    if (r < 0) {
        meta_close(m);
        return r;
    }
    *ret_meta = m;
    return 0;

damaged:
    /* Opened all the same, so that verify can name the damage; every
     * transaction fails with the reason. */
    if (!atomic_load(&m->damaged))
        meta_mark(m, true, "%s: run @{VerifyStore}", bsnap_last_error()->message);
    *ret_meta = m;
    return 0;

fail:
    r = lmdb_fail(rc, "open");
    meta_close(m);
    return r;
}

int meta_open(const char *dir, bool rdonly, meta **ret_meta)
{
    return open_at(dir, rdonly, false, ret_meta);
}

int meta_create_file(const char *file, meta **ret_meta)
{
    return open_at(file, false, true, ret_meta);
}

void meta_close(meta *m)
{
    if (!m)
        return;
    /* a dry run writes nothing, the check's stamp neither */
    if (m->env && m->stamp && !m->rdonly && !m->dry_run && m->trusted && m->stamp_due &&
        !atomic_load(&m->damaged) && !atomic_load(&m->nowrite))
        stamp_write(m);
    env_drop(m);
    pthread_mutex_destroy(&m->lock);
    free(m->stamp);
    free(m->file);
    free(m);
}

bool meta_is_damaged(meta *m)
{
    return m && (atomic_load(&m->damaged) || atomic_load(&m->nowrite));
}

uint64_t meta_file_bytes(meta *m)
{
    struct stat st;

    if (stat(m->file, &st) < 0)
        return 0;
    return (uint64_t)st.st_blocks * 512;
}

static bool meta_disk_full(meta *m)
{
    const char *path = NULL;
    struct statvfs sv;

    if (!m->env || mdb_env_get_path(m->env, &path) || !path || statvfs(path, &sv) < 0)
        return false;
    return sv.f_bavail == 0;
}

int meta_txn_begin(meta *m, bool write, meta_txn **ret_txn)
{
    struct lcall c = {.fn = l_txn_begin, .env = m->env, .flags = write ? 0 : MDB_RDONLY};
    meta_txn *t;
    int rc;

    if (write && m->rdonly)
        return bsnap_fail(-EROFS, "Store.ReadOnly", "store is open read-only");
    if ((rc = meta_refuse(m)) < 0 || (write && (rc = check_before_write(m)) < 0))
        return rc;
    t = calloc(1, sizeof *t);
    if (!t)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    c.ret_txn = &t->txn;
    rc = guarded(m, "begin transaction", &c);
    if (rc) {
        free(t);
        return lmdb_err(m, rc, write ? "begin write transaction" : "begin read transaction");
    }
    t->m = m;
    t->write = write;
    if (write)
        trust_on_begin(m);
    if (!write && m->map && m->psize) {
        MDB_envinfo ei;
        mdb_filehandle_t fd;
        struct stat st;
        if (mdb_env_info(m->env, &ei) == 0 && mdb_env_get_fd(m->env, &fd) == 0 &&
            fstat(fd, &st) == 0) {
            uint64_t pages = (uint64_t)ei.me_last_pgno + 1, bytes = (uint64_t)st.st_size;
            t->end = m->map + (uintptr_t)(pages * m->psize < bytes ? pages * m->psize : bytes);
        }
    }
    *ret_txn = t;
    return 0;
}

/* A record of a read transaction lies in the pages it can see: a damaged
 * size or overflow page number would send the caller past the end of the
 * file (SIGBUS outside any liblmdb call).  A write transaction's records
 * may be in its own dirty pages (the heap); it only starts on a checked
 * file. */
static int in_map(meta_txn *txn, const MDB_val *v, const char *what)
{
    uintptr_t p = (uintptr_t)v->mv_data;

    if (!txn->end || (p >= txn->m->map && p <= txn->end && v->mv_size <= txn->end - p))
        return 0;
    return meta_mark(txn->m, true,
                     "metadata: %s is damaged (a %s of %zu bytes lies outside the file): run "
                     "@{VerifyStore}",
                     txn->m->file, what, v->mv_size);
}

int meta_txn_commit(meta_txn *txn)
{
    struct lcall c = {.fn = l_txn_commit, .txn = txn->txn};
    meta *m = txn->m;
    int rc;

    if (txn->write && m->dry_run) {
        meta_txn_abort(txn);
        return error_dry_run();
    }
    if (txn->write && fault_hit("meta-commit")) {
        meta_txn_abort(txn);
        return bsnap_fail(-EIO, "Store.Error", "metadata: commit: injected failure");
    }
    if ((rc = meta_refuse(m)) < 0) {
        meta_txn_abort(txn); /* abandoned: the file stays as it was */
        return rc;
    }
    rc = guarded(m, "commit", &c);
    if (rc == FAULTED) {
        /* faulted inside the commit: liblmdb's state of this transaction
         * is unknown, so it is left as it is (the writer lock is released
         * when the process exits) */
        free(txn);
        return meta_refuse(m);
    }
    if (rc == EIO && meta_disk_full(m))
        rc = ENOSPC; /* LMDB reports a failed write on a full disk as EIO */
    if (rc == 0 && txn->write)
        trust_on_commit(m);
    free(txn);
    if (rc)
        return lmdb_fail(rc, "commit");
    return 0;
}

void meta_set_dry_run(meta *m, bool on)
{
    m->dry_run = on;
}

void meta_txn_abort(meta_txn *txn)
{
    struct lcall c = {.fn = l_txn_abort};

    if (!txn)
        return;
    c.txn = txn->txn;
    guarded(txn->m, "abort", &c);
    free(txn);
}

int meta_get(meta_txn *txn, meta_table t, const void *key, size_t klen, const void **ret_val,
             size_t *ret_vlen)
{
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key}, v;
    struct lcall c = {.fn = l_get, .txn = txn->txn, .dbi = txn->m->dbi[t], .k = &k, .v = &v};
    int rc = meta_refuse(txn->m);

    if (rc < 0)
        return rc;
    if (txn->m->absent[t])
        return -ENOENT;
    rc = guarded(txn->m, "get", &c);
    if (rc)
        return call_fail(txn->m, rc, "get");
    if ((rc = in_map(txn, &v, "record")) < 0)
        return rc;
    *ret_val = v.mv_data;
    *ret_vlen = v.mv_size;
    return 0;
}

int meta_put(meta_txn *txn, meta_table t, const void *key, size_t klen, const void *val,
             size_t vlen)
{
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
    MDB_val v = {.mv_size = vlen, .mv_data = (void *)val};
    struct lcall c = {.fn = l_put, .txn = txn->txn, .dbi = txn->m->dbi[t], .k = &k, .v = &v};
    int rc = meta_refuse(txn->m);

    if (rc < 0)
        return rc;
    rc = guarded(txn->m, "put", &c);
    if (rc)
        return lmdb_err(txn->m, rc, "put");
    return 0;
}

int meta_del(meta_txn *txn, meta_table t, const void *key, size_t klen)
{
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
    struct lcall c = {.fn = l_del, .txn = txn->txn, .dbi = txn->m->dbi[t], .k = &k};
    int rc = meta_refuse(txn->m);

    if (rc < 0)
        return rc;
    rc = guarded(txn->m, "delete", &c);
    if (rc)
        return call_fail(txn->m, rc, "delete");
    return 0;
}

int meta_cursor_open(meta_txn *txn, meta_table t, meta_cursor **ret_cur)
{
    meta_cursor *cur = calloc(1, sizeof *cur);
    struct lcall c = {.fn = l_cursor_open, .txn = txn->txn, .dbi = txn->m->dbi[t]};
    int rc;

    if (!cur)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    rc = meta_refuse(txn->m);
    if (rc < 0) {
        free(cur);
        return rc;
    }
    cur->txn = txn;
    if (txn->m->absent[t]) { /* reads as empty: cur->cur stays NULL */
        *ret_cur = cur;
        return 0;
    }
    c.ret_cur = &cur->cur;
    rc = guarded(txn->m, "open cursor", &c);
    if (rc) {
        free(cur);
        return lmdb_err(txn->m, rc, "open cursor");
    }
    cur->txn = txn;
    *ret_cur = cur;
    return 0;
}

int meta_cursor_get(meta_cursor *cur, meta_cursor_op op, const void **key, size_t *klen,
                    const void **val, size_t *vlen)
{
    MDB_val k = {0}, v = {0};
    struct lcall c = {.fn = l_cursor_get, .cur = cur->cur, .k = &k, .v = &v};
    int rc = meta_refuse(cur->txn->m);

    if (rc < 0)
        return rc;
    if (!cur->cur)
        return -ENOENT; /* an absent table */
    c.op = op == CUR_FIRST  ? MDB_FIRST
           : op == CUR_NEXT ? MDB_NEXT
           : op == CUR_SET  ? MDB_SET_KEY
                            : MDB_SET_RANGE;
    if (op == CUR_SET_RANGE || op == CUR_SET) {
        k.mv_data = (void *)*key;
        k.mv_size = *klen;
    }
    rc = guarded(cur->txn->m, "cursor", &c);
    if (rc)
        return call_fail(cur->txn->m, rc, "cursor");
    if ((rc = in_map(cur->txn, &k, "key")) < 0 || (rc = in_map(cur->txn, &v, "record")) < 0)
        return rc;
    *key = k.mv_data;
    *klen = k.mv_size;
    if (val)
        *val = v.mv_data;
    if (vlen)
        *vlen = v.mv_size;
    return 0;
}

int meta_cursor_put(meta_cursor *cur, const void *key, size_t klen, const void *val, size_t vlen)
{
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
    MDB_val v = {.mv_size = vlen, .mv_data = (void *)val};
    struct lcall c = {.fn = l_cursor_put, .cur = cur->cur, .k = &k, .v = &v};
    int rc = meta_refuse(cur->txn->m);

    if (rc < 0)
        return rc;
    rc = guarded(cur->txn->m, "cursor put", &c);
    if (rc)
        return lmdb_err(cur->txn->m, rc, "cursor put");
    return 0;
}

int meta_cursor_del(meta_cursor *cur)
{
    struct lcall c = {.fn = l_cursor_del, .cur = cur->cur};
    int rc = meta_refuse(cur->txn->m);

    if (rc < 0)
        return rc;
    rc = guarded(cur->txn->m, "cursor delete", &c);
    if (rc)
        return lmdb_err(cur->txn->m, rc, "cursor delete");
    return 0;
}

void meta_cursor_close(meta_cursor *cur)
{
    if (!cur)
        return;
    if (cur->cur)
        mdb_cursor_close(cur->cur);
    free(cur);
}
