/* server.c - the API server: HTTP through libmicrohttpd, SigV4 before any
 * route, a worker pool for the engine calls, limits, and a clean stop.
 *
 * A request goes: accepted by libmicrohttpd's pool of I/O threads (epoll,
 * a connection limit overall and per address, an idle timeout); its route
 * found from method and path; its body gathered up to the limit (a
 * Content-Length over it is answered 413 at once, without reading the
 * body; a body that grows over it, or arrives slower than the request
 * deadline allows, closes the connection); then the connection is
 * suspended and the request queued for a worker, which checks the
 * signature, picks the region's store, runs the route, and resumes the
 * connection with the answer.  A slow client costs a connection slot and
 * a little memory, never a thread.
 *
 * Stop: SIGTERM, SIGINT or SIGHUP (blocked in every thread, waited for in
 * the calling thread) close the listening socket, give requests in flight
 * the grace period, then set the cancel flag every long engine call
 * watches (they end as -ECANCELED, leaving the store as before, a copy
 * resumable), wait for the workers, stop libmicrohttpd and close the
 * stores.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "serve.h"

/* The route families served (serve.h says how to add one). */
static const struct serve_route *const route_families[] = {ec2_routes, ebs_routes, NULL};

struct job;

struct serve {
    const bsnap_serve_options *o;
    struct serve_region *regions;
    size_t nregions;
    bsf_ini *credentials;
    struct MHD_Daemon *d;
    volatile int cancel;

    /* the work queue of the workers */
    pthread_mutex_t lock;
    pthread_cond_t wake, idle;
    struct job *head, *tail;
    unsigned busy; /* requests queued, running, or with an answer not yet sent */
    unsigned bg;   /* background work running (a copy after its answer) */
    bool stopping; /* workers: leave when the queue is empty */
    pthread_t *workers;
    unsigned nworkers;
};

