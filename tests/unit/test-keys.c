/* test-keys.c - region keys (keys.c): create, describe, aliases, disable and
 * enable, the default key made on first use, the EBS settings, and data
 * keys: the wrap/unwrap round trip, and clean failures for a flipped byte,
 * another purpose, another key id in the additional data, a missing key
 * file and a key file of another key. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "keys.h"
#include "meta.h"
#include "store.h"
#include "unit-helpers.h"
#include "util.h"

/* A fixture whose key files go to its own directory. */
static int setup(void **state)
{
    struct fixture *f = fixture_new(4096);
    char *kd = path_in(f->dir, "keys");

    setenv("BLOCKSNAP_KEY_DIR", kd, 1);
    free(kd);
    *state = f;
    return 0;
}

/* Create a key and return its id (from the document). */
static void key_create(struct fixture *f, const char *desc, char id[KEYS_ID_TEXT])
{
    json_t *doc = NULL;

    assert_int_equal(bsnap_key_create(f->s, &(bsnap_key_options){.description = desc}, &doc), 0);
    snprintf(id, KEYS_ID_TEXT, "%s",
             json_string_value(json_object_get(json_object_get(doc, "KeyMetadata"), "KeyId")));
    assert_int_equal(strlen(id), 36);
    json_decref(doc);
}

static char *key_file(struct fixture *f, const char *id)
{
    char *p;
    assert_true(asprintf(&p, "%s/keys/test-1/%s.key", f->dir, id) > 0);
    return p;
}

static void test_create_describe(void **state)
{
    struct fixture *f = *state;
    char id[KEYS_ID_TEXT], arn[256], *json = NULL, *path;
    struct stat st;

    key_create(f, "dr", id);
    path = key_file(f, id);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    free(path);

    /* by key id and by key ARN */
    assert_int_equal(AS_JSON(json, bsnap_key_describe, f->s, id), 0);
    assert_non_null(strstr(json, "\"KeyState\":\"Enabled\""));
    assert_non_null(strstr(json, "\"KeyManager\":\"CUSTOMER\""));
    assert_non_null(strstr(json, "\"Description\":\"dr\""));
    snprintf(arn, sizeof arn, "arn:aws:kms:test-1:123456789012:key/%s", id);
    assert_non_null(strstr(json, arn));
    free(json);
    assert_int_equal(AS_JSON(json, bsnap_key_describe, f->s, arn), 0);
    free(json);

    /* unknown key, malformed id, another region's ARN */
    assert_error(AS_JSON(json, bsnap_key_describe, f->s, "00000000-0000-4000-8000-000000000000"),
                 -ENOENT, "NotFoundException");
    assert_string_equal(bsnap_last_error()->parameter, "KeyId");
    assert_error(AS_JSON(json, bsnap_key_describe, f->s, "nope"), -ENOENT, "NotFoundException");
    snprintf(arn, sizeof arn, "arn:aws:kms:other-1:123456789012:key/%s", id);
    assert_error(AS_JSON(json, bsnap_key_describe, f->s, arn), -ENOENT, "NotFoundException");

    assert_int_equal(AS_JSON(json, bsnap_key_list, f->s), 0);
    assert_non_null(strstr(json, id));
    free(json);
}

static void test_aliases(void **state)
{
    struct fixture *f = *state;
    char id[KEYS_ID_TEXT], id2[KEYS_ID_TEXT], *json = NULL;

    key_create(f, NULL, id);
    key_create(f, NULL, id2);
    assert_int_equal(bsnap_alias_create(f->s, "alias/dr", id), 0);
    assert_error(bsnap_alias_create(f->s, "alias/dr", id2), -EEXIST, "AlreadyExistsException");
    assert_string_equal(bsnap_last_error()->parameter, "AliasName");
    assert_error(bsnap_alias_create(f->s, "alias/aws/mine", id), -EINVAL,
                 "InvalidAliasNameException");
    assert_error(bsnap_alias_create(f->s, "dr2", id), -EINVAL, "InvalidAliasNameException");
    assert_error(bsnap_alias_create(f->s, "alias/x y", id), -EINVAL, "InvalidAliasNameException");
    assert_error(bsnap_alias_create(f->s, "alias/two", "alias/none"), -ENOENT, "NotFoundException");
    assert_string_equal(bsnap_last_error()->parameter, "TargetKeyId");

    /* the alias and its ARN name the key */
    assert_int_equal(AS_JSON(json, bsnap_key_describe, f->s, "alias/dr"), 0);
    assert_non_null(strstr(json, id));
    free(json);
    assert_int_equal(
        AS_JSON(json, bsnap_key_describe, f->s, "arn:aws:kms:test-1:123456789012:alias/dr"), 0);
    assert_non_null(strstr(json, id));
    free(json);

    assert_int_equal(AS_JSON(json, bsnap_alias_list, f->s, id2), 0);
    assert_string_equal(json, "{\"Aliases\":[]}");
    free(json);
    assert_int_equal(AS_JSON(json, bsnap_alias_list, f->s, NULL), 0);
    assert_non_null(strstr(json, "\"AliasName\":\"alias/dr\""));
    assert_non_null(strstr(json, "\"AliasArn\":\"arn:aws:kms:test-1:123456789012:alias/dr\""));
    free(json);

    assert_int_equal(bsnap_alias_delete(f->s, "alias/dr"), 0);
    assert_error(bsnap_alias_delete(f->s, "alias/dr"), -ENOENT, "NotFoundException");
    assert_error(AS_JSON(json, bsnap_key_describe, f->s, "alias/dr"), -ENOENT, "NotFoundException");
    /* the key stays */
    assert_int_equal(AS_JSON(json, bsnap_key_describe, f->s, id), 0);
    free(json);
}

