/* blocksnap.h - the whole public face of libblocksnap.
 *
 * libblocksnap keeps incremental, deduplicated, copy-on-write snapshots of
 * raw disk images in a "store": a directory of append-only pack files and an
 * LMDB metadata environment (see docs/format.md).  Front ends (the CLI, the
 * FUSE view) use only this header.
 *
 * Caveats
 * =======
 *  - Open a store after fork() or daemonizing, never before: an LMDB
 *    environment must not cross fork().
 *  - Never open the same store twice in one process; share one handle
 *    between threads instead.  Every function below that takes a store
 *    handle may be called from any thread unless it says otherwise.
 *  - Each writing process appends to its own pack file; packs are never
 *    shared between concurrent writers.
 *  - gc takes the store's exclusive lock and so waits for running snapshot
 *    writers (they hold it shared); keep gc rare.
 *  - The library never prints and never exits.  Failures return a negative
 *    errno and leave details in bsnap_last_error(); messages go to the log
 *    callback set with bsnap_set_log_func().
 *
 * Conventions
 * ===========
 *  - Fallible calls return 0 (or a count) on success and -errno on failure.
 *  - Out-parameters come last, are named ret_*, and are written only on
 *    success.
 *  - Strings and arrays returned through ret_* pointers are owned by the
 *    caller and freed with free() unless the function says otherwise.
 *  - Resource ids are "snap-", "vol-" (and later "ami-") followed by 17
 *    lower-case hex digits; 8-digit legacy ids are accepted on input.
 */
#ifndef BLOCKSNAP_H
#define BLOCKSNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The engine's EC2 documents (every call that answers with one) are jansson
 * objects: EC2's shapes are nested and open-ended (tags, block device
 * mappings, attributes), every front end walks them generically (JSON,
 * text and table for the CLI, EC2 query XML for an API server), and the
 * engine builds them with jansson anyway.  C structs would have to mirror
 * every shape and grow with it; a JSON text would be parsed again by every
 * caller. */
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define BSNAP_API __attribute__((visibility("default")))
#define BSNAP_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#define BSNAP_WUR __attribute__((warn_unused_result))
#define BSNAP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define BSNAP_API
#define BSNAP_NONNULL(...)
#define BSNAP_WUR
#define BSNAP_PRINTF(f, a)
#endif

/* BSNAP_VERSION_MAJOR, _MINOR, _PATCH and BSNAP_VERSION_STRING, as the
 * library was built (generated from the build's one statement of it). */
#include "blocksnap-version.h"

/** Return the library version, "MAJOR.MINOR.PATCH", as compiled.
 * The string is static.  Any thread. */
BSNAP_API const char *bsnap_version(void);

/* ------------------------------------------------------------------------
 * Errors and logging
 * ------------------------------------------------------------------------ */

/** Where a message names an EC2 parameter ("NoBootCheck",
 * "BlockDeviceMappings[0].Ebs.SnapshotId") or an operation of the API
 * ("RepairStore", "CreateImage"): the bytes [offset, offset + length) of
 * the message.  The engine speaks no front end's language: it names
 * parameters and operations as EC2 (or, for its own, this header's API)
 * does, and each front end says them in its own words (the CLI's
 * "--no-boot-check", "blocksnap verify --repair"; the API server keeps
 * them), rewriting these spans only, never the rest of the message, which
 * may quote anything a user typed. */
typedef struct bsnap_error_ref {
    uint32_t offset;
    uint32_t length;
} bsnap_error_ref;

/** Most names one message refers to. */
#define BSNAP_ERROR_REFS_MAX 4

/** Details of the most recent failure in the calling thread. */
typedef struct bsnap_error {
    int err;             /**< negative errno the failing call returned */
    const char *code;    /**< EC2-style code, e.g. "InvalidSnapshot.NotFound" */
    const char *message; /**< human message naming the object, lower case */
    /** the parameter the failure is about.  Every failure about an input
     * of a public call names it, as EC2 names it for that operation
     * ("SnapshotId" for DeleteSnapshot, "SnapshotIds[1]", "Filters[0].Name",
     * "MaxResults", "NextToken" for DescribeSnapshots, "Resources[2]",
     * "Tags[0].Key" for CreateTags, "FirstSnapshotId" for a diff,
     * "BlockDeviceMappings[1].Ebs.SnapshotId"), or, where EC2 has no such
     * parameter, as the call's options struct or argument does, in the same
     * form ("VolumePath", "ParentId", "Changed[3]", "ChangedBase" of
     * bsnap_snapshot_options; "Path" of bsnap_volume_create(); "ChunkSize"
     * of bsnap_store_config).
     *
     * Convention: the JSON form of the name (members joined with '.', list
     * elements as [N] counted from 0), as boto3 and the AWS CLI's JSON
     * input spell them.  A front end that speaks EC2's query protocol turns
     * "SnapshotIds[1]" into "SnapshotId.2" itself.  The message is the same
     * whatever this says; a failure that is not about an input (a damaged
     * store, a full disk, out of memory) leaves it at the first name the
     * message refers to, or "". */
    const char *parameter;
    size_t nrefs; /**< names the message refers to, in order */
    bsnap_error_ref refs[BSNAP_ERROR_REFS_MAX];
    /** The EBS direct API's Reason of the failure ("INVALID_BLOCK"), or "" */
    const char *reason;
} bsnap_error;

/** Return the calling thread's last error record.
 *
 * The record is filled by the engine call that failed and stays valid until
 * the next engine call in the same thread.  Never NULL; if no call failed
 * yet, err is 0 and code/message are "".  Any thread (thread-local). */
BSNAP_API const bsnap_error *bsnap_last_error(void);

/** Record a failure in the calling thread's error record, as an engine
 * call does, and return @err (a negative errno): for a function the engine
 * calls back (bsnap_volume_snapshot_fn) to say why it failed.  @message is
 * text (no parameter markers).  Any thread. */
BSNAP_API int bsnap_fail_external(int err, const char *code, const char *message)
    BSNAP_NONNULL(2, 3);

/** Log levels, as syslog's. */
enum {
    BSNAP_LOG_ERR = 3,
    BSNAP_LOG_WARNING = 4,
    BSNAP_LOG_NOTICE = 5,
    BSNAP_LOG_INFO = 6,
    BSNAP_LOG_DEBUG = 7,
};

/** Log callback: @level one of BSNAP_LOG_*, @category a debug category such
 * as "pack" or "snapshot" (never NULL), @msg a line without a newline.
 * It may be called from any engine thread, concurrently. */
typedef void (*bsnap_log_func)(void *ud, int level, const char *category, const char *msg);

/** During a call of the log callback, in its thread: where its @msg names
 * parameters or operations (as bsnap_error.refs; *@ret_n of them), so that
 * a front end says them in its own words.  NULL and 0 outside a callback. */
BSNAP_API const bsnap_error_ref *bsnap_log_refs(size_t *ret_n) BSNAP_NONNULL(1);

/** Route engine log messages to @fn (NULL: drop them).
 *
 * Debug messages are produced only for the categories named in the
 * environment variable BLOCKSNAP_DEBUG (comma separated, or "all").
 * Call before any other engine call; not thread-safe against logging. */
BSNAP_API void bsnap_set_log_func(bsnap_log_func fn, void *ud);

/** Survive a damaged metadata file (on) or leave the process's signals
 * alone (off, the default).
 *
 * liblmdb trusts the pages of meta/data.mdb: a damaged one can make it read
 * outside its map, and the process gets SIGSEGV or SIGBUS inside a library
 * call.  With the guard on, the library installs process-wide SIGSEGV and
 * SIGBUS handlers (again at each bsnap_store_open(), if something replaced
 * them since) that turn such a fault inside liblmdb into a failure of the
 * call (-EIO, "Store.Corrupt", naming the file) and of every later call
 * on that store, and pass any other fault on to the handler they replaced,
 * so that a real crash is still one.  Turning it off puts back the
 * handlers it replaced, unless the program replaced them since.  With the
 * guard off, a fault in a damaged file kills the process, as it would in
 * any liblmdb program; the structure check that keeps writes out of a
 * damaged file and `verify` work either way.  The blocksnap CLI and the
 * FUSE view turn it on.
 *
 * @on  in: true to install the handlers, false to remove them.
 * Errors: -EINVAL (InternalError: sigaction refused).
 * Call it before starting threads that handle those signals; the setting
 * is the process's, not a store's. */
BSNAP_API BSNAP_WUR int bsnap_set_fault_guard(bool on);

/* ------------------------------------------------------------------------
 * Progress and cancellation, shared by long operations
 * ------------------------------------------------------------------------ */

/** Progress callback: @done of @total units (bytes) handled so far.  Called
 * from the thread that started the operation, at most about 10 times per
 * second, and once at the end with done == total. */
typedef void (*bsnap_progress_func)(void *ud, uint64_t done, uint64_t total);

/** Options every long operation takes.  Zero-initialise for defaults. */
typedef struct bsnap_run_options {
    bsnap_progress_func progress; /**< in, optional */
    void *progress_ud;            /**< in, passed to progress */
    /** in, optional: when *cancel becomes non-zero (e.g. from a SIGINT
     * handler) the operation stops, undoes what it did and fails with
     * -ECANCELED.  Read without locks, so use a volatile sig_atomic_t-sized
     * int. */
    const volatile int *cancel;
} bsnap_run_options;

/* ------------------------------------------------------------------------
 * Stores
 * ------------------------------------------------------------------------ */

typedef struct bsnap_store bsnap_store;

#define BSNAP_CHUNK_SIZE_DEFAULT (64u * 1024u)
#define BSNAP_CHUNK_SIZE_MIN (4u * 1024u)
#define BSNAP_CHUNK_SIZE_MAX (4u * 1024u * 1024u)

/** Flags for bsnap_store_open(). */
enum {
    BSNAP_STORE_CREATE = 1u << 0, /**< create the store if the directory has none */
    BSNAP_STORE_RDONLY = 1u << 1, /**< open for reading only (verify, mount) */
};

/** Settings of a store being created.  Zero-initialise for defaults. */
typedef struct bsnap_store_config {
    uint32_t chunk_size; /**< power of two, 4 KiB..4 MiB; 0: 64 KiB */
    const char *region;  /**< region name, kept in the config; NULL: "local" */
    const char *account; /**< the store's account id (12 digits), kept in the
                              config; NULL: 123456789012 */
} bsnap_store_config;

/** Resolve which store directory to use.
 *
 * @dir    in, optional: an explicit directory (--store) wins.
 * @region in, optional: a region name (--region) names the store
 *         $XDG_DATA_HOME/blocksnap/REGION (~/.local/share/... if unset).
 * Otherwise $BLOCKSNAP_STORE, otherwise the region "local".
 * @ret_path out: malloc'd path.
 * Errors: -EINVAL (InvalidParameterValue) for a region name that is not
 * [a-z0-9-]{1,64}; -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_store_resolve(const char *dir, const char *region, char **ret_path)
    BSNAP_NONNULL(3);

/** Open (and with BSNAP_STORE_CREATE, create) the store in directory @path.
 *
 * What the engine creates in a store is private to its owner (directories
 * 0700, files 0600, whatever the umask), or, when the store directory has
 * the setgid bit, readable by its group (2750, 0640); a store with other
 * modes is given these when its owner opens it (docs/format.md, "Modes").
 * A group member whose read-write open fails with -EACCES may open it with
 * BSNAP_STORE_RDONLY.
 *
 * @flags  in: BSNAP_STORE_* bits.
 * @config in, optional: used only when the store is created.
 * @ret_store out: the handle; close with bsnap_store_close().
 * Errors: -ENOENT (Store.NotFound) when there is no store and CREATE is not
 * set; -ENOTDIR / -EEXIST (Store.Invalid) when @path is not a store
 * directory (an existing non-empty directory without a config is never
 * turned into a store); -EPROTONOSUPPORT (Store.UnsupportedVersion) for a
 * store of another format version; -EINVAL (InvalidParameterValue) for a bad
 * chunk size (parameter ChunkSize), region name (Region) or account id
 * (OwnerId); -EIO / -ENOSPC / -EACCES from the file system or LMDB. */
BSNAP_API BSNAP_WUR int bsnap_store_open(const char *path, unsigned flags,
                                         const bsnap_store_config *config, bsnap_store **ret_store)
    BSNAP_NONNULL(1, 4);

/** Close a store handle.  All readers of it must be closed first.  NULL is a
 * no-op.  Not to be called while other threads use the handle. */
BSNAP_API void bsnap_store_close(bsnap_store *store);

/** Act as account @account (12 digits) from now on: what this handle
 * creates is owned by it, it acts on only the snapshots, volumes and
 * images it owns, and sees those and the snapshots and images shared with
 * it (bsnap_snapshot_attribute_modify(), bsnap_image_permission_modify());
 * another account's id is
 * *.NotFound.  Records written before owners were kept belong to the
 * store's account, which is also the calling account until this is
 * called.  Accounts separate resources, they do not protect them: a
 * process that can read the store's files is trusted like its owner.  Call it before the handle is
 * shared between threads.  Errors: -EINVAL (InvalidParameterValue, OwnerId)
 * for an id that is not 12 digits. */
BSNAP_API BSNAP_WUR int bsnap_store_set_account(bsnap_store *store, const char *account)
    BSNAP_NONNULL(1, 2);

/** A second handle on the open store @store that acts as account
 * @account (12 digits): what bsnap_store_set_account() does, without
 * opening the store twice (which the Caveats forbid).  The view shares
 * everything of @store (metadata environment, packs, caches, opened keys)
 * and has its own calling account, dry-run flag and clock; a server of
 * several accounts opens one store and a view per request.  @store must
 * outlive the view; close the view with bsnap_store_close(), which frees
 * only the view.  Views of a view are views of its store.  A dry run
 * (bsnap_store_set_dry_run()) of a view ends the write transactions of
 * every handle of the store while it is on: the caller keeps other
 * requests out meanwhile.  Any thread.
 * @ret_view out.  Errors: -EINVAL (InvalidParameterValue, OwnerId) for an
 * id that is not 12 digits; -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_store_view(bsnap_store *store, const char *account,
                                         bsnap_store **ret_view) BSNAP_NONNULL(1, 2, 3);

/** Make @store's handle answer EC2's DryRun (@on true) or act (false).
 * In a dry run every operation makes all the checks it makes for real
 * (its arguments, that what it names exists and the caller may act on
 * it, the key rules) and stops at its first write, which it does not
 * make: the call fails with -ENOEXEC (DryRunOperation, "Request would
 * have succeeded, but DryRun flag is set.") when it would have gone on,
 * or with the error of the first check that fails, as it would for real
 * (UnauthorizedOperation for another account's resource).  Nothing in the
 * store changes, nor a file outside it (a restore's target, a key file).
 * The first write is a metadata commit, a new pack or a file: checks an
 * operation makes only after it (a snapshot's reading of its volume, a
 * copy's reading of its chunks) are not made.  A call that writes
 * nothing (a describe) works as always.  Call it before the handle is
 * shared between threads. */
BSNAP_API void bsnap_store_set_dry_run(bsnap_store *store, bool on) BSNAP_NONNULL(1);

/** Set the clock the Recycle Bin reads through @store to @now_ms (Unix
 * milliseconds), or back to the real clock with 0: when a deleted snapshot
 * enters the bin, and whether its retention is over (list, restore, and
 * the expiry gc and each delete run).  The fake clock of tests.  Call it
 * before the handle is shared between threads. */
BSNAP_API void bsnap_store_set_clock(bsnap_store *store, int64_t now_ms) BSNAP_NONNULL(1);

/** The calling account of @store (bsnap_store_set_account(), else the
 * store's account): borrowed, valid until the handle is closed. */
BSNAP_API const char *bsnap_store_account(const bsnap_store *store) BSNAP_NONNULL(1);

/** Facts and figures about a store. */
typedef struct bsnap_store_info {
    char uuid[37];          /**< store uuid, text form */
    char region[65];        /**< region name */
    char account[13];       /**< owner account id of everything in the store */
    uint32_t chunk_size;    /**< bytes */
    uint32_t format;        /**< on-disk format version */
    uint64_t pack_count;    /**< pack files */
    uint64_t pack_bytes;    /**< bytes in pack files (what data costs on disk) */
    uint64_t chunk_count;   /**< distinct chunks and pages indexed */
    uint64_t stored_bytes;  /**< payload bytes of indexed chunks (compressed) */
    uint64_t logical_bytes; /**< uncompressed bytes of indexed chunks */
    uint64_t meta_bytes;    /**< size of the metadata environment on disk */
    uint64_t snapshot_count;
    uint64_t volume_count;
    /** The non-zero data of every completed snapshot, each counted in full
     * as if nothing were shared: the sum over completed snapshots of their
     * non-zero chunks times the chunk size (at most the volume size).  Set
     * against @logical_bytes it is the dedup ratio. */
    uint64_t data_bytes;
} bsnap_store_info;

/** Fill @ret_info for @store.  Costs a scan of the chunk index.
 * Errors: -EIO. */
BSNAP_API BSNAP_WUR int bsnap_store_get_info(bsnap_store *store, bsnap_store_info *ret_info)
    BSNAP_NONNULL(1, 2);

/** What one snapshot holds, and what deleting it would free
 * (bsnap_snapshot_get_usage()).  "Chunks" are data chunks and block-map
 * pages alike; bytes are the chunks' uncompressed sizes, "stored" ones
 * their compressed payloads in packs. */
typedef struct bsnap_snapshot_usage {
    char snapshot_id[32];
    char volume_id[32];
    uint64_t volume_bytes;            /**< the volume's size */
    uint64_t data_bytes;              /**< its non-zero chunks times the chunk size */
    uint64_t referenced_chunks;       /**< distinct chunks and pages its tree names */
    uint64_t referenced_bytes;        /**< ... their uncompressed bytes */
    uint64_t referenced_stored_bytes; /**< ... their stored bytes */
    uint64_t exclusive_chunks;        /**< chunks and pages a delete would free */
    uint64_t exclusive_bytes;         /**< ... their uncompressed bytes */
    uint64_t exclusive_stored_bytes;  /**< ... their stored bytes: what gc gives back */
} bsnap_snapshot_usage;

/** Fill @ret_usage for the completed snapshot @snapshot_id (the caller's or
 * shared with it).  The exclusive figures are what deleting it would free
 * now, with the other snapshots, images' pins and instances as they are:
 * the chunks and pages that no other snapshot reaches, found by following
 * delete's cascade without changing anything.  A chunk whose refcount is 1
 * but whose page another snapshot shares is not among them.  Costs a read
 * of every page of the snapshot's block map and an index lookup per
 * distinct chunk, in one read transaction (writers go on).
 * Errors: -EINVAL (InvalidSnapshotID.Malformed), -ENOENT
 * (InvalidSnapshot.NotFound), -EBUSY (IncorrectState: not completed),
 * -EIO (Store.Corrupt and read errors), -ENOMEM.  Any thread. */
BSNAP_API BSNAP_WUR int bsnap_snapshot_get_usage(bsnap_store *store, const char *snapshot_id,
                                                 bsnap_snapshot_usage *ret_usage)
    BSNAP_NONNULL(1, 2, 3);

/** What one volume's snapshots hold together, and what deleting them all
 * would free (bsnap_volume_get_usage()): the per-volume figures of
 * bsnap_snapshot_usage, over its completed snapshots. */
typedef struct bsnap_volume_usage {
    char volume_id[32];
    uint64_t snapshots;         /**< its completed snapshots */
    uint64_t logical_bytes;     /**< the sum over them of each one's non-zero data (DataBytes) */
    uint64_t referenced_chunks; /**< distinct chunks and pages their trees name, each once */
    uint64_t referenced_bytes;  /**< ... their uncompressed bytes */
    uint64_t stored_bytes;      /**< ... their stored bytes: what the volume takes in packs */
    uint64_t exclusive_chunks;  /**< chunks and pages deleting them all would free */
    uint64_t exclusive_bytes;   /**< ... their uncompressed bytes */
    uint64_t exclusive_stored_bytes; /**< ... their stored bytes: what gc then gives back */
} bsnap_volume_usage;

