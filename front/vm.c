/* vm.c - an instance's processes: nbdkit per volume, QEMU, the KVM probe
 * and the NoCloud seed (vm.h). */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bsfront-vm.h"
#include "front.h"

extern char **environ;

#define START_TIMEOUT_MS 60000 /* a program's foreground part */
#define SERVER_END_MS 30000    /* nbdkit's flush and close */
#define QMP_TIMEOUT_MS 10000
#define ARGS_MAX 96

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- files ---- */

char *vm_dir(bsnap_store *store, const char *id)
{
    char *d = NULL, *base = realpath(bsnap_store_path(store), NULL);

    /* absolute: the programs it is given to change their directory */
    if (asprintf(&d, "%s/instances/%s", base ? base : bsnap_store_path(store), id) < 0)
        d = NULL;
    free(base);
    return d;
}

static char *path_of(const char *dir, const char *name)
{
    char *p = NULL;

    if (asprintf(&p, "%s/%s", dir, name) < 0)
        return NULL;
    return p;
}

/* A small file's text (malloc'd, NUL-terminated), at most @max bytes of
 * its end; NULL when it cannot be read. */
static char *read_tail(const char *path, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf;
    ssize_t n;
    off_t off;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) < 0 || !(buf = malloc(max + 1))) {
        close(fd);
        return NULL;
    }
    off = st.st_size > (off_t)max ? st.st_size - (off_t)max : 0;
    n = pread(fd, buf, max, off); /* io-ok: a small log or pid file */
    close(fd);
    if (n < 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t len = strlen(text), done = 0;

    if (fd < 0)
        return -errno;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = -errno;
            close(fd);
            return e;
        }
        done += (size_t)n;
    }
    return close(fd) < 0 ? -errno : 0;
}

/* What a program said, for a message: the last line or two of @log. */
static void said(const char *log, char *out, size_t cap)
{
    char *t = read_tail(log, 600), *p;

    out[0] = '\0';
    if (!t)
        return;
    for (p = t + strlen(t); p > t && (p[-1] == '\n' || p[-1] == ' '); p--)
        p[-1] = '\0';
    for (p = t; *p; p++)
        if (*p == '\n')
            *p = ' ';
    snprintf(out, cap, ": %s", t);
    free(t);
}

/* ---- processes ---- */

/* Start @argv (a program on $PATH) in a session of its own, stdin from
 * @in_fd (-1: /dev/null), stdout to /dev/null, stderr appended to @log
 * (NULL: /dev/null).  Signals default and unblocked.  -errno. */
static int spawn(char *const argv[], int in_fd, const char *log, pid_t *ret_pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    int r;

    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    if (in_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
    else
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND,
                                     0600);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    r = posix_spawnp(ret_pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return -r;
}

/* Wait up to @timeout_ms for our child @pid: 0 and its wait status, or
 * -ETIMEDOUT (it is killed and reaped then). */
static int wait_child(pid_t pid, int timeout_ms, int *ret_status)
{
    for (int waited = 0;; waited += 20) {
        pid_t p = waitpid(pid, ret_status, WNOHANG);
        if (p == pid)
            return 0;
        if (p < 0 && errno != EINTR)
            return -errno;
        if (waited >= timeout_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, ret_status, 0);
            return -ETIMEDOUT;
        }
        sleep_ms(20);
    }
}

/* Whether @pid runs and its command line has an argument containing
 * @word (not a zombie). */
static bool pid_runs(pid_t pid, const char *word)
{
    char path[64], *cmd, *p, *stat;
    bool found = false;

    if (pid <= 1 || (kill(pid, 0) < 0 && errno == ESRCH))
        return false;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if ((stat = read_tail(path, 4096))) {
        char *e = strrchr(stat, ')');
        bool zombie = e && e[1] == ' ' && e[2] == 'Z';
        free(stat);
        if (zombie)
            return false;
    }
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    cmd = calloc(1, 65537);
    ssize_t n = cmd ? read(fd, cmd, 65536) : -1; /* io-ok: /proc, to EOF at most 64 KiB */
    close(fd);
    for (p = cmd; n > 0 && p < cmd + n; p += strlen(p) + 1)
        if (strstr(p, word))
            found = true;
    free(cmd);
    return found;
}