static void test_default_key(void **state)
{
    struct fixture *f = *state;
    char *json = NULL, id[KEYS_ID_TEXT];
    uint8_t w[KEYS_WRAPPED_BYTES], p[KEYS_DATA_KEY_BYTES], q[KEYS_DATA_KEY_BYTES];
    char arn[2048];

    /* nothing before first use */
    assert_int_equal(AS_JSON(json, bsnap_key_list, f->s), 0);
    assert_string_equal(json, "{\"Keys\":[]}");
    free(json);
    assert_int_equal(AS_JSON(json, bsnap_ebs_default_key_get, f->s), 0);
    assert_string_equal(json, "{\"KmsKeyId\":\"arn:aws:kms:test-1:123456789012:alias/aws/ebs\"}");
    free(json);

    /* a data key with no key named makes alias/aws/ebs */
    assert_int_equal(keys_data_key_new(f->s, NULL, "test", w, p, arn), 0);
    assert_int_equal(AS_JSON(json, bsnap_key_describe, f->s, "alias/aws/ebs"), 0);
    assert_non_null(strstr(json, "\"KeyManager\":\"AWS\""));
    snprintf(id, sizeof id, "%s", strstr(json, "\"KeyId\":\"") + 9);
    free(json);
    assert_non_null(strstr(arn, id));
    assert_int_equal(keys_data_key_open(f->s, w, "test", q), 0);
    assert_memory_equal(p, q, sizeof p);

    /* once only */
    assert_int_equal(AS_JSON(json, bsnap_key_list, f->s), 0);
    assert_non_null(strstr(json, id));
    assert_null(strstr(strstr(json, id) + 36, "KeyId"));
    free(json);

    /* AWS managed: not disabled, not aliased */
    assert_error(bsnap_key_set_enabled(f->s, "alias/aws/ebs", false), -EPERM,
                 "KMSInvalidStateException");
    assert_error(bsnap_alias_create(f->s, "alias/mine", id), -EPERM, "KMSInvalidStateException");
}

static void test_describe_makes_default(void **state)
{
    struct fixture *f = *state;
    char *json = NULL;

    assert_int_equal(AS_JSON(json, bsnap_key_describe, f->s, "alias/aws/ebs"), 0);
    assert_non_null(strstr(json, "\"KeyManager\":\"AWS\""));
    free(json);
    assert_int_equal(AS_JSON(json, bsnap_alias_list, f->s, NULL), 0);
    assert_non_null(strstr(json, "alias/aws/ebs"));
    free(json);
}

static void test_disable_enable(void **state)
{
    struct fixture *f = *state;
    char id[KEYS_ID_TEXT], *json = NULL;
    uint8_t w[KEYS_WRAPPED_BYTES], p[KEYS_DATA_KEY_BYTES], q[KEYS_DATA_KEY_BYTES];

    key_create(f, NULL, id);
    assert_int_equal(keys_data_key_new(f->s, id, "vol", w, p, NULL), 0);
    assert_int_equal(bsnap_key_set_enabled(f->s, id, false), 0);
    assert_int_equal(AS_JSON(json, bsnap_key_describe, f->s, id), 0);
    assert_non_null(strstr(json, "\"KeyState\":\"Disabled\""));
    assert_non_null(strstr(json, "\"Enabled\":false"));
    free(json);
    assert_error(keys_data_key_new(f->s, id, "vol", w, q, NULL), -EPERM, "DisabledException");
    assert_error(keys_data_key_open(f->s, w, "vol", q), -EPERM, "DisabledException");
    json = NULL;
    assert_error(AS_JSON(json, bsnap_ebs_default_key_modify, f->s, id), -EPERM,
                 "DisabledException");
    assert_string_equal(bsnap_last_error()->parameter, "KmsKeyId");
    assert_int_equal(bsnap_key_set_enabled(f->s, id, true), 0);
    assert_int_equal(keys_data_key_open(f->s, w, "vol", q), 0);
    assert_memory_equal(p, q, sizeof p);
    assert_error(bsnap_key_set_enabled(f->s, "00000000-0000-4000-8000-000000000000", true), -ENOENT,
                 "NotFoundException");
}

