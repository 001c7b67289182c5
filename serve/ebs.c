/* ebs.c - the EBS direct API's REST routes (service "ebs"): JSON answers
 * and errors as AWS serves them, each request one engine call
 * (blocksnap.h, "The EBS direct API").
 *
 *   POST /snapshots                           StartSnapshot     201 JSON
 *   PUT  /snapshots/ID/blocks/N               PutSnapshotBlock  201 (raw body in)
 *   POST /snapshots/completion/ID             CompleteSnapshot  202 JSON
 *   GET  /snapshots/ID/blocks                 ListSnapshotBlocks
 *   GET  /snapshots/ID/changedblocks          ListChangedBlocks
 *   GET  /snapshots/ID/blocks/N?blockToken=T  GetSnapshotBlock  (raw body out)
 *
 * A block's 512 KiB go from the request's body to the engine and from the
 * engine to the answer's body without a copy of our own.  Errors are
 * {"Message", "Reason"} with the exception's name in x-amzn-ErrorType.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "serve.h"

/* The HTTP status of an EBS direct exception (or of the server's own codes
 * before a route runs: a signature refused is 403). */
static int ebs_status(const char *code)
{
    static const struct {
        const char *code;
        int status;
    } map[] = {
        {"ValidationException", 400},
        {"ResourceNotFoundException", 404},
        {"AccessDeniedException", 403},
        {"ConflictException", 409},
        {"RequestThrottledException", 400},
        {"ConcurrentLimitExceededException", 400},
        {"ServiceQuotaExceededException", 402},
        /* the server's own, before a route runs (docs/api.md) */
        {"MissingAuthenticationToken", 401},
        {"AuthFailure", 401},
        {"SignatureDoesNotMatch", 403},
        {"IncompleteSignature", 400},
        {"RequestExpired", 400},
        {"ServiceUnavailable", 503},
        {"RequestEntityTooLarge", 413},
    };

    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strcmp(map[i].code, code) == 0)
            return map[i].status;
    return 500;
}

static void error_with(const struct serve_request *rq, const char *code, const char *reason,
                       const char *message, struct serve_response *out)
{
    json_t *d = json_pack("{s:s}", "Message", message);
    int status = ebs_status(code);

    (void)rq;
    /* what is not EBS direct's own (a damaged store, a full disk) is an
     * InternalServerException, its message kept */
    if (status == 500)
        code = "InternalServerException";
    if (d && reason && reason[0])
        json_object_set_new(d, "Reason", json_string(reason));
    out->status = status;
    out->content_type = "application/json";
    snprintf(out->code, sizeof out->code, "%s", code);
    out->body = d ? json_dumps(d, JSON_COMPACT) : NULL;
    out->len = out->body ? strlen(out->body) : 0;
    out->headers[0] = (bsf_http_pair){"x-amzn-ErrorType", out->code};
    out->nheaders = 1;
    json_decref(d);
}

static void ebs_error(const struct serve_request *rq, const char *code, const char *message,
                      struct serve_response *out)
{
    error_with(rq, code, NULL, message, out);
}

/* The engine's error of the call that just failed. */
static void engine_error(const struct serve_request *rq, int r, struct serve_response *out)
{
    const bsnap_error *e = bsnap_last_error();

    if (r == -ECANCELED) {
        error_with(rq, "ServiceUnavailable", NULL,
                   "the server is stopping: the request was cancelled and may be sent again", out);
        return;
    }
    error_with(rq, e->code[0] ? e->code : "InternalServerException", e->reason,
               e->message[0] ? e->message : "internal error", out);
}

static void invalid(const struct serve_request *rq, const char *fmt, const char *what,
                    struct serve_response *out)
{
    char m[256];

    snprintf(m, sizeof m, fmt, what);
    error_with(rq, "ValidationException", "INVALID_PARAMETER_VALUE", m, out);
}

static void json_answer(int status, json_t *doc, struct serve_response *out)
{
    out->status = status;
    out->content_type = "application/json";
    out->body = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    out->len = out->body ? strlen(out->body) : 0;
    if (!out->body) {
        out->status = 500;
        snprintf(out->code, sizeof out->code, "InternalServerException");
    }
    json_decref(doc);
}

