/* control.c - the plugin's control channel (control.h). */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bsfront.h"
#include "control.h"

/* errno's text without the locale: strerror() (and %m), in an ASan build
 * loaded into nbdkit, leaves nbdkit's exit hanging in another library's
 * locale clean-up (plugin.c says the same of the store's message). */
static const char *why(int e)
{
    const char *s = strerrordesc_np(e);
    return s ? s : "unknown error";
}

static struct {
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    bsnap_volume *volume;
    const char *volume_id;
    int listen_fd;
    int stop[2]; /* a byte written to stop[1] ends the thread */
    pthread_t thread;
    bool running;
} ctl = {.listen_fd = -1, .stop = {-1, -1}};

/* The address of @path, or -1 (said) when it does not fit. */
static int address(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa->sun_path) {
        nbdkit_error("control=%s: a unix socket path is at most %zu bytes", path,
                     sizeof sa->sun_path - 1);
        return -1;
    }
    memcpy(sa->sun_path, path, strlen(path) + 1);
    return 0;
}

/* Remove a socket at @path that no server answers on; -1 (said) when
 * something else is there, or a server answers. */
static int clear_stale(const char *path, const struct sockaddr_un *sa)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return 0;
    if (!S_ISSOCK(st.st_mode)) {
        nbdkit_error("control=%s: the path exists and is not a socket", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        nbdkit_error("control=%s: socket: %s", path, why(errno));
        return -1;
    }
    int r = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
    int err = errno;
    close(fd);
    if (r == 0) {
        nbdkit_error("control=%s: another server answers on this socket", path);
        return -1;
    }
    if (err != ECONNREFUSED) {
        errno = err;
        nbdkit_error("control=%s: %s", path, why(errno));
        return -1;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        nbdkit_error("control=%s: removing a stale socket: %s", path, why(errno));
        return -1;
    }
    nbdkit_debug("control=%s: removed a stale socket", path);
    return 0;
}

int control_check(const char *path)
{
    struct sockaddr_un sa;
    struct stat st;

    if (address(path, &sa) < 0)
        return -1;
    char *copy = strdup(path);
    if (!copy) {
        nbdkit_error("out of memory");
        return -1;
    }
    const char *dir = dirname(copy);
    int r = stat(dir, &st);
    if (r < 0 || !S_ISDIR(st.st_mode)) {
        if (r == 0)
            errno = ENOTDIR;
        nbdkit_error("control=%s: its directory %s: %s", path, dir, why(errno));
        free(copy);
        return -1;
    }
    free(copy);
    if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
        nbdkit_error("control=%s: the path exists and is not a socket", path);
        return -1;
    }
    return 0;
}

/* ---- serving ---- */

static int send_all(int fd, const char *s)
{
    for (size_t off = 0, n = strlen(s); off < n;) {
        ssize_t w = send(fd, s + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

/* The answer of a failure whose record is @e (the engine's or the
 * front-end library's). */
static void failed(const bsnap_error *e, bsf_control_answer *a)
{
    char *msg = NULL;

    a->ok = false;
    snprintf(a->code, sizeof a->code, "%s", e->code[0] ? e->code : "InternalError");
    if (bsf_error_message(e, NULL, NULL, &msg) < 0)
        msg = NULL;
    snprintf(a->message, sizeof a->message, "%s",
             msg             ? msg
             : e->message[0] ? e->message
                             : why(-e->err));
    free(msg);
}

/* Carry out request line @line (@len bytes) into @a. */
static void handle(const char *line, size_t len, bsf_control_answer *a)
{
    bsf_control_request req;

    memset(a, 0, sizeof *a);
    if (bsf_control_request_parse(line, len, &req) < 0) {
        failed(bsf_last_error(), a);
        nbdkit_debug("control: refused a request: %s (%s)", a->message, a->code);
        return;
    }
    if (req.op == BSF_CONTROL_FLUSH) {
        if (bsnap_volume_flush(ctl.volume) < 0)
            failed(bsnap_last_error(), a);
        else
            a->ok = true;
    } else {
        bsnap_snapshot_options o = {0};
        o.description = req.description;
        o.tags = req.tags;
        o.ntags = req.ntags;
        if (bsnap_volume_snapshot(ctl.volume, &o, a->snapshot_id, &a->stats) < 0)
            failed(bsnap_last_error(), a);
        else
            a->ok = true;
    }
    if (a->ok)
        nbdkit_debug("control: %s of %s%s%s", req.op == BSF_CONTROL_FLUSH ? "flush" : "snapshot",
                     ctl.volume_id, a->snapshot_id[0] ? ": " : "", a->snapshot_id);
    else
        nbdkit_error("control: %s of %s: %s (%s)",
                     req.op == BSF_CONTROL_FLUSH ? "flush" : "snapshot", ctl.volume_id, a->message,
                     a->code);
    bsf_control_request_clear(&req);
}

/* Answer @a on @fd; -1 when the peer is gone. */
static int answer(int fd, const bsf_control_answer *a)
{
    char *line = NULL;
    if (bsf_control_answer_format(a, &line) < 0)
        return -1;
    int r = send_all(fd, line);
    free(line);
    return r;
}

/* Refuse a connection (or a line) with @code and @message, best effort. */
static void refuse(int fd, const char *code, const char *message)
{
    bsf_control_answer a = {.ok = false};
    snprintf(a.code, sizeof a.code, "%s", code);
    snprintf(a.message, sizeof a.message, "%s", message);
    (void)answer(fd, &a);
}

/* Serve connection @fd until its peer closes it, misbehaves, idles too
 * long, or the channel stops. */
static void serve(int fd)
{
    static char buf[BSF_CONTROL_LINE_MAX + 1]; /* one connection at a time */
    size_t have = 0;
    struct ucred cred;
    socklen_t clen = sizeof cred;

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
        (cred.uid != geteuid() && cred.uid != 0)) {
        refuse(fd, "UnauthorizedOperation", "the control socket serves its owner only");
        return;
    }
    for (;;) {
        char *nl;
        while ((nl = memchr(buf, '\n', have))) {
            bsf_control_answer a;
            size_t len = (size_t)(nl - buf);
            handle(buf, len, &a);
            memmove(buf, nl + 1, have - len - 1);
            have -= len + 1;
            if (answer(fd, &a) < 0)
                return;
        }
        if (have == sizeof buf) {
            char msg[96];
            snprintf(msg, sizeof msg, "control request: longer than %d bytes",
                     BSF_CONTROL_LINE_MAX);
            refuse(fd, "InvalidParameterValue", msg);
            return;
        }
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = ctl.stop[0], .events = POLLIN}};
        int pr = poll(p, 2, CONTROL_IDLE_SECONDS * 1000);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0 || p[1].revents)
            return; /* idle too long, or stopping */
        /* io-ok: a socket, read as it comes into the rest of a bounded buffer */
        ssize_t r = read(fd, buf + have, sizeof buf - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return; /* closed (a last line without a newline is not a request) */
        have += (size_t)r;
    }
}

