/* fuzz-records.c - libFuzzer harness for the JSON records stored in LMDB
 * (snapshot_rec_decode, volume_rec_decode) and the describe documents made
 * from them.
 *
 * Each input is decoded as both kinds of record.  Checks: decoding returns
 * 0 or -EIO with the code Store.Corrupt and leaves the output untouched on
 * failure; an accepted record has ids that fit, a known state and a sane
 * depth; encoding it and decoding the result gives the same record (its
 * encryption too); its
 * EC2 describe object is valid JSON.  The quick look of a snapshot record
 * (snapshot_rec_peek(), for lists of ids) returns 0 or -EIO, agrees with
 * the decode whenever it answers, and answers on every record encoded. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(void)
{
    if (strcmp(bsnap_last_error()->code, "Store.Corrupt") != 0 || bsnap_last_error()->err != -EIO)
        abort();
}

static void check_json(const char *text)
{
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);

    if (!o)
        abort();
    json_decref(o);
}

static bool tags_equal(const struct tags *a, const struct tags *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].key, b->v[i].key) || strcmp(a->v[i].value, b->v[i].value))
            return false;
    return true;
}

static const bsnap_store *fake_store(void)
{
    static bsnap_store s;

    snprintf(s.account, sizeof s.account, "123456789012");
    snprintf(s.region, sizeof s.region, "fuzz-1");
    return &s;
}

static void fuzz_snapshot(const uint8_t *data, size_t size)
{
    struct snapshot_rec r, again = {0};
    char *json = NULL;
    size_t len;
    int rc;

    struct snapshot_peek pk;
    int peeked = snapshot_rec_peek(data, size, &pk);

    if (peeked != 0 && peeked != -EIO)
        abort();
    memset(&r, 0x5a, sizeof r);
    rc = snapshot_rec_decode(data, size, &r);
    if (rc < 0) {
        if (rc != -EIO || r.id[0] != 0x5a)
            abort();
        check_error();
        return;
    }
    if (strlen(r.id) >= BSNAP_ID_MAX || strlen(r.volume_id) >= BSNAP_ID_MAX ||
        strlen(r.parent_id) >= BSNAP_ID_MAX || (unsigned)r.state > BSNAP_SNAPSHOT_ERROR ||
        r.depth > 16 || !r.description)
        abort();
    /* the quick look agrees with the decode whenever it answers */
    if (peeked == 0 &&
        (pk.state != r.state || strcmp(pk.owner, r.owner) || pk.shared != (r.cvp.all || r.cvp.n)))
        abort();
    if (snapshot_rec_encode(&r, &json, &len) < 0)
        abort();
    if (snapshot_rec_decode(json, len, &again) < 0)
        abort();
    /* and always answers on a record the engine wrote */
    if (snapshot_rec_peek(json, len, &pk) < 0 || pk.state != r.state || strcmp(pk.owner, r.owner))
        abort();
    if (strcmp(r.id, again.id) || strcmp(r.volume_id, again.volume_id) ||
        strcmp(r.parent_id, again.parent_id) || r.state != again.state || r.size != again.size ||
        !chunk_id_eq(&r.root, &again.root) || r.depth != again.depth ||
        r.chunk_size != again.chunk_size || r.start_ms != again.start_ms ||
        r.completion_ms != again.completion_ms || strcmp(r.description, again.description) ||
        r.data_chunks != again.data_chunks || r.bytes_read != again.bytes_read ||
        r.bytes_written != again.bytes_written || r.chunks_written != again.chunks_written ||
        !tags_equal(&r.tags, &again.tags) || r.encrypted != again.encrypted ||
        (r.encrypted && (strcmp(r.kms_key_id, again.kms_key_id) || r.key_slot != again.key_slot ||
                         r.key_slot == 0 || memcmp(r.data_key, again.data_key, sizeof r.data_key))))
        abort();
    free(json);
    json = NULL;
    {
        /* the document, dumped as a front end would print it */
        json_t *doc = NULL;
        if (json_describe_snapshot(fake_store(), &r, &doc) < 0)
            abort();
        json = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(doc);
    }
    check_json(json);
    free(json);
    snapshot_rec_clear(&r);
    snapshot_rec_clear(&again);
}

static void fuzz_volume(const uint8_t *data, size_t size)
{
    struct volume_rec r, again = {0};
    char *json = NULL;
    size_t len;
    int rc;

    memset(&r, 0x5a, sizeof r);
    rc = volume_rec_decode(data, size, &r);
    if (rc < 0) {
        if (rc != -EIO || r.id[0] != 0x5a)
            abort();
        check_error();
        return;
    }
    if (strlen(r.id) >= BSNAP_ID_MAX || strlen(r.source_snapshot) >= BSNAP_ID_MAX ||
        strlen(r.last_snapshot) >= BSNAP_ID_MAX || !r.path)
        abort();
    if (volume_rec_encode(&r, &json, &len) < 0 || volume_rec_decode(json, len, &again) < 0)
        abort();
    if (strcmp(r.id, again.id) || strcmp(r.path, again.path) || r.size != again.size ||
        strcmp(r.source_snapshot, again.source_snapshot) ||
        strcmp(r.last_snapshot, again.last_snapshot) || r.create_ms != again.create_ms ||
        !tags_equal(&r.tags, &again.tags))
        abort();
    free(json);
    json = NULL;
    {
        /* the document, dumped as a front end would print it */
        json_t *doc = NULL;
        if (json_describe_volume(fake_store(), &r, &doc) < 0)
            abort();
        json = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(doc);
    }
    check_json(json);
    free(json);
    volume_rec_clear(&r);
    volume_rec_clear(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_snapshot(data, size);
    fuzz_volume(data, size);
    return 0;
}