/** Fill @ret_usage for the caller's volume @volume_id: its completed
 * snapshots' logical bytes (the sum of their non-zero data), the bytes
 * their chunks and pages take stored (each distinct one once, however many
 * of its snapshots name it), and what deleting all of them would free now:
 * the chunks and pages no snapshot of another volume reaches, found by
 * following delete's cascade from every one of its snapshots without
 * changing anything (a snapshot an image uses cannot be deleted before
 * the image is deregistered: the figure is what would free then).  Costs
 * a read of every page of each snapshot's block map and a decode of every
 * snapshot record, in one read transaction (writers go on).
 * Errors: -EINVAL (InvalidVolumeID.Malformed), -ENOENT
 * (InvalidVolume.NotFound, another account's too), -EIO (Store.Corrupt
 * and read errors), -ENOMEM.  Any thread. */
BSNAP_API BSNAP_WUR int bsnap_volume_get_usage(bsnap_store *store, const char *volume_id,
                                               bsnap_volume_usage *ret_usage)
    BSNAP_NONNULL(1, 2, 3);

/* ------------------------------------------------------------------------
 * Small value types shared by several calls
 * ------------------------------------------------------------------------ */

/** Longest id string, with its NUL ("snap-" + 17 hex + NUL fits). */
#define BSNAP_ID_MAX 32

/** A yes/no option that may also be left out.  Zero is "not given", as in
 * every options struct of this header: a zero-initialised struct asks for
 * every default. */
typedef enum bsnap_tristate {
    BSNAP_UNSET = 0, /**< not given: the default, or what a manifest says */
    BSNAP_FALSE = 1, /**< explicitly no */
    BSNAP_TRUE = 2,  /**< explicitly yes */
} bsnap_tristate;

/** A tag.  @value may be NULL in bsnap_tags_delete() to match any value. */
typedef struct bsnap_tag {
    const char *key;
    const char *value;
} bsnap_tag;

/** An EC2 Describe* filter: @name with @nvalues values (OR-ed); several
 * filters are AND-ed.  Values may use the wildcards * and ?. */
typedef struct bsnap_filter {
    const char *name;
    const char *const *values;
    size_t nvalues;
} bsnap_filter;

/** A byte range of a volume. */
typedef struct bsnap_range {
    uint64_t offset;
    uint64_t length;
} bsnap_range;

/** The longest description of a snapshot or image, in characters. */
#define BSNAP_DESCRIPTION_MAX 255

/** Check text a user gave for a field EC2 limits in characters (a
 * description, a tag key or value): @s must be well-formed UTF-8 of at most
 * @max_chars characters, counted as Unicode code points as EC2 counts them
 * (so 255 "é", 510 bytes, is a valid description); 0 means no limit.
 * @field in: the field's name for the message ("description").  The engine
 * makes the same check itself; a front end calls this first to tell a
 * usage error from a failed operation.  Pure: any thread.
 * Errors: -EINVAL (InvalidParameterValue): "FIELD is not valid UTF-8",
 * "FIELD is longer than N characters". */
BSNAP_API BSNAP_WUR int bsnap_text_check(const char *field, const char *s, size_t max_chars)
    BSNAP_NONNULL(1, 2);

/** Code points in the @n bytes at @s, as every limit of this header counts
 * characters, or -1 if they are not well-formed UTF-8 (overlong forms,
 * surrogates, code points past U+10FFFF, truncated sequences and NUL bytes
 * are all refused).  Front ends count with it, so that their limits and the
 * engine's agree.  Pure: any thread. */
BSNAP_API long bsnap_utf8_length(const char *s, size_t n);

/** Bytes of the character that starts at @s (not at its NUL): 2 to 4 for a
 * well-formed multi-byte sequence, else 1, so that a walk over any string
 * always moves forward.  Pure: any thread. */
BSNAP_API size_t bsnap_utf8_char_len(const char *s) BSNAP_NONNULL(1);

/** Parse a changed-block list: lines "OFFSET LENGTH" (decimal bytes), blank
 * lines and lines starting with '#' ignored.  Ranges must be sorted, not
 * overlapping, and have LENGTH > 0 (the form `blocksnap diff` prints).
 *
 * A first line "# blocksnap diff BASE SNAPSHOT" (what `blocksnap diff`
 * writes first) says the ranges are those in which SNAPSHOT differs from
 * BASE, a snapshot id, or from nothing when BASE is "-": the list is then
 * right only for a volume whose parent snapshot is BASE (or holds BASE's
 * contents), and bsnap_snapshot_create() checks that when it is given BASE
 * (bsnap_snapshot_options.changed_base).  Such a header on a later line, or
 * a malformed one, is an error.
 *
 * @text in: @len bytes, need not be NUL-terminated.
 * @name in: what to call the input in errors (a file name).
 * @ret_ranges out: malloc'd array, free() it.  @ret_nranges out: its length.
 * @ret_base out, optional: BASE from the header, "-", or "" when the list
 * has no header.  Outputs are set only on success.
 * Errors: -EINVAL (InvalidParameterValue) with "NAME line N: ..." naming
 * the first bad line; -ENOMEM.  Any thread may call it. */
BSNAP_API BSNAP_WUR int bsnap_ranges_parse(const char *text, size_t len, const char *name,
                                           bsnap_range **ret_ranges, size_t *ret_nranges,
                                           char ret_base[BSNAP_ID_MAX]) BSNAP_NONNULL(1, 3, 4, 5);

/** Read a changed-block list file to its end and parse it (as
 * bsnap_ranges_parse()).  @path may be anything that can be read: a
 * regular file, a pipe or FIFO (/dev/stdin, a shell's <(...)), a character
 * device; opening a FIFO waits for its writer.  At most 1 GiB is read.
 * Errors as there, plus -ENOENT / -EACCES / -EISDIR / -EFBIG (over 1 GiB) /
 * a read error, each naming the file. */
BSNAP_API BSNAP_WUR int bsnap_ranges_load(const char *path, bsnap_range **ret_ranges,
                                          size_t *ret_nranges, char ret_base[BSNAP_ID_MAX])
    BSNAP_NONNULL(1, 2, 3);

/* ------------------------------------------------------------------------
 * Snapshots
 * ------------------------------------------------------------------------ */

/** Snapshot states, as EC2's. */
typedef enum bsnap_snapshot_state {
    BSNAP_SNAPSHOT_PENDING = 0,
    BSNAP_SNAPSHOT_COMPLETED = 1,
    BSNAP_SNAPSHOT_ERROR = 2,
} bsnap_snapshot_state;

/** Whether @spec is an NBD URI (it starts with nbd:, nbds:, nbd+ or
 * nbds+), which bsnap_snapshot_create() reads through libnbd, rather than
 * a file's path (a file of such a name is "./NAME").  Any thread. */
BSNAP_API bool bsnap_volume_is_uri(const char *spec) BSNAP_NONNULL(1);

/** What to snapshot and how.  Zero-initialise, then set volume_path or
 * volume_id. */
typedef struct bsnap_snapshot_options {
    /** a raw image file or a block device, or an NBD URI as libnbd takes
     * it (nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=PATH, nbds://
     * with TLS); an NBD volume is recorded under its URI without user name
     * or query parameters other than socket */
    const char *volume_path;
    /** or: the volume record whose path to read; with @volume_path too
     * (both NBD URIs), the URI to read that volume from this time */
    const char *volume_id;
    const char *description;    /**< optional, at most 255 characters */
    const char *parent_id;      /**< optional: diff against this snapshot */
    bool full;                  /**< ignore any parent: read everything */
    const bsnap_range *changed; /**< optional changed-block list: read only */
    size_t nchanged;            /**< these ranges; needs a parent snapshot */
    /** optional: the snapshot the changed-block list says it is relative to
     * (@ret_base of bsnap_ranges_parse()); NULL or "" when it says nothing.
     * The parent must then be this snapshot or one of its exact contents
     * (same block map and size); "-" is always refused. */
    const char *changed_base;
    const bsnap_tag *tags; /**< optional tags for the new snapshot */
    size_t ntags;
    unsigned threads; /**< hash/compress workers; 0: one per core */
    bsnap_run_options run;
    /** Encrypted: encrypt the snapshot at rest.  A volume whose snapshots
     * are encrypted (its parent's lineage) stays encrypted whatever this
     * says, under the same key; a plain volume's first encrypted snapshot
     * starts a new lineage and is full.  With EBS encryption by default on,
     * a volume's first snapshot (no parent) is encrypted anyway. */
    bool encrypted;
    /** KmsKeyId: the region key (key id, key ARN, alias name or alias ARN)
     * of a new encrypted lineage; NULL: the EBS default key.  Needs
     * @encrypted; an encrypted volume's key cannot change here. */
    const char *kms_key_id;
    /** ChangedBlocks from an NBD export: the name of a meta context whose
     * extents with flag 1 are dirty (QEMU's "qemu:dirty-bitmap:NAME"),
     * read from the export @volume_path names (or the NBD volume
     * @volume_id records); only they are read.  Needs @parent_id, which
     * must be the snapshot of this volume taken when the bitmap was
     * created or last cleared (the engine cannot see when that was: the
     * caller ties them), of the export's present size.  Excludes @changed
     * and @full. */
    const char *changed_context;
} bsnap_snapshot_options;

/** Figures of one snapshot creation.  Every chunk of the volume is counted
 * once, whichever way it was found (read, taken from the parent, a hole):
 * new_chunks + reused_chunks + zero_chunks is the volume's chunk count
 * (its size divided by the chunk size, rounded up).  Block-map pages are
 * counted apart, in new_pages. */
typedef struct bsnap_snapshot_stats {
    uint64_t volume_bytes;  /**< size of the volume */
    uint64_t read_bytes;    /**< bytes read from the volume */
    uint64_t new_chunks;    /**< data chunks written to packs */
    uint64_t new_bytes;     /**< bytes appended to packs (pages and headers included) */
    uint64_t reused_chunks; /**< non-zero data chunks the store held already */
    uint64_t zero_chunks;   /**< data chunks that were holes or all zero */
    uint64_t new_pages;     /**< block-map pages written to packs */
} bsnap_snapshot_stats;

/** Take a snapshot of a volume.
 *
 * The volume is found by its canonical path (a record is created the first
 * time) or by @opts->volume_id.  Its last completed snapshot is the parent
 * unless @opts->parent_id or @opts->full says otherwise.  Holes are skipped
 * (SEEK_DATA/SEEK_HOLE) and only chunks whose content differs from what the
 * store holds are written.  With @opts->changed, only those ranges are read
 * and everything else is taken from the parent: the list must cover every
 * byte written to the volume since the parent snapshot, which the engine
 * can check only when the list names its base (@opts->changed_base).
 *
 * The volume must not be resized or replaced while it is read: a read that
 * ends before the size the volume had when it was opened, a size that
 * differs at the end, or a path that names another file at the end fails
 * the snapshot (VolumeChanged) and nothing is recorded.  Writes that keep
 * the size are not seen: freeze or quiesce what writes to the volume.
 *
 * The snapshot is "pending" while it is written and "completed" after one
 * final transaction; on any failure (and on cancel) it is removed and the
 * store is as before: the pack bytes it wrote are given back before the
 * call returns (when another writer runs at the same time, gc reclaims
 * them instead).  Waiting for the store lock (held by gc or a repair) ends
 * with -ECANCELED when @opts->run.cancel is set.
 *
 * @ret_id out: the new snapshot id.  @ret_stats out, optional.
 * Errors: -ENOENT (InvalidVolume.NotFound) volume missing; -EACCES;
 * -EINVAL (InvalidParameterValue / InvalidSnapshotID.Malformed /
 * MissingParameter) for bad options, a changed list without a parent, a
 * range past the end; -EINVAL (InvalidParameterCombination) for a changed
 * list whose base is not the parent; -ENOENT (InvalidSnapshot.NotFound) for
 * an unknown parent; -ENOSPC (Store.Full) when the store's disk is full;
 * -ECANCELED; -EIO for read errors of the volume or the store, and
 * (VolumeChanged) for a volume resized or replaced while it was read.
 * Encryption: -EINVAL (InvalidParameterDependency) KmsKeyId without
 * Encrypted; -EINVAL (InvalidParameterCombination) KmsKeyId naming another
 * key than the encrypted volume's, or a changed-block list with the first
 * encrypted snapshot of a plain volume (it is full); the key's errors
 * (NotFoundException, DisabledException, KeyUnavailableException,
 * IncorrectKeyMaterialException, InvalidCiphertextException), naming the
 * parent snapshot when it is the parent's key that cannot be opened. */
BSNAP_API BSNAP_WUR int bsnap_snapshot_create(bsnap_store *store,
                                              const bsnap_snapshot_options *opts,
                                              char ret_id[BSNAP_ID_MAX],
                                              bsnap_snapshot_stats *ret_stats)
    BSNAP_NONNULL(1, 2, 3);

/** Options of bsnap_snapshot_copy().  Zero-initialise for defaults. */
typedef struct bsnap_copy_options {
    const char *source_snapshot_id; /**< required: a completed snapshot of the source */
    /** optional: the copy's description; NULL: "[Copied SNAP from REGION]" */
    const char *description;
    const bsnap_tag *tags; /**< optional tags for the copy (the source's are not copied) */
    size_t ntags;
    /** optional: 1 to 64 printable ASCII characters.  The same token with the
     * same parameters returns the copy made (or continues the one started);
     * with other parameters it fails (IdempotentParameterMismatch).  NULL:
     * the parameters themselves are the token. */
    const char *client_token;
    unsigned threads; /**< hash/compress workers; 0: one per core */
    bsnap_run_options run;
    /** EC2's Encrypted: encrypt a plain source's copy.  A copy is encrypted
     * when this is set, when the source is encrypted (encryption is
     * one-way) or when encryption by default is on here; it is then under
     * @kms_key_id, or this region's default key (keys are regional: an
     * encrypted source is re-encrypted).  A copy in the same store under
     * the source's own key stores nothing, as before. */
    bool encrypted;
    /** optional, needs @encrypted (InvalidParameterDependency): the key of
     * the copy, any KmsKeyId form. */
    const char *kms_key_id;
    /** optional: called with the copy's id once it is recorded pending
     * (or found pending, to continue it), before its chunks land, in the
     * calling thread: a server answers EC2's CopySnapshot with it while
     * the copy goes on.  Not called for a copy found completed, nor for
     * one in the same store (which completes at once). */
    void (*started)(void *ud, const char *id);
    void *started_ud;
} bsnap_copy_options;

/** Copy a snapshot of store @source (another region, opened read-only or
 * not) into @store.
 *
 * Only the chunks @store lacks are read from @source: @store keeps a table
 * of which of its chunks each source chunk became, filled as chunks land,
 * and a chunk it finds there is not read again; the others are read,
 * checked, and stored like a snapshot's (data @store holds already is not
 * stored twice).  A copy of a snapshot whose parent was copied here before
 * (and whose copy still exists) has that copy as its parent.  The copy is
 * "pending" while chunks land and "completed" after one final transaction.
 *
 * Resumable: a run that fails, is cancelled or killed leaves its pending
 * copy and the chunks it landed; the same call (the same parameters, or
 * the same @opts->client_token) continues it under the same id, and after
 * success returns the same id without copying again.  The same call made
 * twice at the same time (two processes) makes one copy: both return its
 * id.
 *
 * Both stores' locks are taken shared (the source's other readers and
 * writers go on; gc waits).  The two stores must have the same chunk size.
 * @source may be @store itself (or another handle of it): the copy is then
 * a new completed record over the same block map, and stores no data
 * (EC2's same-region copy).
 *
 * @ret_id out: the copy's id.  @ret_stats out, optional: read_bytes is what
 * was read from the source.
 * Errors: -EINVAL (MissingParameter, InvalidSnapshotID.Malformed,
 * InvalidParameterValue: a bad option, other chunk sizes;
 * IdempotentParameterMismatch); -ENOENT
 * (InvalidSnapshot.NotFound) no such snapshot in @source; -EBUSY
 * (IncorrectState) the source is not completed; -EINVAL
 * (InvalidParameterDependency) KmsKeyId without Encrypted; the keys'
 * errors (NotFoundException, DisabledException, KeyUnavailableException,
 * AccessDeniedException: the source's key not granted to the caller;
 * KmsKeyId named for the copy's); -ENOSPC; -ECANCELED; -EIO.
 * A copy of an incremental snapshot is incremental only when the copy of
 * its parent is under the same key; else it is full. */
BSNAP_API BSNAP_WUR int bsnap_snapshot_copy(bsnap_store *store, bsnap_store *source,
                                            const bsnap_copy_options *opts,
                                            char ret_id[BSNAP_ID_MAX],
                                            bsnap_snapshot_stats *ret_stats)
    BSNAP_NONNULL(1, 2, 3, 4);

/** A snapshot's record. */
typedef struct bsnap_snapshot_info {
    char id[BSNAP_ID_MAX];
    char volume_id[BSNAP_ID_MAX];
    char parent_id[BSNAP_ID_MAX]; /**< "" for a full snapshot */
    bsnap_snapshot_state state;
    uint64_t size;         /**< volume size in bytes */
    int64_t start_time_ms; /**< Unix time, milliseconds */
    uint64_t data_chunks;  /**< non-zero chunks (for st_blocks) */
    uint32_t chunk_size;
    /** sealed with its lineage's data key (Encrypted): reading it needs
     * that key at hand (a reader's open fails with the key's KMS-style
     * error otherwise) */
    bool encrypted;
} bsnap_snapshot_info;

/** Fill @ret_info for snapshot @id.
 * Errors: -EINVAL (InvalidSnapshotID.Malformed); -ENOENT
 * (InvalidSnapshot.NotFound); -EIO. */
BSNAP_API BSNAP_WUR int bsnap_snapshot_get(bsnap_store *store, const char *id,
                                           bsnap_snapshot_info *ret_info) BSNAP_NONNULL(1, 2, 3);

/** The ids of the snapshots the caller sees, as bsnap_snapshot_describe()
 * has them (its own, and those shared with it), sorted by id; with
 * @completed_only, only the completed ones.  Made for shell completion:
 * each record's state and owner are read without decoding it in full
 * (only a record shared with other accounts is decoded), a tenth of what
 * a listing costs.
 * @ret_ids out: malloc'd array of *@ret_n ids; the caller frees it.
 * Errors: -EIO (a record that cannot be read), -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_snapshot_ids(bsnap_store *store, bool completed_only,
                                           char (**ret_ids)[BSNAP_ID_MAX], size_t *ret_n)
    BSNAP_NONNULL(1, 3, 4);

/** List every snapshot (pending ones too), sorted by id.
 * @ret_infos out: malloc'd array.  Errors: -EIO, -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_snapshot_list(bsnap_store *store, bsnap_snapshot_info **ret_infos,
                                            size_t *ret_n) BSNAP_NONNULL(1, 2, 3);

/** What a list-describe call (snapshots, volumes, images) returns: every
 * field is optional, and zero means "not given".
 *
 * Pages: results come sorted by id.  With @max_results, a call returns at
 * most that many and, when more remain, "NextToken": a string to pass as
 * @next_token to the same call with the same filters for the next page.
 * A token is opaque and checked: one that was altered, or that comes from
 * another store, another kind of resource or other filters, is refused.
 * A page may be the last one exactly: no NextToken is returned then. */
typedef struct bsnap_describe_options {
    /** in: restrict to these ids (all when @nids is 0); an unknown id is an
     * error, as in EC2.  Not with @max_results or @next_token (EC2 refuses
     * the combination too). */
    const char *const *ids;
    size_t nids;
    /** in: EC2 filters (see each call); several are AND-ed. */
    const bsnap_filter *filters;
    size_t nfilters;
    /** in: 0: no limit; else at least BSNAP_MAX_RESULTS_MIN (5, as EC2);
     * more than BSNAP_MAX_RESULTS_MAX (1000) returns 1000, as EC2 does. */
    uint32_t max_results;
    /** in: NULL: from the start; else the NextToken of the previous page. */
    const char *next_token;
} bsnap_describe_options;

#define BSNAP_MAX_RESULTS_MIN 5
#define BSNAP_MAX_RESULTS_MAX 1000
/** The longest NextToken, without its NUL. */
#define BSNAP_NEXT_TOKEN_MAX 128

