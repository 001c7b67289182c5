/* control.h - the plugin's control channel (control=SOCKET with volume=):
 * a unix socket, mode 0600, served by a thread of its own, through which
 * the process that holds a writable volume's one writer handle flushes it
 * or snapshots it on request (the protocol: bsfront.h, "the control
 * channel of a served volume").
 *
 * One connection and one request at a time, each line bounded
 * (BSF_CONTROL_LINE_MAX), a connection idle for CONTROL_IDLE_SECONDS
 * dropped, a peer of another user (SO_PEERCRED) refused: a client that
 * misbehaves costs its own connection, never the server.  The socket is
 * removed when the channel stops (nbdkit's unload); one left by a killed
 * server is replaced when nothing answers on it. */
#ifndef BSNAP_NBDKIT_CONTROL_H
#define BSNAP_NBDKIT_CONTROL_H

#include "blocksnap.h"

#define CONTROL_IDLE_SECONDS 60

/* Check @path before nbdkit serves: its directory exists, it fits a unix
 * socket address, and nothing but a stale socket is there.  Says why not
 * with nbdkit_error() and returns -1. */
int control_check(const char *path);

/* Listen on @path and serve requests on @volume (named @volume_id in
 * messages) in a new thread until control_stop().  Both are borrowed
 * until then.  Says why not with nbdkit_error() and returns -1. */
int control_start(const char *path, bsnap_volume *volume, const char *volume_id);

/* Stop the thread (a request in progress finishes first), close and
 * remove the socket.  A no-op when not started. */
void control_stop(void);

#endif
