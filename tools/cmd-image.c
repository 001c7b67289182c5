/* cmd-image.c - register-image, create-image, describe-images,
 * deregister-image, describe-image-attribute, modify-image-attribute. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bsfront-vm.h"
#include "cmd.h"

/* --ena-support / --no-ena-support: BSNAP_TRUE, BSNAP_FALSE, or BSNAP_UNSET
 * when neither (EXIT_USAGE when both). */
static int ena_flag(const struct cli *cli, const struct args *a, bsnap_tristate *ret)
{
    bool yes = arg_flag(a, "ena-support"), no = arg_flag(a, "no-ena-support");

    if (yes && no)
        return output_usage_error(cli->verb, "InvalidParameterCombination",
                                  "give --ena-support or --no-ena-support, not both");
    *ret = yes ? BSNAP_TRUE : no ? BSNAP_FALSE : BSNAP_UNSET;
    return EXIT_OK;
}

/* Print {"ImageId": ID}, as RegisterImage and CreateImage answer. */
static int print_image_id(const struct cli *cli, const char *id)
{
    json_t *doc = json_pack("{s:s}", "ImageId", id);
    int r = output_doc(cli, doc);

    json_decref(doc);
    return r;
}

/* The options register and create share. */
static int common_options(struct cli *cli, const struct args *a, bsnap_image_options *o,
                          bsnap_tag **ret_tags)
{
    int r;

    o->name = arg_value(a, "name");
    o->description = arg_value(a, "description");
    if (o->description &&
        (r = cli_check_text(cli, "description", o->description, BSNAP_DESCRIPTION_MAX)) != EXIT_OK)
        return r;
    o->architecture = arg_value(a, "architecture");
    o->virtualization = arg_value(a, "virtualization-type");
    o->root_device_name = arg_value(a, "root-device-name");
    o->boot_mode = arg_value(a, "boot-mode");
    o->no_boot_check = arg_flag(a, "no-boot-check");
    if ((r = ena_flag(cli, a, &o->ena_support)) != EXIT_OK)
        return r;
    if ((r = cli_parse_tags(cli, a, true, ret_tags, &o->ntags)) != EXIT_OK)
        return r;
    o->tags = *ret_tags;
    return EXIT_OK;
}

int cmd_register_image(struct cli *cli, const struct args *a)
{
    bsf_image_request *q = NULL;
    bsnap_image_options *o, flags = {0};
    bsnap_tag *tags = NULL;
    char *input = NULL, id[BSNAP_ID_MAX];
    const char *json, *const *mappings;
    size_t nmappings;
    int r;

    if ((r = common_options(cli, a, &flags, &tags)) != EXIT_OK)
        return r;
    mappings = arg_list(a, "block-device-mappings", &nmappings);
    if ((r = cli_input_text("cli-input-json", arg_value(a, "cli-input-json"), &input, &json)) !=
        EXIT_OK)
        goto out;
    if (!flags.name && !json) {
        r = output_usage_error(cli->verb, "MissingParameter",
                               "missing required option --name (or --cli-input-json)");
        goto out;
    }
    /* The request: --cli-input-json first, the flags over it.  What the
     * front-end library refuses fails the operation (exit 1), as the
     * engine's refusals do. */
    if (bsf_image_request_new(&q) < 0 ||
        (json && bsf_image_request_load(q, json, strlen(json), "--cli-input-json") < 0) ||
        (nmappings && bsf_image_request_set_mappings(q, mappings, nmappings) < 0) ||
        bsf_image_request_add_tags(q, flags.tags, flags.ntags) < 0) {
        r = output_error(bsf_last_error());
        goto out;
    }
    o = bsf_image_request_options(q);
    o->name = flags.name ? flags.name : o->name;
    o->description = flags.description ? flags.description : o->description;
    o->architecture = flags.architecture ? flags.architecture : o->architecture;
    o->virtualization = flags.virtualization ? flags.virtualization : o->virtualization;
    o->root_device_name = flags.root_device_name ? flags.root_device_name : o->root_device_name;
    o->boot_mode = flags.boot_mode ? flags.boot_mode : o->boot_mode;
    o->ena_support = flags.ena_support != BSNAP_UNSET ? flags.ena_support : o->ena_support;
    o->no_boot_check = flags.no_boot_check;
    if ((r = cli_open_store(cli)) != EXIT_OK)
        goto out;
    if (bsnap_image_register(cli->store, o, id) < 0)
        r = output_engine_error();
    else
        r = print_image_id(cli, id);
out:
    bsf_image_request_free(q);
    free(input);
    free(tags);
    return r;
}