static void test_wrap_failures(void **state)
{
    struct fixture *f = *state;
    char a[KEYS_ID_TEXT], b[KEYS_ID_TEXT], *pa, *pb, *text;
    uint8_t w[KEYS_WRAPPED_BYTES], x[KEYS_WRAPPED_BYTES], p[KEYS_DATA_KEY_BYTES],
        q[KEYS_DATA_KEY_BYTES];
    size_t len;

    key_create(f, NULL, a);
    key_create(f, NULL, b);
    assert_int_equal(keys_data_key_new(f->s, a, "vol", w, p, NULL), 0);
    /* the wrapped form holds no plain byte run of the key */
    assert_null(memmem(w, sizeof w, p, 8));

    /* a flipped byte anywhere past the header fails cleanly */
    for (size_t i = 24; i < sizeof w; i++) {
        memcpy(x, w, sizeof w);
        x[i] ^= 0x01;
        assert_error(keys_data_key_open(f->s, x, "vol", q), -EBADMSG, "InvalidCiphertextException");
    }
    /* another purpose */
    assert_error(keys_data_key_open(f->s, w, "image", q), -EBADMSG, "InvalidCiphertextException");
    /* the header naming key b: b's material does not open it */
    memcpy(x, w, sizeof w);
    {
        uint8_t wb[KEYS_WRAPPED_BYTES];
        assert_int_equal(keys_data_key_new(f->s, b, "vol", wb, q, NULL), 0);
        memcpy(x + 8, wb + 8, 16);
    }
    assert_error(keys_data_key_open(f->s, x, "vol", q), -EBADMSG, "InvalidCiphertextException");

    /* a key file holding key b's material: refused by the check value,
     * naming the key and the file */
    pa = key_file(f, a);
    pb = key_file(f, b);
    {
        uint8_t *raw = file_slurp(pb, &len);
        text = strndup((const char *)raw, len);
        free(raw);
    }
    {
        FILE *fp = fopen(pa, "w");
        char head[80];
        snprintf(head, sizeof head, "blocksnap-key 1 %s\n", a);
        assert_non_null(fp);
        fputs(head, fp);
        fwrite(strchr(text, '\n') + 1, 1, 65, fp);
        fclose(fp);
    }
    assert_error(keys_data_key_open(f->s, w, "vol", q), -EKEYREJECTED,
                 "IncorrectKeyMaterialException");
    assert_message_has(a);
    assert_message_has(pa);
    assert_null(strstr(bsnap_last_error()->message, strchr(text, '\n') + 1));
    /* b's file itself under a's name: not a key file of a */
    {
        FILE *fp = fopen(pa, "w");
        assert_non_null(fp);
        fwrite(text, 1, len, fp);
        fclose(fp);
    }
    assert_error(keys_data_key_open(f->s, w, "vol", q), -EKEYREJECTED,
                 "IncorrectKeyMaterialException");
    free(text);

    /* no key file */
    assert_int_equal(unlink(pa), 0);
    assert_error(keys_data_key_open(f->s, w, "vol", q), -ENOKEY, "KeyUnavailableException");
    assert_message_has(pa);
    assert_message_has("missing");
    assert_error(keys_data_key_new(f->s, a, "vol", x, q, NULL), -ENOKEY, "KeyUnavailableException");
    free(pa);
    free(pb);
}

/* The additional data binds the key id: the same material with another
 * id does not open what it sealed. */
static void test_aad_binds_key_id(void **state)
{
    uint8_t m[KEYS_MATERIAL_BYTES], p[KEYS_DATA_KEY_BYTES], q[KEYS_DATA_KEY_BYTES],
        w[KEYS_WRAPPED_BYTES];
    const char *a = "11111111-1111-4111-8111-111111111111";
    const char *b = "22222222-2222-4222-8222-222222222222";

    (void)state;
    fill_random(m, sizeof m, 1);
    fill_random(p, sizeof p, 2);
    assert_int_equal(keys_seal(m, a, "vol", p, w), 0);
    assert_int_equal(keys_unseal(m, a, "vol", w, q), 0);
    assert_memory_equal(p, q, sizeof p);
    assert_error(keys_unseal(m, b, "vol", w, q), -EBADMSG, "InvalidCiphertextException");
}

