/* keys.h - region keys (the KMS analogue) and the data keys they wrap.
 *
 * A region key is a record in the store (table "keys": its id, state,
 * manager, creation time, description and a check value) and 32 bytes of
 * key material in a key file OUTSIDE the store, under the user's config
 * directory (keys_dir()).  The store never holds key material, so a copy
 * of the store alone unwraps nothing.  Aliases ("alias/NAME") name keys;
 * "alias/aws/ebs" is the AWS-managed default key, created the first time
 * it is named.  The store also keeps the EBS settings: encryption by
 * default and the default key.
 *
 * Data keys: keys_data_key_new() makes a 256-bit data key and its wrapped
 * form (AES-256-GCM under the region key; the key id and a purpose string
 * are its additional data), keys_data_key_open() unwraps one.  The wrapped
 * form is KEYS_WRAPPED_BYTES long and names its key, so it is all a record
 * keeps.  Plain keys live in the caller's buffer; callers wipe them with
 * keys_wipe() (OPENSSL_cleanse) when done.
 *
 * A key may instead be derived from a passphrase (bsnap_key_options): the
 * store keeps its salt and iteration count, never the passphrase, which
 * the engine reads from $BLOCKSNAP_KEY_PASSPHRASE each time it needs the
 * key's material.
 *
 * Guarantees: a key file is written whole (a temporary file, fsync,
 * rename) with mode 0600 before its record commits, and a record whose
 * commit fails takes its new file with it; a key file that does not match
 * its record (another key's material, a changed byte) is refused by the
 * check value before anything is unwrapped with it; no message ever holds
 * key bytes.
 */
#ifndef BSNAP_KEYS_H
#define BSNAP_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blocksnap.h"
#include "meta.h"

#define KEYS_MATERIAL_BYTES 32
#define KEYS_DATA_KEY_BYTES 32
#define KEYS_CHECK_BYTES 16
#define KEYS_SALT_BYTES 16
/* PBKDF2-HMAC-SHA256 iterations of a new passphrase key. */
#define KEYS_KDF_ITERATIONS 310000
/* Where a passphrase key's passphrase comes from. */
#define KEYS_PASSPHRASE_ENV "BLOCKSNAP_KEY_PASSPHRASE"
#define KEYS_ID_TEXT 37 /* a UUID and its NUL */
/* "BSDK", version, reserved, key uuid, nonce, data key, tag */
#define KEYS_WRAPPED_BYTES (4 + 2 + 2 + 16 + 12 + KEYS_DATA_KEY_BYTES + 16)
/* The longest Description, in characters (KMS's). */
#define KEYS_DESCRIPTION_MAX 8192
/* The longest alias name, "alias/" included (KMS's). */
#define KEYS_ALIAS_MAX 256

enum key_state { KEY_ENABLED = 1, KEY_DISABLED = 2 };
enum key_manager { KEY_AWS = 1, KEY_CUSTOMER = 2 };

/* A key record as the store keeps it (docs/format.md, "key records"). */
struct key_rec {
    char id[KEYS_ID_TEXT];
    enum key_state state;
    enum key_manager manager;
    int64_t created_ms;
    uint8_t check[KEYS_CHECK_BYTES];
    char *description; /* malloc'd, "" when none */
    /* A key derived from a passphrase (its "p" entry, loaded with the
     * record): PBKDF2-HMAC-SHA256 of that many iterations over the salt.
     * 0 iterations: the material is in a key file. */
    uint32_t kdf_iterations;
    uint8_t kdf_salt[KEYS_SALT_BYTES];
    /* Its owner account (its "o" entry, loaded with the record); "" for a
     * key made before keys had owners: the store's account. */
    char owner[13];
    /* Scheduled for deletion (its "d" entry): the date it may be deleted
     * (0: not scheduled; the key is then PendingDeletion whatever @state
     * says) and whether it goes then even when snapshots still need it. */
    int64_t deletion_ms;
    bool delete_in_use;
};

void key_rec_clear(struct key_rec *k);
/* Decode a record's bytes (untrusted: -EIO, Store.Corrupt, for anything
 * malformed) into @ret (key_rec_clear() it).  @id is the record's key. */
int key_rec_decode(const char *id, const void *buf, size_t len, struct key_rec *ret);
/* Encode @k into a malloc'd buffer. */
int key_rec_encode(const struct key_rec *k, uint8_t **ret_buf, size_t *ret_len);

/* An alias as list-aliases shows it. */
struct key_alias {
    char name[KEYS_ALIAS_MAX + 1];
    char target[KEYS_ID_TEXT];
    int64_t created_ms;
};

/* Documents (json.c): {"KeyMetadata":{…}} of @k; {"Keys":[{KeyId,KeyArn}]}
 * of @n ids; {"Aliases":[…]} of @n aliases; {@name: @text} or, @text NULL,
 * {@name: @flag}. */