/** Describe snapshots as EC2's DescribeSnapshots: {"Snapshots":[…]} and,
 * when another page remains, "NextToken".  The caller sees its own
 * snapshots and those shared with it (by account id or publicly); the
 * tags of another account's snapshot are left out.
 *
 * @opts in, optional (NULL: every snapshot): ids, filters and paging as
 * bsnap_describe_options says.  Filters: description, snapshot-id,
 * volume-id, volume-size, status, start-time, owner-id, progress,
 * encrypted, storage-tier, parent-snapshot-id, tag:KEY, tag-key, and
 * blocksnap's restorable-by (EC2's RestorableBy.N: a value "all" keeps
 * public snapshots, an account id those it owns or that are shared with it
 * by id).
 * @ret_doc out: a new jansson object; the caller json_decref()s it.
 * Errors: -EINVAL (InvalidSnapshotID.Malformed; InvalidParameterValue for
 * an unknown filter name, a @max_results below 5 or a bad @next_token;
 * InvalidParameterCombination for ids with paging); -ENOENT
 * (InvalidSnapshot.NotFound); -EIO; -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_snapshot_describe(bsnap_store *store,
                                                const bsnap_describe_options *opts,
                                                json_t **ret_doc) BSNAP_NONNULL(1, 3);

/** Describe one snapshot as the EC2 object of that snapshot (the element
 * DescribeSnapshots would list; what CreateSnapshot returns).
 * @ret_doc out: a new jansson object; the caller json_decref()s it.  Errors as bsnap_snapshot_get(). */
BSNAP_API BSNAP_WUR int bsnap_snapshot_describe_one(bsnap_store *store, const char *id,
                                                    json_t **ret_doc) BSNAP_NONNULL(1, 2, 3);

/** Delete snapshot @id.  Only what no other snapshot shares is freed
 * (refcount cascade, O(freed)); pack space is reclaimed by bsnap_gc().
 * A volume whose last snapshot this was falls back to the parent.
 * Errors: -EINVAL (InvalidSnapshotID.Malformed); -ENOENT
 * (InvalidSnapshot.NotFound); -EBUSY (InvalidSnapshot.InUse) while an image
 * uses it or it is pending; -EIO; -ENOSPC. */
BSNAP_API BSNAP_WUR int bsnap_snapshot_delete(bsnap_store *store, const char *id)
    BSNAP_NONNULL(1, 2);

/** Keep rules of bsnap_snapshot_prune() (restic's and borg's --keep-*).
 * Each count N keeps the newest snapshot of each of the N newest UTC
 * calendar buckets (hour, day, ISO week starting Monday, month, year) that
 * hold a snapshot; @last keeps the N newest; @within_ms keeps every one
 * taken less than that long before the volume's newest snapshot.  The rules
 * add up: a snapshot any of them keeps is kept. */
typedef struct bsnap_retention {
    uint32_t last, hourly, daily, weekly, monthly, yearly;
    int64_t within_ms; /**< 0: no such rule */
    /** 0: @within_ms counts back from the volume's newest snapshot; else
     * from this time (a lifecycle run's now: DLM's retention by age) */
    int64_t now_ms;
} bsnap_retention;

/** Why bsnap_retention_plan() keeps a snapshot: a set of these bits. */
enum {
    BSNAP_KEEP_LAST = 1u << 0,
    BSNAP_KEEP_HOURLY = 1u << 1,
    BSNAP_KEEP_DAILY = 1u << 2,
    BSNAP_KEEP_WEEKLY = 1u << 3,
    BSNAP_KEEP_MONTHLY = 1u << 4,
    BSNAP_KEEP_YEARLY = 1u << 5,
    BSNAP_KEEP_WITHIN = 1u << 6,
    BSNAP_KEEP_IN_USE = 1u << 7, /**< an image uses it: never pruned */
};

/** One snapshot of one volume, as bsnap_retention_plan() weighs it. */
typedef struct bsnap_retention_item {
    char id[BSNAP_ID_MAX];
    int64_t time_ms; /**< its StartTime */
    bool in_use;     /**< an image maps it */
    uint32_t keep;   /**< out: the BSNAP_KEEP_* bits; 0: it goes */
} bsnap_retention_item;

/** The plan of a prune, pure: sorts @items newest first (ties: the greater
 * id first) and sets each one's keep bits by @rules.  Reads no clock and
 * no store.  Errors: -EINVAL (InvalidParameterValue) when no rule is given
 * or @within_ms is negative. */
BSNAP_API BSNAP_WUR int bsnap_retention_plan(const bsnap_retention *rules,
                                             bsnap_retention_item *items, size_t n)
    BSNAP_NONNULL(1);

/** Prune the caller's completed snapshots of volume @volume_id (NULL: of
 * every volume, each on its own) by @rules (bsnap_retention_plan()).  A
 * snapshot an image uses is kept; pending and failed snapshots are not
 * considered.  With @dry_run nothing changes.  Otherwise each snapshot the
 * plan drops is deleted as bsnap_snapshot_delete() does, one by one; one
 * that cannot be is reported and the rest go on.  Running it again deletes
 * nothing more.
 * @ret_doc out: {"DryRun":bool, "PruneSnapshotResults":[{"SnapshotId", "VolumeId",
 * "StartTime", "Action":"keep"|"delete"|"deleted"|"failed", "KeptBy":[
 * "last"|"hourly"|"daily"|"weekly"|"monthly"|"yearly"|"within"|"used by
 * ami-…"], "Error":{"Code","Message"}}]} newest first per volume, and
 * @ret_failed the number that failed.
 * Errors: -EINVAL (InvalidVolumeID.Malformed, InvalidParameterValue for no
 * rule); -ENOENT (InvalidVolume.NotFound); -EIO; -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_snapshot_prune(bsnap_store *store, const char *volume_id,
                                             const bsnap_retention *rules, bool dry_run,
                                             json_t **ret_doc, size_t *ret_failed)
    BSNAP_NONNULL(1, 3, 5, 6);

/** Delete each of @ids (@n of them) on its own, as bsnap_snapshot_delete()
 * does: one refused (an image uses it, it is pending, it is not there) does
 * not stop the others.  @ret_doc out: {"DeleteSnapshotResults":[{
 * "SnapshotId", "ReturnCode":"success"|"skipped"|"missing"|"client-error",
 * "Error":{"Code","Message"} (unless success)}]} in the order of @ids (the
 * codes of bsnap_image_deregister(): skipped is InvalidSnapshot.InUse or
 * IncorrectState); @ret_failed the number not deleted.
 * Errors (nothing deleted): -EINVAL (MissingParameter for no id); -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_snapshot_delete_many(bsnap_store *store, const char *const *ids,
                                                   size_t n, json_t **ret_doc, size_t *ret_failed)
    BSNAP_NONNULL(1, 4, 5);

/* ---- Lifecycle policies (Amazon Data Lifecycle Manager's shapes) ----
 *
 * A policy (policy- + 17 hex) belongs to the calling account and names
 * target volumes (by tag, or by id: blocksnap's TargetVolumeIds) and up to
 * four schedules, each a creation interval and a retain rule.
 * bsnap_lifecycle_run() is what a timer calls: it takes the snapshots that
 * are due and deletes the ones a schedule no longer retains.
 *
 * PolicyDetails (JSON text, at most 64 KiB) is checked before anything is
 * written: PolicyType "EBS_SNAPSHOT_MANAGEMENT" (the default),
 * ResourceTypes ["VOLUME"], TargetTags [{Key, Value}] and/or
 * TargetVolumeIds [vol-…] (at least one target between them), Schedules
 * (1 to 4) of {Name (1-120 characters, unique), CreateRule {Interval
 * 1|2|3|4|6|8|12|24, IntervalUnit "HOURS", Times ["HH:MM"] (optional, one:
 * the UTC time of day the slots start at; default 00:00)}, RetainRule
 * {Count 1-1000 | Interval 1-1000 + IntervalUnit DAYS|WEEKS|MONTHS|YEARS},
 * TagsToAdd [{Key, Value}], CopyTags bool}.  A CreateRule's
 * CronExpression, and fields of other policy types (Parameters,
 * FastRestoreRule, CrossRegionCopyRules, ShareRules, …), are refused
 * (InvalidRequestException naming the field), as is any unknown field.
 * Errors of every call: -EINVAL (InvalidRequestException, with the field
 * in bsnap_error.parameter); -ENOENT (ResourceNotFoundException); -EIO;
 * -ENOMEM.  Every call but the run is one short transaction. */

/** Options of bsnap_lifecycle_policy_create() and _update(): NULL keeps
 * (update) or is missing (create: Description, State and PolicyDetails are
 * required). */
typedef struct bsnap_lifecycle_policy_options {
    const char *description;        /**< 0-500 characters of [0-9A-Za-z _-] */
    const char *state;              /**< "ENABLED" or "DISABLED" */
    const char *execution_role_arn; /**< recorded and returned, not used */
    const char *policy_details;     /**< JSON text, as above */
} bsnap_lifecycle_policy_options;

/** CreateLifecyclePolicy.  @ret_doc out: {"PolicyId"}.  At most 100
 * policies per account (-EDQUOT, LimitExceededException). */
BSNAP_API BSNAP_WUR int bsnap_lifecycle_policy_create(bsnap_store *store,
                                                      const bsnap_lifecycle_policy_options *o,
                                                      json_t **ret_doc) BSNAP_NONNULL(1, 2, 3);

/** UpdateLifecyclePolicy of policy @id: the fields @o gives replace the
 * policy's.  @ret_doc out: {}. */
BSNAP_API BSNAP_WUR int bsnap_lifecycle_policy_update(bsnap_store *store, const char *id,
                                                      const bsnap_lifecycle_policy_options *o,
                                                      json_t **ret_doc) BSNAP_NONNULL(1, 2, 3, 4);

/** DeleteLifecyclePolicy.  Its snapshots stay (and no run deletes them
 * any more).  @ret_doc out: {}. */
BSNAP_API BSNAP_WUR int bsnap_lifecycle_policy_delete(bsnap_store *store, const char *id,
                                                      json_t **ret_doc) BSNAP_NONNULL(1, 2, 3);

/** GetLifecyclePolicy.  @ret_doc out: {"Policy": {PolicyId, Description,
 * State, StatusMessage, ExecutionRoleArn, DateCreated, DateModified,
 * PolicyDetails, PolicyArn}}. */
BSNAP_API BSNAP_WUR int bsnap_lifecycle_policy_get(bsnap_store *store, const char *id,
                                                   json_t **ret_doc) BSNAP_NONNULL(1, 2, 3);

/** Filters of bsnap_lifecycle_policies_get(), AND-ed; each list is OR-ed
 * and empty means any. */
typedef struct bsnap_lifecycle_filter {
    const char *const *policy_ids; /**< PolicyIds; an unknown one is not an error */
    size_t npolicy_ids;
    const char *state;                 /**< ENABLED | DISABLED | ERROR, or NULL */
    const char *const *resource_types; /**< VOLUME */
    size_t nresource_types;
    const char *const *target_tags; /**< "KEY=VALUE": one of the policy's TargetTags */
    size_t ntarget_tags;
    const char *const *tags_to_add; /**< "KEY=VALUE": in one schedule's TagsToAdd */
    size_t ntags_to_add;
} bsnap_lifecycle_filter;

/** GetLifecyclePolicies.  @f optional.  @ret_doc out: {"Policies":
 * [{PolicyId, Description, State, Tags: {}, PolicyType}]} in id order. */
BSNAP_API BSNAP_WUR int bsnap_lifecycle_policies_get(bsnap_store *store,
                                                     const bsnap_lifecycle_filter *f,
                                                     json_t **ret_doc) BSNAP_NONNULL(1, 3);

/** Run the caller's ENABLED policies (@ids: only these, @n of them; a
 * DISABLED one named is skipped, an unknown one fails the call before
 * anything is done) at time @now_ms (0: the clock; else a fake clock for
 * tests and catch-up runs).
 *
 * For each schedule and each target volume of the caller (tagged with one
 * of TargetTags, or named by TargetVolumeIds; a named volume that does not
 * exist is a failed result), a snapshot is due when the schedule holds
 * none of that volume in the current slot: slots are Interval hours long
 * and start at Times[0] (UTC) each day.  A due snapshot is taken with
 * StartTime @now_ms, the description "Created for policy: ID schedule:
 * NAME" and the tags TagsToAdd, the volume's own when CopyTags (not those
 * starting with aws:), aws:dlm:lifecycle-policy-id and
 * aws:dlm:lifecycle-schedule-name.  Then the schedule's completed
 * snapshots of that volume (those with both tags: never one a user or
 * another schedule made) are planned by bsnap_retention_plan(): Count
 * keeps the newest Count, an age keeps those younger than it at @now_ms;
 * the others are deleted as bsnap_snapshot_delete() does (one an image
 * uses is kept).
 *
 * Idempotent: a second run at the same @now_ms creates and deletes
 * nothing.  Runs are serialised by the lock file STORE/lifecycle.lock (a
 * second run waits for the first, then finds nothing due).  One volume's
 * failure does not stop the others.
 * @ret_doc out: {"Now", "LifecyclePolicyResults": [{PolicyId,
 * ScheduleName, VolumeId, Action: "created"|"deleted"|"failed",
 * SnapshotId, Error {Code, Message}}]}; @ret_failed the failed results.
 * Errors (nothing done): -EINVAL (InvalidRequestException for a malformed
 * id), -ENOENT (ResourceNotFoundException), -EIO, -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_lifecycle_run(bsnap_store *store, const char *const *ids, size_t n,
                                            int64_t now_ms, json_t **ret_doc, size_t *ret_failed)
    BSNAP_NONNULL(1, 5, 6);

/* ---- The Recycle Bin (Amazon rbin's rules, EC2's snapshots in it) ----
 *
 * A retention rule (Identifier: 11 letters and digits) of the calling
 * account keeps the account's deleted snapshots for its retention period:
 * a region-level rule (no ResourceTags) every one, a tag-level rule those
 * with one of its ResourceTags (a key, and a value unless none is given).
 * When rules match a snapshot that bsnap_snapshot_delete() deletes (and so
 * prune and lifecycle retention, which delete through it), the snapshot
 * goes to the bin for the longest of their periods instead of being freed:
 * it is gone from every describe and read (InvalidSnapshot.NotFound), its
 * data stays, and bsnap_rbin_snapshot_restore() brings it back whole, as
 * it was.  Once the period is over (bsnap_store_set_clock()'s clock),
 * bsnap_gc() frees it as a delete would have, then reclaims the space.
 * Errors of the rule calls: -EINVAL (ValidationException, the parameter
 * named); -ENOENT (ResourceNotFoundException); -EIO; -ENOMEM. */

/** Options of bsnap_rbin_rule_create() and _update() (NULL or 0: not
 * given; create needs the type and the period). */
typedef struct bsnap_rbin_rule_options {
    const char *resource_type;      /**< "EBS_SNAPSHOT" */
    const char *description;        /**< 0-500 of [0-9A-Za-z _-] */
    uint32_t retention_days;        /**< RetentionPeriodValue, 1-365 */
    const char *retention_unit;     /**< RetentionPeriodUnit: "DAYS" (NULL: DAYS) */
    const bsnap_tag *resource_tags; /**< ResourceTags (at most 50) */
    size_t nresource_tags;
    bool resource_tags_set; /**< update: replace the tags even by none */
} bsnap_rbin_rule_options;

/** CreateRule.  @ret_doc out: {Identifier, Description, RetentionPeriod
 * {RetentionPeriodValue, RetentionPeriodUnit}, LockState, RuleArn,
 * ResourceType, ResourceTags, Status, Tags}.  At most 250 rules
 * (-EDQUOT, ServiceQuotaExceededException). */
BSNAP_API BSNAP_WUR int bsnap_rbin_rule_create(bsnap_store *store, const bsnap_rbin_rule_options *o,
                                               json_t **ret_doc) BSNAP_NONNULL(1, 2, 3);
/** UpdateRule: what @o gives replaces the rule's.  @ret_doc as GetRule. */
BSNAP_API BSNAP_WUR int bsnap_rbin_rule_update(bsnap_store *store, const char *id,
                                               const bsnap_rbin_rule_options *o, json_t **ret_doc)
    BSNAP_NONNULL(1, 2, 3, 4);
/** GetRule.  @ret_doc out: the rule, as create returns it (no Tags). */
BSNAP_API BSNAP_WUR int bsnap_rbin_rule_get(bsnap_store *store, const char *id, json_t **ret_doc)
    BSNAP_NONNULL(1, 2, 3);
/** DeleteRule.  Snapshots in the bin stay until their time is up.
 * @ret_doc out: {}. */
BSNAP_API BSNAP_WUR int bsnap_rbin_rule_delete(bsnap_store *store, const char *id, json_t **ret_doc)
    BSNAP_NONNULL(1, 2, 3);
/** ListRules of @resource_type ("EBS_SNAPSHOT", required), only those
 * whose ResourceTags are @tags when @ntags.  @ret_doc out: {"Rules":
 * [{Identifier, Description, RetentionPeriod, LockState, RuleArn}]}. */
BSNAP_API BSNAP_WUR int bsnap_rbin_rules_list(bsnap_store *store, const char *resource_type,
                                              const bsnap_tag *tags, size_t ntags, json_t **ret_doc)
    BSNAP_NONNULL(1, 5);
/** EC2's ListSnapshotsInRecycleBin: the caller's snapshots in the bin
 * whose time is not up (@ids: only these).  @ret_doc out: {"Snapshots":
 * [{SnapshotId, RecycleBinEnterTime, RecycleBinExitTime, Description,
 * VolumeId}]}.  Errors: -EINVAL (InvalidSnapshotID.Malformed). */
BSNAP_API BSNAP_WUR int bsnap_rbin_snapshots_list(bsnap_store *store, const char *const *ids,
                                                  size_t n, json_t **ret_doc) BSNAP_NONNULL(1, 4);
/** EC2's RestoreSnapshotFromRecycleBin: snapshot @id back from the bin,
 * its record as it was (a parent deleted meanwhile forgotten).
 * @ret_doc out: the snapshot, as bsnap_snapshot_describe_one().  Errors:
 * -EINVAL (InvalidSnapshotID.Malformed); -ENOENT (InvalidSnapshot.NotFound:
 * not in the bin, another account's, or its time is up). */
BSNAP_API BSNAP_WUR int bsnap_rbin_snapshot_restore(bsnap_store *store, const char *id,
                                                    json_t **ret_doc) BSNAP_NONNULL(1, 2, 3);

/** Options of bsnap_volume_create(). */
typedef struct bsnap_volume_options {
    bool force; /**< replace what exists at the path, or write a block device */
    bsnap_run_options run;
} bsnap_volume_options;

/** Restore snapshot @snapshot_id into a new raw image at @path and record it
 * as a volume whose source is that snapshot (so its next snapshot is
 * incremental).  The file is sparse where chunks are zero and byte-identical
 * to the volume at snapshot time; every chunk is verified as it is read.
 * The file is written under a temporary name (or none: O_TMPFILE), the
 * volume recorded, and then the file renamed into place, so a failure
 * leaves neither a partial file nor a record, and --force's old file stays
 * unless the new one is whole and recorded.  A new file gets 0666 less the
 * umask; a replaced regular file's mode (and, where the process may, its
 * owner) is kept; either is set before any data is written.  A block device
 * at @path (or a symbolic link to one) is written in place (never with
 * holes), only with force, opened with O_EXCL (so it cannot be mounted
 * meanwhile), and recorded after.  Any other symbolic link at @path,
 * dangling or not, is replaced, not followed, and only with force.
 * @path is checked before the snapshot is pinned or anything is written:
 * a path inside the store (by any name; a loop device over a store file
 * too), an empty path, a directory, a FIFO, a socket and a character device
 * are refused, with or without force.
 * @ret_volume_id out; "" when the store's metadata is damaged: the file is
 * then restored (every chunk verified) but not recorded, and the snapshot
 * is read without a pin (no gc or repair can run meanwhile).
 * Errors: -EEXIST (InvalidParameterValue) something exists at @path and
 * !force; -EINVAL (InvalidParameterValue) empty path, inside the store, not
 * a regular file or block device; -EISDIR (InvalidParameterValue) a
 * directory; -EBUSY (VolumeInUse) a block device that is mounted or held;
 * -ENOSPC (InvalidParameterValue) a block device smaller than the
 * snapshot; -ENOENT (InvalidSnapshot.NotFound, or InvalidParameterValue
 * when the path's directory does not exist); -EIO naming chunk, pack and
 * offset for a damaged chunk; -ENOSPC (VolumeFull); -ECANCELED. */
