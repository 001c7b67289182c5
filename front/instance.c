/* instance.c - instances for the front ends: the engine's records
 * (bsnap_instance_*) and the machines of vm.c, put together as EC2's
 * calls (bsfront-vm.h).
 *
 * The order of each change keeps the record honest if the process dies
 * half-way: the record moves first to the state of the work being done
 * (pending, stopping, shutting-down), then the processes are started or
 * ended, then the record moves to the state they are in; a refresh (run
 * by every call) finds a machine gone and finishes the move. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bsfront-vm.h"
#include "front.h"
#include "vm.h"

#define DEFAULT_STOP_TIMEOUT_MS 120000
#define CONSOLE_MAX (64 * 1024)

static const char *sget(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static int nomem(void)
{
    return front_fail(-ENOMEM, "InternalError", "out of memory");
}

/* "User initiated (2026-12-07 21:05:01 GMT)", as EC2 words it. */
static void user_initiated(char out[64])
{
    time_t t = time(NULL);
    struct tm tm;
    char when[32];

    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S GMT", &tm);
    snprintf(out, 64, "User initiated (%s)", when);
}

static int set_state(bsnap_store *s, const char *id, const char *state, const char *code,
                     const char *msg, const char *transition, const json_t *runtime, bool clear,
                     json_t **ret_doc)
{
    bsnap_instance_change c = {state, code, msg, transition, runtime, clear};
    json_t *doc = NULL;
    int r = bsnap_instance_set_state(s, id, &c, &doc);

    if (r == 0 && ret_doc)
        *ret_doc = doc;
    else
        json_decref(doc);
    return r;
}

/* ---- refresh ---- */

/* Read instance @id's machine back: a QEMU gone moves it to stopped
 * (terminated from shutting-down).  *@ret_inst (optional) its document
 * after. */
static int refresh_one(bsnap_store *s, const char *id, json_t **ret_inst)
{
    json_t *inst = NULL;
    int r = bsnap_instance_get(s, id, &inst);
    const char *state;
    const json_t *rt;

    if (r < 0)
        return r;
    state = sget(json_object_get(json_object_get(inst, "Instance"), "State"), "Name");
    rt = json_object_get(inst, "Runtime");
    if ((strcmp(state, "running") == 0 || strcmp(state, "stopping") == 0 ||
         strcmp(state, "shutting-down") == 0 ||
         (strcmp(state, "pending") == 0 && rt && !json_is_null(rt))) &&
        !vm_running(id, rt)) {
        bool term = strcmp(state, "shutting-down") == 0;
        vm_end_servers(id, rt);
        r = set_state(s, id, term ? "terminated" : "stopped",
                      term ? "Client.UserInitiatedShutdown" : "Client.InstanceInitiatedShutdown",
                      term ? "Client.UserInitiatedShutdown: User initiated shutdown"
                           : "Client.InstanceInitiatedShutdown: the machine's process ended (the "
                             "guest powered off, or QEMU was ended from outside)",
                      NULL, NULL, true, NULL);
        json_decref(inst);
        inst = NULL;
        if (r == 0 && ret_inst)
            r = bsnap_instance_get(s, id, &inst);
    }
    if (r == 0 && ret_inst)
        *ret_inst = inst;
    else
        json_decref(inst);
    return r;
}

int bsf_instances_refresh(bsnap_store *s)
{
    json_t *doc = NULL, *res, *in;
    size_t i, k;
    int r;

    front_error_clear();
    if ((r = bsnap_instance_describe(s, NULL, &doc)) < 0)
        return r;
    json_array_foreach (json_object_get(doc, "Reservations"), i, res)
        json_array_foreach (json_object_get(res, "Instances"), k, in) {
            const char *state = sget(json_object_get(in, "State"), "Name");
            if (strcmp(state, "stopped") == 0 || strcmp(state, "terminated") == 0)
                continue;
            if ((r = refresh_one(s, sget(in, "InstanceId"), NULL)) < 0)
                goto out;
        }
out:
    json_decref(doc);
    return r;
}

/* ---- start a machine ---- */

/* Start instance @id's machine (its record pending): running when it is
 * up.  When it cannot start: @fail_state (terminated for a new instance,
 * stopped for a start) with StateReason Server.InternalError, and the
 * failure returned. */