int json_key_metadata(const bsnap_store *s, const struct key_rec *k, json_t **ret_doc);
int json_key_list(const bsnap_store *s, const char (*ids)[KEYS_ID_TEXT], size_t n,
                  json_t **ret_doc);
int json_alias_list(const bsnap_store *s, const struct key_alias *a, size_t n, json_t **ret_doc);
int json_key_setting(const char *name, const char *text, bool flag, json_t **ret_doc);

/* The directory of @s's key files: $BLOCKSNAP_KEY_DIR/REGION, else
 * $XDG_CONFIG_HOME/blocksnap/keys/REGION, else
 * $HOME/.config/blocksnap/keys/REGION.  Malloc'd. */
int keys_dir(const bsnap_store *s, char **ret_dir);

/* Seal/open a data key under @material with @key_id and @purpose as
 * additional data (the wrapped format).  Exposed for the tests. */
int keys_seal(const uint8_t material[KEYS_MATERIAL_BYTES], const char *key_id, const char *purpose,
              const uint8_t plain[KEYS_DATA_KEY_BYTES], uint8_t out[KEYS_WRAPPED_BYTES]);
int keys_unseal(const uint8_t material[KEYS_MATERIAL_BYTES], const char *key_id,
                const char *purpose, const uint8_t in[KEYS_WRAPPED_BYTES],
                uint8_t plain[KEYS_DATA_KEY_BYTES]);

/* A new data key under the key @key_ref names (key id, key ARN, alias
 * name, alias ARN; NULL: the store's EBS default key), for @purpose (what
 * it will protect, e.g. "volume-lineage"; the same string opens it).
 * @ret_key_arn (optional, 2048 bytes): the key's ARN.  Errors:
 * NotFoundException, DisabledException, KeyUnavailableException (no key
 * file), IncorrectKeyMaterialException (the file is not this key's), -EIO,
 * -ENOMEM. */
int keys_data_key_new(bsnap_store *s, const char *key_ref, const char *purpose,
                      uint8_t ret_wrapped[KEYS_WRAPPED_BYTES],
                      uint8_t ret_plain[KEYS_DATA_KEY_BYTES], char *ret_key_arn);
/* Unwrap @wrapped (for @purpose) into @ret_plain.  Errors as
 * keys_data_key_new(), and InvalidCiphertextException (-EBADMSG) when it
 * does not unwrap (a changed byte, another purpose, another key). */
int keys_data_key_open(bsnap_store *s, const uint8_t wrapped[KEYS_WRAPPED_BYTES],
                       const char *purpose, uint8_t ret_plain[KEYS_DATA_KEY_BYTES]);
/* keys_data_key_open() for one of two users.  By default (0) the calling
 * account reads data: the key must be usable (not pending deletion:
 * KMSInvalidStateException; not disabled) and the caller's own or granted
 * to it for Decrypt (AccessDeniedException).  KEYS_OPEN_STORE: the store
 * keeps itself (gc, a delete's cascade), whoever calls: no grant is asked
 * for, and a key pending deletion opens, so that the snapshots that keep
 * it from being deleted can go. */
#define KEYS_OPEN_STORE 1u
int keys_data_key_open_flags(bsnap_store *s, const uint8_t wrapped[KEYS_WRAPPED_BYTES],
                             const char *purpose, unsigned flags,
                             uint8_t ret_plain[KEYS_DATA_KEY_BYTES]);

/* ---- what the other key modules (key-grants.c, key-deletion.c) share ---- */

/* The operations of a grant (KMS's names in keys_op_name()). */
enum key_op {
    KEY_OP_DECRYPT = 1 << 0,
    KEY_OP_ENCRYPT = 1 << 1,
    KEY_OP_GENERATE_DATA_KEY = 1 << 2,
    KEY_OP_GENERATE_DATA_KEY_WITHOUT_PLAINTEXT = 1 << 3,
    KEY_OP_REENCRYPT_FROM = 1 << 4,
    KEY_OP_REENCRYPT_TO = 1 << 5,
    KEY_OP_CREATE_GRANT = 1 << 6,
    KEY_OP_RETIRE_GRANT = 1 << 7,
    KEY_OP_DESCRIBE_KEY = 1 << 8,
};
#define KEY_OP_ALL 0x1ff
/* KMS's name of the one operation @op, or NULL. */
const char *keys_op_name(unsigned op);

/* Load key @id's record and its entries (-ENOENT unrecorded when there is
 * none); save one (record, owner, passphrase and deletion entries). */
int keys_load(meta_txn *txn, const char *id, struct key_rec *ret);
int keys_save(meta_txn *txn, const struct key_rec *k);
/* Resolve @ref (key id, key ARN, alias name, alias ARN) as the calling
 * account names keys: ids and alias names are its own, an ARN may name
 * another account's key (then its owner is not the caller).  With
 * @create, naming the caller's alias/aws/ebs makes it.  NotFoundException
 * naming nothing (the caller sets the parameter). */
