/* control.c - the control channel of a served writable volume (see
 * bsfront.h): its requests and answers, one JSON object a line, and the
 * client's one call.
 *
 * The server (the nbdkit plugin's control= socket) parses what anyone who
 * can connect sends: bsf_control_request_parse() takes a bounded line,
 * accepts only the fields it knows, each of its type, and checks tags as
 * the CLI does (bsf_tags_parse()), so the plugin hands the engine typed
 * options only.  The client (create-image of an instance) parses the
 * server's answer as strictly: a snapshot id it will name in an image must
 * look like one. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "front.h"

void bsf_control_request_clear(bsf_control_request *r)
{
    free(r->description);
    free(r->tags);
    memset(r, 0, sizeof *r);
}

static int bad(const char *what)
{
    return front_fail(-EINVAL, "InvalidParameterValue", "control request: %s", what);
}

/* The Tags member @tags: checked as the CLI's --tag-specifications tags. */
static int parse_tags(json_t *tags, bsf_control_request *r)
{
    if (!json_is_array(tags))
        return bad("Tags is not a list of {\"Key\":…,\"Value\":…}");
    char *text = json_dumps(tags, JSON_COMPACT);
    if (!text)
        return front_fail(-ENOMEM, "InternalError", "out of memory");
    const char *arg = text;
    int e = bsf_tags_parse(&arg, 1, &r->tags, &r->ntags);
    free(text);
    if (e < 0)
        return e;
    for (size_t i = 0; i < r->ntags; i++)
        if (!r->tags[i].value)
            return bad("a tag without a Value");
    return 0;
}

int bsf_control_request_parse(const char *line, size_t len, bsf_control_request *ret)
{
    bsf_control_request r = {0};
    json_error_t jerr;
    const char *key;
    json_t *doc, *v;
    int e = 0;

    front_error_clear();
    if (len > BSF_CONTROL_LINE_MAX)
        return front_fail(-E2BIG, "InvalidParameterValue", "control request: longer than %d bytes",
                          BSF_CONTROL_LINE_MAX);
    doc = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return front_fail(-EINVAL, "InvalidParameterValue", "control request: not JSON: %s",
                          jerr.text);
    if (!json_is_object(doc)) {
        e = bad("not a JSON object");
        goto out;
    }
    json_object_foreach (doc, key, v) {
        if (strcmp(key, "Op") == 0) {
            const char *op = json_string_value(v);
            if (op && strcmp(op, "flush") == 0)
                r.op = BSF_CONTROL_FLUSH;
            else if (op && strcmp(op, "snapshot") == 0)
                r.op = BSF_CONTROL_SNAPSHOT;
            else {
                e = bad("Op is neither \"flush\" nor \"snapshot\"");
                goto out;
            }
        } else if (strcmp(key, "Description") == 0) {
            if (!json_is_string(v)) {
                e = bad("Description is not a string");
                goto out;
            }
            /* Its length and characters are the engine's to check. */
            r.description = strndup(json_string_value(v), json_string_length(v));
            if (!r.description || strlen(r.description) != json_string_length(v)) {
                e = r.description ? bad("Description holds a NUL")
                                  : front_fail(-ENOMEM, "InternalError", "out of memory");
                goto out;
            }
        } else if (strcmp(key, "Tags") == 0) {
            if ((e = parse_tags(v, &r)) < 0)
                goto out;
        } else {
            e = front_fail(-EINVAL, "InvalidParameterValue",
                           "control request: unknown field '%.*s'", SHOWN(key));
            goto out;
        }
    }
    if (!r.op) {
        e = front_fail(-EINVAL, "MissingParameter", "control request: no Op");
        goto out;
    }
    if (r.op == BSF_CONTROL_FLUSH && (r.description || r.tags)) {
        e = bad("flush takes no Description or Tags");
        goto out;
    }
out:
    json_decref(doc);
    if (e < 0) {
        bsf_control_request_clear(&r);
        return e;
    }
    *ret = r;
    return 0;
}