/* --tag-specifications of create-image --instance-id: the image's tags
 * after @o's (--tags), the snapshots' into @co.  The strings stay in
 * *@ret_doc. */
static int instance_tag_specs(struct cli *cli, const struct args *a, bsnap_image_options *o,
                              bsf_create_image_options *co, json_t **ret_doc, bsnap_tag **ret_tags)
{
    size_t n, count = o->ntags;
    const char *const *specs = arg_list(a, "tag-specifications", &n);
    json_t *req = json_object(), *spec, *t;
    bsnap_tag *tags;
    size_t i, j;

    *ret_doc = req;
    if (!req)
        return output_error_nomem();
    if (n && bsf_run_request_add(req, "TagSpecifications", specs, n) < 0)
        return output_usage_error(cli->verb, bsf_last_error()->code, "--tag-specifications: %s",
                                  bsf_last_error()->message);
    json_t *list = json_object_get(req, "TagSpecifications");
    json_array_foreach (list, i, spec)
        count += json_array_size(json_object_get(spec, "Tags"));
    if (!(tags = calloc(count ? count : 1, sizeof *tags)))
        return output_error_nomem();
    *ret_tags = tags;
    for (i = 0; i < o->ntags; i++)
        tags[i] = o->tags[i];
    size_t nimage = o->ntags, nsnap = 0;
    bsnap_tag *snap = tags + count; /* filled downwards from the end */
    json_array_foreach (list, i, spec) {
        const char *type = json_string_value(json_object_get(spec, "ResourceType"));
        bool image = type && strcmp(type, "image") == 0;
        if (!image && !(type && strcmp(type, "snapshot") == 0))
            return output_usage_error(cli->verb, "InvalidParameterValue",
                                      "--tag-specifications: '%s' is not a valid taggable "
                                      "resource type for this operation (image or snapshot)",
                                      type ? type : "");
        json_array_foreach (json_object_get(spec, "Tags"), j, t) {
            bsnap_tag tag = {json_string_value(json_object_get(t, "Key")),
                             json_string_value(json_object_get(t, "Value"))};
            if (!tag.key)
                return output_usage_error(cli->verb, "InvalidParameterValue",
                                          "--tag-specifications: a tag without a Key");
            if (!tag.value)
                tag.value = "";
            if (image)
                tags[nimage++] = tag;
            else
                *--snap = tag, nsnap++;
        }
    }
    o->tags = tags;
    o->ntags = nimage;
    co->snapshot_tags = snap;
    co->nsnapshot_tags = nsnap;
    return EXIT_OK;
}

/* create-image --instance-id: an image of an instance (bsfront-vm.h). */
static int create_image_of_instance(struct cli *cli, const struct args *a, bsnap_image_options *o)
{
    const char *id = arg_value(a, "instance-id"), *t = arg_value(a, "stop-timeout");
    size_t nmaps;
    const char *const *maps = arg_list(a, "block-device-mappings", &nmaps);
    bsf_create_image_options co = {.no_reboot = arg_flag(a, "no-reboot")};
    bsf_image_request *q = NULL;
    json_t *specs = NULL;
    bsnap_tag *tags = NULL;
    char ami[BSNAP_ID_MAX];
    unsigned secs = 0;
    int r;

    if (co.no_reboot && arg_flag(a, "reboot"))
        return output_usage_error(cli->verb, "InvalidParameterCombination",
                                  "give --reboot or --no-reboot, not both");
    if (t && (r = arg_uint(cli->verb, "stop-timeout", t, 1, 86400, &secs)) != EXIT_OK)
        return r;
    co.stop_timeout_ms = (int)secs * 1000;
    if ((r = instance_tag_specs(cli, a, o, &co, &specs, &tags)) != EXIT_OK)
        goto out;
    if (nmaps) {
        if (bsf_image_request_new(&q) < 0) {
            r = output_error_nomem();
            goto out;
        }
        if (bsf_image_request_set_mappings(q, maps, nmaps) < 0) {
            r = output_usage_error(cli->verb, bsf_last_error()->code, "--block-device-mappings: %s",
                                   bsf_last_error()->message);
            goto out;
        }
        co.mappings = bsf_image_request_options(q)->mappings;
        co.nmappings = bsf_image_request_options(q)->nmappings;
    }
    if ((r = cli_open_store(cli)) != EXIT_OK)
        goto out;
    if (bsf_instance_create_image(cli->store, id, o, &co, ami) < 0)
        r = bsf_last_error()->err ? output_error(bsf_last_error()) : output_engine_error();
    else
        r = print_image_id(cli, ami);
out:
    bsf_image_request_free(q);
    json_decref(specs);
    free(tags);
    return r;
}

