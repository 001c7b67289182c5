/* cmd-template.c - launch templates: create-launch-template,
 * create-launch-template-version, modify-launch-template,
 * describe-launch-templates, describe-launch-template-versions,
 * delete-launch-template, delete-launch-template-versions. */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

#define TEMPLATE_OPTS                                                                    \
    {"launch-template-id", OPT_VALUE, "ID", "the template (lt-...)", false},             \
    {                                                                                    \
        "launch-template-name", OPT_VALUE, "NAME", "or: the template by its name", false \
    }

const struct opt create_template_options[] = {
    {"launch-template-name", OPT_VALUE, "NAME", "3-128 of letters, digits and ().-/_", true},
    {"launch-template-data", OPT_VALUE, "JSON", "the launch settings, or file://PATH", true},
    {"version-description", OPT_VALUE, "TEXT", "description of version 1, at most 255 characters",
     false},
    {"tags", OPT_LIST, "Key=K,Value=V", "tags of the template (shorthand or JSON)", false},
    {"tag-specifications", OPT_LIST, "SPEC", "or: ResourceType=launch-template,Tags=[...]", false},
    {"client-token", OPT_VALUE, "TOKEN", "the same token returns the same template", false},
    {NULL, 0, NULL, NULL, false},
};
const struct opt create_template_version_options[] = {
    TEMPLATE_OPTS,
    {"launch-template-data", OPT_VALUE, "JSON", "the launch settings, or file://PATH", true},
    {"source-version", OPT_VALUE, "V", "start from this version's data: N, $Latest, $Default",
     false},
    {"version-description", OPT_VALUE, "TEXT", "description, at most 255 characters", false},
    {NULL, 0, NULL, NULL, false},
};
const struct opt modify_template_options[] = {
    TEMPLATE_OPTS,
    {"default-version", OPT_VALUE, "V", "the new default version: N, $Latest", true},
    {NULL, 0, NULL, NULL, false},
};
const struct opt describe_templates_options[] = {
    {"launch-template-ids", OPT_LIST, "ID", "only these templates", false},
    {"launch-template-names", OPT_LIST, "NAME", "only the templates of these names", false},
    {"filters", OPT_LIST, "Name=N,Values=V", "EC2 filters (shorthand or JSON)", false},
    {NULL, 0, NULL, NULL, false},
};
const struct opt describe_template_versions_options[] = {
    TEMPLATE_OPTS,
    {"versions", OPT_LIST, "V", "numbers, $Latest, $Default (default: all)", false},
    {"min-version", OPT_VALUE, "N", "only versions from N", false},
    {"max-version", OPT_VALUE, "N", "only versions up to N", false},
    {"filters", OPT_LIST, "Name=N,Values=V", "EC2 filters (shorthand or JSON)", false},
    {NULL, 0, NULL, NULL, false},
};
const struct opt delete_template_options[] = {
    TEMPLATE_OPTS,
    {NULL, 0, NULL, NULL, false},
};
const struct opt delete_template_versions_options[] = {
    TEMPLATE_OPTS,
    {"versions", OPT_LIST, "N", "the version numbers to delete (at most 200)", true},
    {NULL, 0, NULL, NULL, false},
};

/* --launch-template-id or --launch-template-name: one of them (@need), or
 * neither (describe-launch-template-versions of every template). */
static int template_ref(const struct cli *cli, const struct args *a, bool need,
                        bsnap_template_ref *ret)
{
    ret->id = arg_value(a, "launch-template-id");
    ret->name = arg_value(a, "launch-template-name");
    if (ret->id && ret->name)
        return output_usage_error(cli->verb, "InvalidParameterCombination",
                                  "give --launch-template-id or --launch-template-name, not "
                                  "both");
    if (need && !ret->id && !ret->name)
        return output_usage_error(cli->verb, "MissingParameter",
                                  "give --launch-template-id or --launch-template-name");
    return EXIT_OK;
}

/* The options create and create-version share: the data and the
 * description; @ret_buf holds a file:// data's text. */