static void test_ebs_settings(void **state)
{
    struct fixture *f = *state;
    char id[KEYS_ID_TEXT], *json = NULL, want[256];

    assert_int_equal(AS_JSON(json, bsnap_ebs_encryption_by_default_get, f->s), 0);
    assert_string_equal(json, "{\"EbsEncryptionByDefault\":false}");
    free(json);
    assert_int_equal(AS_JSON(json, bsnap_ebs_encryption_by_default_set, f->s, true), 0);
    assert_string_equal(json, "{\"EbsEncryptionByDefault\":true}");
    free(json);
    fixture_reopen(f);
    assert_int_equal(AS_JSON(json, bsnap_ebs_encryption_by_default_get, f->s), 0);
    assert_string_equal(json, "{\"EbsEncryptionByDefault\":true}");
    free(json);

    key_create(f, NULL, id);
    assert_int_equal(bsnap_alias_create(f->s, "alias/dr", id), 0);
    snprintf(want, sizeof want, "{\"KmsKeyId\":\"arn:aws:kms:test-1:123456789012:key/%s\"}", id);
    assert_int_equal(AS_JSON(json, bsnap_ebs_default_key_modify, f->s, "alias/dr"), 0);
    assert_string_equal(json, want);
    free(json);
    assert_int_equal(AS_JSON(json, bsnap_ebs_default_key_get, f->s), 0);
    assert_string_equal(json, want);
    free(json);
    json = NULL;
    assert_error(AS_JSON(json, bsnap_ebs_default_key_modify, f->s, "alias/none"), -ENOENT,
                 "NotFoundException");
    assert_string_equal(bsnap_last_error()->parameter, "KmsKeyId");
    assert_int_equal(AS_JSON(json, bsnap_ebs_default_key_reset, f->s), 0);
    assert_string_equal(json, "{\"KmsKeyId\":\"arn:aws:kms:test-1:123456789012:alias/aws/ebs\"}");
    free(json);
}

/* The record decoder refuses what it cannot trust. */
static void test_record_decode(void **state)
{
    struct key_rec k = {.state = KEY_ENABLED, .manager = KEY_CUSTOMER, .created_ms = 5}, d = {0};
    const char *id = "11111111-1111-4111-8111-111111111111";
    uint8_t *buf;
    size_t len;

    (void)state;
    snprintf(k.id, sizeof k.id, "%s", id);
    k.description = strdup("hello");
    assert_int_equal(key_rec_encode(&k, &buf, &len), 0);
    assert_int_equal(key_rec_decode(id, buf, len, &d), 0);
    assert_string_equal(d.description, "hello");
    assert_int_equal(d.created_ms, 5);
    key_rec_clear(&d);
    assert_error(key_rec_decode(id, buf, len - 1, &d), -EIO, "Store.Corrupt");
    assert_error(key_rec_decode("x", buf, len, &d), -EIO, "Store.Corrupt");
    buf[6] = 9;
    assert_error(key_rec_decode(id, buf, len, &d), -EIO, "Store.Corrupt");
    free(buf);
    key_rec_clear(&k);
}

/* A key derived from a passphrase: no key file, the salt and iterations in
 * the store, the passphrase read from the environment at each use; a
 * wrong or missing passphrase is a clean, named error. */
static void test_passphrase(void **state)
{
    struct fixture *f = *state;
    uint8_t w[KEYS_WRAPPED_BYTES], p[KEYS_DATA_KEY_BYTES], q[KEYS_DATA_KEY_BYTES];
    bsnap_key_options o = {.description = "pass", .passphrase = true};
    char id[KEYS_ID_TEXT], *json = NULL, *path;
    json_t *doc = NULL;
    struct stat st;

    unsetenv(KEYS_PASSPHRASE_ENV);
    assert_error(bsnap_key_create(f->s, &o, &doc), -EINVAL, "InvalidParameterValue");
    assert_string_equal(bsnap_last_error()->parameter, "Passphrase");
    setenv(KEYS_PASSPHRASE_ENV, "correct horse battery staple", 1);
    assert_int_equal(bsnap_key_create(f->s, &o, &doc), 0);
    snprintf(id, sizeof id, "%s",
             json_string_value(json_object_get(json_object_get(doc, "KeyMetadata"), "KeyId")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(doc, "KeyMetadata"), "Origin")),
        "EXTERNAL");
    json_decref(doc);
    path = key_file(f, id);
    assert_int_equal(stat(path, &st), -1);
    free(path);

    assert_int_equal(keys_data_key_new(f->s, id, "vol", w, p, NULL), 0);
    fixture_reopen(f);
    assert_int_equal(keys_data_key_open(f->s, w, "vol", q), 0);
    assert_memory_equal(p, q, sizeof p);
    assert_int_equal(AS_JSON(json, bsnap_key_describe, f->s, id), 0);
    assert_non_null(strstr(json, "\"Origin\":\"EXTERNAL\""));
    free(json);

    setenv(KEYS_PASSPHRASE_ENV, "correct horse battery stapler", 1);
    assert_error(keys_data_key_open(f->s, w, "vol", q), -EKEYREJECTED,
                 "IncorrectKeyMaterialException");
    assert_message_has(id);
    assert_null(strstr(bsnap_last_error()->message, "stapler"));
    unsetenv(KEYS_PASSPHRASE_ENV);
    assert_error(keys_data_key_open(f->s, w, "vol", q), -ENOKEY, "KeyUnavailableException");
    assert_message_has(KEYS_PASSPHRASE_ENV);
}

#define OTHER "111122223333"
#define OWNER "123456789012"

static void arn_of(const char *account, const char *id, char out[256])
{
    snprintf(out, 256, "arn:aws:kms:test-1:%s:key/%s", account, id);
}

