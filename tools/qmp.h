/* qmp.h - a client of QEMU's machine protocol (QMP) and of its guest
 * agent's (QGA), for backup-vm.
 *
 * QMP is JSON lines on a stream socket: QEMU greets ({"QMP": ...}), the
 * client sends qmp_capabilities, then commands {"execute", "arguments",
 * "id"}; each gets one reply with the same id, {"return": ...} or {"error":
 * {"class", "desc"}}, and asynchronous events ({"event": ...}) may come in
 * between.  The guest agent speaks the same framing without greeting or
 * capabilities.
 *
 * This lives in the CLI, not in the engine: the engine snapshots NBD
 * exports and knows nothing of QEMU; backup-vm is a front end that asks
 * QEMU for the exports and hands their URIs to the engine through
 * blocksnap.h.  Every failure fills the handle's error (code and message
 * naming the command and QEMU's words), read with qmp_error(). */
#ifndef BSNAP_QMP_H
#define BSNAP_QMP_H

#include <jansson.h>
#include <stdbool.h>

struct qmp;

/* Connect to the unix socket @path, waiting at most @timeout_ms for each
 * reply from then on.  @agent: a guest agent (no greeting, no capabilities;
 * a guest-sync first).  On failure NULL and *@ret_err (malloc'd, the caller
 * frees) the message with its code: "MSG (CODE)". */
struct qmp *qmp_open(const char *path, bool agent, int timeout_ms, char **ret_err);
/* qmp_open() over @fd, a connected stream socket (taken: closed by
 * qmp_close(), or on failure). */
struct qmp *qmp_open_fd(int fd, bool agent, int timeout_ms, char **ret_err);
void qmp_close(struct qmp *q);

/* Run command @cmd with @args (borrowed; NULL: none).  0 and *@ret (new
 * reference, may be NULL if unwanted) the "return" value, or -1 with the
 * error set: QmpError naming @cmd and QEMU's class and description,
 * QmpTimeout, QmpConnectionLost. */
int qmp_execute(struct qmp *q, const char *cmd, const json_t *args, json_t **ret);
/* qmp_execute() with arguments given as a jansson pack format. */
int qmp_executef(struct qmp *q, const char *cmd, json_t **ret, const char *fmt, ...);

/* Wait up to @timeout_ms for an event named @event whose data member
 * "device" or "id" is @id (NULL: any); events seen since the last command
 * count.  0 when it came, -1 (QmpTimeout) when not. */
int qmp_wait_event(struct qmp *q, const char *event, const char *id, int timeout_ms);

/* Whether the connection is gone (QEMU closed it, or it broke): every
 * later command fails at once with the same error. */
bool qmp_gone(const struct qmp *q);

/* The last failure: "MESSAGE (CODE)"; the code alone in qmp_error_code(). */
const char *qmp_error(const struct qmp *q);
const char *qmp_error_code(const struct qmp *q);

#endif