/* One request's state across libmicrohttpd's calls. */
struct job {
    struct job *next;
    struct serve *srv;
    struct MHD_Connection *conn;
    const struct serve_route *route;
    struct serve_request rq;
    char *body;
    size_t len, cap;
    int64_t start_ms;
    bool queued, answered, quiet_close;
    bool counted; /* in srv->busy until its answer is sent */
    struct serve_response out;
    bsf_http_pair *headers, *query;
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void serve_log(const char *fmt, ...)
{
    va_list ap;
    char *line = NULL, *esc = NULL;

    va_start(ap, fmt);
    if (vasprintf(&line, fmt, ap) < 0)
        line = NULL;
    va_end(ap);
    if (!line)
        return;
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "blocksnap serve: %s\n", bsf_escape(line, &esc) == 0 ? esc : line);
    pthread_mutex_unlock(&log_lock);
    free(esc);
    free(line);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fail(bsnap_serve_error *e, int err, const char *code, const char *fmt, ...)
{
    va_list ap;

    e->err = err;
    snprintf(e->code, sizeof e->code, "%s", code);
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

static int engine_fail(bsnap_serve_error *e, int err, const char *what)
{
    const bsnap_error *be = bsnap_last_error();
    fail(e, err, be->code[0] ? be->code : "InternalError", "%s: %s", what, be->message);
    return err;
}

/* A request id as EC2's: a random UUID. */
static void request_id(char out[40])
{
    uint8_t b[16] = {0};

    if (getrandom(b, sizeof b, 0) != sizeof b)
        memset(b, 0x5a, sizeof b);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* ---- answering ------------------------------------------------------------ */

/* Send @out; its body goes to libmicrohttpd as it is (freed there when
 * sent: an EBS direct block is not copied again), header values first,
 * which may point into it (libmicrohttpd copies headers). */
static enum MHD_Result send_response(struct MHD_Connection *conn, struct serve_response *out,
                                     const char *id)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp =
        MHD_create_response_from_buffer(out->len, out->body ? out->body : (char *)"",
                                        out->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    if (out->content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, out->content_type);
    MHD_add_response_header(resp, "x-amzn-RequestId", id);
    for (size_t i = 0; i < out->nheaders; i++)
        MHD_add_response_header(resp, out->headers[i].name, out->headers[i].value);
    ret = MHD_queue_response(conn, (unsigned)out->status, resp);
    MHD_destroy_response(resp);
    out->body = NULL; /* the response's now */
    return ret;
}

static void log_request(const struct job *j, const char *account, const char *region)
{
    if (j->srv->o->quiet)
        return;
    serve_log("%s %s %s %s %s %s %d%s%s %lld ms", j->rq.id, j->rq.method, j->rq.path,
              region ? region : "-", account ? account : "-",
              j->out.operation[0] ? j->out.operation : "-", j->out.status,
              j->out.code[0] ? " " : "", j->out.code, (long long)(now_ms() - j->start_ms));
}

/* ---- authentication and the region's store -------------------------------- */

static struct serve_region *find_region(struct serve *srv, const char *name)
{
    for (size_t i = 0; i < srv->nregions; i++)
        if (strcmp(srv->regions[i].name, name) == 0)
            return &srv->regions[i];
    return NULL;
}

struct call_state {
    struct serve_call call;
    struct serve *srv;
};

static int other_region(const struct serve_call *c, const char *name, bsnap_store **ret)
{
    const struct call_state *cs = (const struct call_state *)c;
    struct serve_region *r = find_region(cs->srv, name);

    if (!r)
        return -ENOENT;
    return bsnap_store_view(r->store, c->account, ret) < 0 ? -EINVAL : 0;
}

struct bg_work {
    struct serve *srv;
    struct serve_region *region;
    void (*fn)(void *arg);
    void *arg;
};

static void *bg_main(void *p)
{
    struct bg_work *w = p;
    struct serve *srv = w->srv;

    pthread_rwlock_rdlock(&w->region->mode);
    w->fn(w->arg);
    pthread_rwlock_unlock(&w->region->mode);
    free(w);
    pthread_mutex_lock(&srv->lock);
    srv->bg--;
    pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->lock);
    return NULL;
}

static int start_background(const struct serve_call *c, void (*fn)(void *arg), void *arg)
{
    const struct call_state *cs = (const struct call_state *)c;
    struct serve *srv = cs->srv;
    struct bg_work *w = malloc(sizeof *w);
    pthread_attr_t attr;
    pthread_t t;
    int e;

    if (!w)
        return -ENOMEM;
    *w = (struct bg_work){srv, c->region, fn, arg};
    pthread_mutex_lock(&srv->lock);
    if (srv->stopping || srv->cancel) {
        pthread_mutex_unlock(&srv->lock);
        free(w);
        return -ECANCELED;
    }
    srv->bg++;
    pthread_mutex_unlock(&srv->lock);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    e = pthread_create(&t, &attr, bg_main, w);
    pthread_attr_destroy(&attr);
    if (e) {
        free(w);
        pthread_mutex_lock(&srv->lock);
        srv->bg--;
        pthread_cond_broadcast(&srv->idle);
        pthread_mutex_unlock(&srv->lock);
        return -e;
    }
    return 0;
}

/* Check @j's signature and run its route (a worker's part). */
static void run_job(struct job *j)
{
    struct serve *srv = j->srv;
    const struct serve_route *route = j->route;
    bsf_sigv4_request sr = {.method = j->rq.method,
                            .path = j->rq.path,
                            .query = j->rq.query,
                            .nquery = j->rq.nquery,
                            .headers = j->rq.headers,
                            .nheaders = j->rq.nheaders,
                            .body = j->rq.body,
                            .body_len = j->rq.body_len};
    struct call_state cs = {.srv = srv};
    bsf_sigv4_auth a;
    const char *secret, *account = NULL;
    struct serve_region *region = NULL;
    bsnap_store *view = NULL;

    if (bsf_sigv4_parse(&sr, &a) < 0 ||
        bsf_access_key_lookup(srv->credentials, a.access_key, &secret, &account) < 0 ||
        bsf_sigv4_check(&sr, &a, secret, (int64_t)time(NULL)) < 0) {
        const bsnap_error *e = bsf_last_error();
        /* EC2 tells an unknown key and a bad signature apart only by code */
        route->error(&j->rq, e->code, e->message, &j->out);
        account = NULL;
        goto out;
    }
    if (strcmp(a.service, route->service) != 0) {
        char m[160];
        snprintf(m, sizeof m, "the credential scope names the service '%s', not '%s'", a.service,
                 route->service);
        route->error(&j->rq, "SignatureDoesNotMatch", m, &j->out);
        goto out;
    }
    if (!(region = find_region(srv, a.region))) {
        char m[200];
        snprintf(m, sizeof m, "the region '%s' of the credential scope is not served here",
                 a.region);
        route->error(&j->rq, "AuthFailure", m, &j->out);
        goto out;
    }
    if (bsnap_store_view(region->store, account, &view) < 0) {
        route->error(&j->rq, "AuthFailure", bsnap_last_error()->message, &j->out);
        goto out;
    }
    cs.call = (struct serve_call){.rq = &j->rq,
                                  .region = region,
                                  .account = account,
                                  .store = view,
                                  .cancel = &srv->cancel,
                                  .region_store = other_region,
                                  .background = start_background};
    route->handle(&cs.call, &j->out);
    bsnap_store_close(view);
out:
    log_request(j, account, region ? region->name : NULL);
}

static void *worker(void *arg)
{
    struct serve *srv = arg;

    for (;;) {
        struct job *j;

        pthread_mutex_lock(&srv->lock);
        while (!srv->head && !srv->stopping)
            pthread_cond_wait(&srv->wake, &srv->lock);
        if (!(j = srv->head)) {
            pthread_mutex_unlock(&srv->lock);
            return NULL;
        }
        srv->head = j->next;
        if (!srv->head)
            srv->tail = NULL;
        pthread_mutex_unlock(&srv->lock);

        run_job(j);
        j->answered = true;
        /* libmicrohttpd calls the handler again, which sends the answer;
         * the request counts as busy until it is sent (on_completed()) */
        MHD_resume_connection(j->conn);
    }
}

/* ---- libmicrohttpd's callbacks ---------------------------------------------- */

static const struct serve_route *find_route(const char *method, const char *path)
{
    for (const struct serve_route *const *f = route_families; *f; f++)
        for (const struct serve_route *r = *f; r->method; r++)
            if (strcmp(r->method, method) == 0 &&
                (r->prefix ? strncmp(path, r->path, strlen(r->path)) == 0
                           : strcmp(path, r->path) == 0))
                return r;
    return NULL;
}

struct pairs {
    bsf_http_pair *v;
    size_t n, cap;
};

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    struct pairs *p = cls;

    (void)kind;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        bsf_http_pair *v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return MHD_NO;
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = (bsf_http_pair){key, value ? value : ""};
    return MHD_YES;
}

/* An answer made here (not by a worker), sent at once. */
static enum MHD_Result answer_now(struct job *j, const char *code, const char *message)
{
    enum MHD_Result ret;

