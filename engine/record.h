/* record.h - snapshot and volume records, and their JSON forms.
 *
 * Records are stored in LMDB as JSON documents (json.c, the module that
 * uses jansson), so fields can be added without a format change.  The same
 * module renders records as EC2 describe objects and applies EC2 filters.
 */
#ifndef BSNAP_RECORD_H
#define BSNAP_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blocksnap.h"
#include "chunk.h"

#define TAGS_MAX 50
#define TAG_KEY_MAX 127
#define TAG_VALUE_MAX 256
#define DESCRIPTION_MAX BSNAP_DESCRIPTION_MAX
/* A wrapped data key (KEYS_WRAPPED_BYTES of keys.h, which lineage.c
 * checks). */
#define SNAP_WRAPPED_BYTES 84

struct tag {
    char *key;
    char *value;
};

struct tags {
    struct tag *v;
    size_t n;
};

/* Who besides the owner may use a resource: EC2's create-volume
 * permissions of a snapshot (launch permissions of an image): the group
 * "all" (public) and account ids, sorted, without duplicates. */
struct shares {
    bool all;
    size_t n;
    char (*users)[13]; /* malloc'd, NULL when n is 0 */
};

void shares_clear(struct shares *sh);
/* Whether @account (12 digits) is one of @sh's users. */
bool shares_has(const struct shares *sh, const char *account);
/* Add / remove @account; adding one present or removing one absent does
 * nothing.  -ENOMEM (not recorded). */
int shares_add(struct shares *sh, const char *account);
void shares_remove(struct shares *sh, const char *account);

struct snapshot_rec {
    char id[BSNAP_ID_MAX];
    char volume_id[BSNAP_ID_MAX];
    char parent_id[BSNAP_ID_MAX];
    bsnap_snapshot_state state;
    uint64_t size;
    chunk_id root;
    uint32_t depth;
    uint32_t chunk_size;
    int64_t start_ms;
    int64_t completion_ms;
    char *description;
    uint64_t data_chunks;
    uint64_t bytes_read;
    uint64_t bytes_written;
    uint64_t chunks_written; /* data chunks */
    uint64_t pages_written;  /* block-map pages */
    struct tags tags;
    /* The owner account ("owner"); "" in records written before owners
     * were kept: the store's account. */
    char owner[13];
    /* Its create-volume permissions ("create-volume-permission": {"all":
     * true, "users": [...]}, absent when none, as in older records). */
    struct shares cvp;
    /* The partition table found when it was taken ("partitions"); false in
     * older records and pending ones. */
    bool parts_known;
    size_t nparts;
    bsnap_part_extent *parts; /* malloc'd, NULL when nparts is 0 */
    /* Encryption at rest ("encryption": {"key": ARN, "data-key": HEX,
     * "slot": HEX}; absent when plain, as in older records): the region
     * key's ARN, the lineage's data key wrapped under it (keys.h) and the
     * slot its sealed records name (crypt.h).  Every snapshot of a lineage
     * carries the same three.  lineage.h reads them. */
    bool encrypted;
    char *kms_key_id; /* malloc'd ARN; NULL when plain */
    uint8_t data_key[SNAP_WRAPPED_BYTES];
    uint64_t key_slot;
};

struct volume_rec {
    char id[BSNAP_ID_MAX];
    char *path;
    uint64_t size;
    char source_snapshot[BSNAP_ID_MAX]; /* created from, or "" */
    char last_snapshot[BSNAP_ID_MAX];   /* parent of its next snapshot, or "" */
    int64_t create_ms;
    struct tags tags;
    char owner[13]; /* as snapshot_rec's */
    /* A writable copy-on-write volume (cow.h): no path; its contents are
     * source_snapshot's overlaid by STORE/volumes/ID.data ("writable":
     * {"type": VolumeType}; absent for volumes of a path). */
    bool writable;
    char volume_type[12];
    /* Attached to an instance (instance.h): its id ("" when available),
     * the device name it has there, whether terminating the instance
     * deletes it, and since when ("attachment": {"instance", "device",
     * "delete", "time"}; absent when not attached). */
    char attach_instance[BSNAP_ID_MAX];
    char attach_device[BSNAP_DEVICE_NAME_MAX];
    bool attach_delete;
    int64_t attach_ms;
    /* A writable volume's encryption at rest ("encryption", as a snapshot
     * record's): its lineage's key ARN, wrapped data key and slot
     * (lineage.h).  The overlay's chunks are sealed under that data key
     * (cow-crypt.h), and the volume's snapshots carry the same lineage. */
    bool encrypted;
    char *kms_key_id; /* malloc'd ARN; NULL when plain */
    uint8_t data_key[SNAP_WRAPPED_BYTES];
    uint64_t key_slot;
};