static void *control_thread(void *arg)
{
    (void)arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = ctl.listen_fd, .events = POLLIN},
                              {.fd = ctl.stop[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            nbdkit_error("control=%s: poll: %s", ctl.path, why(errno));
            return NULL;
        }
        if (p[1].revents)
            return NULL;
        int fd = accept4(ctl.listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue; /* the peer went away meanwhile, or EMFILE: try again */
        serve(fd);
        close(fd);
    }
}

int control_start(const char *path, bsnap_volume *volume, const char *volume_id)
{
    struct sockaddr_un sa;
    sigset_t all, old;

    if (address(path, &sa) < 0 || clear_stale(path, &sa) < 0)
        return -1;
    snprintf(ctl.path, sizeof ctl.path, "%s", path);
    ctl.volume = volume;
    ctl.volume_id = volume_id;
    ctl.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ctl.listen_fd < 0 || pipe2(ctl.stop, O_CLOEXEC) < 0) {
        nbdkit_error("control=%s: %s", path, why(errno));
        goto fail;
    }
    /* Born 0600: nbdkit has started no thread of its own before
     * .after_fork, so the umask is ours for the bind. */
    mode_t mask = umask(0177);
    int r = bind(ctl.listen_fd, (struct sockaddr *)&sa, sizeof sa);
    int err = errno;
    umask(mask);
    if (r < 0) {
        errno = err;
        nbdkit_error("control=%s: bind: %s", path, why(errno));
        goto fail;
    }
    if (chmod(path, 0600) < 0 || listen(ctl.listen_fd, 4) < 0) {
        nbdkit_error("control=%s: %s", path, why(errno));
        unlink(path);
        goto fail;
    }
    /* Signals are nbdkit's main thread's business. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    r = pthread_create(&ctl.thread, NULL, control_thread, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        errno = r;
        nbdkit_error("control=%s: cannot start its thread: %s", path, why(errno));
        unlink(path);
        goto fail;
    }
    ctl.running = true;
    nbdkit_debug("control channel of %s on %s", volume_id, path);
    return 0;

fail:
    if (ctl.listen_fd >= 0)
        close(ctl.listen_fd);
    for (int i = 0; i < 2; i++)
        if (ctl.stop[i] >= 0)
            close(ctl.stop[i]);
    ctl.listen_fd = ctl.stop[0] = ctl.stop[1] = -1;
    return -1;
}

void control_stop(void)
{
    if (!ctl.running)
        return;
    while (write(ctl.stop[1], "x", 1) < 0 && errno == EINTR)
        ;
    pthread_join(ctl.thread, NULL);
    close(ctl.listen_fd);
    close(ctl.stop[0]);
    close(ctl.stop[1]);
    if (unlink(ctl.path) < 0 && errno != ENOENT)
        nbdkit_error("control=%s: %s", ctl.path, why(errno));
    ctl.running = false;
    ctl.listen_fd = ctl.stop[0] = ctl.stop[1] = -1;
}