BSNAP_API BSNAP_WUR int bsnap_volume_create(bsnap_store *store, const char *snapshot_id,
                                            const char *path, const bsnap_volume_options *opts,
                                            char ret_volume_id[BSNAP_ID_MAX])
    BSNAP_NONNULL(1, 2, 3, 5);

/** Describe volumes as EC2's DescribeVolumes: {"Volumes":[…]} and, when
 * another page remains, "NextToken".
 * Filters: volume-id, snapshot-id, size, status, create-time,
 * availability-zone, volume-type, encrypted, path, tag:KEY, tag-key.
 * Other arguments and errors as bsnap_snapshot_describe(), with
 * InvalidVolumeID.Malformed / InvalidVolume.NotFound. */
BSNAP_API BSNAP_WUR int bsnap_volume_describe(bsnap_store *store,
                                              const bsnap_describe_options *opts, json_t **ret_doc)
    BSNAP_NONNULL(1, 3);

/** Describe one volume as its EC2 object (what CreateVolume returns).
 * @ret_doc out: a new jansson object; the caller json_decref()s it.  Errors: InvalidVolumeID.Malformed,
 * InvalidVolume.NotFound, -EIO. */
BSNAP_API BSNAP_WUR int bsnap_volume_describe_one(bsnap_store *store, const char *id,
                                                  json_t **ret_doc) BSNAP_NONNULL(1, 2, 3);

/** Delete volume @id's record (what describe volumes lists), as EC2's
 * DeleteVolume.  The lifecycle of a volume record: created by the first
 * snapshot of a path, or by bsnap_volume_create() (which deletes the record
 * of a volume it replaces at the same path); it lives until deleted here.
 * The file (or device) is never touched: its next snapshot records a new
 * volume and reads it whole.  The volume's snapshots stay, naming it as
 * their volume id, as EC2's snapshots of a deleted volume do; its tags go
 * with it.
 * Errors: -EINVAL (InvalidVolumeID.Malformed); -ENOENT
 * (InvalidVolume.NotFound); -EBUSY (VolumeInUse) while a snapshot of it is
 * being taken; -EIO; -ENOSPC. */
BSNAP_API BSNAP_WUR int bsnap_volume_delete(bsnap_store *store, const char *id) BSNAP_NONNULL(1, 2);

/* ---- writable (copy-on-write) volumes ---- */

/** Options of bsnap_volume_create_writable().  Zero-initialise. */
typedef struct bsnap_writable_volume_options {
    /** Size in GiB; 0: the snapshot's size (in bytes, not rounded).  At
     * least the snapshot's size rounded up to GiB; the bytes past the
     * snapshot read as zeros. */
    uint64_t size_gib;
    /** VolumeType: standard, io1, io2, gp2, sc1, st1, gp3; NULL: gp2.  Only
     * recorded (and its largest size checked). */
    const char *volume_type;
    const bsnap_tag *tags; /**< TagSpecifications of ResourceType volume */
    size_t ntags;
    /** Encrypted: the volume is encrypted at rest (its overlay's chunks
     * sealed with AES-256-GCM under a data key wrapped by a region key),
     * and so are its snapshots.  A volume of an encrypted snapshot is
     * encrypted whatever this says, as is every new one while encryption
     * by default is on. */
    bool encrypted;
    /** KmsKeyId (key id, ARN, alias or alias ARN; needs @encrypted): the
     * key to wrap a new data key under.  NULL: a volume of the caller's own
     * encrypted snapshot keeps that snapshot's key and data key (its
     * snapshots are incremental over it); any other encrypted volume gets
     * a new data key under the default EBS key (and its first snapshot is
     * full). */
    const char *kms_key_id;
} bsnap_writable_volume_options;

/** Create a writable copy-on-write volume from completed snapshot
 * @snapshot_id, as EC2's CreateVolume --snapshot-id: in constant time
 * (no data is copied: a record, an empty sparse overlay file of the
 * volume's size and a map of which chunks were written, all zeros, in
 * STORE/volumes/).  Reads fall through to the snapshot's chunks until a
 * chunk is written.  The caller must own the snapshot or be allowed to
 * create volumes from it (createVolumePermission).  The snapshot cannot be
 * deleted while the volume exists (InvalidSnapshot.InUse).
 * @ret_doc out: the new volume's EC2 object (State "available", VolumeType,
 * "Writable": true); the caller json_decref()s it.
 * Errors: -EINVAL (InvalidSnapshotID.Malformed; InvalidParameterValue: Size
 * smaller than the snapshot or too large for the type, an unknown
 * VolumeType; TagLimitExceeded; InvalidParameterDependency: KmsKeyId
 * without Encrypted); the key's errors, naming KmsKeyId
 * (NotFoundException, DisabledException, KeyUnavailableException...);
 * -ENOENT (InvalidSnapshot.NotFound, also for one not shared with the caller);
 * -EBUSY (IncorrectState) a pending snapshot; -ENOSPC; -EIO. */
BSNAP_API BSNAP_WUR int bsnap_volume_create_writable(bsnap_store *store, const char *snapshot_id,
                                                     const bsnap_writable_volume_options *opts,
                                                     json_t **ret_doc) BSNAP_NONNULL(1, 2, 4);

/** An open writable volume: one writer at a time (process-wide and across
 * processes: an exclusive flock() on its overlay).  Its calls may come from
 * many threads at once, but for bsnap_volume_close(). */
typedef struct bsnap_volume bsnap_volume;

/** Open writable volume @id for reading and writing.
 * Errors: -EINVAL (InvalidVolumeID.Malformed; InvalidParameterValue: a
 * volume of a path, not a writable one); -ENOENT (InvalidVolume.NotFound);
 * -EBUSY (VolumeInUse) another handle (a mount, an instance, a snapshot
 * being taken of it) has it open; -EIO (Store.Corrupt) its files are
 * damaged or missing; for an encrypted volume, its key's errors
 * (KeyUnavailableException, DisabledException...); -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_volume_open(bsnap_store *store, const char *id,
                                          bsnap_volume **ret_volume) BSNAP_NONNULL(1, 2, 3);

/** Flush (as bsnap_volume_flush()), record that the volume was closed
 * cleanly, and free @volume whatever happens.  Returns the flush's error
 * (what was written since the last successful flush may then be lost).
 * NULL is a no-op. */
BSNAP_API int bsnap_volume_close(bsnap_volume *volume);

/** The volume's size in bytes. */
BSNAP_API uint64_t bsnap_volume_size(const bsnap_volume *volume) BSNAP_NONNULL(1);

/** Read up to @len bytes at @offset; short only at the end.  A chunk never
 * written reads as the base snapshot's (verified), zeros past its end.  A
 * written chunk of an encrypted volume is authenticated whole: one that
 * does not is -EIO (Store.Corrupt, naming the volume, chunk and offset),
 * never other data.
 * Returns the byte count.  Errors: -EIO; -ENOMEM.  Any thread. */
BSNAP_API BSNAP_WUR long bsnap_volume_pread(bsnap_volume *volume, void *buf, size_t len,
                                            uint64_t offset) BSNAP_NONNULL(1, 2);

/** Write @len bytes at @offset.  A chunk's first write reads its base
 * bytes, merges and writes the whole chunk to the overlay.  Not durable
 * until bsnap_volume_flush().  Returns @len.  Errors: -ENOSPC
 * (InvalidParameterValue) a write past the end; -ENOSPC (Store.Full); -EIO.
 * Any thread. */
BSNAP_API BSNAP_WUR long bsnap_volume_pwrite(bsnap_volume *volume, const void *buf, size_t len,
                                             uint64_t offset) BSNAP_NONNULL(1, 2);

/** lseek(2)'s SEEK_DATA / SEEK_HOLE over writable volume @volume: @whence
 * is SEEK_DATA or SEEK_HOLE.  Data is a chunk written since the volume was
 * created (whatever bytes it holds, zeros too) or, for a chunk never
 * written, a non-zero chunk of the base snapshot (bsnap_reader_seek());
 * a chunk never written that is a hole of the base, or lies past the
 * base's end, is a hole.  @ret_offset out.  Nothing is read.
 * Errors: -ENXIO past the end (or no data after @offset), -EINVAL, -EIO.
 * Any thread; a write that runs meanwhile may or may not be seen. */
BSNAP_API BSNAP_WUR int bsnap_volume_seek(bsnap_volume *volume, uint64_t offset, int whence,
                                          uint64_t *ret_offset) BSNAP_NONNULL(1, 4);

/** Make every write that returned before this call durable (fsync): the
 * overlay's data is synced, then the map of written chunks replaced
 * atomically.  Errors: -EIO, -ENOSPC.  Any thread. */
BSNAP_API BSNAP_WUR int bsnap_volume_flush(bsnap_volume *volume) BSNAP_NONNULL(1);

/** Snapshot open volume @volume (as bsnap_snapshot_create() with its
 * volume_id, which does the same for a volume no one has open): writers
 * wait while it runs; everything written before is in it.  Only the chunks
 * written since the volume's last snapshot (or since it was created) are
 * read; the parent is that snapshot (the base at first).  @opts may be NULL;
 * its volume_path, volume_id, parent_id, full and changed must be unset.
 * Errors as bsnap_snapshot_create(). */
BSNAP_API BSNAP_WUR int bsnap_volume_snapshot(bsnap_volume *volume,
                                              const bsnap_snapshot_options *opts,
                                              char ret_id[BSNAP_ID_MAX],
                                              bsnap_snapshot_stats *ret_stats) BSNAP_NONNULL(1, 3);

/* ---- sharing: create-volume permissions ---- */

/** A change of permissions (EC2's CreateVolumePermission, or its flat form
 * OperationType + UserId.N + UserGroup.N): account ids (12 digits) and
 * groups (only "all": everyone, public) to add and to remove.  Strings are
 * borrowed for the call. */
typedef struct bsnap_permission_change {
    const char *const *add_users;
    size_t nadd_users;
    const char *const *add_groups;
    size_t nadd_groups;
    const char *const *remove_users;
    size_t nremove_users;
    const char *const *remove_groups;
    size_t nremove_groups;
} bsnap_permission_change;

/** Share snapshot @id, or stop sharing it, as EC2's
 * ModifySnapshotAttribute: @attribute must be "createVolumePermission".
 * An account or group given the permission may describe the snapshot,
 * restore it (bsnap_volume_create(), readers) and copy it; it may not
 * delete, tag or share it, and sees none of its tags.  Adding a present
 * entry or removing an absent one does nothing.  Every item is checked
 * before anything changes: one bad item and nothing is applied.  Only the
 * owner may call it.
 * Errors: -EINVAL (InvalidSnapshotID.Malformed; InvalidParameterValue,
 * Attribute, for another attribute; InvalidParameterCombination for adds
 * and removes in one call; MissingParameter for neither;
 * InvalidAMIAttributeItemValue for an account id that is not 12 digits or
 * a group other than "all"); -ENOENT (InvalidSnapshot.NotFound, also for
 * another account's snapshot not shared with the caller); -EACCES
 * (AuthFailure) for one shared with the caller; -EPERM
 * (UnsupportedOperation) for making an encrypted snapshot public,
 * (InvalidParameter) for sharing one encrypted under an AWS-managed key;
 * -EIO; -ENOSPC; more than 500 changes: -EINVAL (InvalidParameterValue).
 * One encrypted under a customer key is shared, and read by the other
 * account only when the key is granted to it (bsnap_grant_create()). */
BSNAP_API BSNAP_WUR int bsnap_snapshot_attribute_modify(bsnap_store *store, const char *id,
                                                        const char *attribute,
                                                        const bsnap_permission_change *change)
    BSNAP_NONNULL(1, 2, 3, 4);

/** Describe an attribute of snapshot @id as EC2's DescribeSnapshotAttribute:
 * @attribute "createVolumePermission" gives {"SnapshotId",
 * "CreateVolumePermissions": [{"Group":"all"}, {"UserId":"…"}, …]} (empty
 * when private), "productCodes" {"SnapshotId", "ProductCodes": []}.
 * Only the owner may call it.  @ret_doc out: a new jansson object; the
 * caller json_decref()s it.  Errors: as bsnap_snapshot_attribute_modify()
 * for the id and the attribute; -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_snapshot_attribute_describe(bsnap_store *store, const char *id,
                                                          const char *attribute, json_t **ret_doc)
    BSNAP_NONNULL(1, 2, 3, 4);

/** Reset an attribute of snapshot @id as EC2's ResetSnapshotAttribute:
 * "createVolumePermission" only, which it empties (the snapshot is private
 * again).  Errors as bsnap_snapshot_attribute_modify(). */
BSNAP_API BSNAP_WUR int bsnap_snapshot_attribute_reset(bsnap_store *store, const char *id,
                                                       const char *attribute)
    BSNAP_NONNULL(1, 2, 3);

/** Add or overwrite tags on resources (snapshots, volumes, images).  All resources
 * are checked first; nothing changes unless all exist.
 * Errors: -EINVAL (*.Malformed, InvalidParameterValue, TagLimitExceeded
 * beyond 50 tags); -ENOENT (*.NotFound). */
BSNAP_API BSNAP_WUR int bsnap_tags_create(bsnap_store *store, const char *const *resources,
                                          size_t nresources, const bsnap_tag *tags, size_t ntags)
    BSNAP_NONNULL(1, 2, 4);

/** Remove tags from resources; a tag with a NULL value removes the key
 * whatever its value, one with a value only when it matches; @ntags == 0
 * removes every tag.  Errors as bsnap_tags_create(). */
BSNAP_API BSNAP_WUR int bsnap_tags_delete(bsnap_store *store, const char *const *resources,
                                          size_t nresources, const bsnap_tag *tags, size_t ntags)
    BSNAP_NONNULL(1, 2);

/* ------------------------------------------------------------------------
 * Diff
 * ------------------------------------------------------------------------ */

/** Called for each run of changed bytes, in increasing order, merged, clipped
 * to the larger volume size.  Return 0 to go on, negative errno to stop
 * (bsnap_snapshot_diff() then returns it). */
typedef int (*bsnap_range_func)(void *ud, uint64_t offset, uint64_t length);

/** Report the byte ranges in which snapshots @first and @second differ, at
 * chunk granularity, skipping equal subtrees of their block maps: the cost
 * is proportional to what changed, not to the volume size.  @first may be
 * NULL: then every non-zero range of @second is reported.
 * Errors: -EINVAL (InvalidSnapshotID.Malformed); -ENOENT
 * (InvalidSnapshot.NotFound); -EIO, and (Store.Corrupt) for a record whose
 * chunk size is not the store's; whatever @fn returned. */
BSNAP_API BSNAP_WUR int bsnap_snapshot_diff(bsnap_store *store, const char *first,
                                            const char *second, bsnap_range_func fn, void *ud)
    BSNAP_NONNULL(1, 3, 4);

/** The same diff as EBS ListChangedBlocks JSON: {"ChangedBlocks":[{
 * "BlockIndex":N,"FirstBlockToken":"…","SecondBlockToken":"…"}…],
 * "VolumeSize":GiB,"BlockSize":chunk_size}.  Tokens are chunk ids (absent
 * for a zero block).  @ret_doc out: a new jansson object; the caller json_decref()s it. */
BSNAP_API BSNAP_WUR int bsnap_snapshot_diff_json(bsnap_store *store, const char *first,
                                                 const char *second, json_t **ret_doc)
    BSNAP_NONNULL(1, 3, 4);

/* ------------------------------------------------------------------------
 * The EBS direct API (block-level snapshot access)
 *
 * A snapshot written block by block: bsnap_ebs_start_snapshot() makes it
 * pending; bsnap_ebs_put_block() stores a 512 KiB block at once as the
 * store's chunks (dedup and LZ4 as always, chunks of zeros as holes) and
 * records it in the store's pending table, in one transaction, after its
 * data is synced: a block a put returned for survives any crash, a put cut
 * short leaves only bytes gc reclaims.  The pending table holds a
 * reference on every chunk it names, so gc keeps them while the snapshot
 * is pending and verify counts them.  bsnap_ebs_complete() builds the
 * block map (the parent's with the written blocks over it) and makes the
 * snapshot completed, or error, in one transaction.  A pending snapshot
 * not written to or completed for its Timeout is cancelled (state error,
 * its chunks given back) by the next call that meets it, or by gc.
 *
 * Blocks are read from completed snapshots only, through block tokens: an
 * HMAC under the store's secret of the snapshot id, the block index, the
 * token's expiry and the block's chunk ids, so a client can neither forge
 * one nor use one for another snapshot or block.  NextToken values are
 * signed the same way.
 *
 * The store's chunk size must divide 512 KiB (the default 64 KiB does).
 * Encrypted snapshots are not written through this API (Encrypted and
 * KmsKeyArn are refused, and so is a store with encryption by default).
 *
 * Errors are EBS direct's: the code is the exception's name
 * (ValidationException, ResourceNotFoundException, ConflictException,
 * AccessDeniedException, InternalServerException) and bsnap_error.reason
 * its Reason (INVALID_BLOCK, SNAPSHOT_NOT_FOUND...).  A damaged store,
 * a full disk or an out-of-memory keep the engine's usual codes.
 *
 * Every call may be made from several threads and processes at once: puts
 * of one snapshot run in parallel (each appends to a pack of its own and
 * commits in a short transaction).
 * ------------------------------------------------------------------------ */

/** The block size of the EBS direct API: 512 KiB. */
#define BSNAP_EBS_BLOCK_SIZE 524288u
/** Room for a Base64 SHA-256 checksum and its NUL. */
#define BSNAP_EBS_CHECKSUM_MAX 45

/** StartSnapshot's parameters. */
typedef struct bsnap_ebs_start_options {
    uint64_t volume_size;    /**< VolumeSize: GiB, 1 to 65536 */
    const char *parent_id;   /**< ParentSnapshotId, or NULL */
    const char *description; /**< Description (at most 255 characters), or NULL */
    const bsnap_tag *tags;   /**< Tags (at most 50) */
    size_t ntags;
    uint32_t timeout;         /**< Timeout: minutes, 10 to 4320; 0: 60 */
    const char *client_token; /**< ClientToken (at most 64 characters), or NULL */
    bool encrypted;           /**< Encrypted: refused (see above) */
    const char *kms_key_arn;  /**< KmsKeyArn: refused */
} bsnap_ebs_start_options;

/** Start a snapshot of @o->volume_size GiB: pending, empty or, with a
 * parent, reading as the parent until blocks are written over it.  With a
 * ClientToken already used by the caller, the snapshot it started is
 * answered again when the other parameters are the same.
 * @ret_doc out: {SnapshotId, OwnerId, Status, StartTime (epoch seconds),
 * VolumeSize, BlockSize, Timeout, Description, Tags, ParentSnapshotId}.
 * Errors: ValidationException (-EINVAL: INVALID_VOLUME_SIZE,
 * INVALID_PARAMETER_VALUE for a timeout, description, token, encryption or
 * a chunk size that does not divide 512 KiB, INVALID_TAG,
 * INVALID_SNAPSHOT_ID for a malformed or incomplete parent, or one larger
 * than VolumeSize), ResourceNotFoundException (-ENOENT, SNAPSHOT_NOT_FOUND:
 * the parent), ConflictException (-EEXIST: the token with other
 * parameters), -EIO, -ENOSPC, -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_ebs_start_snapshot(bsnap_store *store,
                                                 const bsnap_ebs_start_options *o, json_t **ret_doc)
    BSNAP_NONNULL(1, 2, 3);

/** PutSnapshotBlock: store @data (@data_length bytes, which must be
 * BSNAP_EBS_BLOCK_SIZE) as block @index of pending snapshot @id, after
 * checking @checksum (Base64 SHA-256 of @data; @algorithm "SHA256") before
 * anything is stored.  A block written again replaces the earlier one.
 * @progress: 0 to 100, or -1 when not given.
 * @ret_doc out: {Checksum, ChecksumAlgorithm}.
 * Errors: ValidationException (-EINVAL: INVALID_SNAPSHOT_ID, INVALID_BLOCK
 * for a checksum that does not match, an index past the volume or a wrong
 * length, INVALID_PARAMETER_VALUE, WRITE_REQUEST_TIMEOUT for a snapshot
 * cancelled by its timeout; -EBUSY for a snapshot not pending),
 * ResourceNotFoundException (-ENOENT), -EIO, -ENOSPC, -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_ebs_put_block(bsnap_store *store, const char *id, uint64_t index,
                                            const void *data, uint64_t data_length,
                                            const char *checksum, const char *algorithm,
                                            int progress, json_t **ret_doc)
    BSNAP_NONNULL(1, 2, 4, 6, 7, 9);

/** CompleteSnapshot's parameters. */
typedef struct bsnap_ebs_complete_options {
    uint64_t changed_blocks_count; /**< ChangedBlocksCount: blocks written */
    /** Checksum: the aggregate (SHA-256 of the blocks' Base64 checksums in
     * index order, concatenated; Base64), or NULL */
    const char *checksum;
    const char *checksum_algorithm;          /**< "SHA256", or NULL */
    const char *checksum_aggregation_method; /**< "LINEAR", or NULL */
} bsnap_ebs_complete_options;