static int launch(bsnap_store *s, const char *id, const char *fail_state)
{
    json_t *inst = NULL, *rt = NULL;
    char why[1200];
    int r = bsnap_instance_get(s, id, &inst);

    if (r < 0)
        return r;
    r = vm_launch(s, id, inst, &rt);
    json_decref(inst);
    if (r == 0) {
        r = set_state(s, id, "running", NULL, NULL, "", rt, false, NULL);
        if (r < 0)
            vm_halt(s, id, rt, 0);
        json_decref(rt);
        return r;
    }
    snprintf(why, sizeof why, "Server.InternalError: %s", bsf_last_error()->message);
    if (strcmp(fail_state, "terminated") == 0 &&
        set_state(s, id, "shutting-down", NULL, NULL, NULL, NULL, true, NULL) < 0)
        return r;
    set_state(s, id, fail_state, "Server.InternalError", why, NULL, NULL, true, NULL);
    return r;
}

int bsf_instances_run(bsnap_store *s, const json_t *request, json_t **ret_doc)
{
    json_t *doc = NULL, *in;
    size_t i;
    int r;

    front_error_clear();
    if ((r = bsnap_instance_run(s, request, &doc)) < 0)
        return r;
    json_array_foreach (json_object_get(doc, "Instances"), i, in) {
        json_t *inst = NULL;
        const char *id = sget(in, "InstanceId");
        bool fresh;
        if (bsnap_instance_get(s, id, &inst) < 0)
            continue;
        /* a client token's repeat answers instances already started */
        fresh = json_is_null(json_object_get(inst, "Runtime")) &&
                strcmp(sget(json_object_get(json_object_get(inst, "Instance"), "State"), "Name"),
                       "pending") == 0;
        json_decref(inst);
        if (fresh)
            launch(s, id, "terminated"); /* a failure shows in its state, as EC2's */
    }
    front_error_clear();
    *ret_doc = doc;
    return 0;
}

/* ---- state changes ---- */

typedef int (*change_fn)(bsnap_store *s, const char *id, json_t *inst,
                         const bsf_instance_options *o, json_t **ret_item);

/* Each of @ids, refreshed, through @fn; {"@member": [its items]}. */
static int each(bsnap_store *s, const char *const *ids, size_t n, const char *member, change_fn fn,
                const bsf_instance_options *o, json_t **ret_doc)
{
    json_t *list = json_array(), *doc;
    int r = 0;

    front_error_clear();
    if (!list)
        return nomem();
    if (n == 0) {
        json_decref(list);
        return front_fail(-EINVAL, "MissingParameter",
                          "The request must contain the parameter InstanceIds");
    }
    /* every id first: one unknown and nothing changes */
    for (size_t i = 0; i < n && r == 0; i++) {
        json_t *inst = NULL;
        if ((r = bsnap_instance_get(s, ids[i], &inst)) == 0)
            json_decref(inst);
    }
    for (size_t i = 0; i < n && r == 0; i++) {
        json_t *inst = NULL, *item = NULL;
        if ((r = refresh_one(s, ids[i], &inst)) < 0)
            break;
        r = fn(s, ids[i], inst, o, &item);
        json_decref(inst);
        if (r == 0 && item)
            json_array_append_new(list, item);
    }
    if (r < 0) {
        json_decref(list);
        return r;
    }
    doc = member ? json_pack("{s:o}", member, list) : (json_decref(list), json_object());
    if (!doc)
        return nomem();
    *ret_doc = doc;
    return 0;
}

static const char *state_of(const json_t *inst)
{
    return sget(json_object_get(json_object_get(inst, "Instance"), "State"), "Name");
}

static json_t *same_item(const char *id, const json_t *inst)
{
    const json_t *st = json_object_get(json_object_get(inst, "Instance"), "State");
    return json_pack("{s:s, s:O, s:O}", "InstanceId", id, "CurrentState", st, "PreviousState", st);
}

static int wrong_state(const char *id, const char *state, const char *verb)
{
    return front_fail(-EBUSY, "IncorrectInstanceState",
                      "The instance '%s' is not in a state from which it can be %s (it is %s)", id,
                      verb, state);
}

/* The machine of @inst ended (powered off with @timeout_ms, then hard). */
static void halt(bsnap_store *s, const char *id, const json_t *inst, int timeout_ms)
{
    vm_halt(s, id, json_object_get(inst, "Runtime"), timeout_ms);
    front_error_clear();
}