    (j->route ? j->route->error : ec2_error)(&j->rq, code, message, &j->out);
    ret = send_response(j->conn, &j->out, j->rq.id);
    log_request(j, NULL, NULL);
    j->answered = true;
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct serve *srv = cls;
    struct job *j = *con_cls;

    (void)version;
    if (!j) { /* the headers are in: a new request */
        const char *cl;
        if (!(j = calloc(1, sizeof *j)))
            return MHD_NO;
        *con_cls = j;
        j->srv = srv;
        j->conn = conn;
        j->start_ms = now_ms();
        request_id(j->rq.id);
        j->rq.srv = srv;
        j->rq.method = method;
        j->rq.path = url;
        j->route = find_route(method, url);
        if (!j->route) {
            char m[128];
            snprintf(m, sizeof m, "no action is served at %s %.64s", method, url);
            return answer_now(j,
                              find_route("POST", url) || find_route("GET", url)
                                  ? "UnsupportedOperation"
                                  : "InvalidAction",
                              m);
        }
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > srv->o->max_body) {
            char m[128];
            snprintf(m, sizeof m, "the request body of %.20s bytes is larger than the %zu allowed",
                     cl, srv->o->max_body);
            return answer_now(j, "RequestEntityTooLarge", m);
        }
        return MHD_YES;
    }
    if (j->answered && !j->queued) { /* an answer made here is on its way */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        if (j->len + *upload_size > srv->o->max_body ||
            now_ms() - j->start_ms > (int64_t)srv->o->timeout_s * 1000) {
            if (!j->quiet_close)
                serve_log("%s: closed: the body is over %zu bytes or took more than %u s", j->rq.id,
                          srv->o->max_body, srv->o->timeout_s);
            j->quiet_close = true;
            return MHD_NO;
        }
        if (j->len + *upload_size > j->cap) {
            size_t cap = j->cap ? j->cap : 4096;
            while (cap < j->len + *upload_size)
                cap *= 2;
            char *b = realloc(j->body, cap + 1);
            if (!b)
                return MHD_NO;
            j->body = b;
            j->cap = cap;
        }
        memcpy(j->body + j->len, upload, *upload_size);
        j->len += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    if (j->queued) { /* resumed: the worker's answer is ready */
        enum MHD_Result ret = send_response(conn, &j->out, j->rq.id);
        j->queued = false;
        return ret;
    }
    /* the whole request is in: hand it to a worker */
    struct pairs h = {0}, q = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect, &h);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect, &q);
    j->headers = h.v;
    j->query = q.v;
    j->rq.headers = h.v;
    j->rq.nheaders = h.n;
    j->rq.query = q.v;
    j->rq.nquery = q.n;
    if (j->body)
        j->body[j->len] = '\0';
    j->rq.body = j->body;
    j->rq.body_len = j->len;
    pthread_mutex_lock(&srv->lock);
    if (srv->stopping) {
        pthread_mutex_unlock(&srv->lock);
        return answer_now(j, "ServiceUnavailable", "the server is stopping");
    }
    j->queued = true;
    j->counted = true;
    srv->busy++;
    MHD_suspend_connection(conn);
    if (srv->tail)
        srv->tail->next = j;
    else
        srv->head = j;
    srv->tail = j;
    pthread_cond_signal(&srv->wake);
    pthread_mutex_unlock(&srv->lock);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct job *j = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (!j)
        return;
    if (j->counted) {
        pthread_mutex_lock(&j->srv->lock);
        j->srv->busy--;
        pthread_cond_broadcast(&j->srv->idle);
        pthread_mutex_unlock(&j->srv->lock);
    }
    free(j->body);
    free(j->headers);
    free(j->query);
    free(j->out.body);
    free(j);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    size_t n;

    (void)cls;
    vsnprintf(line, sizeof line, fmt, ap);
    n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = '\0';
    serve_log("http: %s", line);
}