/* Wait up to @timeout_ms for @pid (running @word) to end: true when gone. */
static bool wait_gone(pid_t pid, const char *word, int timeout_ms)
{
    for (int waited = 0; pid_runs(pid, word); waited += 50) {
        if (waited >= timeout_ms)
            return false;
        sleep_ms(50);
    }
    return true;
}

/* Send @sig to @pid if it still runs @word, then wait up to @timeout_ms. */
static bool signal_wait(pid_t pid, const char *word, int sig, int timeout_ms)
{
    if (!pid_runs(pid, word))
        return true;
    kill(pid, sig);
    return wait_gone(pid, word, timeout_ms);
}

static pid_t read_pid(const char *path, int timeout_ms)
{
    for (int waited = 0;; waited += 20) {
        char *t = read_tail(path, 64);
        long v = t ? strtol(t, NULL, 10) : 0;
        free(t);
        if (v > 1)
            return (pid_t)v;
        if (waited >= timeout_ms)
            return -1;
        sleep_ms(20);
    }
}

/* Run @argv to its daemonizing exit: 0 when it exited 0, else
 * front_fail() naming @what and what it said in @log. */
static int run_daemonizing(char *const argv[], const char *log, const char *what)
{
    char msg[700];
    pid_t pid;
    int st = 0, r = spawn(argv, -1, log, &pid);

    if (r < 0)
        return front_fail(r, "InstanceLaunchFailed", "%s: cannot run %s: %s", what, argv[0],
                          strerror(-r));
    r = wait_child(pid, START_TIMEOUT_MS, &st);
    if (r == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    said(log, msg, sizeof msg);
    if (r < 0)
        return front_fail(-ETIMEDOUT, "InstanceLaunchFailed", "%s did not start in %d s%s", what,
                          START_TIMEOUT_MS / 1000, msg);
    return front_fail(-EIO, "InstanceLaunchFailed", "%s failed (%s %d)%s", what,
                      WIFEXITED(st) ? "exit" : "signal",
                      WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), msg);
}

/* ---- nbdkit ---- */

char *vm_control_path(const char *dir, size_t i)
{
    char *p = NULL;
    return asprintf(&p, "%s/v%zu.ctl", dir, i) < 0 ? NULL : p;
}

