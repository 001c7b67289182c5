/* cmd-instance.c - instances: run-instances, describe-instances,
 * get-console-output, stop-instances, start-instances, reboot-instances,
 * terminate-instances.  The work is the front-end library's
 * (bsfront-vm.h: the engine's records and the machines' processes); the
 * verbs build its requests and print its answers. */
#include <stdlib.h>
#include <string.h>

#include "bsfront-vm.h"
#include "cmd.h"

const struct opt run_instances_options[] = {
    {"image-id", OPT_VALUE, "ID", "the image to launch (ami-...)", false},
    {"instance-type", OPT_VALUE, "TYPE", "vCPUs and memory, as EC2's (default t3.micro)", false},
    {"launch-template", OPT_VALUE, "LaunchTemplateName=N,Version=V",
     "or LaunchTemplateId=lt-...; Version N, $Latest or $Default", false},
    {"count", OPT_VALUE, "N|MIN:MAX", "how many instances (default 1)", false},
    {"min-count", OPT_VALUE, "N", "launch none unless this many can be", false},
    {"max-count", OPT_VALUE, "N", "launch at most this many", false},
    {"user-data", OPT_VALUE, "TEXT", "the user data, or file://PATH (at most 16 KiB)", false},
    {"key-name", OPT_VALUE, "NAME", "the key pair's name (recorded)", false},
    {"tag-specifications", OPT_LIST, "ResourceType=T,Tags=[{Key=K,Value=V}]",
     "tags of the instances and their volumes", false},
    {"block-device-mappings", OPT_LIST, "JSON|SHORTHAND",
     "override the image's mappings per device name", false},
    {"client-token", OPT_VALUE, "TOKEN", "the same token returns the same instances", false},
    {NULL, 0, NULL, NULL, false},
};
const struct opt describe_instances_options[] = {
    {"instance-ids", OPT_LIST, "ID", "only these instances", false},
    {"filters", OPT_LIST, "Name=N,Values=V", "EC2 filters: instance-state-name, tag:KEY, ...",
     false},
    {"max-results", OPT_VALUE, "N", "at most N per page (5 or more; above 1000: 1000)", false},
    {"next-token", OPT_VALUE, "TOKEN", "the page after the one that printed this NextToken", false},
    {NULL, 0, NULL, NULL, false},
};
const struct opt console_output_options[] = {
    {"instance-id", OPT_VALUE, "ID", "the instance (i-...)", true},
    {"latest", OPT_FLAG, NULL, "the latest output (always)", false},
    {NULL, 0, NULL, NULL, false},
};
const struct opt template_data_options[] = {
    {"instance-id", OPT_VALUE, "ID", "the instance (i-...)", true},
    {NULL, 0, NULL, NULL, false},
};
const struct opt stop_instances_options[] = {
    {"instance-ids", OPT_LIST, "ID", "the instances", true},
    {"force", OPT_FLAG, NULL, "stop at once, without the ACPI power button", false},
    {"stop-timeout", OPT_VALUE, "SECONDS", "the guest's time to power off (default 120)", false},
    {NULL, 0, NULL, NULL, false},
};
const struct opt instance_ids_options[] = {
    {"instance-ids", OPT_LIST, "ID", "the instances", true},
    {NULL, 0, NULL, NULL, false},
};
const struct opt terminate_instances_options[] = {
    {"instance-ids", OPT_LIST, "ID", "the instances", true},
    {"stop-timeout", OPT_VALUE, "SECONDS", "the guest's time to power off (default 120)", false},
    {NULL, 0, NULL, NULL, false},
};

/* The answer of a front-end library call: its error (the library's or the
 * engine's) or @doc. */
static int answer(const struct cli *cli, int r, json_t *doc)
{
    if (r < 0) {
        json_decref(doc);
        return bsf_last_error()->err ? output_error(bsf_last_error()) : output_engine_error();
    }
    return output_answer(cli, 0, doc);
}

