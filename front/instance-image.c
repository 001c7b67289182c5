/* instance-image.c - create-image of an instance (bsfront-vm.h): the
 * engine's bsnap_image_create_instance() over the instance's record, with
 * the machine's part done here.
 *
 *   stopped                 no machine: the engine snapshots the volumes
 *                           itself (pending until the image is registered);
 *   running, --no-reboot    freeze = QMP stop (QEMU drains its requests to
 *                           the volumes' servers), then for each volume a
 *                           flush and a snapshot through its server's
 *                           control channel (vm.c: vI.ctl), thaw = QMP
 *                           cont: one instant across every volume;
 *   running, reboot         freeze = the instance stopped as StopInstances
 *                           stops it (the ACPI power button, a hard stop
 *                           after the timeout; its servers end, flushing),
 *                           the engine snapshots the volumes itself, thaw =
 *                           the instance started again.
 *
 * The engine calls freeze only after every check has passed (a dry run or
 * a refused request touches no machine), and thaw after the snapshots,
 * also after a failure among them: the instance runs again whatever
 * happened.  A freeze that fails half-way undoes itself (cont, or a
 * start). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bsfront-vm.h"
#include "front.h"
#include "vm.h"

#define QMP_TIMEOUT_MS 10000
/* A snapshot over the control channel reads what the guest wrote since
 * the last one: give it time. */
#define CONTROL_TIMEOUT_MS (30 * 60 * 1000)

struct ctx {
    bsnap_store *store;
    const char *id;
    char *dir; /* STORE/instances/ID */
    const bsf_create_image_options *co;
    struct bsf_qmp *qmp; /* while frozen (--no-reboot) */
};