static int data_options(struct cli *cli, const struct args *a, bsnap_template_options *o,
                        char **ret_buf)
{
    const char *desc = arg_value(a, "version-description");
    int r;

    if (desc && (r = cli_check_text(cli, "version-description", desc, 255)) != EXIT_OK)
        return r;
    o->version_description = desc;
    return cli_input_text("launch-template-data", arg_value(a, "launch-template-data"), ret_buf,
                          &o->data);
}

/* --tag-specifications: the template's tags in EC2's form (ResourceType
 * launch-template only: the tags of launched instances and volumes go in
 * the data's TagSpecifications).  The strings of *@ret_tags point into
 * *@ret_holder, which the caller releases after the call. */
static int tag_specs(struct cli *cli, const struct args *a, bsnap_tag **ret_tags, size_t *ret_n,
                     json_t **ret_holder)
{
    size_t nargs, n = 0, i, j;
    const char *const *v = arg_list(a, "tag-specifications", &nargs);
    json_t *req, *spec, *tag;
    bsnap_tag *tags;

    if (nargs == 0)
        return EXIT_OK;
    if (*ret_n)
        return output_usage_error(cli->verb, "InvalidParameterCombination",
                                  "--tags and --tag-specifications: give one of them");
    req = json_object();
    if (!req)
        return output_error_nomem();
    if (bsf_run_request_add(req, "TagSpecifications", v, nargs) < 0) {
        json_decref(req);
        return output_usage_error(cli->verb, bsf_last_error()->code, "--tag-specifications: %s",
                                  bsf_last_error()->message);
    }
    json_array_foreach (json_object_get(req, "TagSpecifications"), i, spec) {
        const char *type = json_string_value(json_object_get(spec, "ResourceType"));
        if (!type || strcmp(type, "launch-template") != 0) {
            int r = output_usage_error(
                cli->verb, "InvalidParameterValue",
                "--tag-specifications: '%s' is not a valid taggable resource type for this "
                "operation (launch-template; the data's TagSpecifications tag what is launched)",
                type ? type : "");
            json_decref(req);
            return r;
        }
        n += json_array_size(json_object_get(spec, "Tags"));
    }
    tags = calloc(n + 1, sizeof *tags);
    if (!tags) {
        json_decref(req);
        return output_error_nomem();
    }
    n = 0;
    json_array_foreach (json_object_get(req, "TagSpecifications"), i, spec)
        json_array_foreach (json_object_get(spec, "Tags"), j, tag) {
            tags[n].key = json_string_value(json_object_get(tag, "Key"));
            tags[n].value = json_string_value(json_object_get(tag, "Value"));
            if (!tags[n].key) {
                free(tags);
                json_decref(req);
                return output_usage_error(cli->verb, "InvalidParameterValue",
                                          "--tag-specifications: a tag without a Key");
            }
            if (!tags[n].value)
                tags[n].value = "";
            n++;
        }
    *ret_tags = tags;
    *ret_n = n;
    *ret_holder = req;
    return EXIT_OK;
}

int cmd_create_launch_template(struct cli *cli, const struct args *a)
{
    bsnap_template_options o = {0};
    bsnap_tag *tags = NULL;
    char *buf = NULL;
    json_t *doc = NULL, *holder = NULL;
    int r;

    o.ref.name = arg_value(a, "launch-template-name");
    o.client_token = arg_value(a, "client-token");
    if ((r = cli_parse_tags(cli, a, true, &tags, &o.ntags)) != EXIT_OK)
        return r;
    if ((r = tag_specs(cli, a, &tags, &o.ntags, &holder)) != EXIT_OK) {
        free(tags);
        return r;
    }
    o.tags = tags;
    if ((r = data_options(cli, a, &o, &buf)) == EXIT_OK && (r = cli_open_store(cli)) == EXIT_OK) {
        r = bsnap_template_create(cli->store, &o, &doc);
        r = output_answer(cli, r, doc);
    }
    free(buf);
    free(tags);
    json_decref(holder);
    return r;
}