int vm_nbdkit_start(const char *store_path, const char *account, const char *volume,
                    const char *sock, const char *control, const char *pidfile, const char *log,
                    pid_t *ret_pid)
{
    char *store_arg = NULL, *account_arg = NULL, *volume_arg = NULL, *control_arg = NULL, what[80];
    char *argv[] = {(char *)env_or("BLOCKSNAP_NBDKIT", "nbdkit"),
                    "--unix",
                    (char *)sock,
                    "--pidfile",
                    (char *)pidfile,
                    "--log=stderr",
                    (char *)env_or("BLOCKSNAP_NBDKIT_PLUGIN", "blocksnap"),
                    NULL,
                    NULL,
                    NULL,
                    NULL,
                    NULL};
    pid_t pid;
    int r;

    if (asprintf(&store_arg, "store=%s", store_path) < 0 ||
        asprintf(&account_arg, "account=%s", account) < 0 ||
        asprintf(&volume_arg, "volume=%s", volume) < 0 ||
        (control && asprintf(&control_arg, "control=%s", control) < 0)) {
        r = front_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    argv[7] = store_arg, argv[8] = account_arg, argv[9] = volume_arg, argv[10] = control_arg;
    unlink(sock);
    unlink(pidfile);
    snprintf(what, sizeof what, "nbdkit for %s", volume);
    if ((r = run_daemonizing(argv, log, what)) < 0)
        goto out;
    if ((pid = read_pid(pidfile, 10000)) < 0) {
        r = front_fail(-EIO, "InstanceLaunchFailed", "%s wrote no pid file %s", what, pidfile);
        goto out;
    }
    *ret_pid = pid;
out:
    free(store_arg);
    free(account_arg);
    free(volume_arg);
    free(control_arg);
    return r;
}

static void end_server(const json_t *s)
{
    pid_t pid = (pid_t)json_integer_value(json_object_get(s, "pid"));
    char word[64];

    snprintf(word, sizeof word, "volume=%s", json_string_value(json_object_get(s, "volume")));
    if (!signal_wait(pid, word, SIGTERM, SERVER_END_MS))
        signal_wait(pid, word, SIGKILL, 5000);
}

void vm_end_servers(const char *id, const json_t *runtime)
{
    json_t *s;
    size_t i;

    json_array_foreach (json_object_get(runtime, "servers"), i, s)
        end_server(s);
}

/* ---- QEMU ---- */

static const char *qemu_prog(void)
{
    return env_or("BLOCKSNAP_QEMU", "qemu-system-x86_64");
}

/* KVM where it works (see bsfront-vm.h), else TCG: probed once a process
 * (the answer does not change while it runs; BLOCKSNAP_ACCEL still wins). */
static const char *accel_probe(void);

static const char *accel(void)
{
    static const char *_Atomic probed;
    const char *forced = getenv("BLOCKSNAP_ACCEL"), *a;

    if (forced && (strcmp(forced, "kvm") == 0 || strcmp(forced, "tcg") == 0))
        return forced;
    if (!(a = probed))
        probed = a = accel_probe();
    return a;
}

static const char *accel_probe(void)
{
    static const char cmds[] = "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n";
    char *argv[] = {(char *)qemu_prog(),
                    "-machine",
                    "pc,accel=kvm",
                    "-cpu",
                    "host",
                    "-nodefaults",
                    "-no-user-config",
                    "-display",
                    "none",
                    "-S",
                    "-qmp",
                    "stdio",
                    NULL};
    int fd, p[2], st = 0;
    pid_t pid;

    if ((fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0)
        return "tcg";
    close(fd);
    if (pipe2(p, O_CLOEXEC) < 0)
        return "tcg";
    if (write(p[1], cmds, sizeof cmds - 1) != (ssize_t)(sizeof cmds - 1) ||
        spawn(argv, p[0], NULL, &pid) < 0) {
        close(p[0]);
        close(p[1]);
        return "tcg";
    }
    close(p[0]);
    close(p[1]);
    if (wait_child(pid, 20000, &st) < 0)
        return "tcg";
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "kvm" : "tcg";
}

/* The NoCloud seed: DIR/seed/{meta-data,user-data}. */
static int write_seed(const char *dir, const char *id, const json_t *launch)
{
    char *seed = path_of(dir, "seed"), *md = NULL, *ud = NULL, *meta = NULL;
    const char *b64 = json_string_value(json_object_get(launch, "UserData"));
    unsigned char *data = NULL;
    size_t n = 0;
    int r = -ENOMEM;

    if (!seed || (mkdir(seed, 0700) < 0 && errno != EEXIST))
        goto out;
    md = path_of(seed, "meta-data");
    ud = path_of(seed, "user-data");
    if (!md || !ud || asprintf(&meta, "instance-id: %s\nlocal-hostname: %s\n", id, id) < 0)
        goto out;
    if ((r = write_file(md, meta)) < 0)
        goto out;
    if (b64 && !(data = bsf_base64_decode(b64, &n))) {
        r = -EINVAL;
        goto out;
    }
    r = write_file(ud, data ? (const char *)data : "");
out:
    if (r < 0)
        front_fail(r, "InstanceLaunchFailed", "instance %s: the seed in %s: %s", id,
                   seed ? seed : dir, strerror(-r));
    free(data);
    free(meta);
    free(md);
    free(ud);
    free(seed);
    return r;
}

/* The name QEMU gives a device: "/dev/xvda" -> "xvda". */
static const char *dev_id(const char *device)
{
    const char *s = strrchr(device, '/');
    return s ? s + 1 : device;
}

static int start_qemu(const char *dir, const char *id, const json_t *launch, const char *acc,
                      json_t *servers, pid_t *ret_pid)
{
    char *argv[ARGS_MAX], *own[ARGS_MAX];
    size_t argc = 0, nown = 0, i;
    const json_t *vols = json_object_get(launch, "Volumes"), *v;
    const char *root = json_string_value(json_object_get(launch, "RootDeviceName"));
    char *log = path_of(dir, "qemu.log"), *pidf = path_of(dir, "qemu.pid");
    int r = -ENOMEM;

#define ARG(s) (argv[argc++] = (char *)(s))
#define OWN(...)                            \
    do {                                    \
        char *o_ = NULL;                    \
        if (asprintf(&o_, __VA_ARGS__) < 0) \
            goto out;                       \
        own[nown++] = o_;                   \
        ARG(o_);                            \
    } while (0)

    if (!log || !pidf)
        goto out;
    ARG(qemu_prog());
    ARG("-name");
    OWN("%s", id);
    ARG("-machine");
    OWN("pc,accel=%s", acc);
    if (strcmp(acc, "kvm") == 0) {
        ARG("-cpu");
        ARG("host");
    }
    ARG("-smp");
    OWN("%d", (int)json_integer_value(json_object_get(launch, "VCpus")));
    ARG("-m");
    OWN("%d", (int)json_integer_value(json_object_get(launch, "MemoryMiB")));
    ARG("-nodefaults");
    ARG("-no-user-config");
    ARG("-display");
    ARG("none");
    ARG("-serial");
    OWN("file:%s/console.log", dir);
    ARG("-qmp");
    OWN("unix:%s/q.sock,server=on,wait=off", dir);
    ARG("-daemonize");
    ARG("-pidfile");
    ARG(pidf);
    if (strcmp(json_string_value(json_object_get(launch, "BootMode")) ?: "", "uefi") == 0 &&
        access("/usr/share/ovmf/OVMF.fd", R_OK) == 0) {
        ARG("-bios");
        ARG("/usr/share/ovmf/OVMF.fd");
    }
    json_array_foreach (vols, i, v) {
        const char *dev = json_string_value(json_object_get(v, "DeviceName"));
        const char *vol = json_string_value(json_object_get(v, "VolumeId"));
        if (argc + 8 >= ARGS_MAX)
            break;
        ARG("-blockdev");
        OWN("driver=nbd,node-name=n%zu,server.type=unix,server.path=%s/v%zu.sock", i, dir, i);
        ARG("-blockdev");
        OWN("driver=raw,node-name=d%zu,file=n%zu", i, i);
        ARG("-device");
        OWN("virtio-blk-pci,drive=d%zu,id=%s,serial=%s%s", i, dev_id(dev), vol,
            root && strcmp(dev, root) == 0 ? ",bootindex=0" : "");
    }
    ARG("-blockdev");
    OWN("driver=vvfat,node-name=seedfat,dir=%s/seed,label=CIDATA,read-only=on", dir);
    ARG("-blockdev");
    ARG("driver=raw,node-name=seed,file=seedfat,read-only=on");
    ARG("-device");
    ARG("virtio-blk-pci,drive=seed,id=cidata");
    argv[argc] = NULL;
    (void)servers;
    unlink(pidf);
    if ((r = run_daemonizing(argv, log, "qemu")) < 0)
        goto out;
    if ((*ret_pid = read_pid(pidf, 10000)) < 0)
        r = front_fail(-EIO, "InstanceLaunchFailed", "qemu wrote no pid file %s", pidf);
out:
    if (r == -ENOMEM)
        front_fail(r, "InternalError", "out of memory");
    for (i = 0; i < nown; i++)
        free(own[i]);
    free(log);
    free(pidf);
    return r;
#undef ARG
#undef OWN
}

int vm_launch(bsnap_store *store, const char *id, const json_t *inst, json_t **ret_runtime)
{
    const json_t *launch = json_object_get(inst, "Launch"), *v;
    const char *account = json_string_value(json_object_get(launch, "Account"));
    char *dir = vm_dir(store, id), *parent = NULL, store_path[PATH_MAX];
    json_t *rt = NULL, *servers = json_array();
    pid_t qpid = -1;
    size_t i;
    int r = -ENOMEM;

    if (!dir || !servers || !(parent = strdup(dir)))
        goto fail;
    *strrchr(parent, '/') = '\0';
    if (!realpath(bsnap_store_path(store), store_path)) {
        r = front_fail(-errno, "InstanceLaunchFailed", "store %s: %s", bsnap_store_path(store),
                       strerror(errno));
        goto fail;
    }
    if ((mkdir(parent, 0700) < 0 && errno != EEXIST) || (mkdir(dir, 0700) < 0 && errno != EEXIST)) {
        r = front_fail(-errno, "InstanceLaunchFailed", "%s: %s", dir, strerror(errno));
        goto fail;
    }
    if (strlen(dir) + 16 > sizeof(((struct sockaddr_un *)0)->sun_path)) {
        r = front_fail(-ENAMETOOLONG, "InstanceLaunchFailed",
                       "%s: the store's path is too long for the instance's sockets (at most "
                       "%zu characters)",
                       dir, sizeof(((struct sockaddr_un *)0)->sun_path) - 16 - 30);
        goto fail;
    }
    if ((r = write_seed(dir, id, launch)) < 0)
        goto fail;
    json_array_foreach (json_object_get(launch, "Volumes"), i, v) {
        const char *vol = json_string_value(json_object_get(v, "VolumeId"));
        char *sock = NULL, *ctl = NULL, *pidf = NULL, *log = NULL;
        pid_t pid = -1;
        if (asprintf(&sock, "%s/v%zu.sock", dir, i) < 0 || !(ctl = vm_control_path(dir, i)) ||
            asprintf(&pidf, "%s/%s.pid", dir, vol) < 0 || asprintf(&log, "%s/%s.log", dir, vol) < 0)
            r = front_fail(-ENOMEM, "InternalError", "out of memory");
        else
            r = vm_nbdkit_start(store_path, account, vol, sock, ctl, pidf, log, &pid);
        free(sock);
        free(ctl);
        free(pidf);
        free(log);
        if (r < 0)
            goto fail;
        json_array_append_new(servers, json_pack("{s:s, s:i}", "volume", vol, "pid", (int)pid));
    }
    const char *acc = accel();
    if ((r = start_qemu(dir, id, launch, acc, servers, &qpid)) < 0)
        goto fail;
    rt = json_pack("{s:s, s:i, s:O}", "accel", acc, "qemu-pid", (int)qpid, "servers", servers);
    if (!rt) {
        r = front_fail(-ENOMEM, "InternalError", "out of memory");
        goto fail;
    }
    *ret_runtime = rt;
    json_decref(servers);
    free(parent);
    free(dir);
    return 0;
fail:
    if (r == -ENOMEM && !bsf_last_error()->err)
        front_fail(r, "InternalError", "out of memory");
    {
        json_t *tmp = json_pack("{s:O}", "servers", servers);
        vm_end_servers(id, tmp);
        json_decref(tmp);
    }
    json_decref(servers);
    free(parent);
    free(dir);
    return r;
}

bool vm_running(const char *id, const json_t *runtime)
{
    pid_t pid = (pid_t)json_integer_value(json_object_get(runtime, "qemu-pid"));

    return pid > 1 && pid_runs(pid, id);
}

int vm_qmp(bsnap_store *store, const char *id, const char *cmd)
{
    char *dir = vm_dir(store, id), *sock = dir ? path_of(dir, "q.sock") : NULL, *err = NULL;
    struct bsf_qmp *q;
    int r = 0;

    if (!sock) {
        free(dir);
        return front_fail(-ENOMEM, "InternalError", "out of memory");
    }
    q = bsf_qmp_open(sock, false, QMP_TIMEOUT_MS, &err);
    if (!q)
        r = front_fail(-EIO, "QmpError", "instance %s: %s", id, err ? err : "no QMP");
    else if (bsf_qmp_execute(q, cmd, NULL, NULL) < 0 &&
             strcmp(bsf_qmp_error_code(q), "QmpConnectionLost") != 0) /* quit may close first */
        r = front_fail(-EIO, "QmpError", "instance %s: %s", id, bsf_qmp_error(q));
    bsf_qmp_close(q);
    free(err);
    free(sock);
    free(dir);
    return r;
}

int vm_halt(bsnap_store *store, const char *id, const json_t *runtime, int timeout_ms)
{
    pid_t pid = (pid_t)json_integer_value(json_object_get(runtime, "qemu-pid"));
    bool gone = !vm_running(id, runtime);

    if (!gone && timeout_ms > 0 && vm_qmp(store, id, "system_powerdown") == 0)
        gone = wait_gone(pid, id, timeout_ms);
    if (!gone && vm_qmp(store, id, "quit") == 0)
        gone = wait_gone(pid, id, 10000);
    if (!gone)
        signal_wait(pid, id, SIGKILL, 10000);
    vm_end_servers(id, runtime);
    return 0;
}