static const char *sget(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* This library's failure @r, in the engine's record (what its callbacks
 * must leave). */
static int to_engine(int r)
{
    const bsnap_error *e = bsf_last_error();
    return bsnap_fail_external(r, e->code[0] ? e->code : "InternalError",
                               e->message[0] ? e->message : strerror(-r));
}

/* ---- --no-reboot: QMP stop and cont, the control channel ---- */

static int qmp_stop(void *ud)
{
    struct ctx *c = ud;
    char *sock = NULL, *err = NULL;
    int r = 0;

    if (asprintf(&sock, "%s/q.sock", c->dir) < 0)
        return to_engine(front_fail(-ENOMEM, "InternalError", "out of memory"));
    c->qmp = bsf_qmp_open(sock, false, QMP_TIMEOUT_MS, &err);
    if (!c->qmp)
        r = front_fail(-EIO, "QmpError", "instance %s: %s", c->id, err ? err : "no QMP");
    else if (bsf_qmp_execute(c->qmp, "stop", NULL, NULL) < 0) {
        r = front_fail(-EIO, "QmpError", "instance %s: %s", c->id, bsf_qmp_error(c->qmp));
        (void)bsf_qmp_execute(c->qmp, "cont", NULL, NULL); /* in case it stopped */
        bsf_qmp_close(c->qmp);
        c->qmp = NULL;
    }
    free(err);
    free(sock);
    return r < 0 ? to_engine(r) : 0;
}

static int qmp_cont(void *ud)
{
    struct ctx *c = ud;
    int r = 0;

    if (bsf_qmp_execute(c->qmp, "cont", NULL, NULL) < 0)
        r = front_fail(-EIO, "QmpError", "instance %s: %s", c->id, bsf_qmp_error(c->qmp));
    bsf_qmp_close(c->qmp);
    c->qmp = NULL;
    return r < 0 ? to_engine(r) : 0;
}

/* One request on volume @i's control socket; its refusal as the engine's
 * error. */
static int control(struct ctx *c, size_t i, const bsf_control_request *req, bsf_control_answer *ret)
{
    char *sock = vm_control_path(c->dir, i);
    int r;

    if (!sock)
        return to_engine(front_fail(-ENOMEM, "InternalError", "out of memory"));
    r = bsf_control_call(sock, req, CONTROL_TIMEOUT_MS, ret);
    if (r < 0) {
        char code[64], msg[512];
        snprintf(code, sizeof code, "%s", bsf_last_error()->code);
        snprintf(msg, sizeof msg, "%s", bsf_last_error()->message);
        front_fail(r, code, "the volume's server does not answer: %s", msg);
        free(sock);
        return to_engine(r);
    }
    free(sock);
    if (!ret->ok)
        return bsnap_fail_external(-EIO, ret->code, ret->message);
    return 0;
}

static int control_snapshot(void *ud, size_t i, const bsnap_snapshot_options *so,
                            char ret_id[BSNAP_ID_MAX], bsnap_snapshot_stats *ret_stats)
{
    struct ctx *c = ud;
    bsf_control_request req = {.op = BSF_CONTROL_FLUSH};
    bsf_control_answer a;
    int r = control(c, i, &req, &a);

    if (r < 0)
        return r;
    req = (bsf_control_request){.op = BSF_CONTROL_SNAPSHOT,
                                .description = (char *)so->description,
                                .tags = (bsnap_tag *)so->tags,
                                .ntags = so->ntags};
    if ((r = control(c, i, &req, &a)) < 0)
        return r;
    snprintf(ret_id, BSNAP_ID_MAX, "%s", a.snapshot_id);
    if (ret_stats)
        *ret_stats = a.stats;
    return 0;
}

/* ---- reboot: stop and start ---- */

static int machine_stop(void *ud)
{
    struct ctx *c = ud;
    bsf_instance_options o = {.stop_timeout_ms = c->co->stop_timeout_ms};
    json_t *doc = NULL;
    int r = bsf_instances_stop(c->store, &c->id, 1, &o, &doc);

    json_decref(doc);
    if (r < 0) {
        /* the stop's failure is the answer; then try to leave it running */
        int e = bsf_last_error()->err ? to_engine(r) : r;
        char code[64], msg[1024];
        snprintf(code, sizeof code, "%s", bsnap_last_error()->code);
        snprintf(msg, sizeof msg, "%s", bsnap_last_error()->message);
        doc = NULL;
        (void)bsf_instances_start(c->store, &c->id, 1, &doc);
        json_decref(doc);
        return bsnap_fail_external(e, code, msg);
    }
    return 0;
}

static int machine_start(void *ud)
{
    struct ctx *c = ud;
    json_t *doc = NULL;
    int r = bsf_instances_start(c->store, &c->id, 1, &doc);

    json_decref(doc);
    if (r < 0)
        return bsf_last_error()->err ? to_engine(r) : r;
    return 0;
}

/* ---- the call ---- */

int bsf_instance_create_image(bsnap_store *store, const char *id, const bsnap_image_options *o,
                              const bsf_create_image_options *co, char ret_id[BSNAP_ID_MAX])
{
    struct ctx c = {.store = store, .id = id, .co = co};
    bsnap_instance_volume *vols = NULL;
    json_t *inst = NULL, *v;
    size_t i, n;
    int r;

    front_error_clear();
    if ((r = bsf_instances_refresh(store)) < 0)
        return r;
    if ((r = bsnap_instance_get(store, id, &inst)) < 0)
        return r;
    const json_t *io = json_object_get(inst, "Instance");
    const json_t *launch = json_object_get(inst, "Launch");
    const char *state = sget(json_object_get(io, "State"), "Name");
    state = state ? state : "";
    bool running = strcmp(state, "running") == 0;
    if (!running && strcmp(state, "stopped") != 0) {
        r = front_fail(-EBUSY, "IncorrectInstanceState",
                       "The instance '%s' is not in a state from which it can be imaged: it is "
                       "%s (running or stopped only)",
                       id, state);
        goto out;
    }
    const json_t *jv = json_object_get(launch, "Volumes");
    n = json_array_size(jv);
    if (!(vols = calloc(n ? n : 1, sizeof *vols)) || !(c.dir = vm_dir(store, id))) {
        r = front_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    json_array_foreach (jv, i, v)
        vols[i] = (bsnap_instance_volume){sget(v, "DeviceName"), sget(v, "VolumeId"),
                                          json_is_true(json_object_get(v, "DeleteOnTermination"))};

    /* What the instance inherits of its image, unless the caller says. */
    bsnap_image_options ro = *o;
    if (!ro.architecture)
        ro.architecture = sget(io, "Architecture");
    if (!ro.virtualization)
        ro.virtualization = sget(io, "VirtualizationType");
    if (!ro.root_device_name)
        ro.root_device_name = sget(io, "RootDeviceName");
    const char *bm = sget(io, "BootMode");
    if (!ro.boot_mode && bm &&
        (!strcmp(bm, "legacy-bios") || !strcmp(bm, "uefi") || !strcmp(bm, "uefi-preferred")))
        ro.boot_mode = bm; /* else detected from the root, as registration does */

    bsnap_instance_image_options in = {
        .instance_id = id,
        .volumes = vols,
        .nvolumes = n,
        .mappings = co->mappings,
        .nmappings = co->nmappings,
        .snapshot_tags = co->snapshot_tags,
        .nsnapshot_tags = co->nsnapshot_tags,
        .ud = &c,
    };
    if (running && co->no_reboot) {
        in.snapshot = control_snapshot;
        in.freeze = qmp_stop;
        in.thaw = qmp_cont;
    } else if (running) {
        in.freeze = machine_stop;
        in.thaw = machine_start;
    }
    r = bsnap_image_create_instance(store, &ro, &in, ret_id, NULL);
    if (r < 0)
        front_error_clear(); /* the engine's record says it */
out:
    if (c.qmp)
        bsf_qmp_close(c.qmp);
    json_decref(inst);
    free(vols);
    free(c.dir);
    return r;
}