/* ---- setting up --------------------------------------------------------------- */

/* "ADDR:PORT" or "[ADDR]:PORT" into a bound, listening socket. */
static int listen_on(const char *spec, bsnap_serve_error *err, char *shown, size_t shown_size)
{
    char host[256];
    const char *colon = strrchr(spec, ':'), *port;
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM},
                    *ai = NULL;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd, one = 1, e;

    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host || !colon[1]) {
        fail(err, -EINVAL, "InvalidParameterValue",
             "listen address '%.100s' is not ADDR:PORT (127.0.0.1:8787, [::1]:8787)", spec);
        return -EINVAL;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    port = colon + 1;
    if (strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 || atoi(port) > 65535 ||
        (e = getaddrinfo(host, port, &hints, &ai)) != 0) {
        fail(err, -EINVAL, "InvalidParameterValue",
             "listen address '%.100s' is not ADDR:PORT with a numeric address and port", spec);
        return -EINVAL;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        e = -errno;
        fail(err, e, "InvalidParameterValue", "listen on %.100s: %s", spec, strerror(-e));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return e;
    }
    freeaddrinfo(ai);
    if (ss.ss_family == AF_INET6) {
        char a[INET6_ADDRSTRLEN];
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof a);
        snprintf(shown, shown_size, "[%s]:%u", a, ntohs(s6->sin6_port));
    } else {
        char a[INET_ADDRSTRLEN];
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, a, sizeof a);
        snprintf(shown, shown_size, "%s:%u", a, ntohs(s4->sin_port));
    }
    return fd;
}