void tags_clear(struct tags *t);
/* Set (add or replace) / remove tags; -EINVAL (TagLimitExceeded) past 50. */
int tags_set(struct tags *t, const char *key, const char *value);
void tags_remove(struct tags *t, const char *key, const char *value);

void snapshot_rec_clear(struct snapshot_rec *r);
void volume_rec_clear(struct volume_rec *r);

/* Stored form.  Decoding errors are -EIO (recorded, naming the record). */
int snapshot_rec_decode(const void *buf, size_t len, struct snapshot_rec *ret);
int snapshot_rec_encode(const struct snapshot_rec *r, char **ret_json, size_t *ret_len);
/* What a listing of ids needs of a snapshot record, read from its stored
 * JSON without decoding the rest (no allocation): its state, its owner
 * ("" when it names none) and whether it has create-volume permissions
 * (whose accounts only a decode tells).  -EIO, recording nothing, when the
 * text is not a record it understands: the caller decodes it then, and
 * that reports what is wrong. */
struct snapshot_peek {
    bsnap_snapshot_state state;
    char owner[13];
    bool shared;
};
int snapshot_rec_peek(const void *buf, size_t len, struct snapshot_peek *ret);
int volume_rec_decode(const void *buf, size_t len, struct volume_rec *ret);
int volume_rec_encode(const struct volume_rec *r, char **ret_json, size_t *ret_len);

/* One record as its EC2 describe object, as JSON text. */
int json_describe_snapshot(const bsnap_store *s, const struct snapshot_rec *rec, json_t **ret_doc);
int json_describe_volume(const bsnap_store *s, const struct volume_rec *rec, json_t **ret_doc);

/* A list-describe document built one record at a time, in id order:
 * describe_new() checks the filter names (InvalidParameterValue);
 * describe_add() takes a record (struct snapshot_rec, volume_rec or
 * image_rec as @kind says) and returns 1 to go on (whether or not the
 * record passed the filters), 0 when it passed but the page of @limit is
 * full: more remain, stop and ask page_token() for describe_last_id()'s
 * token.  describe_finish() returns {"Snapshots":[…]} (Volumes, Images)
 * with "NextToken" when @next_token is not NULL, and frees @d, as
 * describe_free() does on the way out of a failure. */
struct describe;
/* The kind of records a list-describe call takes, which a NextToken names
 * too (page.h, which uses this module, not the other way round). */
enum page_kind { PAGE_SNAPSHOTS = 's', PAGE_VOLUMES = 'v', PAGE_IMAGES = 'i' };
int describe_new(const bsnap_store *s, enum page_kind kind, const bsnap_filter *filters,
                 size_t nfilters, uint32_t limit, struct describe **ret);
int describe_add(struct describe *d, const void *rec);
const char *describe_last_id(const struct describe *d);
int describe_finish(struct describe *d, const char *next_token, json_t **ret_doc);
void describe_free(struct describe *d);

/* EC2 wildcard match: '*' any run, '?' zero or one character (a code
 * point, not a byte), '\' escapes.  Takes O(|pattern| * |s|) time and
 * O(|pattern|) memory whatever the input, without recursion.  Returns 1 on
 * a match, 0 without one, -ENOMEM (not recorded).  The _steps form adds the
 * passes it made over pattern tokens to *@steps, so that a fuzzer can check
 * the bound. */
int ec2_wildcard_match(const char *pattern, const char *s);
int ec2_wildcard_match_steps(const char *pattern, const char *s, uint64_t *steps);

/* EBS ListChangedBlocks document from parallel arrays of block indexes and
 * tokens (hex ids, "" for a zero block). */
struct changed_block {
    uint64_t index;
    char first[33];
    char second[33];
};
int json_changed_blocks(const struct changed_block *b, size_t n, uint64_t volume_size,
                        uint32_t block_size, json_t **ret_doc);
#endif