int keys_resolve(bsnap_store *s, meta_txn *txn, const char *ref, bool create, struct key_rec *ret);
/* 0 when the calling account owns @k, else AccessDeniedException (-EACCES)
 * saying the caller may not do @action (KMS's name, e.g. "kms:DisableKey"). */
int keys_owned(const bsnap_store *s, const struct key_rec *k, const char *action);
/* 0 when the calling account may do @op with @k: it owns @k, or a grant
 * of @k gives it @op; else AccessDeniedException. */
int keys_allowed(const bsnap_store *s, meta_txn *txn, const struct key_rec *k, unsigned op);
/* 0 when @k may wrap and unwrap: KMSInvalidStateException (-EPERM) when
 * it is pending deletion, DisabledException (-EPERM) when disabled. */
int keys_usable(const bsnap_store *s, const struct key_rec *k);
/* Remove key @id's key file (none: 0). */
int keys_file_remove(const bsnap_store *s, const char *id);
/* @k's key ARN (its owner's account) into @out. */
void keys_arn(const bsnap_store *s, const struct key_rec *k, char *out, size_t cap);
/* "arn:aws:kms:REGION:CALLER:" into @out; its length. */
int keys_arn_prefix(const bsnap_store *s, char *out, size_t cap);
/* Run @fn in a write transaction, committed when it succeeds. */
int keys_in_write(bsnap_store *s, int (*fn)(bsnap_store *, meta_txn *, void *), void *ud);
/* Call @fn for each entry of the keys table whose key begins with the
 * letter @prefix, with the rest of the key; a negative return stops. */
int keys_walk(meta_txn *txn, char prefix,
              int (*fn)(void *ud, const char *key, size_t klen, const void *val, size_t vlen),
              void *ud);
/* Remove key @id from the table: record, entries, aliases and grants (the
 * key file is the caller's, after the commit). */
int keys_drop(meta_txn *txn, const char *id);

/* A grant entry ("g" + id; docs/format.md, "grants"). */
#define GRANT_ID_HEX 64
#define GRANT_NAME_MAX 256
/* magic, u16 version, u16 operations, key id, grantee, retiring account
 * (12 NULs: none), i64 creation (ms), u16 name length, name */
#define GRANT_FIXED (4 + 2 + 2 + 36 + 12 + 12 + 8 + 2)
struct grant {
    char id[GRANT_ID_HEX + 1];
    unsigned ops;
    char key_id[KEYS_ID_TEXT];
    char grantee[13];
    char retiring[13]; /* "" when none */
    int64_t created_ms;
    char name[GRANT_NAME_MAX + 1];
};
/* Decode the entry of key @key (the id, without its "g") and value @val
 * (untrusted: -EIO, Store.Corrupt, @ret untouched); encode one, its
 * length returned. */
int grant_decode(const char *key, size_t klen, const void *val, size_t vlen, struct grant *ret);
size_t grant_encode(const struct grant *g, uint8_t out[GRANT_FIXED + GRANT_NAME_MAX]);

/* key-tags.c: check KMS tags (TagException, naming Tags[i].TagKey);
 * set @tags on key @id in @txn (values NULL: ""). */
int keys_tags_check(const bsnap_tag *tags, size_t n);
int keys_tags_put(meta_txn *txn, const char *id, const bsnap_tag *tags, size_t n);

/* key-grants.c: whether a grant of key @key_id gives @account @op (1, 0),
 * or a negative errno; remove every grant of @key_id. */
int grants_allow(meta_txn *txn, const char *key_id, const char *account, unsigned op);
int grants_drop(meta_txn *txn, const char *key_id);

/* key-deletion.c: delete the keys whose deletion date has passed (and
 * that no snapshot needs, unless they were scheduled to go anyway), with
 * their files.  Best effort: a read-only store or a failure logs and
 * leaves them for the next time; returns how many went. */
int keys_expire(bsnap_store *s);
/* Tests: set key @id's deletion date (it must be scheduled). */
int keys_deletion_date_set(bsnap_store *s, const char *id, int64_t ms);

/* The ARN of the key @key_ref names (any form), without making the
 * default key.  Errors: NotFoundException, -EIO. */
#define KEYS_ARN_MAX 2048
int keys_key_arn(bsnap_store *s, const char *key_ref, char ret_arn[KEYS_ARN_MAX]);
/* The ARN of the calling account's EBS default key (the setting, else
 * alias/aws/ebs), without making it: NotFoundException when it is not
 * made yet. */
int keys_default_key_arn(bsnap_store *s, char ret_arn[KEYS_ARN_MAX]);
/* Whether EBS encryption by default is on. */
int keys_encryption_by_default(bsnap_store *s, bool *ret_on);

/* The manager of the key whose ARN is @key_arn (any account's): 0, or
 * -ENOENT (unrecorded) when there is no such key; -EIO. */
int keys_manager_of(meta_txn *txn, const char *key_arn, enum key_manager *ret);

/* OPENSSL_cleanse(). */
void keys_wipe(void *p, size_t n);

#endif