int cmd_create_image(struct cli *cli, const struct args *a)
{
    bsnap_image_options o = {0};
    bsnap_image_volume *vols = NULL;
    bsnap_tag *tags = NULL;
    struct progress prog;
    const char *threads = arg_value(a, "threads");
    const char *const *specs;
    size_t nspecs;
    char id[BSNAP_ID_MAX];
    int64_t start;
    int r;

    if ((r = common_options(cli, a, &o, &tags)) != EXIT_OK)
        return r;
    if (threads && (r = arg_uint(cli->verb, "threads", threads, 1, 1024, &o.threads)) != EXIT_OK)
        goto out;
    specs = arg_list(a, "volume", &nspecs);
    if (arg_value(a, "instance-id")) {
        r = nspecs ? output_usage_error(cli->verb, "InvalidParameterCombination",
                                        "give --instance-id or --volume, not both")
                   : create_image_of_instance(cli, a, &o);
        goto out;
    }
    static const char *const instance_only[] = {
        "no-reboot", "reboot", "block-device-mappings", "tag-specifications", "stop-timeout", NULL};
    for (size_t i = 0; instance_only[i]; i++)
        if (arg_flag(a, instance_only[i])) { /* given, whatever its kind */
            r = output_usage_error(cli->verb, "InvalidParameterCombination",
                                   "--%s goes with --instance-id", instance_only[i]);
            goto out;
        }
    if (!nspecs) {
        r = output_usage_error(cli->verb, "MissingParameter",
                               "give --instance-id ID or --volume DEVICE=PATH");
        goto out;
    }
    vols = calloc(nspecs ? nspecs : 1, sizeof *vols);
    if (!vols) {
        fprintf(stderr, "blocksnap: error: out of memory\n");
        r = EXIT_FAILED;
        goto out;
    }
    /* DEVICE=PATH; the path may itself hold '=', the device never does. */
    for (size_t i = 0; i < nspecs; i++) {
        const char *eq = strchr(specs[i], '=');
        char *dev;
        if (!eq || eq == specs[i] || !eq[1]) {
            r = output_usage_error(cli->verb, "InvalidParameterValue",
                                   "--volume: '%s' is not DEVICE=PATH", specs[i]);
            goto out;
        }
        dev = strndup(specs[i], (size_t)(eq - specs[i]));
        if (!dev) {
            r = EXIT_FAILED;
            goto out;
        }
        vols[i].device = dev;
        vols[i].path = eq + 1;
    }
    o.volumes = vols;
    o.nvolumes = nspecs;
    if ((r = cli_open_store(cli)) != EXIT_OK)
        goto out;
    progress_start(&prog, cli, "create-image", &o.run);
    start = progress_now_ms();
    r = bsnap_image_create(cli->store, &o, id);
    progress_end(&prog);
    if (r < 0) {
        r = output_engine_error();
        goto out;
    }
    r = print_image_id(cli, id);
    if (!cli->quiet)
        fprintf(stderr, "blocksnap: %s: %zu %s in %.2f s\n", id, nspecs,
                plural(nspecs, "volume", "volumes"), (double)(progress_now_ms() - start) / 1000);
out:
    for (size_t i = 0; vols && i < nspecs; i++)
        free((char *)vols[i].device);
    free(vols);
    free(tags);
    return r;
}

/* --owners, for each page */
struct owners {
    const char *const *v;
    size_t n;
};

static int describe_page(bsnap_store *store, const void *ud, const bsnap_describe_options *o,
                         json_t **ret)
{
    const struct owners *ow = ud;

    return bsnap_image_describe(store, o, ow->v, ow->n, ret);
}