/* @doc as one line (its newline included) into *@ret_line; @doc is
 * consumed. */
static int dump_line(json_t *doc, char **ret_line)
{
    char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(doc);
    if (!s)
        return front_fail(-ENOMEM, "InternalError", "out of memory");
    size_t n = strlen(s);
    char *line = realloc(s, n + 2);
    if (!line) {
        free(s);
        return front_fail(-ENOMEM, "InternalError", "out of memory");
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    *ret_line = line;
    return 0;
}

int bsf_control_request_format(const bsf_control_request *r, char **ret_line)
{
    json_t *doc = json_object(), *tags;

    front_error_clear();
    if (!doc)
        return front_fail(-ENOMEM, "InternalError", "out of memory");
    json_object_set_new(doc, "Op",
                        json_string(r->op == BSF_CONTROL_SNAPSHOT ? "snapshot" : "flush"));
    if (r->description)
        json_object_set_new(doc, "Description", json_string(r->description));
    if (r->ntags) {
        tags = json_array();
        for (size_t i = 0; tags && i < r->ntags; i++)
            json_array_append_new(tags, json_pack("{s:s,s:s}", "Key", r->tags[i].key, "Value",
                                                  r->tags[i].value ? r->tags[i].value : ""));
        json_object_set_new(doc, "Tags", tags);
    }
    return dump_line(doc, ret_line);
}

int bsf_control_answer_format(const bsf_control_answer *a, char **ret_line)
{
    json_t *doc;

    front_error_clear();
    if (!a->ok)
        doc = json_pack("{s:b,s:s,s:s}", "Ok", 0, "Code", a->code, "Message", a->message);
    else if (!a->snapshot_id[0])
        doc = json_pack("{s:b}", "Ok", 1);
    else
        doc =
            json_pack("{s:b,s:s,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I}}", "Ok", 1, "SnapshotId",
                      a->snapshot_id, "Stats", "VolumeBytes", (json_int_t)a->stats.volume_bytes,
                      "ReadBytes", (json_int_t)a->stats.read_bytes, "NewChunks",
                      (json_int_t)a->stats.new_chunks, "NewBytes", (json_int_t)a->stats.new_bytes,
                      "ReusedChunks", (json_int_t)a->stats.reused_chunks, "ZeroChunks",
                      (json_int_t)a->stats.zero_chunks, "NewPages", (json_int_t)a->stats.new_pages);
    return dump_line(doc, ret_line);
}

/* A snapshot id as the engine makes them: "snap-" and 8 or 17 hex digits. */
static bool snapshot_id_valid(const char *s)
{
    size_t n = strlen(s);
    return strncmp(s, "snap-", 5) == 0 && (n == 13 || n == 22) &&
           strspn(s + 5, "0123456789abcdef") == n - 5;
}

int bsf_control_answer_parse(const char *line, size_t len, bsf_control_answer *ret)
{
    bsf_control_answer a = {0};
    json_error_t jerr;
    json_t *doc;
    int ok = -1, e = 0;

    front_error_clear();
    doc = json_loadb(line, len, 0, &jerr);
    if (!doc || json_unpack(doc, "{s:b}", "Ok", &ok) < 0) {
        e = front_fail(-EPROTO, "InternalError", "control answer: not an answer: %.*s",
                       (int)(len > 100 ? 100 : len), line);
        goto out;
    }
    a.ok = ok;
    if (!a.ok) {
        const char *code = "", *msg = "";
        if (json_unpack(doc, "{s?s,s?s}", "Code", &code, "Message", &msg) < 0) {
            e = front_fail(-EPROTO, "InternalError", "control answer: a bad error answer");
            goto out;
        }
        snprintf(a.code, sizeof a.code, "%s", code[0] ? code : "InternalError");
        snprintf(a.message, sizeof a.message, "%s", msg);
        goto out;
    }
    const char *id = NULL;
    json_int_t st[7] = {0};
    if (json_unpack(doc, "{s?s,s?{s?I,s?I,s?I,s?I,s?I,s?I,s?I}}", "SnapshotId", &id, "Stats",
                    "VolumeBytes", &st[0], "ReadBytes", &st[1], "NewChunks", &st[2], "NewBytes",
                    &st[3], "ReusedChunks", &st[4], "ZeroChunks", &st[5], "NewPages", &st[6]) < 0 ||
        (id && !snapshot_id_valid(id))) {
        e = front_fail(-EPROTO, "InternalError", "control answer: a bad snapshot answer");
        goto out;
    }
    for (size_t i = 0; i < 7; i++)
        if (st[i] < 0) {
            e = front_fail(-EPROTO, "InternalError", "control answer: a negative figure");
            goto out;
        }
    if (id)
        snprintf(a.snapshot_id, sizeof a.snapshot_id, "%s", id);
    a.stats =
        (bsnap_snapshot_stats){(uint64_t)st[0], (uint64_t)st[1], (uint64_t)st[2], (uint64_t)st[3],
                               (uint64_t)st[4], (uint64_t)st[5], (uint64_t)st[6]};
out:
    json_decref(doc);
    if (e == 0)
        *ret = a;
    return e;
}

/* Milliseconds left until @deadline (CLOCK_MONOTONIC), at least 0. */
static int left_ms(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ms =
        (deadline->tv_sec - now.tv_sec) * 1000LL + (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return ms < 0 ? 0 : ms > 1000000000 ? 1000000000 : (int)ms;
}

int bsf_control_call(const char *socket_path, const bsf_control_request *req, int timeout_ms,
                     bsf_control_answer *ret)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct timespec deadline;
    char *line = NULL, buf[BSF_CONTROL_LINE_MAX + 2];
    size_t have = 0;
    int fd = -1, e;

    front_error_clear();
    if (strlen(socket_path) >= sizeof sa.sun_path)
        return front_fail(-ENAMETOOLONG, "InvalidParameterValue",
                          "control socket %.*s: the path is too long", SHOWN(socket_path));
    memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    if ((e = bsf_control_request_format(req, &line)) < 0)
        return e;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        e = front_fail(-errno, "InternalError", "control socket %.*s: %m", SHOWN(socket_path));
        goto out;
    }
    for (size_t off = 0, n = strlen(line); off < n;) {
        ssize_t w = send(fd, line + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            e = front_fail(-errno, "InternalError", "control socket %.*s: send: %m",
                           SHOWN(socket_path));
            goto out;
        }
        off += (size_t)w;
    }
    /* The answer: one line; a snapshot may take a while (the timeout). */
    for (;;) {
        char *nl = memchr(buf, '\n', have);
        if (nl) {
            e = bsf_control_answer_parse(buf, (size_t)(nl - buf), ret);
            goto out;
        }
        if (have == sizeof buf) {
            e = front_fail(-EPROTO, "InternalError", "control socket %.*s: an answer too long",
                           SHOWN(socket_path));
            goto out;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, left_ms(&deadline));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0) {
            e = front_fail(-ETIMEDOUT, "InternalError",
                           "control socket %.*s: no answer within %d ms", SHOWN(socket_path),
                           timeout_ms);
            goto out;
        }
        /* io-ok: a socket, read as it comes, into the rest of the buffer */
        ssize_t r = read(fd, buf + have, sizeof buf - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            e = r < 0 ? front_fail(-errno, "InternalError", "control socket %.*s: read: %m",
                                   SHOWN(socket_path))
                      : front_fail(-EPIPE, "InternalError",
                                   "control socket %.*s: closed without an answer",
                                   SHOWN(socket_path));
            goto out;
        }
        have += (size_t)r;
    }
out:
    if (fd >= 0)
        close(fd);
    free(line);
    return e;
}