/* Keys are their owner's: another account of the store lists none of
 * them, names them only by ARN and cannot use, describe, disable or
 * delete them; its alias/aws/ebs is its own key. */
static void test_owners(void **state)
{
    struct fixture *f = *state;
    char id[KEYS_ID_TEXT], id2[KEYS_ID_TEXT], arn[256], *json = NULL;
    uint8_t w[KEYS_WRAPPED_BYTES], p[KEYS_DATA_KEY_BYTES], q[KEYS_DATA_KEY_BYTES];

    key_create(f, "mine", id);
    arn_of(OWNER, id, arn);
    assert_int_equal(bsnap_alias_create(f->s, "alias/dr", id), 0);
    assert_int_equal(keys_data_key_new(f->s, id, "vol", w, p, NULL), 0);

    assert_int_equal(bsnap_store_set_account(f->s, OTHER), 0);
    assert_int_equal(AS_JSON(json, bsnap_key_list, f->s), 0);
    assert_string_equal(json, "{\"Keys\":[]}");
    free(json);
    assert_int_equal(AS_JSON(json, bsnap_alias_list, f->s, NULL), 0);
    assert_string_equal(json, "{\"Aliases\":[]}");
    free(json);
    assert_error(AS_JSON(json, bsnap_key_describe, f->s, id), -ENOENT, "NotFoundException");
    assert_error(AS_JSON(json, bsnap_key_describe, f->s, "alias/dr"), -ENOENT, "NotFoundException");
    assert_error(AS_JSON(json, bsnap_key_describe, f->s, arn), -EACCES, "AccessDeniedException");
    assert_string_equal(bsnap_last_error()->parameter, "KeyId");
    assert_error(bsnap_key_set_enabled(f->s, arn, false), -EACCES, "AccessDeniedException");
    assert_error(AS_JSON(json, bsnap_key_deletion_schedule, f->s, arn, 7, false), -EACCES,
                 "AccessDeniedException");
    assert_error(keys_data_key_open(f->s, w, "vol", q), -EACCES, "AccessDeniedException");
    assert_error(keys_data_key_new(f->s, arn, "vol", w, q, NULL), -EACCES, "AccessDeniedException");
    /* its own default key and alias namespace */
    assert_int_equal(AS_JSON(json, bsnap_key_describe, f->s, "alias/aws/ebs"), 0);
    assert_non_null(strstr(json, "\"AWSAccountId\":\"" OTHER "\""));
    free(json);
    key_create(f, "theirs", id2);
    assert_int_equal(bsnap_alias_create(f->s, "alias/dr", id2), 0);
    assert_int_equal(AS_JSON(json, bsnap_key_describe, f->s, "alias/dr"), 0);
    assert_non_null(strstr(json, id2));
    free(json);

    /* the owner's view is unchanged */
    assert_int_equal(bsnap_store_set_account(f->s, OWNER), 0);
    assert_int_equal(AS_JSON(json, bsnap_key_list, f->s), 0);
    assert_non_null(strstr(json, id));
    assert_null(strstr(json, id2));
    free(json);
    assert_int_equal(AS_JSON(json, bsnap_key_describe, f->s, "alias/dr"), 0);
    assert_non_null(strstr(json, id));
    free(json);
    assert_int_equal(keys_data_key_open(f->s, w, "vol", q), 0);
    assert_memory_equal(p, q, sizeof p);
}

/* A grant lets another account do exactly its operations; revoked or
 * retired, it lets it do nothing again. */
