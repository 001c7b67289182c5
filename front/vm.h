/* vm.h - an instance's processes (bsfront-vm.h): its volumes' nbdkit
 * servers and its QEMU, each started to run on its own (their own session,
 * detached), found again by pid and command line, and ended.
 *
 * Guarantees: a process is signalled only when its pid still runs the
 * program recorded for it (its command line names the instance or the
 * volume), so a pid reused by another program is never touched; a start
 * that fails ends whatever it had started before it returns.
 */
#ifndef BSF_VM_H
#define BSF_VM_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "blocksnap.h"

/* The instance's directory, STORE/instances/ID (malloc'd). */
char *vm_dir(bsnap_store *store, const char *id);

/* Start the machine of instance @id whose bsnap_instance_get() document
 * is @inst: the servers, the seed, QEMU.  @ret_runtime out: {"accel",
 * "qemu-pid", "servers": [{"volume", "pid"}]}.  Errors: front_fail()
 * (InstanceLaunchFailed) naming the program and what it said. */
int vm_launch(bsnap_store *store, const char *id, const json_t *inst, json_t **ret_runtime);

/* Whether instance @id's QEMU of @runtime still runs. */
bool vm_running(const char *id, const json_t *runtime);

/* End the machine of @runtime: the ACPI power button and up to
 * @timeout_ms for the guest to power off (none when 0), then QMP quit,
 * then SIGKILL.  Then end its servers (SIGTERM: each flushes and closes
 * its volume; SIGKILL after 30 s).  Best effort; 0. */
int vm_halt(bsnap_store *store, const char *id, const json_t *runtime, int timeout_ms);

/* End the servers of @runtime only (QEMU is gone). */
void vm_end_servers(const char *id, const json_t *runtime);

/* Send QMP command @cmd to instance @id's QEMU.  Errors: front_fail(). */
int vm_qmp(bsnap_store *store, const char *id, const char *cmd);

/* Start nbdkit serving writable volume @volume of the store at
 * @store_path for @account on unix socket @sock, with its control channel
 * on @control (NULL: none; the plugin's control=, through which
 * create-image of the running instance flushes and snapshots the volume),
 * its pid in @pidfile and what it says in @log: the one place nbdkit is
 * started.  @ret_pid out.  Errors: front_fail(). */
int vm_nbdkit_start(const char *store_path, const char *account, const char *volume,
                    const char *sock, const char *control, const char *pidfile, const char *log,
                    pid_t *ret_pid);

/* The control socket of the server of volume @i (the launch's Volumes
 * order) of the instance whose directory is @dir: DIR/vI.ctl (malloc'd;
 * NULL when out of memory). */
char *vm_control_path(const char *dir, size_t i);

#endif