static int counts(const struct cli *cli, const struct args *a, json_t *req)
{
    const char *count = arg_value(a, "count"), *min = arg_value(a, "min-count"),
               *max = arg_value(a, "max-count");
    unsigned lo = 1, hi = 1;
    int r;

    if (count && (min || max))
        return output_usage_error(cli->verb, "InvalidParameterCombination",
                                  "give --count or --min-count/--max-count, not both");
    if (count) {
        const char *colon = strchr(count, ':');
        char buf[32];
        if (colon) {
            snprintf(buf, sizeof buf, "%.*s", (int)(colon - count), count);
            if ((r = arg_uint(cli->verb, "count", buf, 1, 100000, &lo)) != EXIT_OK ||
                (r = arg_uint(cli->verb, "count", colon + 1, 1, 100000, &hi)) != EXIT_OK)
                return r;
        } else {
            if ((r = arg_uint(cli->verb, "count", count, 1, 100000, &lo)) != EXIT_OK)
                return r;
            hi = lo;
        }
    }
    if (min && (r = arg_uint(cli->verb, "min-count", min, 1, 100000, &lo)) != EXIT_OK)
        return r;
    if (max && (r = arg_uint(cli->verb, "max-count", max, 1, 100000, &hi)) != EXIT_OK)
        return r;
    if (min && !max)
        hi = lo;
    if (max && !min)
        lo = 1;
    json_object_set_new(req, "MinCount", json_integer(lo));
    json_object_set_new(req, "MaxCount", json_integer(hi));
    return EXIT_OK;
}

static int set_string(json_t *req, const char *member, const char *v)
{
    return v ? json_object_set_new(req, member, json_string(v)) : 0;
}

/* --user-data: the text (or the file's), base64 as EC2 takes it. */
static int user_data(const struct args *a, json_t *req)
{
    const char *text;
    char *buf = NULL, *b64;
    int r = cli_input_text("user-data", arg_value(a, "user-data"), &buf, &text);

    if (r != EXIT_OK || !text)
        return r;
    b64 = bsf_base64_encode(text, strlen(text));
    free(buf);
    if (!b64 || json_object_set_new(req, "UserData", json_string(b64)) < 0) {
        free(b64);
        return output_error_nomem();
    }
    free(b64);
    return EXIT_OK;
}

int cmd_run_instances(struct cli *cli, const struct args *a)
{
    static const char *const lists[] = {"tag-specifications", "TagSpecifications",
                                        "block-device-mappings", "BlockDeviceMappings", NULL};
    json_t *req = json_object(), *doc = NULL;
    const char *lt = arg_value(a, "launch-template");
    int r;

    if (!req)
        return output_error_nomem();
    if (!arg_value(a, "image-id") && !lt) {
        json_decref(req);
        return output_usage_error(cli->verb, "MissingParameter",
                                  "give --image-id or --launch-template");
    }
    if ((r = counts(cli, a, req)) != EXIT_OK)
        goto out;
    set_string(req, "ImageId", arg_value(a, "image-id"));
    set_string(req, "InstanceType", arg_value(a, "instance-type"));
    set_string(req, "KeyName", arg_value(a, "key-name"));
    set_string(req, "ClientToken", arg_value(a, "client-token"));
    if (lt && bsf_run_request_add(req, "LaunchTemplate", &lt, 1) < 0) {
        r = output_usage_error(cli->verb, bsf_last_error()->code, "--launch-template: %s",
                               bsf_last_error()->message);
        goto out;
    }
    for (size_t i = 0; lists[i]; i += 2) {
        size_t n;
        const char *const *v = arg_list(a, lists[i], &n);
        if (n && bsf_run_request_add(req, lists[i + 1], v, n) < 0) {
            r = output_usage_error(cli->verb, bsf_last_error()->code, "--%s: %s", lists[i],
                                   bsf_last_error()->message);
            goto out;
        }
    }
    if ((r = user_data(a, req)) != EXIT_OK || (r = cli_open_store(cli)) != EXIT_OK)
        goto out;
    r = bsf_instances_run(cli->store, req, &doc);
    r = answer(cli, r, doc);
out:
    json_decref(req);
    return r;
}

static int describe_page(bsnap_store *store, const void *ud, const bsnap_describe_options *o,
                         json_t **ret)
{
    (void)ud;
    return bsnap_instance_describe(store, o, ret);
}