int cmd_create_launch_template_version(struct cli *cli, const struct args *a)
{
    bsnap_template_options o = {0};
    char *buf = NULL;
    json_t *doc = NULL;
    int r;

    if ((r = template_ref(cli, a, true, &o.ref)) != EXIT_OK)
        return r;
    o.source_version = arg_value(a, "source-version");
    if ((r = data_options(cli, a, &o, &buf)) == EXIT_OK && (r = cli_open_store(cli)) == EXIT_OK) {
        r = bsnap_template_version_create(cli->store, &o, &doc);
        r = output_answer(cli, r, doc);
    }
    free(buf);
    return r;
}

int cmd_modify_launch_template(struct cli *cli, const struct args *a)
{
    bsnap_template_ref ref;
    json_t *doc = NULL;
    int r;

    if ((r = template_ref(cli, a, true, &ref)) != EXIT_OK || (r = cli_open_store(cli)) != EXIT_OK)
        return r;
    r = bsnap_template_modify(cli->store, &ref, arg_value(a, "default-version"), &doc);
    return output_answer(cli, r, doc);
}

int cmd_describe_launch_templates(struct cli *cli, const struct args *a)
{
    bsnap_describe_options o = {0};
    bsnap_filter *filters = NULL;
    size_t nnames;
    const char *const *names = arg_list(a, "launch-template-names", &nnames);
    json_t *doc = NULL;
    int r;

    o.ids = arg_list(a, "launch-template-ids", &o.nids);
    if ((r = cli_parse_filters(cli, a, &filters, &o.nfilters)) != EXIT_OK)
        return r;
    o.filters = filters;
    if ((r = cli_open_store(cli)) == EXIT_OK) {
        r = bsnap_template_describe(cli->store, &o, names, nnames, &doc);
        r = output_answer(cli, r, doc);
    }
    free((void *)o.filters);
    return r;
}

int cmd_describe_launch_template_versions(struct cli *cli, const struct args *a)
{
    bsnap_template_versions_options o = {0};
    const char *min = arg_value(a, "min-version"), *max = arg_value(a, "max-version");
    bsnap_filter *filters = NULL;
    unsigned n;
    json_t *doc = NULL;
    int r;

    if ((r = template_ref(cli, a, false, &o.ref)) != EXIT_OK)
        return r;
    if (min && (r = arg_uint(cli->verb, "min-version", min, 1, UINT32_MAX, &n)) != EXIT_OK)
        return r;
    o.min_version = min ? n : 0;
    if (max && (r = arg_uint(cli->verb, "max-version", max, 1, UINT32_MAX, &n)) != EXIT_OK)
        return r;
    o.max_version = max ? n : 0;
    o.versions = arg_list(a, "versions", &o.nversions);
    if ((r = cli_parse_filters(cli, a, &filters, &o.nfilters)) != EXIT_OK)
        return r;
    o.filters = filters;
    if ((r = cli_open_store(cli)) == EXIT_OK) {
        r = bsnap_template_versions_describe(cli->store, &o, &doc);
        r = output_answer(cli, r, doc);
    }
    free(filters);
    return r;
}

int cmd_delete_launch_template(struct cli *cli, const struct args *a)
{
    bsnap_template_ref ref;
    json_t *doc = NULL;
    int r;

    if ((r = template_ref(cli, a, true, &ref)) != EXIT_OK || (r = cli_open_store(cli)) != EXIT_OK)
        return r;
    r = bsnap_template_delete(cli->store, &ref, &doc);
    return output_answer(cli, r, doc);
}

int cmd_delete_launch_template_versions(struct cli *cli, const struct args *a)
{
    bsnap_template_ref ref;
    size_t n;
    const char *const *v = arg_list(a, "versions", &n);
    json_t *doc = NULL;
    int r;

    if ((r = template_ref(cli, a, true, &ref)) != EXIT_OK || (r = cli_open_store(cli)) != EXIT_OK)
        return r;
    r = bsnap_template_versions_delete(cli->store, &ref, v, n, &doc);
    if (r < 0)
        return output_engine_error();
    r = output_doc(cli, doc);
    /* Versions that could not be deleted fail the command, as each is
     * listed with its reason. */
    if (r == EXIT_OK &&
        json_array_size(json_object_get(doc, "UnsuccessfullyDeletedLaunchTemplateVersions")))
        r = EXIT_FAILED;
    json_decref(doc);
    return r;
}