static int timeout_of(const bsf_instance_options *o)
{
    if (o && o->force)
        return 0;
    return o && o->stop_timeout_ms > 0 ? o->stop_timeout_ms : DEFAULT_STOP_TIMEOUT_MS;
}

static int stop_fn(bsnap_store *s, const char *id, json_t *inst, const bsf_instance_options *o,
                   json_t **ret_item)
{
    const char *state = state_of(inst);
    char why[64], prev[20];
    json_t *doc = NULL;
    int r;

    if (strcmp(state, "stopped") == 0)
        return *ret_item = same_item(id, inst), 0;
    if (strcmp(state, "running") && strcmp(state, "pending") && strcmp(state, "stopping"))
        return wrong_state(id, state, "stopped");
    snprintf(prev, sizeof prev, "%s", state);
    user_initiated(why);
    if ((r = set_state(s, id, "stopping", NULL, NULL, why, NULL, false, NULL)) < 0)
        return r;
    halt(s, id, inst, timeout_of(o));
    r = set_state(s, id, "stopped", "Client.UserInitiatedShutdown",
                  "Client.UserInitiatedShutdown: User initiated shutdown", NULL, NULL, true, &doc);
    if (r == 0)
        json_object_set_new(
            doc, "PreviousState",
            json_pack("{s:i, s:s}", "Code", strcmp(prev, "running") == 0 ? 16 : 0, "Name", prev));
    *ret_item = doc;
    return r;
}

int bsf_instances_stop(bsnap_store *s, const char *const *ids, size_t n,
                       const bsf_instance_options *o, json_t **ret_doc)
{
    return each(s, ids, n, "StoppingInstances", stop_fn, o, ret_doc);
}

static int start_fn(bsnap_store *s, const char *id, json_t *inst, const bsf_instance_options *o,
                    json_t **ret_item)
{
    const char *state = state_of(inst);
    json_t *doc = NULL;
    int r;

    if (strcmp(state, "running") == 0 || strcmp(state, "pending") == 0)
        return *ret_item = same_item(id, inst), 0;
    if (strcmp(state, "stopped") != 0)
        return wrong_state(id, state, "started");
    if ((r = set_state(s, id, "pending", "", "", "", NULL, true, &doc)) < 0)
        return r;
    if ((r = launch(s, id, "stopped")) < 0) {
        json_decref(doc);
        return r;
    }
    *ret_item = doc; /* pending, from stopped: what EC2 answers */
    return 0;
}

int bsf_instances_start(bsnap_store *s, const char *const *ids, size_t n, json_t **ret_doc)
{
    return each(s, ids, n, "StartingInstances", start_fn, NULL, ret_doc);
}

static int reboot_fn(bsnap_store *s, const char *id, json_t *inst, const bsf_instance_options *o,
                     json_t **ret_item)
{
    const char *state = state_of(inst);

    if (strcmp(state, "running") != 0)
        return wrong_state(id, state, "rebooted");
    *ret_item = NULL;
    return vm_qmp(s, id, "system_reset");
}

int bsf_instances_reboot(bsnap_store *s, const char *const *ids, size_t n, json_t **ret_doc)
{
    return each(s, ids, n, NULL, reboot_fn, NULL, ret_doc);
}

/* Remove the instance's files but its console. */
static void remove_files(bsnap_store *s, const char *id)
{
    char *dir = vm_dir(s, id), *cmd = NULL;

    if (!dir)
        return;
    /* the seed directory, sockets, pid files and logs: a fixed set */
    const char *names[] = {"q.sock",         "qemu.pid",       "qemu.log",
                           "seed/user-data", "seed/meta-data", NULL};
    for (size_t i = 0; names[i]; i++) {
        if (asprintf(&cmd, "%s/%s", dir, names[i]) >= 0)
            unlink(cmd);
        free(cmd);
        cmd = NULL;
    }
    if (asprintf(&cmd, "%s/seed", dir) >= 0)
        rmdir(cmd);
    free(cmd);
    free(dir);
}

