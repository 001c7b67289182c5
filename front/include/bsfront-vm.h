/* bsfront-vm.h - the front-end library's machines: a client of QEMU's
 * machine protocol (QMP) and of its guest agent, and the instances' QEMU
 * and nbdkit processes, for every front end that runs machines (the CLI's
 * backup-vm and instance verbs, the API server).
 *
 * The engine keeps the instances' records and rules (blocksnap.h,
 * bsnap_instance_*) and knows nothing of processes; this library starts
 * and stops an instance's processes and records them in the instance's
 * record.  Per instance, everything lives in STORE/instances/ID/:
 *   console.log      the serial console (get-console-output)
 *   qmp.sock         QEMU's QMP socket
 *   qemu.pid         QEMU's pid; qemu.log what it said before it detached
 *   seed/            user-data and meta-data (instance-id, local-hostname):
 *                    the NoCloud seed, given to the guest as a read-only FAT
 *                    disk labelled CIDATA (QEMU's vvfat)
 *   vol-….sock, vol-….pid, vol-….log
 *                    the nbdkit server of each volume: `nbdkit blocksnap
 *                    volume=vol-…` on a unix socket, which holds the
 *                    volume's one writer handle
 *   vI.ctl           its control channel (control=; I the volume's place
 *                    in the launch's Volumes): create-image of the running
 *                    instance flushes and snapshots the volume through it
 * QEMU (-daemonize) and each nbdkit run on their own, in their own
 * sessions: an instance outlives the process that started it, and its
 * state is read back from them (bsf_instances_refresh()).
 *
 * Programs, from the environment: BLOCKSNAP_QEMU (default
 * qemu-system-x86_64), BLOCKSNAP_NBDKIT (default nbdkit),
 * BLOCKSNAP_NBDKIT_PLUGIN (default "blocksnap", nbdkit's installed
 * plugin; a path to the .so works too), BLOCKSNAP_ACCEL ("kvm" or "tcg":
 * no probe).  Without BLOCKSNAP_ACCEL, KVM is used when /dev/kvm opens and
 * a QEMU started with -accel kvm -cpu host answers QMP and quits cleanly
 * (on some hosts KVM is there and QEMU aborts setting the CPU's MSRs), else
 * TCG.
 *
 * Errors: each call returns 0 or a negative errno; the details are in
 * bsf_last_error() when its err is non-zero (this library's failures),
 * else in bsnap_last_error() (the engine's). */
#ifndef BSFRONT_VM_H
#define BSFRONT_VM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "blocksnap.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * QMP and guest-agent client
 * ------------------------------------------------------------------------ */

/* QMP is JSON lines on a stream socket: QEMU greets ({"QMP": ...}), the
 * client sends qmp_capabilities, then commands {"execute", "arguments",
 * "id"}; each gets one reply with the same id, {"return": ...} or
 * {"error": {"class", "desc"}}, and asynchronous events ({"event": ...})
 * may come in between.  The guest agent speaks the same framing without
 * greeting or capabilities.  Every failure fills the handle's error (code
 * and message naming the command and QEMU's words), read with
 * bsf_qmp_error().  A handle is used by one thread at a time. */
struct bsf_qmp;

/** Connect to the unix socket @path, waiting at most @timeout_ms for each
 * reply from then on.  @agent: a guest agent (no greeting, no
 * capabilities; a guest-sync first).  On failure NULL and *@ret_err
 * (malloc'd, the caller frees) the message with its code: "MSG (CODE)". */
struct bsf_qmp *bsf_qmp_open(const char *path, bool agent, int timeout_ms, char **ret_err);
/** bsf_qmp_open() over @fd, a connected stream socket (taken: closed by
 * bsf_qmp_close(), or on failure). */
struct bsf_qmp *bsf_qmp_open_fd(int fd, bool agent, int timeout_ms, char **ret_err);
/** Close @q; NULL is a no-op. */
void bsf_qmp_close(struct bsf_qmp *q);

/** Run command @cmd with @args (borrowed; NULL: none).  0 and *@ret (new
 * reference, may be NULL if unwanted) the "return" value, or -1 with the
 * error set: QmpError naming @cmd and QEMU's class and description,
 * QmpTimeout, QmpConnectionLost. */
int bsf_qmp_execute(struct bsf_qmp *q, const char *cmd, const json_t *args, json_t **ret);
/** bsf_qmp_execute() with arguments given as a jansson pack format. */
int bsf_qmp_executef(struct bsf_qmp *q, const char *cmd, json_t **ret, const char *fmt, ...);

/** Wait up to @timeout_ms for an event named @event whose data member
 * "device" or "id" is @id (NULL: any); events seen since the last command
 * count.  0 when it came, -1 (QmpTimeout) when not. */
int bsf_qmp_wait_event(struct bsf_qmp *q, const char *event, const char *id, int timeout_ms);

/** Whether the connection is gone (QEMU closed it, or it broke): every
 * later command fails at once with the same error. */
bool bsf_qmp_gone(const struct bsf_qmp *q);

/** The last failure: "MESSAGE (CODE)"; the code alone in
 * bsf_qmp_error_code().  Valid until the next call on @q. */
const char *bsf_qmp_error(const struct bsf_qmp *q);
const char *bsf_qmp_error_code(const struct bsf_qmp *q);

/* ------------------------------------------------------------------------
 * Instances
 * ------------------------------------------------------------------------ */

/** How stop and terminate end a machine. */
typedef struct bsf_instance_options {
    /** The ACPI power-off's wait (QMP system_powerdown) before the hard
     * stop (QMP quit, then SIGKILL), in ms; 0: 120 s. */
    int stop_timeout_ms;
    /** StopInstances' Force: the hard stop at once. */
    bool force;
} bsf_instance_options;