static void test_grants(void **state)
{
    struct fixture *f = *state;
    char id[KEYS_ID_TEXT], arn[256], gid[80], gid2[80], *json = NULL;
    uint8_t w[KEYS_WRAPPED_BYTES], p[KEYS_DATA_KEY_BYTES], q[KEYS_DATA_KEY_BYTES];
    const char *dec[] = {"Decrypt", "DescribeKey"}, *bad[] = {"Decrypt", "Sign"},
               *cg[] = {"CreateGrant", "Decrypt", "RetireGrant"};
    bsnap_grant_options o = {
        .grantee_principal = OTHER, .operations = dec, .noperations = 2, .name = "restore"};
    json_t *doc = NULL;

    key_create(f, NULL, id);
    arn_of(OWNER, id, arn);
    o.key_id = id;
    assert_int_equal(keys_data_key_new(f->s, id, "vol", w, p, NULL), 0);

    /* bad inputs change nothing */
    o.operations = bad;
    assert_error(bsnap_grant_create(f->s, &o, &doc), -EINVAL, "ValidationException");
    assert_string_equal(bsnap_last_error()->parameter, "Operations[1]");
    o.operations = dec;
    o.grantee_principal = "1234";
    assert_error(bsnap_grant_create(f->s, &o, &doc), -EINVAL, "InvalidArnException");
    assert_string_equal(bsnap_last_error()->parameter, "GranteePrincipal");
    o.grantee_principal = "arn:aws:iam::" OTHER ":root";
    o.key_id = "alias/aws/ebs";
    assert_int_equal(AS_JSON(json, bsnap_key_describe, f->s, "alias/aws/ebs"), 0);
    free(json);
    assert_error(bsnap_grant_create(f->s, &o, &doc), -EACCES, "AccessDeniedException");
    o.key_id = id;
    assert_int_equal(AS_JSON(json, bsnap_grant_list, f->s, id, NULL, NULL), 0);
    assert_string_equal(json, "{\"Grants\":[],\"Truncated\":false}");
    free(json);

    /* a named grant asked for twice is one grant */
    assert_int_equal(bsnap_grant_create(f->s, &o, &doc), 0);
    snprintf(gid, sizeof gid, "%s", json_string_value(json_object_get(doc, "GrantId")));
    json_decref(doc);
    assert_int_equal(strlen(gid), 64);
    assert_int_equal(bsnap_grant_create(f->s, &o, &doc), 0);
    assert_string_equal(json_string_value(json_object_get(doc, "GrantId")), gid);
    json_decref(doc);
    assert_int_equal(AS_JSON(json, bsnap_grant_list, f->s, id, NULL, OTHER), 0);
    assert_non_null(strstr(json, gid));
    assert_non_null(strstr(json, "\"GranteePrincipal\":\"arn:aws:iam::" OTHER ":root\""));
    assert_non_null(strstr(json, "\"Operations\":[\"Decrypt\",\"DescribeKey\"]"));
    free(json);

    /* the grantee may unwrap and describe, not wrap, list, revoke or grant */
    assert_int_equal(bsnap_store_set_account(f->s, OTHER), 0);
    assert_int_equal(keys_data_key_open(f->s, w, "vol", q), 0);
    assert_memory_equal(p, q, sizeof p);
    assert_int_equal(AS_JSON(json, bsnap_key_describe, f->s, arn), 0);
    free(json);
    assert_error(keys_data_key_new(f->s, arn, "vol", w, q, NULL), -EACCES, "AccessDeniedException");
    assert_error(AS_JSON(json, bsnap_grant_list, f->s, arn, NULL, NULL), -EACCES,
                 "AccessDeniedException");
    assert_error(bsnap_grant_revoke(f->s, arn, gid), -EACCES, "AccessDeniedException");
    o.key_id = arn;
    o.name = NULL;
    assert_error(bsnap_grant_create(f->s, &o, &doc), -EACCES, "AccessDeniedException");
    /* nor retire a grant without RetireGrant */
    assert_error(bsnap_grant_retire(f->s, gid, NULL, NULL), -EACCES, "AccessDeniedException");

    /* the owner revokes it: nothing again */
    assert_int_equal(bsnap_store_set_account(f->s, OWNER), 0);
    assert_error(bsnap_grant_revoke(f->s, id, "00"), -ENOENT, "NotFoundException");
    assert_string_equal(bsnap_last_error()->parameter, "GrantId");
    assert_int_equal(bsnap_grant_revoke(f->s, id, gid), 0);
    assert_int_equal(bsnap_store_set_account(f->s, OTHER), 0);
    assert_error(keys_data_key_open(f->s, w, "vol", q), -EACCES, "AccessDeniedException");

    /* a grant with CreateGrant passes on no more than it has; the grantee
     * retires what RetireGrant lets it */
    assert_int_equal(bsnap_store_set_account(f->s, OWNER), 0);
    o.key_id = id;
    o.operations = cg;
    o.noperations = 3;
    assert_int_equal(bsnap_grant_create(f->s, &o, &doc), 0);
    snprintf(gid, sizeof gid, "%s", json_string_value(json_object_get(doc, "GrantId")));
    json_decref(doc);
    assert_int_equal(bsnap_store_set_account(f->s, OTHER), 0);
    o.key_id = arn;
    o.grantee_principal = "222233334444";
    o.operations = dec;
    o.noperations = 2;
    assert_error(bsnap_grant_create(f->s, &o, &doc), -EACCES, "AccessDeniedException");
    o.noperations = 1;
    assert_int_equal(bsnap_grant_create(f->s, &o, &doc), 0);
    snprintf(gid2, sizeof gid2, "%s", json_string_value(json_object_get(doc, "GrantId")));
    json_decref(doc);
    assert_error(bsnap_grant_retire(f->s, NULL, arn, NULL), -EINVAL, "ValidationException");
    assert_int_equal(bsnap_grant_retire(f->s, NULL, arn, gid), 0);
    assert_error(keys_data_key_open(f->s, w, "vol", q), -EACCES, "AccessDeniedException");
    assert_int_equal(bsnap_store_set_account(f->s, "222233334444"), 0);
    assert_int_equal(keys_data_key_open(f->s, w, "vol", q), 0);
    assert_int_equal(bsnap_store_set_account(f->s, OWNER), 0);
    assert_int_equal(bsnap_grant_retire(f->s, gid2, NULL, NULL), 0);
    assert_int_equal(AS_JSON(json, bsnap_grant_list, f->s, id, NULL, NULL), 0);
    assert_string_equal(json, "{\"Grants\":[],\"Truncated\":false}");
    free(json);
}