static const char *header(const struct serve_request *rq, const char *name)
{
    for (size_t i = 0; i < rq->nheaders; i++)
        if (strcasecmp(rq->headers[i].name, name) == 0)
            return rq->headers[i].value;
    return NULL;
}

static const char *query(const struct serve_request *rq, const char *name)
{
    for (size_t i = 0; i < rq->nquery; i++)
        if (strcmp(rq->query[i].name, name) == 0)
            return rq->query[i].value;
    return NULL;
}

/* A decimal number from 0 to @max, all of @s. */
static bool number(const char *s, uint64_t max, uint64_t *ret)
{
    char *end;
    unsigned long long v;

    if (!s || !*s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *ret = v;
    return true;
}

/* ---- the operations ---- */

static void start_snapshot(struct serve_call *c, struct serve_response *out)
{
    const struct serve_request *rq = c->rq;
    bsnap_ebs_start_options o = {0};
    json_t *body = rq->body_len ? json_loadb(rq->body, rq->body_len, 0, NULL) : json_object();
    json_t *tags, *v, *doc = NULL;
    bsnap_tag *t = NULL;
    int r;

    snprintf(out->operation, sizeof out->operation, "StartSnapshot");
    if (!json_is_object(body)) {
        invalid(rq, "the request body is not a JSON object%s", "", out);
        goto out;
    }
    v = json_object_get(body, "VolumeSize");
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        invalid(rq, "%sVolumeSize must be a number of GiB", "", out);
        goto out;
    }
    o.volume_size = (uint64_t)json_integer_value(v);
    o.parent_id = json_string_value(json_object_get(body, "ParentSnapshotId"));
    o.description = json_string_value(json_object_get(body, "Description"));
    o.client_token = json_string_value(json_object_get(body, "ClientToken"));
    o.kms_key_arn = json_string_value(json_object_get(body, "KmsKeyArn"));
    o.encrypted = json_is_true(json_object_get(body, "Encrypted"));
    if ((v = json_object_get(body, "Timeout"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100000) {
            invalid(rq, "%sTimeout must be a number of minutes", "", out);
            goto out;
        }
        o.timeout = (uint32_t)json_integer_value(v);
    }
    tags = json_object_get(body, "Tags");
    if (tags && !json_is_array(tags)) {
        invalid(rq, "%sTags must be a list", "", out);
        goto out;
    }
    if (json_array_size(tags) && !(t = calloc(json_array_size(tags), sizeof *t))) {
        error_with(rq, "InternalServerException", NULL, "out of memory", out);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(tags); i++) {
        json_t *e = json_array_get(tags, i);
        t[i].key = json_string_value(json_object_get(e, "Key"));
        t[i].value = json_string_value(json_object_get(e, "Value"));
        if (!t[i].key) {
            error_with(rq, "ValidationException", "INVALID_TAG", "a tag without a Key", out);
            goto out;
        }
        if (!t[i].value)
            t[i].value = "";
    }
    o.tags = t;
    o.ntags = json_array_size(tags);
    pthread_rwlock_rdlock(&c->region->mode);
    r = bsnap_ebs_start_snapshot(c->store, &o, &doc);
    pthread_rwlock_unlock(&c->region->mode);
    if (r < 0)
        engine_error(rq, r, out);
    else
        json_answer(201, doc, out);
out:
    free(t);
    json_decref(body);
}

static void put_block(struct serve_call *c, const char *id, uint64_t index,
                      struct serve_response *out)
{
    const struct serve_request *rq = c->rq;
    const char *len = header(rq, "x-amz-Data-Length");
    const char *sum = header(rq, "x-amz-Checksum");
    const char *algo = header(rq, "x-amz-Checksum-Algorithm");
    const char *progress = header(rq, "x-amz-Progress");
    uint64_t n = 0, p = 0;
    json_t *doc = NULL;
    char *held;
    int r;

    snprintf(out->operation, sizeof out->operation, "PutSnapshotBlock");
    if (!len || !number(len, UINT32_MAX, &n) || n != rq->body_len) {
        error_with(rq, "ValidationException", "INVALID_BLOCK",
                   "x-amz-Data-Length must be the length of the body (524288)", out);
        return;
    }
    if (!sum || !algo) {
        invalid(rq, "%sx-amz-Checksum and x-amz-Checksum-Algorithm are required", "", out);
        return;
    }
    if (progress && !number(progress, 100, &p)) {
        invalid(rq, "x-amz-Progress '%.20s' is not from 0 to 100", progress, out);
        return;
    }
    if (!rq->body) {
        error_with(rq, "ValidationException", "INVALID_BLOCK", "the request has no block data",
                   out);
        return;
    }
    pthread_rwlock_rdlock(&c->region->mode);
    r = bsnap_ebs_put_block(c->store, id, index, rq->body, n, sum, algo, progress ? (int)p : -1,
                            &doc);
    pthread_rwlock_unlock(&c->region->mode);
    if (r < 0) {
        engine_error(rq, r, out);
        return;
    }
    json_decref(doc);
    /* the answer echoes the checksum: its text lives in the (empty) body
     * the server frees after sending */
    if (!(held = strdup(sum))) {
        error_with(rq, "InternalServerException", NULL, "out of memory", out);
        return;
    }
    out->status = 201;
    out->content_type = "application/json";
    out->body = held;
    out->len = 0;
    out->headers[0] = (bsf_http_pair){"x-amz-Checksum", held};
    out->headers[1] = (bsf_http_pair){"x-amz-Checksum-Algorithm", "SHA256"};
    out->nheaders = 2;
}

static void complete_snapshot(struct serve_call *c, const char *id, struct serve_response *out)
{
    const struct serve_request *rq = c->rq;
    const char *count = header(rq, "x-amz-ChangedBlocksCount");
    bsnap_ebs_complete_options o = {
        .checksum = header(rq, "x-amz-Checksum"),
        .checksum_algorithm = header(rq, "x-amz-Checksum-Algorithm"),
        .checksum_aggregation_method = header(rq, "x-amz-Checksum-Aggregation-Method"),
    };
    json_t *doc = NULL;
    int r;

    snprintf(out->operation, sizeof out->operation, "CompleteSnapshot");
    if (!number(count, UINT32_MAX, &o.changed_blocks_count)) {
        invalid(rq, "%sx-amz-ChangedBlocksCount is required: the number of blocks written", "",
                out);
        return;
    }
    pthread_rwlock_rdlock(&c->region->mode);
    r = bsnap_ebs_complete(c->store, id, &o, &doc);
    pthread_rwlock_unlock(&c->region->mode);
    if (r < 0)
        engine_error(rq, r, out);
    else
        json_answer(202, doc, out);
}

static void list(struct serve_call *c, const char *id, bool changed, struct serve_response *out)
{
    const struct serve_request *rq = c->rq;
    const char *max = query(rq, "maxResults"), *start = query(rq, "startingBlockIndex");
    bsnap_ebs_list_options o = {.first_id = changed ? query(rq, "firstSnapshotId") : NULL,
                                .next_token = query(rq, "pageToken")};
    uint64_t v;
    json_t *doc = NULL;
    int r;

    snprintf(out->operation, sizeof out->operation, "%s",
             changed ? "ListChangedBlocks" : "ListSnapshotBlocks");
    if (max) {
        if (!number(max, 10000, &v) || v == 0) {
            invalid(rq, "maxResults '%.20s' is not from 1 to 10000", max, out);
            return;
        }
        o.max_results = (uint32_t)v;
    }
    if (start) {
        if (!number(start, INT32_MAX, &v)) {
            invalid(rq, "startingBlockIndex '%.20s' is not a block index", start, out);
            return;
        }
        o.starting_block_index = v;
    }
    pthread_rwlock_rdlock(&c->region->mode);
    r = changed ? bsnap_ebs_list_changed(c->store, id, &o, &doc)
                : bsnap_ebs_list_blocks(c->store, id, &o, &doc);
    pthread_rwlock_unlock(&c->region->mode);
    if (r < 0)
        engine_error(rq, r, out);
    else
        json_answer(200, doc, out);
}

static void get_block(struct serve_call *c, const char *id, uint64_t index,
                      struct serve_response *out)
{
    const struct serve_request *rq = c->rq;
    const char *token = query(rq, "blockToken");
    char *buf;
    int r;

    snprintf(out->operation, sizeof out->operation, "GetSnapshotBlock");
    if (!token) {
        invalid(rq, "%sblockToken is required", "", out);
        return;
    }
    /* the block, then the checksum text its header points to */
    if (!(buf = aligned_alloc(4096, BSNAP_EBS_BLOCK_SIZE + 4096))) {
        error_with(rq, "InternalServerException", NULL, "out of memory", out);
        return;
    }
    pthread_rwlock_rdlock(&c->region->mode);
    r = bsnap_ebs_get_block(c->store, id, index, token, buf, buf + BSNAP_EBS_BLOCK_SIZE);
    pthread_rwlock_unlock(&c->region->mode);
    if (r < 0) {
        free(buf);
        engine_error(rq, r, out);
        return;
    }
    out->status = 200;
    out->content_type = "application/octet-stream";
    out->body = buf;
    out->len = BSNAP_EBS_BLOCK_SIZE;
    out->headers[0] = (bsf_http_pair){"x-amz-Data-Length", "524288"};
    out->headers[1] = (bsf_http_pair){"x-amz-Checksum", buf + BSNAP_EBS_BLOCK_SIZE};
    out->headers[2] = (bsf_http_pair){"x-amz-Checksum-Algorithm", "SHA256"};
    out->nheaders = 3;
}

/* ---- the paths ---- */

/* Split @path (after "/snapshots/") into at most 4 segments of @buf. */
static size_t segments(const char *path, char *buf, size_t cap, char **seg)
{
    size_t n = 0;
    char *p;

    snprintf(buf, cap, "%s", path);
    for (p = buf; n < 4 && p && *p;) {
        char *slash = strchr(p, '/');
        seg[n++] = p;
        if (slash)
            *slash = '\0';
        p = slash ? slash + 1 : NULL;
    }
    return p && *p ? 5 : n; /* more than 4: no route */
}

static void handle(struct serve_call *c, struct serve_response *out)
{
    const struct serve_request *rq = c->rq;
    const char *m = rq->method;
    char buf[512], *seg[4];
    size_t n;
    uint64_t index;

    if (strcmp(rq->path, "/snapshots") == 0 || strcmp(rq->path, "/snapshots/") == 0) {
        if (strcmp(m, "POST") == 0) {
            start_snapshot(c, out);
            return;
        }
        goto none;
    }
    if (strncmp(rq->path, "/snapshots/", 11) != 0 || strlen(rq->path) >= sizeof buf)
        goto none;
    n = segments(rq->path + 11, buf, sizeof buf, seg);
    if (n == 2 && strcmp(m, "POST") == 0 && strcmp(seg[0], "completion") == 0) {
        complete_snapshot(c, seg[1], out);
        return;
    }
    if (n == 2 && strcmp(m, "GET") == 0 && strcmp(seg[1], "blocks") == 0) {
        list(c, seg[0], false, out);
        return;
    }
    if (n == 2 && strcmp(m, "GET") == 0 && strcmp(seg[1], "changedblocks") == 0) {
        list(c, seg[0], true, out);
        return;
    }
    if (n == 3 && strcmp(seg[1], "blocks") == 0) {
        if (!number(seg[2], INT32_MAX, &index)) {
            error_with(rq, "ValidationException", "INVALID_BLOCK",
                       "the block index in the path is not a number", out);
            return;
        }
        if (strcmp(m, "PUT") == 0) {
            put_block(c, seg[0], index, out);
            return;
        }
        if (strcmp(m, "GET") == 0) {
            get_block(c, seg[0], index, out);
            return;
        }
    }
none:
    error_with(rq, "ValidationException", "INVALID_PARAMETER_VALUE",
               "no EBS direct operation has this method and path", out);
}

const struct serve_route ebs_routes[] = {
    {"POST", "/snapshots", true, "ebs", handle, ebs_error},
    {"PUT", "/snapshots/", true, "ebs", handle, ebs_error},
    {"GET", "/snapshots/", true, "ebs", handle, ebs_error},
    {NULL, NULL, false, NULL, NULL, NULL},
};