/** CompleteSnapshot: build the block map of pending snapshot @id and make
 * it completed, in one transaction; when ChangedBlocksCount or the
 * aggregate checksum does not match what was written, it becomes error
 * instead (its chunks given back) and the answer says so.  A completion
 * that fails (a crash, a full disk) leaves the snapshot pending with every
 * block: it may be completed again.
 * @ret_doc out: {"Status": "completed" | "error"}.
 * Errors: ValidationException (-EINVAL: INVALID_SNAPSHOT_ID,
 * INVALID_PARAMETER_VALUE, WRITE_REQUEST_TIMEOUT; -EBUSY: not pending),
 * ResourceNotFoundException (-ENOENT), -EIO, -ENOSPC, -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_ebs_complete(bsnap_store *store, const char *id,
                                           const bsnap_ebs_complete_options *o, json_t **ret_doc)
    BSNAP_NONNULL(1, 2, 3, 4);

/** ListSnapshotBlocks / ListChangedBlocks paging. */
typedef struct bsnap_ebs_list_options {
    /** ListChangedBlocks: FirstSnapshotId, or NULL (every written block of
     * the second is changed) */
    const char *first_id;
    uint64_t starting_block_index; /**< StartingBlockIndex */
    uint32_t max_results;          /**< MaxResults: 0 (10000) or 100 to 10000; below 100: 100 */
    const char *next_token;        /**< NextToken, or NULL; it wins over StartingBlockIndex */
} bsnap_ebs_list_options;

/** ListSnapshotBlocks: the blocks of completed snapshot @id that hold data
 * (its own and its parents'), ascending, with their BlockToken.  Blocks of
 * zeros are holes and not listed.
 * @ret_doc out: {Blocks:[{BlockIndex, BlockToken}], ExpiryTime,
 * VolumeSize, BlockSize, NextToken?}.
 * Errors: ValidationException (-EINVAL: INVALID_SNAPSHOT_ID,
 * INVALID_PAGE_TOKEN, INVALID_PARAMETER_VALUE; -EBUSY: not completed),
 * ResourceNotFoundException (-ENOENT), -EIO, -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_ebs_list_blocks(bsnap_store *store, const char *id,
                                              const bsnap_ebs_list_options *o, json_t **ret_doc)
    BSNAP_NONNULL(1, 2, 3, 4);

/** ListChangedBlocks: the blocks that differ between @o->first_id and
 * @second (two completed snapshots of one lineage: the same volume, or one
 * an ancestor of the other), with FirstBlockToken where the first holds
 * data there and SecondBlockToken where the second does.
 * @ret_doc out: {ChangedBlocks:[…], ExpiryTime, VolumeSize, BlockSize,
 * NextToken?}.  Errors: as bsnap_ebs_list_blocks(), and
 * ValidationException UNRELATED_SNAPSHOTS. */
BSNAP_API BSNAP_WUR int bsnap_ebs_list_changed(bsnap_store *store, const char *second,
                                               const bsnap_ebs_list_options *o, json_t **ret_doc)
    BSNAP_NONNULL(1, 2, 3, 4);

/** GetSnapshotBlock: read block @index of completed snapshot @id into @buf
 * (BSNAP_EBS_BLOCK_SIZE bytes, the caller's), given the @token a listing
 * gave for it, and its Base64 SHA-256 into @ret_checksum.
 * Errors: ValidationException (-EINVAL: INVALID_SNAPSHOT_ID,
 * INVALID_BLOCK_TOKEN for a token not of this snapshot and block, or
 * expired; INVALID_BLOCK for an index past the volume; -EBUSY: not
 * completed), ResourceNotFoundException (-ENOENT), -EIO (a damaged chunk,
 * named), -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_ebs_get_block(bsnap_store *store, const char *id, uint64_t index,
                                            const char *token, void *buf,
                                            char ret_checksum[BSNAP_EBS_CHECKSUM_MAX])
    BSNAP_NONNULL(1, 2, 4, 5, 6);

/* ------------------------------------------------------------------------
 * Reading snapshot contents (restore, FUSE)
 * ------------------------------------------------------------------------ */

typedef struct bsnap_reader bsnap_reader;

/** Open snapshot @id (completed) for reading.  The reader keeps the block
 * map root it opened; it stays valid while the snapshot's chunks are in the
 * store.  Errors: as bsnap_snapshot_get(), -EBUSY (IncorrectState) for a
 * pending snapshot, and -EIO (Store.Corrupt) for a record whose chunk size
 * is not the store's (a store's chunk size never changes). */
BSNAP_API BSNAP_WUR int bsnap_reader_open(bsnap_store *store, const char *id,
                                          bsnap_reader **ret_reader) BSNAP_NONNULL(1, 2, 3);

/** Flags for bsnap_reader_open_flags(). */
enum {
    /** Do not pin the snapshot.  Opening then writes nothing (a pin is a
     * metadata transaction), which suits short reads such as partition
     * tables and boot sectors; reads of a snapshot that is deleted and
     * gc'd meanwhile fail with -EIO (never other data). */
    BSNAP_READER_NOPIN = 1u << 0,
};

/** bsnap_reader_open() with @flags (BSNAP_READER_*).  Errors as there. */
BSNAP_API BSNAP_WUR int bsnap_reader_open_flags(bsnap_store *store, const char *id, unsigned flags,
                                                bsnap_reader **ret_reader) BSNAP_NONNULL(1, 2, 4);

/** Close a reader.  NULL is a no-op. */
BSNAP_API void bsnap_reader_close(bsnap_reader *reader);

/** The snapshot's volume size in bytes. */
BSNAP_API uint64_t bsnap_reader_size(const bsnap_reader *reader) BSNAP_NONNULL(1);

/** Read up to @len bytes at @offset into @buf; short only at the end of the
 * volume.  Holes read as zeros.  Every chunk is verified (checksum and id)
 * before its bytes are returned.  Thread-safe: many threads may read one
 * reader at once.  Returns the byte count.  Errors: -EIO (logged with chunk,
 * pack and offset) for a damaged or missing chunk; -ENOMEM. */
BSNAP_API BSNAP_WUR long bsnap_reader_pread(bsnap_reader *reader, void *buf, size_t len,
                                            uint64_t offset) BSNAP_NONNULL(1, 2);

/** Read chunk @index (the volume's chunk_size bytes; the last chunk of a
 * volume whose size is not a multiple of it is zero-padded) into @buf, which
 * holds chunk_size bytes.  Verified as bsnap_reader_pread() verifies.
 * Returns 1 when the chunk is a hole (all zeros): @buf is then untouched, so
 * a caller that keeps chunks can share one zero buffer; 0 when read.
 * Errors as bsnap_reader_pread(), and -EINVAL for an index past the end. */
BSNAP_API BSNAP_WUR int bsnap_reader_read_chunk(bsnap_reader *reader, uint64_t index, void *buf)
    BSNAP_NONNULL(1, 3);

/** lseek(2)'s SEEK_DATA / SEEK_HOLE over the block map: @whence is SEEK_DATA
 * or SEEK_HOLE.  Data means a non-zero chunk.  @ret_offset out.
 * Errors: -ENXIO past the end (or no data after @offset), -EINVAL, -EIO. */
BSNAP_API BSNAP_WUR int bsnap_reader_seek(bsnap_reader *reader, uint64_t offset, int whence,
                                          uint64_t *ret_offset) BSNAP_NONNULL(1, 4);

/* ------------------------------------------------------------------------
 * Maintenance
 * ------------------------------------------------------------------------ */

/** One problem verify found.  Fields that do not apply are "" or -1.  The
 * strings are valid during the callback only. */
typedef struct bsnap_problem {
    const char *snapshot_id; /**< a snapshot affected, or "" */
    const char *chunk_id;    /**< 32 hex digits, or "" */
    int64_t pack;            /**< pack number, or -1 */
    int64_t offset;          /**< byte offset in the pack, or -1 */
    const char *what;        /**< what is wrong, e.g. "checksum mismatch" */
    /** a writable volume affected (bsnap_volume_verify()), or "" or NULL */
    const char *volume_id;
} bsnap_problem;

typedef void (*bsnap_problem_func)(void *ud, const bsnap_problem *problem);

/** Figures of a verify run. */
typedef struct bsnap_verify_stats {
    uint64_t chunks_checked;
    uint64_t bytes_checked;
    uint64_t snapshots_checked;
    uint64_t problems;
    uint64_t damaged_snapshots;
    /** records sealed under a lineage whose key is not at hand: only their
     * stored checksums were checked (counted in chunks_checked too) */
    uint64_t keyless_chunks;
    /** encrypted snapshots whose key is not at hand: block map not walked */
    uint64_t snapshots_unchecked;
} bsnap_verify_stats;

/** Check the store, or only snapshot @snapshot_id: every stored byte
 * (record checksum, decompression, chunk id), every reference (each page
 * and chunk a snapshot names exists), and, for the whole store, that every
 * refcount equals the references to it.  Each problem is passed to @fn.
 * Unreferenced chunks (leaks from interrupted writes) are not problems; gc
 * reclaims them.  Returns 0 when the check ran (look at
 * @ret_stats->problems), negative errno when it could not run. */
BSNAP_API BSNAP_WUR int bsnap_verify(bsnap_store *store, const char *snapshot_id,
                                     const bsnap_run_options *run, bsnap_problem_func fn, void *ud,
                                     bsnap_verify_stats *ret_stats) BSNAP_NONNULL(1, 6);

/** Figures of bsnap_volume_verify(). */
typedef struct bsnap_volume_verify_stats {
    uint64_t volumes_checked; /**< writable volumes whose files were checked */
    uint64_t volumes_in_use;  /**< writable volumes a writer had open: files not checked */
    uint64_t volumes_keyless; /**< encrypted ones whose key is not at hand: chunks not opened */
    uint64_t chunks_checked;  /**< sealed chunks authenticated */
    uint64_t problems;        /**< problems passed to the callback, repaired ones not counted */
    uint64_t repaired;        /**< problems repaired (also passed, "repaired: ...") */
} bsnap_volume_verify_stats;

/** Check every writable volume's files against its record: the overlay's
 * size, the map (its checksum and shape), an encrypted volume's seal file
 * and every sealed chunk the map calls written (each must authenticate;
 * without the key only the sizes are checked), the base and last
 * snapshots exist and are pinned (delete-snapshot refuses them).  A volume
 * a writer has open is skipped (counted).  Each problem goes to @fn with
 * its volume id; its text says what it would take to mend it.  With
 * @repair, what is safe is done first and reported as "repaired: ...": a
 * missing or damaged map is rebuilt from the overlay (every chunk holding
 * data, or a seal, counts as written and changed since the last snapshot),
 * a snapshot that lost its pin is pinned again.  Nothing is ever deleted:
 * a missing overlay or base, a chunk that does not authenticate are
 * reported, not mended.  Returns 0 when the check ran (look at
 * @ret_stats->problems); -EIO, -ENOMEM when it could not. */
BSNAP_API BSNAP_WUR int bsnap_volume_verify(bsnap_store *store, bool repair, bsnap_problem_func fn,
                                            void *ud, bsnap_volume_verify_stats *ret_stats)
    BSNAP_NONNULL(1, 5);

/** Figures of a repair. */
typedef struct bsnap_repair_stats {
    uint64_t meta_problems;     /**< problems the structure check found in meta/data.mdb */
    uint64_t records_kept;      /**< snapshot, volume and image records salvaged */
    uint64_t records_lost;      /**< records in damaged pages (the tables' own counts) */
    uint64_t tables_lost;       /**< tables (snapshots, volumes, images) not found at all */
    uint64_t records_dropped;   /**< salvaged records that did not decode */
    uint64_t pending_dropped;   /**< pending snapshots (writers gone) dropped */
    uint64_t snapshots;         /**< completed snapshots in the new metadata */
    uint64_t damaged_snapshots; /**< of those, ones whose tree misses a page or chunk */
    uint64_t parents_lost;      /**< snapshots whose parent's record was lost */
    uint64_t recovered;         /**< new records for trees whose record was lost */
    uint64_t packs;             /**< pack files read */
    uint64_t records_indexed;   /**< sound pack records, now in the index */
    uint64_t duplicates;        /**< records of a chunk already indexed */
    uint64_t damaged_records;   /**< damaged pack records skipped */
    uint64_t bytes_skipped;     /**< pack bytes skipped with them */
    uint64_t chunks_live;       /**< index entries a snapshot references */
    uint64_t problems;          /**< problems passed to the callback */
    char saved_as[128];         /**< the old file's new name (in the store), or "" */
} bsnap_repair_stats;

/** Rebuild the metadata of the store at @path from what can still be read:
 * records from the sound pages of meta/data.mdb (read without liblmdb), the
 * chunk index from the packs (every record checked), refcounts from the
 * completed snapshots' trees.  The new file replaces meta/data.mdb
 * atomically; the old one stays as meta/data.mdb.damaged-TIME.  Each loss
 * (records in damaged pages, records that do not decode, snapshots that
 * kept records name, damaged pack records) is passed to @fn.  Holds the
 * store lock exclusively; fails with -EBUSY (Store.Busy) when another
 * process has the metadata open (a mount, a restore).  Returns 0 when the
 * new metadata is in place; negative errno, the store as it was, otherwise.
 * Run bsnap_verify() after it. */
BSNAP_API BSNAP_WUR int bsnap_store_repair(const char *path, const bsnap_run_options *run,
                                           bsnap_problem_func fn, void *ud,
                                           bsnap_repair_stats *ret_stats) BSNAP_NONNULL(1);

/** The default of bsnap_gc_options.max_unused, as restic's prune: a pack
 * is rewritten once more than 5 % of it is dead, so no more than about 5 %
 * of the packs' bytes stay unreclaimed. */
#define BSNAP_GC_MAX_UNUSED_DEFAULT 5u

/** Options of bsnap_gc().  Zero-initialise for defaults. */
typedef struct bsnap_gc_options {
    /** Rewrite a pack that still holds live records only when its dead
     * bytes are more than this percentage of its size, 0 to 100 (0: any
     * dead byte; 100: never).  A pack with no live record is always
     * deleted, whatever this says.  Read only when max_unused_set is true;
     * otherwise BSNAP_GC_MAX_UNUSED_DEFAULT. */
    unsigned max_unused;
    bool max_unused_set; /**< max_unused is given */
    bsnap_run_options run;
} bsnap_gc_options;

/** Figures of a gc run. */
typedef struct bsnap_gc_stats {
    uint64_t chunks_freed;      /**< index entries removed */
    uint64_t snapshots_removed; /**< abandoned pending snapshots removed */
    uint64_t packs_removed;     /**< packs with no live record, deleted */
    uint64_t packs_rewritten;   /**< packs whose dead share passed max_unused */
    uint64_t bytes_before;      /**< pack bytes before */
    uint64_t bytes_after;       /**< pack bytes after */
    uint64_t packs_unreclaimed; /**< packs left with dead bytes (below max_unused) */
    uint64_t bytes_unreclaimed; /**< their dead bytes, which stay on disk */
    /** files under STORE/volumes/ that no volume record names (a crash
     * between a writable volume's files and its record), removed: only
     * those older than BSNAP_GC_VOLUME_GRACE_S, never a live volume's */
    uint64_t volume_files_removed;
} bsnap_gc_stats;

/** How old (seconds, by modification time) files of a writable volume that
 * has no record must be before gc removes them: a create-volume writes the
 * files first and the record after, within milliseconds; an hour leaves
 * any one in progress alone. */
#define BSNAP_GC_VOLUME_GRACE_S 3600

/** Reclaim space: drop abandoned pending snapshots, free unreferenced chunks
 * (cascading through pages), delete packs with no live record and rewrite
 * packs whose dead share passes @opts->max_unused (the live records copied
 * to a new pack, the old one deleted).  Waits for running writers (store
 * lock; the wait ends with -ECANCELED when @opts->run's cancel flag is set).
 * Runs on a full file system too (the store's reserve file gives its
 * metadata room).  Crash-safe at every step.  Also removes the files of
 * writable volumes that have no record (see volume_files_removed).
 *
 * @opts in, optional: NULL for the defaults.  @ret_stats out, optional.
 * Errors: -EINVAL (InvalidParameterValue) max_unused above 100; -EIO;
 * -ENOSPC; -ECANCELED. */
BSNAP_API BSNAP_WUR int bsnap_gc(bsnap_store *store, const bsnap_gc_options *opts,
                                 bsnap_gc_stats *ret_stats) BSNAP_NONNULL(1);

/* ------------------------------------------------------------------------
 * Partitions and boot sectors
 * ------------------------------------------------------------------------ */

/** Partition table kinds. */
typedef enum bsnap_partition_scheme {
    BSNAP_PART_NONE = 0, /**< no table found (or none that checks) */
    BSNAP_PART_MBR = 1,  /**< MS-DOS table, with logical partitions */
    BSNAP_PART_GPT = 2,  /**< GUID partition table (CRCs checked) */
} bsnap_partition_scheme;

/** One partition of a volume, as its table describes it, clipped to the
 * volume: offset + size never exceeds the volume size. */
typedef struct bsnap_partition {
    unsigned number;    /**< Linux numbering: MBR 1-4 primary, 5+ logical; GPT index + 1 */
    uint64_t offset;    /**< bytes from the start of the volume */
    uint64_t size;      /**< bytes, > 0 */
    uint8_t mbr_type;   /**< MBR type byte; 0 for GPT */
    bool bootable;      /**< MBR active flag (0x80) */
    bool esp;           /**< an EFI System Partition (GPT type or MBR 0xEF) */
    bool clipped;       /**< the table claimed more than the volume holds */
    char type_guid[37]; /**< GPT type GUID (upper case); "" for MBR */
    char uuid[37];      /**< GPT partition GUID; "" for MBR */
    char name[109];     /**< GPT partition name as UTF-8; "" for MBR */
} bsnap_partition;

/** How a volume boots, as far as its first sectors tell. */
typedef enum bsnap_boot_mode {
    BSNAP_BOOT_NONE = 0,        /**< nothing bootable found */
    BSNAP_BOOT_LEGACY_BIOS = 1, /**< MBR boot signature with a BIOS path */
    BSNAP_BOOT_UEFI = 2,        /**< an EFI System Partition */
    BSNAP_BOOT_HYBRID = 3,      /**< both */
} bsnap_boot_mode;

/** Boot facts of a volume. */
typedef struct bsnap_boot_info {
    bsnap_partition_scheme scheme;
    bsnap_boot_mode mode;
    bool mbr_signature;       /**< 0x55AA at byte 510 */
    bool mbr_boot_code;       /**< the 440-byte MBR boot code area is not all zero */
    bool bios_boot_partition; /**< GPT "BIOS boot" partition (GRUB on GPT) */
    bool has_esp;             /**< an EFI System Partition exists */
    uint32_t sector_size;     /**< 512, or 4096 for a GPT found at 4 KiB LBAs */
    size_t npartitions;       /**< partitions found */
    char disk_guid[37];       /**< GPT disk GUID; "" otherwise */
} bsnap_boot_info;