/* The whole of a small file (a PEM), NUL-terminated. */
static int read_small(const char *path, char **ret, bsnap_serve_error *err)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (!f) {
        int e = -errno;
        fail(err, e, "InvalidParameterValue", "%.300s: %s", path, strerror(-e));
        return e;
    }
    do {
        if (cap - len < 4096) {
            char *b = realloc(buf, cap += 16384);
            if (!b || cap > (1u << 20)) {
                free(b ? b : buf);
                fclose(f);
                fail(err, -EFBIG, "InvalidParameterValue", "%.300s: larger than 1 MiB", path);
                return -EFBIG;
            }
            buf = b;
        }
        n = fread(buf + len, 1, cap - len - 1, f); /* io-ok: a small PEM file, read once */
        len += n;
    } while (n > 0);
    fclose(f);
    buf[len] = '\0';
    *ret = buf;
    return 0;
}

static void close_regions(struct serve *srv)
{
    for (size_t i = 0; i < srv->nregions; i++) {
        bsnap_store_close(srv->regions[i].store);
        pthread_rwlock_destroy(&srv->regions[i].mode);
    }
    free(srv->regions);
    srv->regions = NULL;
    srv->nregions = 0;
}

static int open_regions(struct serve *srv, bsnap_serve_error *err)
{
    const bsnap_serve_options *o = srv->o;

    if (!(srv->regions = calloc(o->nstores ? o->nstores : 1, sizeof *srv->regions))) {
        fail(err, -ENOMEM, "InternalError", "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < o->nstores; i++) {
        struct serve_region *r = &srv->regions[srv->nregions];
        bsnap_store_info info;
        int e = bsnap_store_open(o->store_paths[i], 0, NULL, &r->store);
        if (e < 0 || (e = bsnap_store_get_info(r->store, &info)) < 0) {
            bsnap_store_close(r->store);
            close_regions(srv);
            char what[400];
            snprintf(what, sizeof what, "store %.300s", o->store_paths[i]);
            return engine_fail(err, e, what);
        }
        snprintf(r->name, sizeof r->name, "%s", info.region);
        pthread_rwlock_init(&r->mode, NULL);
        srv->nregions++;
        for (size_t k = 0; k + 1 < srv->nregions; k++)
            if (strcmp(srv->regions[k].name, r->name) == 0) {
                fail(err, -EEXIST, "InvalidParameterValue",
                     "store %.300s is of region %s, as another served store is", o->store_paths[i],
                     r->name);
                close_regions(srv);
                return -EEXIST;
            }
    }
    return 0;
}

static void stop_workers(struct serve *srv)
{
    pthread_mutex_lock(&srv->lock);
    srv->stopping = true;
    pthread_cond_broadcast(&srv->wake);
    pthread_mutex_unlock(&srv->lock);
    for (unsigned i = 0; i < srv->nworkers; i++)
        pthread_join(srv->workers[i], NULL);
    free(srv->workers);
    srv->workers = NULL;
    srv->nworkers = 0;
}

/* Wait until no request is queued or running, or @ms have passed: true
 * when idle. */
static bool wait_idle(struct serve *srv, int64_t ms)
{
    struct timespec until;
    bool idle;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&srv->lock);
    while ((srv->busy || srv->bg) && pthread_cond_timedwait(&srv->idle, &srv->lock, &until) == 0)
        ;
    idle = srv->busy == 0 && srv->bg == 0;
    pthread_mutex_unlock(&srv->lock);
    return idle;
}

