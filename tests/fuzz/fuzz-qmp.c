/* fuzz-qmp.c - libFuzzer harness for the QMP reader (front/qmp.c):
 * what a QMP peer (QEMU, or anything listening on the socket the user
 * named) sends is hostile until it parses.
 *
 * The input after its first byte is everything the peer sends, at once,
 * before it closes its side; the first byte's low bit makes the client a
 * guest agent's (no greeting; guest-sync).  The client opens the
 * connection (greeting, qmp_capabilities with id 1), runs two commands
 * (ids 2 and 3) and waits for an event, as backup-vm's tear-down does.
 * Checks the promises: it returns without waiting (the peer has closed),
 * and every failure has a message that names one of the client's codes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bsfront-vm.h"

#define INPUT_MAX 60000 /* what a socket's buffer takes without a reader */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(struct bsf_qmp *q)
{
    static const char *const codes[] = {"QmpError",   "QmpProtocolError", "QmpConnectionLost",
                                        "QmpTimeout", "InternalError",    NULL};
    const char *code = bsf_qmp_error_code(q), *msg = bsf_qmp_error(q);
    size_t i;

    for (i = 0; codes[i] && strcmp(code, codes[i]) != 0; i++)
        ;
    if (!codes[i] || !msg[0] || !strstr(msg, code))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    char *err = NULL;
    json_t *ret = NULL;

    if (size < 1 || size > INPUT_MAX)
        return 0;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    for (size_t off = 1; off < size;) {
        ssize_t w = write(sv[1], data + off, size - off);
        if (w <= 0)
            abort(); /* the buffer takes INPUT_MAX */
        off += (size_t)w;
    }
    shutdown(sv[1], SHUT_WR);

    struct bsf_qmp *q = bsf_qmp_open_fd(sv[0], data[0] & 1, 1000, &err);
    if (!q) {
        if (!err || !strchr(err, '('))
            abort();
        free(err);
        close(sv[1]);
        return 0;
    }
    if (bsf_qmp_execute(q, "query-status", NULL, &ret) < 0)
        check_error(q);
    json_decref(ret);
    ret = NULL;
    if (bsf_qmp_executef(q, "block-job-cancel", &ret, "{s:s}", "device", "fl") < 0)
        check_error(q);
    json_decref(ret);
    if (bsf_qmp_wait_event(q, "BLOCK_JOB_CANCELLED", "fl", 1000) < 0)
        check_error(q);
    bsf_qmp_close(q);
    close(sv[1]);
    return 0;
}