/** Read the partition table of an open snapshot (MBR with its logical
 * partitions, or GPT, whose header and entry-array CRC32s must check; a
 * damaged primary GPT falls back to the backup at the last LBA).  Every
 * value read from the volume is distrusted: partitions past the end are
 * dropped, sizes that run past it are clipped (clipped = true), extended
 * partition chains that loop are cut.
 *
 * @reader in: an open reader (any thread; the call only reads through it).
 * @ret_parts out: malloc'd array sorted by number, NULL when *ret_n is 0.
 * @ret_n out: how many.  A volume without a table gives 0 partitions.
 * Errors: -EIO (the reader's, logged with chunk, pack and offset); -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_partitions_read(bsnap_reader *reader, bsnap_partition **ret_parts,
                                              size_t *ret_n) BSNAP_NONNULL(1, 2, 3);

/** Where one partition of a snapshot lies: what a view needs to show it as
 * a file of its own.  A snapshot's table of these is found when it is
 * taken (bsnap_partitions_read() through a reader of the new snapshot) and
 * kept in its record: snapshots never change, so neither does the table. */
typedef struct bsnap_part_extent {
    unsigned number; /**< as bsnap_partition.number */
    uint64_t offset; /**< bytes from the start of the volume */
    uint64_t size;   /**< bytes, > 0; offset + size <= the volume size */
} bsnap_part_extent;

/** One snapshot of a bsnap_snapshot_walk(). */
typedef struct bsnap_snapshot_entry {
    bsnap_snapshot_info info;
    /** false when the record has no table: a snapshot taken by a version
     * that did not record it (read it with bsnap_partitions_read()), or a
     * pending one.  true with @nparts 0: no partition table was found. */
    bool parts_known;
    size_t nparts;
    const bsnap_part_extent *parts; /**< valid during the callback only */
} bsnap_snapshot_entry;

/** Called for each snapshot of a walk; a non-zero return stops the walk
 * and is returned by it. */
typedef int (*bsnap_snapshot_walk_fn)(const bsnap_snapshot_entry *entry, void *userdata);

/** Call @fn for every snapshot (pending ones too), in id order, from one
 * walk of the record table in one read transaction: one record in memory
 * at a time, no reader opened.  @fn runs inside that transaction: it may
 * read the store but should be short, and must not take a write.
 * Errors: -EIO, -ENOMEM; or what @fn returned. */
BSNAP_API BSNAP_WUR int bsnap_snapshot_walk(bsnap_store *store, bsnap_snapshot_walk_fn fn,
                                            void *userdata) BSNAP_NONNULL(1, 2);

/** The partition table recorded in snapshot @id's record.
 * @ret_parts out: malloc'd array sorted by number, NULL when *ret_n is 0.
 * Errors: -EINVAL (InvalidSnapshotID.Malformed); -ENOENT
 * (InvalidSnapshot.NotFound); -ENODATA (not recorded: see
 * bsnap_snapshot_entry.parts_known); -EIO; -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_snapshot_partitions(bsnap_store *store, const char *id,
                                                  bsnap_part_extent **ret_parts, size_t *ret_n)
    BSNAP_NONNULL(1, 2, 3, 4);

/** Inspect the boot sectors of an open snapshot.  The mode follows these
 * rules: UEFI when an EFI System Partition exists (GPT type
 * C12A7328-F81F-11D2-BA4B-00A0C93EC93B or MBR type 0xEF); legacy BIOS when
 * the 0x55AA signature is present and either the table is a plain MBR, or a
 * GPT's protective MBR carries boot code, or a GPT has a BIOS boot
 * partition; hybrid when both hold; none otherwise.
 * @ret_info out.  Errors: as bsnap_partitions_read(). */
BSNAP_API BSNAP_WUR int bsnap_boot_inspect(bsnap_reader *reader, bsnap_boot_info *ret_info)
    BSNAP_NONNULL(1, 2);

/** The name of a boot mode: "none", "legacy-bios", "uefi" or "hybrid".
 * Static string.  Any thread. */
BSNAP_API const char *bsnap_boot_mode_name(bsnap_boot_mode mode);

/* ------------------------------------------------------------------------
 * Images (AMI manifests)
 * ------------------------------------------------------------------------ */

/** Most block device mappings one image may have. */
#define BSNAP_IMAGE_MAPPINGS_MAX 64
/** Longest image name (EC2: 3 to 128 characters), with its NUL. */
#define BSNAP_IMAGE_NAME_MAX 129
/** Longest device name ("/dev/xvdba"), with its NUL. */
#define BSNAP_DEVICE_NAME_MAX 32

/** Image states, as EC2's.  A deregistered image stays as a tombstone:
 * describe calls leave it out, deregistering it again is
 * InvalidAMIID.Unavailable, and its name is free again. */
typedef enum bsnap_image_state {
    BSNAP_IMAGE_PENDING = 0,
    BSNAP_IMAGE_AVAILABLE = 1,
    BSNAP_IMAGE_FAILED = 2,
    BSNAP_IMAGE_DEREGISTERED = 3,
} bsnap_image_state;

/** One volume of a machine for bsnap_image_create(): a device name and the
 * raw image file or block device that backs it. */
typedef struct bsnap_image_volume {
    const char *device; /**< "/dev/xvda" */
    const char *path;   /**< a raw image file or a block device */
} bsnap_image_volume;

/** The largest VolumeSize of a mapping, in GiB (EC2's 64 TiB). */
#define BSNAP_VOLUME_SIZE_MAX 65536u
/** The largest Iops of a mapping. */
#define BSNAP_IOPS_MAX 256000u

/** What a block device mapping maps, as EC2's BlockDeviceMapping says it:
 * exactly one of Ebs, VirtualName, NoDevice.  Zero is none of them, which
 * is refused (a mapping must say what it maps). */
typedef enum bsnap_mapping_kind {
    BSNAP_MAPPING_UNSET = 0,    /**< not given: InvalidBlockDeviceMapping */
    BSNAP_MAPPING_EBS = 1,      /**< Ebs: a volume, from a snapshot or empty */
    BSNAP_MAPPING_VIRTUAL = 2,  /**< VirtualName: an instance store ("ephemeralN") */
    BSNAP_MAPPING_NODEVICE = 3, /**< NoDevice: suppress the device */
} bsnap_mapping_kind;

/** One EC2 block device mapping (RegisterImage's BlockDeviceMappings.N).
 * Zero-initialise, then set what is given: NULL, 0 and BSNAP_UNSET mean
 * "not given".  Strings are borrowed for the call. */
typedef struct bsnap_block_device_mapping {
    const char *device_name;  /**< DeviceName, e.g. "/dev/xvda"; required */
    bsnap_mapping_kind kind;  /**< required */
    const char *virtual_name; /**< VirtualName ("ephemeral0"), for BSNAP_MAPPING_VIRTUAL */
    /* Ebs, for BSNAP_MAPPING_EBS: */
    const char *snapshot_id;              /**< Ebs.SnapshotId; NULL: an empty volume */
    uint64_t volume_size;                 /**< Ebs.VolumeSize, GiB; 0: the snapshot's */
    const char *volume_type;              /**< Ebs.VolumeType; NULL: "standard" */
    uint64_t iops;                        /**< Ebs.Iops; 0: not given */
    bsnap_tristate delete_on_termination; /**< Ebs.DeleteOnTermination; UNSET: true */
    bsnap_tristate encrypted;             /**< Ebs.Encrypted; UNSET: not given */
} bsnap_block_device_mapping;

/** What to register.  Zero-initialise, then set what is given: NULL, 0,
 * false and BSNAP_UNSET mean "not given".  A front end that takes a whole
 * request as a document (a RegisterImage request, a manifest) parses it
 * into these fields itself (the front-end library does). */
typedef struct bsnap_image_options {
    const char *name;             /**< 3-128 of [A-Za-z0-9()[] ./'@_-]; required */
    const char *description;      /**< optional, at most 255 characters */
    const char *architecture;     /**< i386, x86_64 (default), arm64, x86_64_mac, arm64_mac */
    const char *virtualization;   /**< hvm (default) or paravirtual */
    const char *root_device_name; /**< e.g. "/dev/xvda"; default: the first mapping */
    const char *boot_mode;        /**< legacy-bios, uefi, uefi-preferred; NULL: detected */
    bsnap_tristate ena_support;   /**< BSNAP_TRUE or BSNAP_FALSE; BSNAP_UNSET: false */
    bool no_boot_check;           /**< register a root volume that does not look bootable */
    /** EC2 block device mappings (register only: create takes @volumes),
     * at most BSNAP_IMAGE_MAPPINGS_MAX. */
    const bsnap_block_device_mapping *mappings;
    size_t nmappings;
    const bsnap_tag *tags; /**< optional tags of the new image (a key given twice: the last wins) */
    size_t ntags;
    /** Create only: the machine's volumes, each snapshotted incrementally
     * (in parallel threads). */
    const bsnap_image_volume *volumes;
    size_t nvolumes;
    unsigned threads;      /**< create: workers per snapshot (0: one per core) */
    bsnap_run_options run; /**< create: progress (summed over volumes), cancel */
} bsnap_image_options;

/** Register an image from existing snapshots (EC2 RegisterImage).
 *
 * Everything is checked before anything is written, and the record is
 * written in one transaction that checks again that every snapshot exists,
 * so a snapshot deleted meanwhile can never be named: the name (rules
 * above; unique among the store's live images), every mapping (device name
 * well-formed for the virtualization type and unique; exactly one of Ebs,
 * VirtualName, NoDevice; Ebs with a SnapshotId or a VolumeSize; VolumeSize
 * not below the snapshot's size in GiB; no Encrypted with a snapshot), the
 * root device (present among the mappings, with a snapshot), the
 * snapshots (exist, completed), the architecture and boot mode.
 *
 * Bootable check: the root snapshot's first sectors are read through a
 * reader and its partition table parsed (defensively, see
 * bsnap_boot_inspect()).  Legacy BIOS needs the 0x55AA signature and MBR
 * boot code; UEFI needs an EFI System Partition in a GPT whose CRCs check
 * (or an MBR partition of type 0xEF); both make a hybrid.  The detected
 * mode is recorded (DetectedBootMode) and, when @opts->boot_mode is not
 * given, becomes the BootMode: legacy-bios, uefi, or uefi-preferred for a
 * hybrid.  A root volume that boots neither way is refused unless
 * @opts->no_boot_check; a boot mode the disk cannot honour is refused
 * likewise (uefi without an ESP, legacy-bios without boot code, arm64 with
 * legacy-bios).
 *
 * The image is "available" at once (its snapshots are completed).
 * @ret_id out: the new "ami-" id.
 * Errors (nothing is written on any of them):
 * -EINVAL: InvalidAMIName.Malformed, InvalidBlockDeviceMapping (missing or
 *   invalid or duplicate device name, neither snapshot nor size, size below
 *   the snapshot's or above BSNAP_VOLUME_SIZE_MAX, Iops above
 *   BSNAP_IOPS_MAX, a kind or tristate out of range, too many mappings),
 *   InvalidParameterValue (root device not among the mappings or without a
 *   snapshot, architecture, virtualization type, boot mode, description,
 *   an ena_support that is no bsnap_tristate), MissingParameter (no
 *   name, no mappings), InvalidParameterCombination (Encrypted with a
 *   snapshot), InvalidSnapshotID.Malformed, Image.NotBootable (root volume
 *   not bootable, or not in the given boot mode), tag errors as
 *   bsnap_tags_create();
 * -EEXIST: InvalidAMIName.Duplicate, naming the image that has the name;
 * -ENOENT: InvalidSnapshot.NotFound;
 * -EBUSY: IncorrectState (a snapshot is pending or failed);
 * -EIO (reading the root volume, or the store); -ENOSPC; -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_image_register(bsnap_store *store, const bsnap_image_options *opts,
                                             char ret_id[BSNAP_ID_MAX]) BSNAP_NONNULL(1, 2, 3);

/** Create an image of a machine (EC2 CreateImage for local disks): take an
 * incremental snapshot of each of @opts->volumes (the first is the root
 * unless @opts->root_device_name says otherwise; each file's last snapshot
 * is its parent), in parallel threads, one per volume, then register them
 * as bsnap_image_register() does, with the snapshots' sizes and
 * DeleteOnTermination true.  Each snapshot's description names the image:
 * "Created by CreateImage(DEVICE) for ami-…".
 *
 * All or nothing: if any snapshot or the registration fails (or the run is
 * cancelled), the snapshots this call made are deleted and no image is
 * registered; the error is the first failure's.
 * @ret_id out: the image id.  Errors: as bsnap_image_register() and
 * bsnap_snapshot_create() (-ECANCELED included), plus -EINVAL
 * (InvalidParameterValue) for a device or a file given twice, and
 * (MissingParameter) for no volumes. */
BSNAP_API BSNAP_WUR int bsnap_image_create(bsnap_store *store, const bsnap_image_options *opts,
                                           char ret_id[BSNAP_ID_MAX]) BSNAP_NONNULL(1, 2, 3);

/** One EBS volume of an instance for bsnap_image_create_instance(): a
 * writable volume (bsnap_volume_create_writable()) and its attachment. */
typedef struct bsnap_instance_volume {
    const char *device;         /**< its DeviceName on the instance, "/dev/xvda" */
    const char *volume_id;      /**< the writable volume attached there */
    bool delete_on_termination; /**< the attachment's DeleteOnTermination */
} bsnap_instance_volume;

/** How the snapshot of volume @index of bsnap_instance_image_options is
 * taken when another process holds it open (the nbdkit plugin that serves
 * it to a running machine, through its control channel): take it with
 * @opts (the description and tags; no volume named) and answer the
 * completed snapshot's id in @ret_id, or fail with a negative errno after
 * recording why with bsnap_fail_external(). */
typedef int (*bsnap_volume_snapshot_fn)(void *ud, size_t index, const bsnap_snapshot_options *opts,
                                        char ret_id[BSNAP_ID_MAX], bsnap_snapshot_stats *ret_stats);

/** Pause (@thaw: resume) what writes to the volumes, so that their
 * snapshots are one instant across all of them.  0, or a negative errno
 * after bsnap_fail_external(). */
typedef int (*bsnap_instance_freeze_fn)(void *ud);

/** What bsnap_image_create_instance() snapshots and how.  Zero-initialise. */
typedef struct bsnap_instance_image_options {
    const char *instance_id; /**< required: the image's SourceInstanceId */
    /** required: the instance's EBS volumes, at most
     * BSNAP_IMAGE_MAPPINGS_MAX */
    const bsnap_instance_volume *volumes;
    size_t nvolumes;
    /** CreateImage's BlockDeviceMappings: only DeleteOnTermination of a
     * device of the instance may change (a mapping of its device with Ebs
     * and nothing but DeleteOnTermination), a device may be dropped
     * (NoDevice), and devices it has not may be added: empty volumes (Ebs
     * with a VolumeSize and no SnapshotId) and instance stores
     * (VirtualName).  Anything else is InvalidBlockDeviceMapping. */
    const bsnap_block_device_mapping *mappings;
    size_t nmappings;
    /** TagSpecifications of ResourceType snapshot: on every new snapshot */
    const bsnap_tag *snapshot_tags;
    size_t nsnapshot_tags;
    /** optional: how each volume's snapshot is taken; NULL: in this
     * process (each volume must then be closed everywhere else: a
     * stopped instance's).  In this process the snapshots stay pending
     * until the image that names them is registered (all or nothing); a
     * function's snapshots are completed by the process that takes them,
     * so a failure after the first leaves those as the volumes' latest
     * snapshots (no image names them). */
    bsnap_volume_snapshot_fn snapshot;
    /** optional: called once every check has passed, right before the
     * first snapshot, and @thaw at the end, once the image is registered
     * (or after a failure) and the volumes this call opened are closed
     * again (a machine started again may open them): a paused machine's
     * snapshots are one instant.  A @freeze that fails ends the call (no
     * snapshot taken); @thaw is called whenever @freeze succeeded, and its
     * failure after a registration is the call's failure, whose message
     * names the image, which stands, whole. */
    bsnap_instance_freeze_fn freeze, thaw;
    void *ud; /**< passed to @snapshot, @freeze and @thaw */
} bsnap_instance_image_options;

/** Create an image of an instance (EC2 CreateImage --instance-id): a
 * snapshot of each of @inst->volumes but those a NoDevice mapping drops,
 * each reading only the chunks its volume wrote since its last snapshot
 * (or since it was made), with the description "Created by
 * CreateImage(i-…) for ami-…" and @inst->snapshot_tags; then the image,
 * registered as bsnap_image_register() does with these snapshots for the
 * instance's devices (the volume's VolumeType, the attachment's
 * DeleteOnTermination unless a mapping changes it), the added devices of
 * @inst->mappings, and SourceInstanceId.  @opts gives the rest as
 * bsnap_image_register() takes it: the name and description, the image's
 * tags, and what the instance inherits of its image (architecture,
 * virtualization type, root device name, boot mode, ENA); its mappings
 * and volumes must be unset.  The image is registered only once every
 * snapshot is completed, so it is "available" when this returns.
 *
 * Everything that can be checked is, before @inst->freeze and the first
 * snapshot: the name (rules and uniqueness), the description, the
 * mappings, the tags, the volumes (exist, writable, no device twice).  In
 * a dry run (bsnap_store_set_dry_run()) the call ends there with
 * DryRunOperation: nothing is frozen or snapshotted.
 *
 * @ret_id out: the image id.  @ret_snapshot_ids out, optional: room for
 * @inst->nvolumes ids, each the snapshot of that volume ("" for a dropped
 * one).  Errors: as bsnap_image_register() and bsnap_volume_snapshot();
 * -EINVAL (MissingParameter: no instance id, no volumes;
 * InvalidInstanceID.Malformed; InvalidBlockDeviceMapping: an override
 * that changes more than DeleteOnTermination, a device twice;
 * InvalidParameterCombination: volumes or mappings in @opts); -ENOENT
 * (InvalidVolume.NotFound); what @inst->snapshot, @freeze and @thaw
 * recorded. */
BSNAP_API BSNAP_WUR int bsnap_image_create_instance(
    bsnap_store *store, const bsnap_image_options *opts, const bsnap_instance_image_options *inst,
    char ret_id[BSNAP_ID_MAX], char (*ret_snapshot_ids)[BSNAP_ID_MAX]) BSNAP_NONNULL(1, 2, 3, 4);

/** Describe images as EC2's DescribeImages: {"Images":[…]} (and "NextToken"
 * when another page remains), each with
 * ImageId, Name, Description, State, OwnerId, CreationDate, Architecture,
 * ImageType, Public, RootDeviceName, RootDeviceType, VirtualizationType,
 * BootMode, EnaSupport, Hypervisor, BlockDeviceMappings, Tags, and
 * blocksnap's DetectedBootMode.  Deregistered images are left out.  The
 * caller sees its own images and those shared with it
 * (bsnap_image_permission_modify()), the latter without their tags.
 *
 * @opts in, optional: ids, filters and paging as bsnap_describe_options
 * says (an unknown id is InvalidAMIID.NotFound naming every missing one; a
 * deregistered one is silently left out).  @owners in: "self" (the
 * calling account, bsnap_store_set_account()) or 12-digit accounts keep
 * the images of those owners that the caller sees; "amazon" and
 * "aws-marketplace" match nothing.  Besides EC2's filters below, blocksnap's
 * executable-by (EC2's ExecutableBy.N): a value "all" keeps public images,
 * an account id those it owns or that are shared with it by id.
 * Filters: architecture, block-device-mapping.delete-on-termination,
 * block-device-mapping.device-name, block-device-mapping.snapshot-id,
 * block-device-mapping.volume-size, block-device-mapping.volume-type,
 * block-device-mapping.encrypted, boot-mode, creation-date, description,
 * ena-support, hypervisor, image-id, image-type, is-public, name,
 * owner-id, root-device-name, root-device-type, state, state-reason-code,
 * virtualization-type, tag:KEY, tag-key (wildcards * and ?).
 * @ret_doc out: a new jansson object; the caller json_decref()s it.
 * Errors: -EINVAL (InvalidAMIID.Malformed naming the first bad id,
 * InvalidUserID.Malformed, InvalidParameterValue for an unknown filter, a
 * @max_results below 5 or a bad @next_token, InvalidParameterCombination
 * for ids with paging); -ENOENT (InvalidAMIID.NotFound); -EIO; -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_image_describe(bsnap_store *store, const bsnap_describe_options *opts,
                                             const char *const *owners, size_t nowners,
                                             json_t **ret_doc) BSNAP_NONNULL(1, 5);

/** Describe one image as its EC2 object (the element DescribeImages lists;
 * the FUSE view's manifest.json).  A deregistered image is described too.
 * @ret_doc out: a new jansson object; the caller json_decref()s it.  Errors: InvalidAMIID.Malformed,
 * InvalidAMIID.NotFound, -EIO. */