int bsnap_serve_run(const bsnap_serve_options *opts, bsnap_serve_error *err)
{
    bsnap_serve_options o = *opts;
    struct serve srv = {.o = &o};
    char *cert = NULL, *key = NULL, shown[128];
    sigset_t set;
    int fd = -1, sig = 0, r;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG;

    memset(err, 0, sizeof *err);
    o.threads = o.threads ? o.threads : BSNAP_SERVE_THREADS;
    o.max_body = o.max_body ? o.max_body : BSNAP_SERVE_MAX_BODY;
    o.max_connections = o.max_connections ? o.max_connections : BSNAP_SERVE_MAX_CONNECTIONS;
    o.max_per_ip = o.max_per_ip ? o.max_per_ip : BSNAP_SERVE_MAX_PER_IP;
    o.timeout_s = o.timeout_s ? o.timeout_s : BSNAP_SERVE_TIMEOUT_S;
    o.grace_s = o.grace_s ? o.grace_s : BSNAP_SERVE_GRACE_S;
    if (!o.listen || !o.nstores || !o.credentials_path) {
        fail(err, -EINVAL, "MissingParameter",
             "a listen address, a store and a credentials "
             "file are needed");
        return -EINVAL;
    }
    if (!o.tls_cert != !o.tls_key) {
        fail(err, -EINVAL, "InvalidParameterCombination",
             "give both the TLS certificate and its key, or neither");
        return -EINVAL;
    }
    if ((r = bsf_settings_read(o.credentials_path, &srv.credentials)) < 0) {
        const bsnap_error *e = bsf_last_error();
        fail(err, r, e->code, "%s", e->message);
        return r;
    }
    if (!srv.credentials) {
        fail(err, -ENOENT, "ConfigError",
             "credentials file %.300s: no such file (it lists the accounts' access keys)",
             o.credentials_path);
        return -ENOENT;
    }
    if (o.tls_cert && ((r = read_small(o.tls_cert, &cert, err)) < 0 ||
                       (r = read_small(o.tls_key, &key, err)) < 0))
        goto out;
    if ((fd = r = listen_on(o.listen, err, shown, sizeof shown)) < 0)
        goto out;
    if ((r = open_regions(&srv, err)) < 0)
        goto out;

    /* The signals that stop the server are this thread's to wait for:
     * blocked before any thread starts, so every thread inherits it. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    pthread_mutex_init(&srv.lock, NULL);
    pthread_cond_init(&srv.wake, NULL);
    pthread_cond_init(&srv.idle, NULL);
    if (!(srv.workers = calloc(o.threads, sizeof *srv.workers))) {
        fail(err, -ENOMEM, "InternalError", "out of memory");
        r = -ENOMEM;
        goto out_regions;
    }
    for (; srv.nworkers < o.threads; srv.nworkers++)
        if (pthread_create(&srv.workers[srv.nworkers], NULL, worker, &srv) != 0) {
            fail(err, -EAGAIN, "InternalError", "cannot start the worker threads");
            r = -EAGAIN;
            goto out_workers;
        }
    if (cert)
        flags |= MHD_USE_TLS;
    srv.d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, &srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, &srv,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, 4u, MHD_OPTION_CONNECTION_LIMIT,
        o.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, o.max_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, o.timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)64 * 1024, MHD_OPTION_NOTIFY_COMPLETED, on_completed, &srv,
        cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert, MHD_OPTION_HTTPS_MEM_KEY, key,
        MHD_OPTION_END);
    if (!srv.d) {
        fail(err, -EIO, "InternalError", "the HTTP server did not start%s (see the lines above)",
             cert ? ": is the certificate and key a PEM pair?" : "");
        r = -EIO;
        goto out_workers;
    }
    fd = -1; /* libmicrohttpd's now */
    printf("listening on %s://%s\n", cert ? "https" : "http", shown);
    fflush(stdout);
    if (geteuid() == 0)
        serve_log("warning: running as root; run it as an unprivileged user that owns the "
                  "stores (the systemd unit does)");

    while (sigwait(&set, &sig) != 0)
        ;
    serve_log("signal %d: stopping (no new connections; %u s for requests in flight)", sig,
              o.grace_s);
    MHD_socket ls = MHD_quiesce_daemon(srv.d);
    if (ls != MHD_INVALID_SOCKET)
        close(ls);
    if (!wait_idle(&srv, (int64_t)o.grace_s * 1000)) {
        serve_log("cancelling the requests still running");
        srv.cancel = 1;
        while (!wait_idle(&srv, 60000))
            serve_log("waiting for cancelled work to end");
    }
    r = 0;
out_workers:
    stop_workers(&srv);
    if (srv.d)
        MHD_stop_daemon(srv.d);
    pthread_cond_destroy(&srv.wake);
    pthread_cond_destroy(&srv.idle);
    pthread_mutex_destroy(&srv.lock);
out_regions:
    close_regions(&srv);
out:
    if (fd >= 0)
        close(fd);
    free(cert);
    free(key);
    bsf_ini_free(srv.credentials);
    return r;
}