int cmd_describe_instances(struct cli *cli, const struct args *a)
{
    bsnap_describe_options o;
    int r;

    if ((r = cli_describe_options(cli, a, "instance-ids", &o)) != EXIT_OK)
        return r;
    if ((r = cli_open_store(cli)) == EXIT_OK) {
        if (bsf_instances_refresh(cli->store) < 0)
            r = answer(cli, -1, NULL);
        else
            r = cli_describe_paged(cli, describe_page, NULL, &o);
    }
    free((void *)o.filters);
    return r;
}

int cmd_get_console_output(struct cli *cli, const struct args *a)
{
    json_t *doc = NULL;
    int r = cli_open_store(cli);

    if (r != EXIT_OK)
        return r;
    r = bsf_instance_console(cli->store, arg_value(a, "instance-id"), &doc);
    if (r == 0 && json_is_string(json_object_get(doc, "Output"))) {
        /* as the aws CLI does: the text, not its base64 */
        size_t n;
        unsigned char *text =
            bsf_base64_decode(json_string_value(json_object_get(doc, "Output")), &n);
        /* what is not UTF-8 (a guest may write anything) shows as '?' */
        if (text && bsnap_utf8_length((const char *)text, n) < 0)
            for (size_t i = 0; i < n; i++)
                if (text[i] >= 0x80 || text[i] == 0)
                    text[i] = '?';
        if (text)
            json_object_set_new(doc, "Output", json_stringn_nocheck((const char *)text, n));
        free(text);
    }
    return answer(cli, r, doc);
}

static int stop_options(const struct cli *cli, const struct args *a, bsf_instance_options *o)
{
    const char *t = arg_value(a, "stop-timeout");
    unsigned secs;
    int r;

    memset(o, 0, sizeof *o);
    if (t && (r = arg_uint(cli->verb, "stop-timeout", t, 0, 86400, &secs)) != EXIT_OK)
        return r;
    if (t)
        o->stop_timeout_ms = secs ? (int)secs * 1000 : 1;
    o->force = (cli->verb->run == cmd_stop_instances && arg_flag(a, "force")) || (t && secs == 0);
    return EXIT_OK;
}

typedef int (*ids_fn)(bsnap_store *store, const char *const *ids, size_t n,
                      const bsf_instance_options *o, json_t **ret);

static int ids_verb(struct cli *cli, const struct args *a, ids_fn fn, bool stops)
{
    bsf_instance_options o = {0};
    size_t n;
    const char *const *ids = arg_list(a, "instance-ids", &n);
    json_t *doc = NULL;
    int r;

    if ((stops && (r = stop_options(cli, a, &o)) != EXIT_OK) ||
        (r = cli_open_store(cli)) != EXIT_OK)
        return r;
    r = fn(cli->store, ids, n, &o, &doc);
    return answer(cli, r, doc);
}

static int start_fn(bsnap_store *store, const char *const *ids, size_t n,
                    const bsf_instance_options *o, json_t **ret)
{
    (void)o;
    return bsf_instances_start(store, ids, n, ret);
}

static int reboot_fn(bsnap_store *store, const char *const *ids, size_t n,
                     const bsf_instance_options *o, json_t **ret)
{
    (void)o;
    return bsf_instances_reboot(store, ids, n, ret);
}

int cmd_stop_instances(struct cli *cli, const struct args *a)
{
    return ids_verb(cli, a, bsf_instances_stop, true);
}

int cmd_start_instances(struct cli *cli, const struct args *a)
{
    return ids_verb(cli, a, start_fn, false);
}

int cmd_reboot_instances(struct cli *cli, const struct args *a)
{
    return ids_verb(cli, a, reboot_fn, false);
}

int cmd_terminate_instances(struct cli *cli, const struct args *a)
{
    return ids_verb(cli, a, bsf_instances_terminate, true);
}

int cmd_get_launch_template_data(struct cli *cli, const struct args *a)
{
    return cli_id_call(cli, a, "instance-id", bsnap_instance_template_data);
}