BSNAP_API BSNAP_WUR int bsnap_image_describe_one(bsnap_store *store, const char *id,
                                                 json_t **ret_doc) BSNAP_NONNULL(1, 2, 3);

/** Deregister image @id (EC2 DeregisterImage).  Its snapshots stay unless
 * @delete_snapshots, which deletes each one no other live image maps, in
 * the same call (each snapshot deletion is its own transaction, after the
 * image's).  @ret_doc out, optional (a new jansson object the caller
 * json_decref()s): {"Return":true} and, with
 * @delete_snapshots, "DeleteSnapshotResults":[{"SnapshotId":…,
 * "ReturnCode":"success"|"skipped"|"missing"|"client-error"}].
 * Errors: -EINVAL (InvalidAMIID.Malformed); -ENOENT (InvalidAMIID.NotFound);
 * -ESTALE (InvalidAMIID.Unavailable) when it is deregistered already; -EIO. */
BSNAP_API BSNAP_WUR int bsnap_image_deregister(bsnap_store *store, const char *id,
                                               bool delete_snapshots, json_t **ret_doc)
    BSNAP_NONNULL(1, 2);

/** Describe one attribute of an image (EC2 DescribeImageAttribute):
 * {"ImageId":…, KEY: …} for @attribute "description" ({"Value":…}),
 * "bootMode", "kernel", "ramdisk", "sriovNetSupport", "tpmSupport",
 * "uefiData", "imdsSupport", "lastLaunchedTime", "deregistrationProtection"
 * ({"Value":…} or {} when unset), "launchPermission" ([{"Group":"all"},
 * {"UserId":…}], [] when private), "productCodes" ([]).  Only the owner
 * may ask (AuthFailure for an image shared with the caller).  @ret_doc out: a new jansson object; the caller json_decref()s it.
 * Errors: -EINVAL (InvalidAMIID.Malformed; InvalidRequest for an unknown
 * attribute); -EACCES (AuthFailure) for "blockDeviceMapping", which EC2
 * refuses too (use describe); -ENOENT (InvalidAMIID.NotFound); -ESTALE
 * (InvalidAMIID.Unavailable); -EIO. */
BSNAP_API BSNAP_WUR int bsnap_image_describe_attribute(bsnap_store *store, const char *id,
                                                       const char *attribute, json_t **ret_doc)
    BSNAP_NONNULL(1, 2, 3, 4);

/** Share image @id, or stop sharing it, as EC2's ModifyImageAttribute
 * with LaunchPermission (or its flat form): @change as for
 * bsnap_snapshot_attribute_modify(), except that adds and removes may come
 * in one call (removes first).  An account given the permission, or
 * everyone with the group "all" (the image's Public), sees the image in
 * bsnap_image_describe() (without its tags) and may copy it when the
 * image's snapshots are shared with it too (bsnap_image_copy()); it may not
 * deregister, tag or share it.  Every item is checked before anything
 * changes.  Only the owner may call it.
 * Errors: -EINVAL (InvalidAMIID.Malformed; MissingParameter for no change;
 * InvalidAMIAttributeItemValue for an account id that is not 12 digits or
 * a group other than "all"); -ENOENT (InvalidAMIID.NotFound); -EACCES
 * (AuthFailure) for an image shared with the caller; -ESTALE
 * (InvalidAMIID.Unavailable) for a deregistered one; -EPERM
 * (UnsupportedOperation) for making public an image with an encrypted
 * snapshot, (InvalidParameter) for sharing one with a snapshot under an
 * AWS-managed key; -EINVAL (InvalidParameterValue) for more than 500
 * changes; -EDQUOT (ResourceLimitExceeded) past 1000 accounts, or past 5
 * public images of the caller; -EIO; -ENOSPC. */
BSNAP_API BSNAP_WUR int bsnap_image_permission_modify(bsnap_store *store, const char *id,
                                                      const bsnap_permission_change *change)
    BSNAP_NONNULL(1, 2, 3);

/** Reset an attribute of image @id as EC2's ResetImageAttribute: only
 * "launchPermission", which it empties (private again; the owner keeps
 * access).  Errors as bsnap_image_permission_modify(), and -EINVAL
 * (InvalidParameterValue, Attribute) for another attribute. */
BSNAP_API BSNAP_WUR int bsnap_image_attribute_reset(bsnap_store *store, const char *id,
                                                    const char *attribute) BSNAP_NONNULL(1, 2, 3);

/** Change one attribute of an image (EC2 ModifyImageAttribute).  Only
 * "description" is supported (at most 255 characters).
 * Errors: -EINVAL (InvalidAMIID.Malformed, InvalidParameterValue for a
 * long description, InvalidRequest for another attribute); -ENOENT
 * (InvalidAMIID.NotFound); -ESTALE (InvalidAMIID.Unavailable); -EIO;
 * -ENOSPC. */
BSNAP_API BSNAP_WUR int bsnap_image_modify_attribute(bsnap_store *store, const char *id,
                                                     const char *attribute, const char *value)
    BSNAP_NONNULL(1, 2, 3, 4);

/** Options of bsnap_image_copy().  Zero-initialise for defaults. */
typedef struct bsnap_image_copy_options {
    const char *source_image_id; /**< required: an available image of the source */
    const char *name;            /**< required: the new image's name (as RegisterImage's) */
    const char *description;     /**< optional; NULL: "" */
    bool copy_image_tags;        /**< copy the source image's tags to the new image */
    /** optional: 1 to 64 printable ASCII characters, as bsnap_copy_options';
     * NULL: the parameters themselves are the token. */
    const char *client_token;
    unsigned threads; /**< hash/compress workers; 0: one per core */
    bsnap_run_options run;
    /** as bsnap_copy_options', for every snapshot the image maps */
    bool encrypted;
    const char *kms_key_id;
} bsnap_image_copy_options;

/** Copy image @opts->source_image_id of store @source (another region)
 * into @store (EC2 CopyImage): each snapshot it maps is copied as
 * bsnap_snapshot_copy() does (only the chunks @store lacks; incremental
 * against earlier copies of the same lineage), described "Copied for
 * DestinationAmi NEW from SourceAmi SRC for SourceSnapshot SNAP", then a
 * new image with a new id is registered with the source's attributes
 * (architecture, virtualization, root device, boot mode, ENA, mappings'
 * sizes, types and flags), its mappings naming the copies, and, with
 * @opts->copy_image_tags, the source's tags.  The image appears once every
 * snapshot is copied (it is never seen pending).
 *
 * Resumable and idempotent as bsnap_snapshot_copy(): the same call (same
 * parameters, or the same client token) continues an interrupted copy
 * (the new image's id is chosen and recorded first; its snapshot copies
 * continue) and after success returns the same image id; the same call
 * made twice at the same time registers one image, and both return its id.
 *
 * @ret_id out: the new image id.  @ret_stats out, optional: the sums over
 * the snapshot copies.
 * Errors: -EINVAL (MissingParameter, InvalidAMIID.Malformed,
 * InvalidAMIName.Malformed, InvalidParameterValue, IdempotentParameterMismatch);
 * -ENOENT (InvalidAMIID.NotFound) no such image in @source; -EEXIST
 * (InvalidAMIName.Duplicate) a live image of @store has the name; -EBUSY
 * (IncorrectState); and those of bsnap_snapshot_copy(). */
BSNAP_API BSNAP_WUR int bsnap_image_copy(bsnap_store *store, bsnap_store *source,
                                         const bsnap_image_copy_options *opts,
                                         char ret_id[BSNAP_ID_MAX], bsnap_snapshot_stats *ret_stats)
    BSNAP_NONNULL(1, 2, 3, 4);

/** One mapping of an image, as the FUSE view needs it. */
typedef struct bsnap_image_mapping {
    char device[BSNAP_DEVICE_NAME_MAX]; /**< "/dev/xvda" */
    char snapshot_id[BSNAP_ID_MAX];     /**< "" for ephemeral, NoDevice or empty volumes */
} bsnap_image_mapping;

/** An image's name and mappings. */
typedef struct bsnap_image_info {
    char id[BSNAP_ID_MAX];
    char name[BSNAP_IMAGE_NAME_MAX];
    bsnap_image_state state;
    int64_t creation_time_ms;
    char root_device[BSNAP_DEVICE_NAME_MAX];
    size_t nmappings;
    bsnap_image_mapping mappings[BSNAP_IMAGE_MAPPINGS_MAX];
} bsnap_image_info;

/** Fill @ret_info for image @id (deregistered ones too: look at state).
 * Errors: -EINVAL (InvalidAMIID.Malformed); -ENOENT (InvalidAMIID.NotFound);
 * -EIO. */
BSNAP_API BSNAP_WUR int bsnap_image_get(bsnap_store *store, const char *id,
                                        bsnap_image_info *ret_info) BSNAP_NONNULL(1, 2, 3);

/** List the images that are not deregistered, sorted by id.
 * @ret_infos out: malloc'd array (NULL when *ret_n is 0).
 * Errors: -EIO, -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_image_list(bsnap_store *store, bsnap_image_info **ret_infos,
                                         size_t *ret_n) BSNAP_NONNULL(1, 2, 3);

/* ---- keys (the KMS analogue) -------------------------------------------
 *
 * A region key (a KMS key) is a record in the store and 32 bytes of key
 * material in a key file OUTSIDE the store: BLOCKSNAP_KEY_DIR/REGION/ID.key
 * when that environment variable is set, else
 * $XDG_CONFIG_HOME/blocksnap/keys/REGION/ID.key (~/.config when
 * XDG_CONFIG_HOME is unset), mode 0600, or derived from a passphrase
 * (bsnap_key_options).  A copy of the store alone holds no key material.  Keys are named as EC2's KmsKeyId is: a key id (a
 * UUID), a key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), an alias name
 * (alias/NAME) or an alias ARN.  alias/aws/ebs is the AWS-managed default
 * key, made the first time it is named; it cannot be disabled or named by
 * another alias.  Answers are shaped as the KMS and EC2 APIs answer.
 *
 * Errors common to the calls: NotFoundException (-ENOENT) for a key or
 * alias that does not exist here (another region's or account's ARN
 * included); -EIO for a damaged store; -ENOSPC; -ENOMEM.  A failed call
 * changes nothing.  Any thread; the store's write calls serialize. */

/** Options of bsnap_key_create(). */
typedef struct bsnap_key_options {
    /** in, optional: at most 8192 characters. */
    const char *description;
    /** in: derive the key material from the passphrase in the environment
     * variable BLOCKSNAP_KEY_PASSPHRASE (PBKDF2-HMAC-SHA256, its salt and
     * iteration count kept in the store, the passphrase nowhere) instead
     * of writing a key file.  Every later use of the key reads the
     * passphrase from there again; its Origin is EXTERNAL. */
    bool passphrase;
    /** in, optional: KMS tags (TagKey 1 to 128 characters, not "aws:...";
     * TagValue at most 256, NULL as ""; at most 50). */
    const bsnap_tag *tags;
    size_t ntags;
} bsnap_key_options;

/** Create a customer key (KMS CreateKey): material in a new key file (or
 * from a passphrase), then the record.  @opts in, optional (NULL: no
 * description, a key file).  @ret_doc out: {"KeyMetadata":{…}}, a new
 * jansson object the caller json_decref()s.  Errors: -EINVAL
 * (InvalidParameterValue: Description; Passphrase when
 * BLOCKSNAP_KEY_PASSPHRASE is unset or empty); KeyUnavailableException
 * when the key file cannot be written. */
BSNAP_API BSNAP_WUR int bsnap_key_create(bsnap_store *store, const bsnap_key_options *opts,
                                         json_t **ret_doc) BSNAP_NONNULL(1, 3);

/** Describe key @key_id (KMS DescribeKey): {"KeyMetadata":{…}}, KeyState
 * Enabled or Disabled, KeyManager AWS or CUSTOMER.  Naming alias/aws/ebs
 * makes the default key when there is none yet.  @ret_doc out: as
 * bsnap_key_create().  Errors: NotFoundException. */
BSNAP_API BSNAP_WUR int bsnap_key_describe(bsnap_store *store, const char *key_id, json_t **ret_doc)
    BSNAP_NONNULL(1, 2, 3);

/** List the keys (KMS ListKeys): {"Keys":[{"KeyId","KeyArn"}]} in key id
 * order.  @ret_doc out: as bsnap_key_create(). */
BSNAP_API BSNAP_WUR int bsnap_key_list(bsnap_store *store, json_t **ret_doc) BSNAP_NONNULL(1, 2);

/** Enable or disable key @key_id (KMS EnableKey, DisableKey); a disabled
 * key wraps and unwraps nothing (DisabledException) until enabled again.
 * Errors: NotFoundException; -EPERM (KMSInvalidStateException) for the
 * AWS-managed default key. */
BSNAP_API BSNAP_WUR int bsnap_key_set_enabled(bsnap_store *store, const char *key_id, bool enabled)
    BSNAP_NONNULL(1, 2);

/** Name key @target_key_id @alias_name (KMS CreateAlias).
 * Errors: -EINVAL (InvalidAliasNameException: not alias/ and 1 to 250 of
 * A-Z a-z 0-9 / _ -, or under the reserved alias/aws/); -EEXIST
 * (AlreadyExistsException); NotFoundException (TargetKeyId); -EPERM
 * (KMSInvalidStateException) for an AWS-managed key. */
BSNAP_API BSNAP_WUR int bsnap_alias_create(bsnap_store *store, const char *alias_name,
                                           const char *target_key_id) BSNAP_NONNULL(1, 2, 3);

/** Delete alias @alias_name (KMS DeleteAlias); the key stays.
 * Errors: -EINVAL (InvalidAliasNameException); NotFoundException. */
BSNAP_API BSNAP_WUR int bsnap_alias_delete(bsnap_store *store, const char *alias_name)
    BSNAP_NONNULL(1, 2);

/** List aliases (KMS ListAliases): {"Aliases":[{"AliasName","AliasArn",
 * "TargetKeyId","CreationDate"}]} in name order, only those of @key_id
 * when it is not NULL.  @ret_doc out: as bsnap_key_create().
 * Errors: NotFoundException (KeyId). */
BSNAP_API BSNAP_WUR int bsnap_alias_list(bsnap_store *store, const char *key_id, json_t **ret_doc)
    BSNAP_NONNULL(1, 3);

/** EC2 GetEbsEncryptionByDefault: {"EbsEncryptionByDefault":BOOL} (false
 * until set).  Kept in the store; what new snapshots will follow once
 * data encryption is wired (it is not yet). */
BSNAP_API BSNAP_WUR int bsnap_ebs_encryption_by_default_get(bsnap_store *store, json_t **ret_doc)
    BSNAP_NONNULL(1, 2);
/** EC2 Enable/DisableEbsEncryptionByDefault: set it to @on and answer as
 * the get call. */
BSNAP_API BSNAP_WUR int bsnap_ebs_encryption_by_default_set(bsnap_store *store, bool on,
                                                            json_t **ret_doc) BSNAP_NONNULL(1, 3);

/** EC2 GetEbsDefaultKmsKeyId: {"KmsKeyId":ARN}: the key ARN set by
 * bsnap_ebs_default_key_modify(), else alias/aws/ebs's alias ARN. */
BSNAP_API BSNAP_WUR int bsnap_ebs_default_key_get(bsnap_store *store, json_t **ret_doc)
    BSNAP_NONNULL(1, 2);
/** EC2 ModifyEbsDefaultKmsKeyId: make @key_id (any KmsKeyId form; it must
 * exist and be enabled) the default key; answers its key ARN as the get
 * call.  Errors: NotFoundException, -EPERM (DisabledException), both
 * naming KmsKeyId. */
BSNAP_API BSNAP_WUR int bsnap_ebs_default_key_modify(bsnap_store *store, const char *key_id,
                                                     json_t **ret_doc) BSNAP_NONNULL(1, 2, 3);
/** EC2 ResetEbsDefaultKmsKeyId: back to alias/aws/ebs; answers as the get
 * call. */
BSNAP_API BSNAP_WUR int bsnap_ebs_default_key_reset(bsnap_store *store, json_t **ret_doc)
    BSNAP_NONNULL(1, 2);

/* ---- key deletion and grants ------------------------------------------
 *
 * A key belongs to the account that made it (keys made before keys had
 * owners: the store's account); aliases, the default key alias/aws/ebs
 * and the EBS settings are each account's own.  Another account of the
 * same store names a key only by its key ARN (arn:aws:kms:REGION:OWNER:
 * key/ID) and uses it only as a grant allows: to restore, copy or launch
 * what is shared with it and encrypted under that key, it needs a grant
 * of Decrypt; to wrap data under it, GenerateDataKey.  Without one, a use
 * is AccessDeniedException (-EACCES).  An AWS-managed key is granted to
 * nobody. */

/** Schedule key @key_id's deletion (KMS ScheduleKeyDeletion) in
 * @pending_window_days (7 to 30; 0: 30).  The key is PendingDeletion at
 * once: it wraps and unwraps nothing (KMSInvalidStateException) until the
 * date, when the next key call or gc deletes it, with its aliases, grants
 * and key file, for good.  A key that a snapshot still needs is kept past
 * its date, still PendingDeletion, unless @delete_in_use.
 * @ret_doc out: {"KeyId":ARN,"DeletionDate","KeyState":"PendingDeletion",
 * "PendingWindowInDays"}.  Errors: ValidationException
 * (PendingWindowInDays); NotFoundException; AccessDeniedException
 * (another account's key); KMSInvalidStateException (-EPERM: already
 * pending deletion, or an AWS-managed key). */
BSNAP_API BSNAP_WUR int bsnap_key_deletion_schedule(bsnap_store *store, const char *key_id,
                                                    unsigned pending_window_days,
                                                    bool delete_in_use, json_t **ret_doc)
    BSNAP_NONNULL(1, 2, 5);

/** Cancel key @key_id's scheduled deletion (KMS CancelKeyDeletion): the
 * key is Disabled (enable-key makes it usable again).  @ret_doc out:
 * {"KeyId":ARN}.  Errors: NotFoundException, AccessDeniedException,
 * KMSInvalidStateException (not pending deletion). */
BSNAP_API BSNAP_WUR int bsnap_key_deletion_cancel(bsnap_store *store, const char *key_id,
                                                  json_t **ret_doc) BSNAP_NONNULL(1, 2, 3);

/** Tag key @key_id (KMS TagResource): set @tags (as bsnap_key_options'),
 * replacing the values of keys it has.  The key's owner only.  Errors:
 * TagException (-EINVAL: Tags[i].TagKey, more than 50); ValidationException
 * (no tag); NotFoundException; AccessDeniedException;
 * KMSInvalidStateException (pending deletion). */
BSNAP_API BSNAP_WUR int bsnap_key_tag(bsnap_store *store, const char *key_id, const bsnap_tag *tags,
                                      size_t ntags) BSNAP_NONNULL(1, 2);
/** Remove the tags of @tag_keys from key @key_id (KMS UntagResource);
 * absent ones are no error.  Errors as bsnap_key_tag(). */
BSNAP_API BSNAP_WUR int bsnap_key_untag(bsnap_store *store, const char *key_id,
                                        const char *const *tag_keys, size_t n) BSNAP_NONNULL(1, 2);
/** Key @key_id's tags (KMS ListResourceTags): {"Tags":[{"TagKey",
 * "TagValue"}],"Truncated":false}, the owner's only.  @ret_doc out: a new
 * jansson object.  Errors: NotFoundException, AccessDeniedException. */
BSNAP_API BSNAP_WUR int bsnap_key_tags_list(bsnap_store *store, const char *key_id,
                                            json_t **ret_doc) BSNAP_NONNULL(1, 2, 3);

/** Options of bsnap_grant_create() (KMS CreateGrant). */
typedef struct bsnap_grant_options {
    /** in: the key (any KmsKeyId form; another account's by its ARN). */
    const char *key_id;
    /** in: the grantee account: 12 digits or arn:aws:iam::ACCOUNT:root. */
    const char *grantee_principal;
    /** in: the operations it may do, KMS's names: Decrypt, Encrypt,
     * GenerateDataKey, GenerateDataKeyWithoutPlaintext, ReEncryptFrom,
     * ReEncryptTo, CreateGrant, RetireGrant, DescribeKey; at least one. */
    const char *const *operations;
    size_t noperations;
    /** in, optional: an account that may retire the grant. */
    const char *retiring_principal;
    /** in, optional: 1 to 256 of A-Z a-z 0-9 : / _ -; asking again for a
     * grant of the same name and terms answers the same grant. */
    const char *name;
} bsnap_grant_options;