/* Scheduled deletion: PendingDeletion uses nothing; cancelled, the key is
 * Disabled; past its date, the next key call deletes record, alias, grants
 * and key file. */
static void test_deletion(void **state)
{
    struct fixture *f = *state;
    char id[KEYS_ID_TEXT], *json = NULL, *path;
    uint8_t w[KEYS_WRAPPED_BYTES], p[KEYS_DATA_KEY_BYTES], q[KEYS_DATA_KEY_BYTES];
    const char *dec[] = {"Decrypt"};
    bsnap_grant_options o = {.grantee_principal = OTHER, .operations = dec, .noperations = 1};
    struct stat st;
    json_t *doc = NULL;

    key_create(f, NULL, id);
    o.key_id = id;
    path = key_file(f, id);
    assert_int_equal(bsnap_alias_create(f->s, "alias/old", id), 0);
    assert_int_equal(bsnap_ebs_default_key_modify(f->s, id, &doc), 0);
    json_decref(doc);
    assert_int_equal(bsnap_grant_create(f->s, &o, &doc), 0);
    json_decref(doc);
    assert_int_equal(keys_data_key_new(f->s, id, "vol", w, p, NULL), 0);

    assert_error(AS_JSON(json, bsnap_key_deletion_schedule, f->s, id, 6, false), -EINVAL,
                 "ValidationException");
    assert_string_equal(bsnap_last_error()->parameter, "PendingWindowInDays");
    assert_error(AS_JSON(json, bsnap_key_deletion_schedule, f->s, id, 31, false), -EINVAL,
                 "ValidationException");
    assert_error(AS_JSON(json, bsnap_key_deletion_cancel, f->s, id), -EPERM,
                 "KMSInvalidStateException");
    assert_int_equal(AS_JSON(json, bsnap_key_describe, f->s, "alias/aws/ebs"), 0);
    free(json);
    assert_error(AS_JSON(json, bsnap_key_deletion_schedule, f->s, "alias/aws/ebs", 7, false),
                 -EPERM, "KMSInvalidStateException");

    assert_int_equal(AS_JSON(json, bsnap_key_deletion_schedule, f->s, id, 0, false), 0);
    assert_non_null(strstr(json, "\"KeyState\":\"PendingDeletion\""));
    assert_non_null(strstr(json, "\"PendingWindowInDays\":30"));
    free(json);
    assert_error(AS_JSON(json, bsnap_key_deletion_schedule, f->s, id, 7, false), -EPERM,
                 "KMSInvalidStateException");
    assert_error(keys_data_key_open(f->s, w, "vol", q), -EPERM, "KMSInvalidStateException");
    assert_error(keys_data_key_new(f->s, id, "vol", w, q, NULL), -EPERM,
                 "KMSInvalidStateException");
    assert_error(bsnap_key_set_enabled(f->s, id, true), -EPERM, "KMSInvalidStateException");
    assert_int_equal(AS_JSON(json, bsnap_key_describe, f->s, id), 0);
    assert_non_null(strstr(json, "\"KeyState\":\"PendingDeletion\""));
    assert_non_null(strstr(json, "\"DeletionDate\":"));
    assert_non_null(strstr(json, "\"Enabled\":false"));
    free(json);

    /* cancelled: Disabled, then enabled and usable */
    assert_int_equal(AS_JSON(json, bsnap_key_deletion_cancel, f->s, id), 0);
    free(json);
    assert_int_equal(AS_JSON(json, bsnap_key_describe, f->s, id), 0);
    assert_non_null(strstr(json, "\"KeyState\":\"Disabled\""));
    assert_null(strstr(json, "DeletionDate"));
    free(json);
    assert_int_equal(bsnap_key_set_enabled(f->s, id, true), 0);
    assert_int_equal(keys_data_key_open(f->s, w, "vol", q), 0);

    /* not yet due: nothing goes */
    assert_int_equal(AS_JSON(json, bsnap_key_deletion_schedule, f->s, id, 7, false), 0);
    free(json);
    assert_int_equal(keys_expire(f->s), 0);
    assert_int_equal(stat(path, &st), 0);

    /* due: the next key call deletes it all */
    assert_int_equal(keys_deletion_date_set(f->s, id, time_now_ms() - 1), 0);
    assert_int_equal(AS_JSON(json, bsnap_key_list, f->s), 0);
    assert_null(strstr(json, id));
    free(json);
    assert_int_equal(stat(path, &st), -1);
    assert_error(AS_JSON(json, bsnap_key_describe, f->s, id), -ENOENT, "NotFoundException");
    assert_error(AS_JSON(json, bsnap_key_describe, f->s, "alias/old"), -ENOENT,
                 "NotFoundException");
    assert_error(keys_data_key_open(f->s, w, "vol", q), -ENOENT, "NotFoundException");
    assert_int_equal(AS_JSON(json, bsnap_ebs_default_key_get, f->s), 0);
    assert_non_null(strstr(json, "alias/aws/ebs"));
    free(json);
    assert_int_equal(AS_JSON(json, bsnap_alias_list, f->s, NULL), 0);
    assert_null(strstr(json, "alias/old"));
    free(json);
    free(path);
}