int cmd_describe_images(struct cli *cli, const struct args *a)
{
    size_t nowners, nexec;
    const char *const *owners = arg_list(a, "owners", &nowners);
    const char *const *exec = arg_list(a, "executable-users", &nexec);
    const char **values = NULL;
    const bsnap_filter *given;
    bsnap_filter *f = NULL;
    bsnap_describe_options o;
    struct owners ow = {owners, nowners};
    int r;

    if ((r = cli_describe_options(cli, a, "image-ids", &o)) != EXIT_OK)
        return r;
    given = o.filters;
    if ((r = cli_check_users(cli, "executable-users", exec, nexec, "all")) == EXIT_OK)
        r = cli_open_store(cli);
    /* --executable-users is blocksnap's executable-by filter (EC2's
     * ExecutableBy.N), "self" the calling account */
    if (r == EXIT_OK && nexec)
        r = cli_add_user_filter(cli, &o, "executable-by", exec, nexec, &values, &f);
    if (r == EXIT_OK)
        r = cli_describe_paged(cli, describe_page, &ow, &o);
    free((void *)given);
    free(f);
    free(values);
    return r;
}

int cmd_deregister_image(struct cli *cli, const struct args *a)
{
    bool del = arg_flag(a, "delete-associated-snapshots");
    json_t *doc = NULL;
    int r = cli_open_store(cli);

    if (r != EXIT_OK)
        return r;
    if (bsnap_image_deregister(cli->store, arg_value(a, "image-id"), del, &doc) < 0)
        return output_engine_error();
    /* EC2's shape: {"Return": true}, plus DeleteSnapshotResults with the
     * flag. */
    r = output_doc(cli, doc);
    json_decref(doc);
    return r;
}

int cmd_describe_image_attribute(struct cli *cli, const struct args *a)
{
    json_t *doc = NULL;
    int r = cli_open_store(cli);

    if (r != EXIT_OK)
        return r;
    if (bsnap_image_describe_attribute(cli->store, arg_value(a, "image-id"),
                                       arg_value(a, "attribute"), &doc) < 0)
        return output_engine_error();
    r = output_doc(cli, doc);
    json_decref(doc);
    return r;
}

/* modify-image-attribute --launch-permission PERM, or --attribute
 * launchPermission --operation-type add|remove --user-ids … --user-groups all */
static int modify_launch_permission(struct cli *cli, const struct args *a)
{
    bsnap_permission_change c = {0};
    json_t *doc = NULL;
    void *block = NULL;
    int r;

    if ((r = cli_permission_change(cli, a, "launch-permission", "user-groups", &c, &doc, &block)) !=
        EXIT_OK)
        return r;
    if ((r = cli_open_store(cli)) == EXIT_OK &&
        bsnap_image_permission_modify(cli->store, arg_value(a, "image-id"), &c) < 0)
        r = output_engine_error();
    free(block);
    json_decref(doc);
    return r;
}

int cmd_reset_image_attribute(struct cli *cli, const struct args *a)
{
    int r = cli_open_store(cli);

    if (r == EXIT_OK && bsnap_image_attribute_reset(cli->store, arg_value(a, "image-id"),
                                                    arg_value(a, "attribute")) < 0)
        r = output_engine_error();
    return r;
}

int cmd_modify_image_attribute(struct cli *cli, const struct args *a)
{
    const char *desc = arg_value(a, "description"), *attr = arg_value(a, "attribute");
    const char *value = arg_value(a, "value");
    int r;

    if (arg_value(a, "launch-permission") || arg_value(a, "operation-type") ||
        (attr && strcmp(attr, "launchPermission") == 0)) {
        if (desc || value)
            return output_usage_error(cli->verb, "InvalidParameterCombination",
                                      "one attribute per call: the launch permission, or the "
                                      "description");
        return modify_launch_permission(cli, a);
    }

    /* --description TEXT (or the AWS CLI's Value=TEXT), or --attribute A
     * --value V. */
    if (desc && (attr || value))
        return output_usage_error(cli->verb, "InvalidParameterCombination",
                                  "give --description, or --attribute with --value");
    if (desc) {
        attr = "description";
        value = strncmp(desc, "Value=", 6) == 0 ? desc + 6 : desc;
    }
    if (!attr || !value)
        return output_usage_error(cli->verb, "MissingParameter",
                                  "give --description TEXT, or --attribute NAME --value TEXT");
    if (strcmp(attr, "description") == 0 &&
        (r = cli_check_text(cli, desc ? "description" : "value", value, BSNAP_DESCRIPTION_MAX)) !=
            EXIT_OK)
        return r;
    if ((r = cli_open_store(cli)) != EXIT_OK)
        return r;
    if (bsnap_image_modify_attribute(cli->store, arg_value(a, "image-id"), attr, value) < 0)
        return output_engine_error();
    return EXIT_OK;
}