/** Create a grant of a customer key (KMS CreateGrant), by the key's owner
 * or by a grantee whose grants give CreateGrant and every operation asked
 * for.  @ret_doc out: {"GrantToken","GrantId"} (the token is the id).
 * Errors: InvalidArnException (-EINVAL: GranteePrincipal,
 * RetiringPrincipal); ValidationException (-EINVAL: Operations, Name);
 * NotFoundException; AccessDeniedException (-EACCES: not the caller's to
 * grant, or an AWS-managed key); DisabledException,
 * KMSInvalidStateException (-EPERM); LimitExceededException (-EDQUOT:
 * 50,000 grants on the key). */
BSNAP_API BSNAP_WUR int bsnap_grant_create(bsnap_store *store, const bsnap_grant_options *opts,
                                           json_t **ret_doc) BSNAP_NONNULL(1, 2, 3);

/** List the grants of key @key_id (KMS ListGrants), the caller's own key;
 * only grant @grant_id and only those to @grantee_principal when they are
 * not NULL.  @ret_doc out: {"Grants":[{"KeyId","GrantId","Name",
 * "CreationDate","GranteePrincipal","IssuingAccount","Operations",
 * "RetiringPrincipal"?}],"Truncated":false}; principals as
 * arn:aws:iam::ACCOUNT:root.  Errors: NotFoundException,
 * AccessDeniedException, InvalidArnException. */
BSNAP_API BSNAP_WUR int bsnap_grant_list(bsnap_store *store, const char *key_id,
                                         const char *grant_id, const char *grantee_principal,
                                         json_t **ret_doc) BSNAP_NONNULL(1, 2, 5);

/** Revoke grant @grant_id of key @key_id (KMS RevokeGrant), by the key's
 * owner.  Errors: NotFoundException (KeyId, GrantId),
 * AccessDeniedException. */
BSNAP_API BSNAP_WUR int bsnap_grant_revoke(bsnap_store *store, const char *key_id,
                                           const char *grant_id) BSNAP_NONNULL(1, 2, 3);

/** Retire a grant (KMS RetireGrant), named by @grant_token, or by @key_id
 * (its ARN) and @grant_id: by the key's owner, the grant's retiring
 * principal, or its grantee when the grant gives RetireGrant.  Errors:
 * ValidationException (neither or both forms); NotFoundException;
 * AccessDeniedException. */
BSNAP_API BSNAP_WUR int bsnap_grant_retire(bsnap_store *store, const char *grant_token,
                                           const char *key_id, const char *grant_id)
    BSNAP_NONNULL(1);

/* ---- launch templates ---------------------------------------------------- */

/** A launch template is a named, versioned set of launch settings (EC2's
 * LaunchTemplateData: ImageId, InstanceType, KeyName, UserData,
 * BlockDeviceMappings, TagSpecifications, ...).  Its versions are numbered
 * from 1 in creation order, never reused, and never change; one of them is
 * the default (the first until bsnap_template_modify() moves it).  A
 * version is named by its number, by "$Latest" (the highest existing one)
 * or by "$Default".  A template belongs to the calling account: another
 * account's is InvalidLaunchTemplateId.NotFound /
 * InvalidLaunchTemplateName.NotFoundException, as one that does not exist.
 *
 * The data is a JSON object (text) and is checked before anything is
 * written: every field must be one EC2 defines, of its type (an unknown
 * field is UnknownParameter, a wrong type InvalidParameterValue, each
 * naming LaunchTemplateData.FIELD); the image must exist, be available and
 * launchable by the caller (its owner, or in its launch permissions); the
 * instance type must be one blocksnap knows; device names well formed,
 * volume sizes 1 to 16384 GiB and not below their snapshot's; UserData
 * base64 of at most 16 KiB; tags as bsnap_tags_create() takes them, with
 * ResourceType instance, volume, network-interface or
 * spot-instances-request.  Limits: names of 3 to 128 characters of
 * [A-Za-z0-9().-/_], unique per account; descriptions of at most 255
 * characters; 5,000 templates per account; 10,000 versions per template.
 *
 * Every call is one short write (or read) transaction: a crash leaves the
 * template whole or absent.  Any thread; the documents returned are new
 * jansson objects the caller json_decref()s. */

/** Names a template: exactly one of @id (lt-...) and @name. */
typedef struct bsnap_template_ref {
    const char *id;
    const char *name;
} bsnap_template_ref;

/** Options of bsnap_template_create() and bsnap_template_version_create(). */
typedef struct bsnap_template_options {
    /** in: create: the new template's name; a version: the template. */
    bsnap_template_ref ref;
    /** in, optional: VersionDescription (at most 255 characters). */
    const char *version_description;
    /** in: LaunchTemplateData, a JSON object's text (at most 1 MiB). */
    const char *data;
    /** in, a version only, optional: the version whose data the new one
     * starts from ("3", "$Latest", "$Default"); NULL: none. */
    const char *source_version;
    /** in, create only, optional: the template's tags. */
    const bsnap_tag *tags;
    size_t ntags;
    /** in, create only, optional: ClientToken (at most 64 ASCII
     * characters): the same token with the same request answers the
     * template it made; with another request IdempotentParameterMismatch. */
    const char *client_token;
} bsnap_template_options;

/** CreateLaunchTemplate: a new template whose version 1 holds @o's data.
 * @ret_doc out: {"LaunchTemplate":{LaunchTemplateId, LaunchTemplateName,
 * CreateTime, CreatedBy (arn:aws:iam::ACCOUNT:root), DefaultVersionNumber,
 * LatestVersionNumber, Tags?}}.
 * Errors: -EINVAL: MissingParameter (LaunchTemplateName,
 * LaunchTemplateData), InvalidLaunchTemplateName.MalformedException,
 * InvalidParameterValue, UnknownParameter, InvalidAMIID.Malformed,
 * InvalidSnapshotID.Malformed, InvalidBlockDeviceMapping,
 * InvalidUserData.Malformed, TagLimitExceeded; -ENOENT:
 * InvalidAMIID.NotFound, InvalidSnapshot.NotFound; -EEXIST:
 * InvalidLaunchTemplateName.AlreadyExistsException; -EBUSY:
 * InvalidAMIID.Unavailable; -EDQUOT: MaxTemplateLimitExceeded; -EINVAL:
 * IdempotentParameterMismatch; -EIO; -ENOSPC; -ENOMEM.  Each names its
 * parameter (bsnap_error.parameter). */
BSNAP_API BSNAP_WUR int bsnap_template_create(bsnap_store *store, const bsnap_template_options *o,
                                              json_t **ret_doc) BSNAP_NONNULL(1, 2, 3);

/** CreateLaunchTemplateVersion: a new version (the highest number ever
 * given plus one) of template @o->ref.  With @o->source_version it starts
 * as a copy of that version's data, each field @o->data gives replacing the
 * source's whole, and the source's block device mappings losing their
 * SnapshotId unless @o->data gives BlockDeviceMappings; the result is
 * checked as a new template's data is.  The default does not move.
 * @ret_doc out: {"LaunchTemplateVersion":{LaunchTemplateId,
 * LaunchTemplateName, VersionNumber, VersionDescription?, CreateTime,
 * CreatedBy, DefaultVersion, LaunchTemplateData}}.
 * Errors: as bsnap_template_create(), and MissingParameter (neither id nor
 * name), InvalidParameterCombination (both),
 * InvalidLaunchTemplateId.Malformed, InvalidLaunchTemplateId.NotFound,
 * InvalidLaunchTemplateName.NotFoundException,
 * InvalidLaunchTemplateId.VersionNotFound (SourceVersion), -EDQUOT
 * MaxTemplateVersionLimitExceeded. */
BSNAP_API BSNAP_WUR int bsnap_template_version_create(bsnap_store *store,
                                                      const bsnap_template_options *o,
                                                      json_t **ret_doc) BSNAP_NONNULL(1, 2, 3);

/** ModifyLaunchTemplate: make version @default_version (a number,
 * "$Latest" or "$Default") template @ref's default.  @ret_doc out:
 * {"LaunchTemplate":{…}} as it is now.  Errors: the template's as
 * bsnap_template_version_create(); MissingParameter (DefaultVersion);
 * InvalidLaunchTemplateId.VersionNotFound. */
BSNAP_API BSNAP_WUR int bsnap_template_modify(bsnap_store *store, const bsnap_template_ref *ref,
                                              const char *default_version, json_t **ret_doc)
    BSNAP_NONNULL(1, 2, 4);

/** DescribeLaunchTemplates: the caller's templates, sorted by id:
 * {"LaunchTemplates":[…]}.  @o in, optional: @o->ids (lt-...) and filters
 * (create-time, launch-template-name, tag:KEY, tag-key; paging is not
 * taken: InvalidParameterValue); @names: only these names.  Errors:
 * InvalidLaunchTemplateId.Malformed, InvalidLaunchTemplateId.NotFound and
 * InvalidLaunchTemplateName.NotFoundException (an id or name that is not
 * the caller's), InvalidParameterValue (a filter), -EIO, -ENOMEM. */
BSNAP_API BSNAP_WUR int bsnap_template_describe(bsnap_store *store, const bsnap_describe_options *o,
                                                const char *const *names, size_t nnames,
                                                json_t **ret_doc) BSNAP_NONNULL(1, 5);

/** Options of bsnap_template_versions_describe(). */
typedef struct bsnap_template_versions_options {
    /** in: the template, or neither id nor name: every template of the
     * caller, when @versions holds only "$Latest" and "$Default". */
    bsnap_template_ref ref;
    /** in: numbers, "$Latest", "$Default"; none: every version. */
    const char *const *versions;
    size_t nversions;
    /** in, optional: inclusive bounds of the version numbers (0: none). */
    uint64_t min_version, max_version;
    /** in: filters: create-time, ebs-optimized, http-endpoint,
     * http-protocol-ipv4, http-tokens, iam-instance-profile, image-id,
     * instance-type, is-default-version, kernel-id, ram-disk-id (and EC2's
     * host-resource-group-arn, license-configuration-arn,
     * network-card-index, which no data blocksnap takes matches). */
    const bsnap_filter *filters;
    size_t nfilters;
} bsnap_template_versions_options;

/** DescribeLaunchTemplateVersions: {"LaunchTemplateVersions":[…]}, by
 * template then version number.  Errors: the template's as
 * bsnap_template_version_create(); InvalidLaunchTemplateId.VersionNotFound
 * (a version named that does not exist); without a template MissingParameter
 * (no versions) or InvalidParameterValue (a number); InvalidParameterValue
 * (a filter, a version that is neither a number nor $Latest/$Default). */
BSNAP_API BSNAP_WUR int bsnap_template_versions_describe(bsnap_store *store,
                                                         const bsnap_template_versions_options *o,
                                                         json_t **ret_doc) BSNAP_NONNULL(1, 2, 3);

/** DeleteLaunchTemplate: template @ref and every version of it; its name is
 * free again.  @ret_doc out: {"LaunchTemplate":{…}} as it was.  Errors:
 * the template's as bsnap_template_version_create(). */
BSNAP_API BSNAP_WUR int bsnap_template_delete(bsnap_store *store, const bsnap_template_ref *ref,
                                              json_t **ret_doc) BSNAP_NONNULL(1, 2, 3);

/** DeleteLaunchTemplateVersions: delete each of @versions (numbers; at most
 * 200) of template @ref, in one transaction.  Each version fails on its
 * own, listed with its ResponseError: launchTemplateVersionDoesNotExist,
 * unexpectedError for the default version (which cannot be deleted: move
 * the default first, or delete the template), and for every version
 * launchTemplateIdDoesNotExist, launchTemplateIdMalformed,
 * launchTemplateNameDoesNotExist or launchTemplateNameMalformed when the
 * template is not the caller's or not well named.  Deleted numbers are
 * never given again.  @ret_doc out:
 * {"SuccessfullyDeletedLaunchTemplateVersions":[{LaunchTemplateId,
 * LaunchTemplateName, VersionNumber}],
 * "UnsuccessfullyDeletedLaunchTemplateVersions":[{…, ResponseError:{Code,
 * Message}}]}.  Errors (of the whole call): MissingParameter (no versions,
 * no template), InvalidParameterCombination (id and name),
 * InvalidParameterValue (more than 200), -EIO, -ENOSPC. */
BSNAP_API BSNAP_WUR int bsnap_template_versions_delete(bsnap_store *store,
                                                       const bsnap_template_ref *ref,
                                                       const char *const *versions, size_t n,
                                                       json_t **ret_doc) BSNAP_NONNULL(1, 2, 5);

/* ---- instances ----------------------------------------------------------- */

/** An instance is a machine launched from an image: one writable
 * copy-on-write volume per block device mapping of the image (as
 * bsnap_volume_create_writable() makes them: constant time, no data
 * copied), attached to it (describe-volumes shows the attachment and
 * delete-volume refuses the volume: VolumeInUse), and a record of it in
 * the store: the image, type, reservation, launch index, tags, key name,
 * user data, the launch template and version it came from (also as the
 * tags aws:ec2launchtemplate:id and aws:ec2launchtemplate:version, as EC2
 * puts them), its state and the reason of its last change.  The engine
 * keeps records and rules; the machine itself (QEMU, a server per volume)
 * is started and watched by the front-end library (bsfront.h), which
 * records what it did through bsnap_instance_set_state().
 *
 * States as EC2's: pending (0) -> running (16) -> stopping (64) -> stopped
 * (80) -> pending; any of pending, running, stopping, stopped ->
 * shutting-down (32) -> terminated (48).  A terminated instance is shown
 * for an hour, then forgotten.  An account may have 20 instances that are
 * not terminated.  Any thread; documents returned are new references the
 * caller json_decref()s. */

/** RunInstances: @request in EC2's JSON shape of the request (as boto3's
 * run_instances() takes it): ImageId, InstanceType (default t3.micro),
 * LaunchTemplate {LaunchTemplateId | LaunchTemplateName, Version: number,
 * "$Latest" or "$Default" (the default when omitted)}, MinCount and
 * MaxCount (default 1; as many as the limit allows from MaxCount down to
 * MinCount), UserData (base64, at most 16 KiB), KeyName,
 * TagSpecifications (ResourceType instance or volume), BlockDeviceMappings
 * (overriding the template's and the image's per DeviceName; NoDevice
 * drops one), ClientToken (the same token and request give the same
 * instances again; another request IdempotentParameterMismatch).  The
 * request's fields win over the template's; tags merge by resource type
 * and key.  Every check is made before the first volume is created, and a
 * failure after deletes those made: a refused run leaves the store as it
 * was.  In a dry run (bsnap_store_set_dry_run()) the checks run and the
 * first volume's creation answers DryRunOperation.
 * @ret_doc out: the Reservation {ReservationId, OwnerId, Groups,
 * Instances[…]}, each instance pending.
 * Errors: -EINVAL (UnknownParameter; InvalidParameterValue: counts, an
 * unknown InstanceType, tags of another resource type, an architecture
 * that is not the image's; MissingParameter: no ImageId;
 * InvalidAMIID.Malformed; InvalidUserData.Malformed;
 * InvalidBlockDeviceMapping; IdempotentParameterMismatch); -ENOENT
 * (InvalidAMIID.NotFound, InvalidSnapshot.NotFound, the template's
 * NotFound codes, InvalidLaunchTemplateId.VersionNotFound); -ESTALE
 * (InvalidAMIID.Unavailable); -EDQUOT (InstanceLimitExceeded); -ENOEXEC
 * (DryRunOperation); -ENOSPC; -EIO. */
BSNAP_API BSNAP_WUR int bsnap_instance_run(bsnap_store *store, const json_t *request,
                                           json_t **ret_doc) BSNAP_NONNULL(1, 2, 3);

/** DescribeInstances: {"Reservations":[{ReservationId, OwnerId, Groups,
 * Instances[…]}]} of the caller's instances, sorted by instance id, and
 * "NextToken" when a page of @opts->max_results is full.  Filters:
 * instance-id, instance-state-name, instance-state-code, image-id,
 * instance-type, reservation-id, key-name, architecture,
 * block-device-mapping.volume-id, launch-template-id, tag:KEY, tag-key.
 * The states are as recorded: the front-end library reads the machines'
 * processes back first (bsf_instances_refresh()).
 * Errors: InvalidInstanceID.Malformed, InvalidInstanceID.NotFound (an id
 * asked for), InvalidParameterValue (a filter), InvalidNextToken,
 * InvalidParameterCombination (ids with paging), -EIO. */
BSNAP_API BSNAP_WUR int bsnap_instance_describe(bsnap_store *store,
                                                const bsnap_describe_options *opts,
                                                json_t **ret_doc) BSNAP_NONNULL(1, 3);

/** Instance @id for the code that runs its machine: {"Instance": its EC2
 * object, "Launch": {VCpus, MemoryMiB (the type's), BootMode,
 * RootDeviceName, Volumes [{DeviceName, VolumeId, DeleteOnTermination}]
 * (the root first as the image lists it), Account, UserData (base64, when
 * given)}, "Runtime": what bsnap_instance_set_state() last recorded, or
 * null}.  Errors: InvalidInstanceID.Malformed, InvalidInstanceID.NotFound,
 * -EIO. */
BSNAP_API BSNAP_WUR int bsnap_instance_get(bsnap_store *store, const char *id, json_t **ret_doc)
    BSNAP_NONNULL(1, 2, 3);

/** A change of an instance's state, recorded by bsnap_instance_set_state(). */
typedef struct bsnap_instance_change {
    const char *state;             /**< in: the new state's name */
    const char *reason_code;       /**< in, optional: StateReason.Code */
    const char *reason_message;    /**< in, optional: StateReason.Message */
    const char *transition_reason; /**< in, optional: StateTransitionReason */
    /** in, optional: what the machine's side keeps (pids, sockets), a JSON
     * object stored as it is and returned by bsnap_instance_get(). */
    const json_t *runtime;
    bool clear_runtime; /**< in: forget the runtime (when @runtime is NULL) */
} bsnap_instance_change;

/** Move instance @id to state @c->state along EC2's transitions (above).
 * To terminated: its volumes marked DeleteOnTermination are deleted (the
 * caller has ended whatever served them), the others detached (available),
 * in the same transaction.
 * @ret_doc out: {InstanceId, CurrentState, PreviousState}, each {Code,
 * Name}, as StopInstances and its like answer.
 * Errors: InvalidInstanceID.Malformed, InvalidInstanceID.NotFound,
 * InvalidParameterValue (not a state), IncorrectInstanceState (a move EC2
 * does not make), VolumeInUse (a volume to delete is still open), -EIO,
 * -ENOSPC. */
BSNAP_API BSNAP_WUR int bsnap_instance_set_state(bsnap_store *store, const char *id,
                                                 const bsnap_instance_change *c, json_t **ret_doc)
    BSNAP_NONNULL(1, 2, 3, 4);

/** GetLaunchTemplateData: the launch settings of instance @id, as data a
 * launch template takes ({"LaunchTemplateData": {ImageId, InstanceType,
 * KeyName, UserData, BlockDeviceMappings [{DeviceName, Ebs
 * {DeleteOnTermination, VolumeSize, VolumeType}}] of its volumes,
 * TagSpecifications of its tags but EC2's own aws: ones}}), so that
 * bsnap_template_create() makes a template that launches its like.
 * Errors: InvalidInstanceID.Malformed, InvalidInstanceID.NotFound, -EIO. */
BSNAP_API BSNAP_WUR int bsnap_instance_template_data(bsnap_store *store, const char *id,
                                                     json_t **ret_doc) BSNAP_NONNULL(1, 2, 3);

/** The directory of @store as it was opened (borrowed: valid while it is
 * open), where the front-end library keeps its instances' files. */
BSNAP_API const char *bsnap_store_path(const bsnap_store *store) BSNAP_NONNULL(1);

#ifdef __cplusplus
}
#endif

#endif /* BLOCKSNAP_H */
