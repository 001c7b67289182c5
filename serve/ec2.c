/* ec2.c - EC2's query protocol: POST / with a form body, or GET / with a
 * query string; an XML answer, or EC2's XML error.
 *
 * The request's pairs become a bsf_ec2_request, which the front-end
 * library checks and runs (front/ec2.c: one engine call per action).  A
 * DryRun request runs with the region's store in a dry run, the region's
 * other requests kept out meanwhile (serve.h: struct serve_region).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

void ec2_error(const struct serve_request *rq, const char *code, const char *message,
               struct serve_response *out)
{
    char *text = NULL;

    out->status = bsf_ec2_status(code);
    out->content_type = "text/xml;charset=UTF-8";
    snprintf(out->code, sizeof out->code, "%s", code);
    if (bsf_ec2_error_xml(code, message, rq->id, &text) < 0) {
        out->status = 500;
        out->body = NULL;
        out->len = 0;
        return;
    }
    out->body = text;
    out->len = strlen(text);
}

static void front_error(const struct serve_request *rq, struct serve_response *out)
{
    const bsnap_error *e = bsf_last_error();
    ec2_error(rq, e->code[0] ? e->code : "InternalError",
              e->message[0] ? e->message : "internal error", out);
}

static int region_store(void *ud, const char *region, bsnap_store **ret)
{
    struct serve_call *c = ud;
    return c->region_store(c, region, ret);
}

static int background(void *ud, void (*fn)(void *arg), void *arg)
{
    struct serve_call *c = ud;
    return c->background(c, fn, arg);
}

static void handle(struct serve_call *c, struct serve_response *out)
{
    const struct serve_request *rq = c->rq;
    bsf_http_pair *form = NULL;
    const bsf_http_pair *pairs = rq->query;
    size_t n = rq->nquery;
    bsf_ec2_request *q = NULL;
    bsf_ec2_env env = {.store = c->store,
                       .region = c->region->name,
                       .region_store = region_store,
                       .ud = c,
                       .cancel = c->cancel,
                       .background = background};
    json_t *doc = NULL;
    char *text = NULL;
    bool dry = false;
    int r;

    if (strcmp(rq->method, "POST") == 0) {
        if (bsf_form_parse(rq->body ? rq->body : "", rq->body_len, &form, &n) < 0) {
            front_error(rq, out);
            return;
        }
        pairs = form;
    }
    r = bsf_ec2_request_new(pairs, n, &q);
    bsf_form_free(form, n);
    if (r < 0 || (r = bsf_ec2_check(q, &dry)) < 0) {
        if (q && bsf_ec2_action(q))
            snprintf(out->operation, sizeof out->operation, "%.63s", bsf_ec2_action(q));
        front_error(rq, out);
        bsf_ec2_request_free(q);
        return;
    }
    snprintf(out->operation, sizeof out->operation, "%s", bsf_ec2_action(q));
    env.dry_run = dry;
    if (dry) {
        pthread_rwlock_wrlock(&c->region->mode);
        bsnap_store_set_dry_run(c->store, true);
    } else {
        pthread_rwlock_rdlock(&c->region->mode);
    }
    r = bsf_ec2_run(&env, q, &doc);
    if (dry)
        bsnap_store_set_dry_run(c->store, false);
    pthread_rwlock_unlock(&c->region->mode);
    if (r < 0) {
        /* a call the server's stop cancelled: the client may send it again */
        if (r == -ECANCELED)
            ec2_error(rq, "ServiceUnavailable",
                      "the server is stopping: the request was cancelled and may be sent again",
                      out);
        else
            front_error(rq, out);
        bsf_ec2_request_free(q);
        return;
    }
    if (bsf_ec2_answer_xml(bsf_ec2_action(q), doc, rq->id, &text) < 0) {
        json_decref(doc);
        bsf_ec2_request_free(q);
        ec2_error(rq, "InternalError", "out of memory", out);
        return;
    }
    json_decref(doc);
    bsf_ec2_request_free(q);
    out->status = 200;
    out->content_type = "text/xml;charset=UTF-8";
    out->body = text;
    out->len = strlen(text);
}

const struct serve_route ec2_routes[] = {
    {"POST", "/", false, "ec2", handle, ec2_error},
    {"GET", "/", false, "ec2", handle, ec2_error},
    {NULL, NULL, false, NULL, NULL, NULL},
};