static int terminate_fn(bsnap_store *s, const char *id, json_t *inst, const bsf_instance_options *o,
                        json_t **ret_item)
{
    const char *state = state_of(inst);
    char why[64], prev[20];
    const json_t *vols = json_object_get(json_object_get(inst, "Launch"), "Volumes"), *v;
    char *dir;
    json_t *doc = NULL;
    size_t i;
    int r;

    if (strcmp(state, "terminated") == 0)
        return *ret_item = same_item(id, inst), 0;
    snprintf(prev, sizeof prev, "%s", state);
    user_initiated(why);
    if ((r = set_state(s, id, "shutting-down", NULL, NULL, why, NULL, false, NULL)) < 0)
        return r;
    halt(s, id, inst, timeout_of(o));
    r = set_state(s, id, "terminated", "Client.UserInitiatedShutdown",
                  "Client.UserInitiatedShutdown: User initiated shutdown", NULL, NULL, true, &doc);
    if (r < 0)
        return r;
    remove_files(s, id);
    if ((dir = vm_dir(s, id))) {
        json_array_foreach (vols, i, v) {
            char *p = NULL;
            if (asprintf(&p, "%s/%s.log", dir, sget(v, "VolumeId")) >= 0)
                unlink(p);
            free(p);
            if (asprintf(&p, "%s/%s.pid", dir, sget(v, "VolumeId")) >= 0)
                unlink(p);
            free(p);
            if (asprintf(&p, "%s/v%zu.sock", dir, i) >= 0)
                unlink(p);
            free(p);
        }
        free(dir);
    }
    json_object_set_new(doc, "PreviousState",
                        json_pack("{s:i, s:s}", "Code",
                                  strcmp(prev, "running") == 0    ? 16
                                  : strcmp(prev, "stopped") == 0  ? 80
                                  : strcmp(prev, "stopping") == 0 ? 64
                                                                  : 0,
                                  "Name", prev));
    *ret_item = doc;
    return 0;
}

int bsf_instances_terminate(bsnap_store *s, const char *const *ids, size_t n,
                            const bsf_instance_options *o, json_t **ret_doc)
{
    return each(s, ids, n, "TerminatingInstances", terminate_fn, o, ret_doc);
}

int bsf_instance_console(bsnap_store *s, const char *id, json_t **ret_doc)
{
    json_t *inst = NULL, *doc;
    char *dir, *path = NULL, *b64 = NULL, now[32];
    FILE *f = NULL;
    unsigned char *buf = NULL;
    size_t n = 0;
    time_t t = time(NULL);
    struct tm tm;
    int r;

    front_error_clear();
    if ((r = refresh_one(s, id, &inst)) < 0)
        return r;
    json_decref(inst);
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    if (!(dir = vm_dir(s, id)) || asprintf(&path, "%s/console.log", dir) < 0) {
        free(dir);
        return nomem();
    }
    free(dir);
    if ((f = fopen(path, "rb"))) {
        long size;
        buf = malloc(CONSOLE_MAX);
        if (buf && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0) {
            fseek(f, size > CONSOLE_MAX ? size - CONSOLE_MAX : 0, SEEK_SET);
            n = fread(buf, 1, CONSOLE_MAX, f); /* io-ok: a console log, to its end */
        }
        fclose(f);
        b64 = buf ? bsf_base64_encode(buf, n) : NULL;
        free(buf);
        if (!b64) {
            free(path);
            return nomem();
        }
    }
    free(path);
    doc = json_pack("{s:s, s:s}", "InstanceId", id, "Timestamp", now);
    if (doc && b64)
        json_object_set_new(doc, "Output", json_string(b64));
    free(b64);
    if (!doc)
        return nomem();
    *ret_doc = doc;
    return 0;
}

/* ---- base64 ---- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *bsf_base64_encode(const void *data, size_t n)
{
    const unsigned char *p = data;
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;

    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        *o++ = b64chars[v >> 18 & 63];
        *o++ = b64chars[v >> 12 & 63];
        *o++ = i + 1 < n ? b64chars[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? b64chars[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

unsigned char *bsf_base64_decode(const char *text, size_t *ret_n)
{
    size_t len = strlen(text), n = 0;
    unsigned char *out;
    unsigned v = 0;
    int bits = 0, pad = 0;

    if (len % 4 != 0 || !(out = malloc(len / 4 * 3 + 1)))
        return NULL;
    for (size_t i = 0; i < len; i++) {
        const char *c = strchr(b64chars, text[i]);
        if (text[i] == '=' && i >= len - 2) {
            pad++;
            continue;
        }
        if (!c || !text[i] || pad) {
            free(out);
            return NULL;
        }
        v = v << 6 | (unsigned)(c - b64chars);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(v >> bits & 0xff);
        }
    }
    out[n] = '\0';
    *ret_n = n;
    return out;
}