/** RunInstances: bsnap_instance_run() (@request as it takes it), then a
 * machine for each new instance: its volumes served, QEMU started with the
 * type's vCPUs and memory, the volumes as virtio disks (the root device
 * first, booting), the seed disk and the serial console; running when
 * QEMU is up.  A machine that cannot start leaves its instance terminated
 * with StateReason Server.InternalError naming why (as EC2 does), its
 * volumes deleted per DeleteOnTermination.  @ret_doc out: the Reservation
 * as the engine answered it (states pending). */
int bsf_instances_run(bsnap_store *store, const json_t *request, json_t **ret_doc)
    BSNAP_NONNULL(1, 2, 3);

/** Read the state of the caller's live instances back from their
 * processes: a QEMU that is gone (the guest powered off, or it was killed)
 * makes its instance stopped (terminated from shutting-down), after its
 * volumes' servers are ended (each flushes and closes its volume first).
 * The describe and state-changing calls below do this first. */
int bsf_instances_refresh(bsnap_store *store) BSNAP_NONNULL(1);

/** StopInstances: for each running instance, stopping, the ACPI power
 * button, the hard stop after the timeout (at once with @o->force), its
 * volumes' servers ended, stopped (StateReason
 * Client.UserInitiatedShutdown).  A stopped one stays as it is.
 * @ret_doc out: {"StoppingInstances":[{InstanceId, CurrentState,
 * PreviousState}]}.  Errors: the engine's InvalidInstanceID.*,
 * IncorrectInstanceState (not running, pending or stopped). */
int bsf_instances_stop(bsnap_store *store, const char *const *ids, size_t n,
                       const bsf_instance_options *o, json_t **ret_doc) BSNAP_NONNULL(1, 5);

/** StartInstances: each stopped instance pending, its machine started,
 * running.  A running one stays as it is.  {"StartingInstances":[…]}.
 * Errors as bsf_instances_stop(), and the machine's start. */
int bsf_instances_start(bsnap_store *store, const char *const *ids, size_t n, json_t **ret_doc)
    BSNAP_NONNULL(1, 4);

/** RebootInstances: the machine of each (running) instance reset through
 * QMP (system_reset); it stays running.  {}.  Errors as above
 * (IncorrectInstanceState when one is not running). */
int bsf_instances_reboot(bsnap_store *store, const char *const *ids, size_t n, json_t **ret_doc)
    BSNAP_NONNULL(1, 4);

/** TerminateInstances: each instance shutting-down, its machine ended as
 * bsf_instances_stop() ends it, terminated: the volumes marked
 * DeleteOnTermination deleted, the others detached; its files but the
 * console removed.  {"TerminatingInstances":[…]}. */
int bsf_instances_terminate(bsnap_store *store, const char *const *ids, size_t n,
                            const bsf_instance_options *o, json_t **ret_doc) BSNAP_NONNULL(1, 5);

/** What CreateImage of an instance takes besides the image's options. */
typedef struct bsf_create_image_options {
    /** NoReboot: a running instance's volumes are snapshotted while its
     * machine is paused (QMP stop and cont), each through its server's
     * control channel: crash-consistent across them.  false (EC2's
     * default): the machine is shut down (as bsf_instances_stop()), its
     * volumes snapshotted, and it is started again. */
    bool no_reboot;
    /** BlockDeviceMappings: as bsnap_instance_image_options takes them */
    const bsnap_block_device_mapping *mappings;
    size_t nmappings;
    /** TagSpecifications of ResourceType snapshot (the image's are in the
     * image options' tags) */
    const bsnap_tag *snapshot_tags;
    size_t nsnapshot_tags;
    /** the reboot's wait for the guest's power-off before the hard stop,
     * in ms; 0: 120 s */
    int stop_timeout_ms;
} bsf_create_image_options;

/** CreateImage --instance-id: an image of instance @id (running or
 * stopped) as bsnap_image_create_instance() makes it, from the instance's
 * volumes and what it inherits of its image (architecture,
 * virtualization type, root device name, boot mode: @o's when given), with
 * the machine handled as @co says; a stopped instance stays stopped.  The
 * snapshots read only what each volume wrote since its last snapshot.
 * Every check is made before the machine is touched (a dry run touches
 * nothing); whatever fails after, the instance runs again as it did, and
 * no image is left.  @ret_id out.  Errors: IncorrectInstanceState (neither
 * running nor stopped), the engine's (bsnap_image_create_instance(),
 * InvalidInstanceID.*), QmpError (the machine did not pause or resume),
 * the volume servers' refusals (their codes), InstanceLaunchFailed (the
 * restart). */
int bsf_instance_create_image(bsnap_store *store, const char *id, const bsnap_image_options *o,
                              const bsf_create_image_options *co, char ret_id[BSNAP_ID_MAX])
    BSNAP_NONNULL(1, 2, 3, 4, 5);

/** GetConsoleOutput: {"InstanceId", "Timestamp", "Output": the last 64 KiB
 * of the serial console, base64} ("Output" absent before the first
 * boot). */
int bsf_instance_console(bsnap_store *store, const char *id, json_t **ret_doc)
    BSNAP_NONNULL(1, 2, 3);

/** Base64 (RFC 4648, padded) of @n bytes of @data: malloc'd, NULL when out
 * of memory. */
char *bsf_base64_encode(const void *data, size_t n);
/** Decode base64 @text: malloc'd bytes (NUL-terminated too) and
 * *@ret_n; NULL when @text is not base64 or out of memory. */
unsigned char *bsf_base64_decode(const char *text, size_t *ret_n) BSNAP_NONNULL(1, 2);

#ifdef __cplusplus
}
#endif

#endif