/* KMS tags: set with the key or later, replaced, removed, listed by the
 * owner only; checked whole; gone with the key. */
static void test_tags(void **state)
{
    struct fixture *f = *state;
    char id[KEYS_ID_TEXT], arn[256], *json = NULL;
    bsnap_tag two[] = {{"env", "prod"}, {"team", NULL}}, bad[] = {{"ok", "1"}, {"aws:x", "2"}};
    bsnap_tag many[51];
    char names[51][8];
    const char *rm[] = {"team", "absent"};
    json_t *doc = NULL;

    assert_int_equal(bsnap_key_create(f->s, &(bsnap_key_options){.tags = two, .ntags = 2}, &doc),
                     0);
    snprintf(id, sizeof id, "%s",
             json_string_value(json_object_get(json_object_get(doc, "KeyMetadata"), "KeyId")));
    json_decref(doc);
    arn_of(OWNER, id, arn);
    assert_int_equal(AS_JSON(json, bsnap_key_tags_list, f->s, id), 0);
    assert_string_equal(json, "{\"Tags\":[{\"TagKey\":\"env\",\"TagValue\":\"prod\"},"
                              "{\"TagKey\":\"team\",\"TagValue\":\"\"}],\"Truncated\":false}");
    free(json);

    /* checked whole: nothing changes */
    assert_error(bsnap_key_tag(f->s, id, bad, 2), -EINVAL, "TagException");
    assert_string_equal(bsnap_last_error()->parameter, "Tags[1].TagKey");
    for (int i = 0; i < 51; i++) {
        snprintf(names[i], sizeof names[i], "k%d", i);
        many[i] = (bsnap_tag){names[i], "v"};
    }
    assert_error(bsnap_key_tag(f->s, id, many, 51), -EINVAL, "TagException");
    assert_error(bsnap_key_tag(f->s, id, many, 49), -EINVAL, "TagException");
    assert_error(
        AS_JSON(json, bsnap_key_create, f->s, &(bsnap_key_options){.tags = bad, .ntags = 2}),
        -EINVAL, "TagException");

    two[0].value = "dev";
    assert_int_equal(bsnap_key_tag(f->s, id, two, 1), 0);
    assert_int_equal(bsnap_key_untag(f->s, id, rm, 2), 0);
    assert_int_equal(AS_JSON(json, bsnap_key_tags_list, f->s, "alias/none"), -ENOENT);
    bsnap_error_clear();
    assert_int_equal(AS_JSON(json, bsnap_key_tags_list, f->s, id), 0);
    assert_string_equal(json, "{\"Tags\":[{\"TagKey\":\"env\",\"TagValue\":\"dev\"}],"
                              "\"Truncated\":false}");
    free(json);

    /* the owner's alone */
    assert_int_equal(bsnap_store_set_account(f->s, OTHER), 0);
    assert_error(AS_JSON(json, bsnap_key_tags_list, f->s, arn), -EACCES, "AccessDeniedException");
    assert_error(bsnap_key_tag(f->s, arn, two, 1), -EACCES, "AccessDeniedException");
    assert_error(bsnap_key_untag(f->s, arn, rm, 1), -EACCES, "AccessDeniedException");
    assert_int_equal(bsnap_store_set_account(f->s, OWNER), 0);

    /* gone with the key */
    assert_int_equal(AS_JSON(json, bsnap_key_deletion_schedule, f->s, id, 7, false), 0);
    free(json);
    assert_error(bsnap_key_tag(f->s, id, two, 1), -EPERM, "KMSInvalidStateException");
    assert_int_equal(keys_deletion_date_set(f->s, id, time_now_ms() - 1), 0);
    assert_int_equal(keys_expire(f->s), 1);
    {
        meta_txn *txn;
        const void *v;
        size_t vlen;
        char k[38] = "t";
        memcpy(k + 1, id, 36);
        assert_int_equal(meta_txn_begin(f->s->meta, false, &txn), 0);
        assert_int_equal(meta_get(txn, T_KEYS, k, 37, &v, &vlen), -ENOENT);
        meta_txn_abort(txn);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_describe, setup, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_aliases, setup, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_default_key, setup, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_describe_makes_default, setup, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_disable_enable, setup, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_wrap_failures, setup, teardown_fixture),
        cmocka_unit_test(test_aad_binds_key_id),
        cmocka_unit_test_setup_teardown(test_ebs_settings, setup, teardown_fixture),
        cmocka_unit_test(test_record_decode),
        cmocka_unit_test_setup_teardown(test_passphrase, setup, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_owners, setup, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_grants, setup, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_deletion, setup, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_tags, setup, teardown_fixture),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
