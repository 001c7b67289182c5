/* cmd.h - what the blocksnap CLI's files share.
 *
 * The CLI is thin: each verb handler (tools/cmd-*.c) reads its parsed
 * options, calls the engine through blocksnap.h and prints through
 * output.c.  The only usage text is the verb table in main.c (name,
 * handler, summary, synopsis, options with their help): --help, `blocksnap
 * help VERB` and the man page (`blocksnap help --man`) are all printed from
 * it by help.c.
 *
 * Adding a verb: write `int cmd_NAME(struct cli *cli, const struct args *a)`
 * in a tools/cmd-FAMILY.c, declare it below, give it an option table
 * (`const struct opt NAME_options[]`, ended by an entry whose name is NULL)
 * and add one line to the verb table in main.c.
 *
 * Exit codes: 0 success, 1 the operation failed (any engine error, an
 * interrupted operation, problems found by verify), 2 a usage error.
 */
#ifndef BSNAP_CMD_H
#define BSNAP_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "blocksnap.h"
#include "bsfront.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

/* ---- options (options.c) ------------------------------------------------ */

enum opt_kind {
    OPT_FLAG,  /* --full */
    OPT_VALUE, /* --description TEXT or --description=TEXT */
    OPT_LIST,  /* --snapshot-ids A B C: values up to the next --flag */
};

struct opt {
    const char *name; /* without the leading "--"; NULL ends a table */
    enum opt_kind kind;
    const char *metavar; /* "PATH"; NULL for flags */
    const char *help;    /* one line, lower case, no period */
    bool required;
};

struct cli;
struct args;

struct verb {
    const char *name;
    int (*run)(struct cli *cli, const struct args *a);
    const char *summary;    /* one line, for the verb list */
    const char *synopsis;   /* what follows "blocksnap NAME" in usage */
    const struct opt *opts; /* may be NULL */
    unsigned max_positional;
    const char *details; /* optional paragraph for --help and the man page */
    bool writes;         /* may change the store: creates it when missing */
};

#define ARGS_MAX_OPTS 24
#define ARGS_MAX_POSITIONAL 4

struct optval {
    bool set;
    const char *value; /* OPT_VALUE */
    const char **list; /* OPT_LIST: malloc'd, items borrowed from argv */
    size_t n;
};

/* Parsed command line of one verb.  Strings are borrowed from argv. */
struct args {
    const struct verb *verb;
    struct optval global[ARGS_MAX_OPTS];
    struct optval v[ARGS_MAX_OPTS];
    const char *pos[ARGS_MAX_POSITIONAL];
    size_t npos;
};

/* The global options (main.c), accepted before and after the verb. */
extern const struct opt global_options[];
/* The verbs (main.c), ended by an entry whose name is NULL. */
extern const struct verb verbs[];
/* The verb named @name, or NULL.  main.c. */
const struct verb *find_verb(const char *name);
/* `blocksnap __complete WORD...`: the candidates for the last WORD, for
 * the shell completion scripts.  complete.c. */
int cmd_complete(struct cli *cli, int argc, char **argv);

/* Parse argv[first..argc) against @verb's options and the global ones
 * (@verb NULL: globals only, stopping at the first non-option, whose index
 * goes to *@ret_next).  Returns EXIT_OK, or EXIT_USAGE after printing the
 * error. */
int options_parse(int argc, char **argv, int first, const struct verb *verb, struct args *a,
                  int *ret_next);
void args_free(struct args *a);
/* The value of option @name (verb or global), or NULL if not given. */
const char *arg_value(const struct args *a, const char *name);
bool arg_flag(const struct args *a, const char *name);
/* The values of list option @name; *@ret_n is 0 if not given. */
const char *const *arg_list(const struct args *a, const char *name, size_t *ret_n);
/* Parse an integer option from @min to @max; EXIT_USAGE (printed) if
 * malformed or out of range. */
int arg_uint(const struct verb *verb, const char *name, const char *text, unsigned min,
             unsigned max, unsigned *ret);

/* Parse --tags / --filters with the front-end library's parsers into one
 * malloc'd block
 * (NULL and 0 when not given).  With @empty_value, a tag given without a
 * value gets "" (create); without, NULL (delete: any value).  EXIT_OK, or
 * EXIT_USAGE after printing the parser's reason: a malformed or forbidden
 * tag or filter is a bad option value.  (An unknown filter *name* is only
 * found by the describe call, and fails the operation, exit 1.) */
int cli_parse_tags(const struct cli *cli, const struct args *a, bool empty_value,
                   bsnap_tag **ret_tags, size_t *ret_n);
int cli_parse_filters(const struct cli *cli, const struct args *a, bsnap_filter **ret,
                      size_t *ret_n);

/* The options of a list-describe verb: the ids of --@ids_name, --filters
 * (parsed as cli_parse_filters() does: free((void *)ret->filters)),
 * --max-results (5 or more, as EC2's MaxResults) and --next-token.
 * EXIT_OK, or EXIT_USAGE after printing why. */
int cli_describe_options(const struct cli *cli, const struct args *a, const char *ids_name,
                         bsnap_describe_options *ret);

/* Check the values of list option --@name: each "self", a 12-digit
 * account, or @word ("amazon", "all").  EXIT_OK, or EXIT_USAGE
 * (InvalidUserID.Malformed) after printing why.  cmd-snapshot.c. */
int cli_check_users(const struct cli *cli, const char *name, const char *const *v, size_t n,
                    const char *word);
/* Add filter @name with the values @v ("self": the calling account; the
 * store must be open) to @o's filters: @values (n strings) and @f (a
 * copy of the filters, replacing an earlier copy) are malloc'd, the
 * caller frees them.  EXIT_OK or EXIT_FAILED (out of memory, printed). */
int cli_add_user_filter(const struct cli *cli, bsnap_describe_options *o, const char *name,
                        const char *const *v, size_t n, const char ***values, bsnap_filter **f);

/* Check the text of option --@name (not NULL) as bsnap_text_check() does:
 * valid UTF-8, at most @max characters.  EXIT_OK, or EXIT_USAGE after
 * printing why. */
int cli_check_text(const struct cli *cli, const char *name, const char *value, size_t max);

/* The value @v of option --@name: the text itself, or the content of
 * file://PATH (at most 1 MiB; malloc'd in *@ret_buf, which the caller
 * frees).  EXIT_OK, or EXIT_FAILED after printing why.  options.c. */
int cli_input_text(const char *name, const char *v, char **ret_buf, const char **ret);

/* ---- paging (paging.c) --------------------------------------------------- */

/* --max-items, --page-size and --starting-token, as the aws CLI's. */
struct paging {
    bool on;                    /* any of them given */
    unsigned max_items;         /* 0: all */
    unsigned page_size;         /* 0: the engine's pages as they come */
    const char *starting_token; /* NULL: from the start */
    uint64_t args_hash;         /* of the verb's options: a token is for the same */
};

/* One page of a describe call: bsnap_snapshot_describe() and its like
 * with the verb's own arguments in @ud. */
typedef int (*cli_describe_fn)(bsnap_store *store, const void *ud, const bsnap_describe_options *o,
                               json_t **ret_doc);

/* Read the paging options into cli->paging.  EXIT_OK, or EXIT_USAGE after
 * printing why (a verb that lists nothing, a bad number). */
int cli_paging_options(struct cli *cli, const struct args *a);
/* Run describe call @fn (@ud its own arguments) with @o and print its
 * document: one call, or with the paging options the engine's pages
 * walked as they say, printing "NextToken" when more remain.  EXIT_OK or
 * the error printed. */
int cli_describe_paged(const struct cli *cli, cli_describe_fn fn, const void *ud,
                       const bsnap_describe_options *o);
/* @doc, a verb's whole answer, cut as the paging options say (its one
 * list; "NextToken" when more remain): *@ret is new.  EXIT_OK or the error
 * printed. */
int cli_page_doc(const struct cli *cli, const json_t *doc, json_t **ret);

/* ---- the run (main.c) ----------------------------------------------------- */

struct cli {
    const struct verb *verb;
    const char *store_dir;                     /* --store */
    const char *region;                        /* --region */
    const char *output;                        /* --output, else the profile's; NULL: neither */
    const char *profile;                       /* --profile */
    const char *account;                       /* the profile's blocksnap_account_id, or NULL */
    char *region_buf, *store_buf, *output_buf; /* what region etc. point to */
    bsf_ini *config; /* the config file, read by cli_settings_load(); NULL: none */
    bool quiet;
    bool dry_run;         /* --dry-run: the store handle answers DryRunOperation */
    struct paging paging; /* --max-items, --page-size, --starting-token */
    bsf_query *query;     /* --query, compiled */
    bsnap_store *store;   /* opened by cli_open_store() */
    char *store_path;
};

/* Read the config and credentials files and settle the store, region,
 * account and output format by the precedence bsf_settings_resolve() says
 * (flag > environment > profile > default).  EXIT_OK, or EXIT_FAILED after
 * printing why (naming the file).  cmd-configure.c. */
int cli_settings_load(struct cli *cli);
/* The store directory of region @region (another than the one in use: a
 * copy's source): its store_path in the config file, else the engine's
 * default place.  @ret_path out: malloc'd.  EXIT_OK or the error printed. */
int cli_region_path(const struct cli *cli, const char *region, char **ret_path);

/* Resolve and open the store; a verb that writes creates it on first use,
 * the others refuse a missing one (Store.NotFound).  EXIT_OK, or
 * EXIT_FAILED after printing the engine's error. */
int cli_open_store(struct cli *cli);
/* Resolve cli->store_path (--store, --region) without opening the store
 * (verify --repair opens it itself).  EXIT_OK or the error printed. */
int cli_store_path(struct cli *cli);

/* ---- output (output.c) --------------------------------------------------- */

/* The --output format: the one given, else @fallback. */
const char *output_format(const struct cli *cli, const char *fallback);
/* Render @doc in the --output format (default json) to stdout; nothing
 * in a dry run, whose answer main.c prints when the verb is done. */
int output_doc(const struct cli *cli, const json_t *doc);
/* An engine call's answer: its error (@r < 0) as output_engine_error(),
 * else output_doc() of @doc; @doc is released either way. */
int output_answer(const struct cli *cli, int r, json_t *doc);
/* A verb whose whole work is one engine call on the value of option @opt
 * (an id): open the store, call @fn, output_answer() its document. */
typedef int (*cli_id_call_func)(bsnap_store *store, const char *id, json_t **ret_doc);
int cli_id_call(struct cli *cli, const struct args *a, const char *opt, cli_id_call_func fn);
/* The describe-*-usage verbs: {"MEMBER": [one object per id]}, each made
 * by @fn (< 0: the engine's error; 0 with *ret NULL: out of memory),
 * shown as output_sized_doc() with @sizes. */
typedef int (*cli_usage_func)(bsnap_store *store, const char *id, json_t **ret);
int cli_usage_verb(struct cli *cli, const char *const *ids, size_t n, const char *member,
                   cli_usage_func fn, const char *const *sizes);
/* output_doc() without the paging (cli_describe_paged() paged already). */
int output_render(const struct cli *cli, const json_t *doc);
/* output_doc(), but in a form for people (text, table: anything but json)
 * the members named in @names (NULL-terminated), of @doc or of any object
 * in it, that are byte counts show as bsf_size_text() writes them
 * ("1.5 GiB"); JSON keeps the exact integers.  @doc is only read. */
int output_sized_doc(const struct cli *cli, const json_t *doc, const char *const *names);
/* "blocksnap: error: out of memory (InternalError)"; EXIT_FAILED. */
int output_error_nomem(void);
/* Print the engine's last error ("blocksnap: error: MSG (Code)") and return
 * EXIT_FAILED; "interrupted" when it was a cancel. */
int output_engine_error(void);
/* The same for error record @e (bsf_last_error() for a failure of the
 * front-end library). */
int output_error(const bsnap_error *e);
/* The message of @e in the CLI's words (the engine names EC2 parameters
 * and operations: "NoBootCheck" is said "--no-boot-check"), malloc'd
 * (NULL only when out of memory). */
char *cli_message(const bsnap_error *e);

/* Write @s to @f escaped (bsf_escape()): any text that may hold what a
 * user typed or a store held. */
void output_escaped(FILE *f, const char *s);
/* One line on stderr, formatted and then escaped (bsf_escape()), for
 * messages that quote a path or other user text. */
void output_line(const char *fmt, ...) BSNAP_PRINTF(1, 2);
/* Print a usage error and "Try 'blocksnap VERB --help'" (@verb NULL:
 * 'blocksnap --help'); return EXIT_USAGE. */
int output_usage_error(const struct verb *verb, const char *code, const char *fmt, ...)
    BSNAP_PRINTF(3, 4);
/* The noun for a count in a message: "1 snapshot", "2 snapshots". */
static inline const char *plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}
/* Write the engine's log lines to stderr (warnings and errors; debug lines
 * when BLOCKSNAP_DEBUG asks for them). */
void output_log(void *ud, int level, const char *category, const char *msg);

/* ---- progress (progress.c) ----------------------------------------------- */

struct progress {
    bool enabled;
    const char *label;
    int64_t start_ms, last_ms;
    int last_permille;
};

/* Set up a progress bar on stderr (only on a terminal, not with --quiet),
 * catch SIGINT and SIGTERM, and fill @run: progress callback and the cancel
 * flag those signals set.  Call it right before the long engine call. */
void progress_start(struct progress *p, const struct cli *cli, const char *label,
                    bsnap_run_options *run);
/* Erase the bar. */
void progress_end(struct progress *p);
int64_t progress_now_ms(void);

/* ---- help (help.c) ------------------------------------------------------ */

void help_main(void);
void help_verb(const struct verb *verb);
void help_man(void);

/* ---- verbs ---------------------------------------------------------------- */

int cmd_create_snapshot(struct cli *cli, const struct args *a);
int cmd_backup_vm(struct cli *cli, const struct args *a);
int cmd_copy_snapshot(struct cli *cli, const struct args *a);
int cmd_copy_image(struct cli *cli, const struct args *a);
int cmd_describe_snapshots(struct cli *cli, const struct args *a);
int cmd_delete_snapshot(struct cli *cli, const struct args *a);
int cmd_prune_snapshots(struct cli *cli, const struct args *a);
int cmd_diff(struct cli *cli, const struct args *a);
int cmd_create_volume(struct cli *cli, const struct args *a);
int cmd_describe_volumes(struct cli *cli, const struct args *a);
int cmd_delete_volume(struct cli *cli, const struct args *a);
int cmd_create_tags(struct cli *cli, const struct args *a);
int cmd_delete_tags(struct cli *cli, const struct args *a);
int cmd_verify(struct cli *cli, const struct args *a);
int cmd_gc(struct cli *cli, const struct args *a);
int cmd_describe_store(struct cli *cli, const struct args *a);
int cmd_describe_snapshot_usage(struct cli *cli, const struct args *a);
int cmd_describe_volume_usage(struct cli *cli, const struct args *a);
/* The EBS direct verbs (cmd-ebs.c). */
int cmd_ebs_start_snapshot(struct cli *cli, const struct args *a);
int cmd_ebs_put_snapshot_block(struct cli *cli, const struct args *a);
int cmd_ebs_complete_snapshot(struct cli *cli, const struct args *a);
int cmd_ebs_list_snapshot_blocks(struct cli *cli, const struct args *a);
int cmd_ebs_list_changed_blocks(struct cli *cli, const struct args *a);
int cmd_ebs_get_snapshot_block(struct cli *cli, const struct args *a);
int cmd_create_store(struct cli *cli, const struct args *a);
int cmd_register_image(struct cli *cli, const struct args *a);
int cmd_create_image(struct cli *cli, const struct args *a);
int cmd_describe_images(struct cli *cli, const struct args *a);
int cmd_deregister_image(struct cli *cli, const struct args *a);
int cmd_describe_image_attribute(struct cli *cli, const struct args *a);
int cmd_modify_image_attribute(struct cli *cli, const struct args *a);
int cmd_reset_image_attribute(struct cli *cli, const struct args *a);
int cmd_mount(struct cli *cli, const struct args *a);
int cmd_serve(struct cli *cli, const struct args *a);
int cmd_configure(struct cli *cli, const struct args *a);
int cmd_umount(struct cli *cli, const struct args *a);
extern const struct opt mount_options[], umount_options[];
extern const struct opt serve_options[];
int cmd_modify_snapshot_attribute(struct cli *cli, const struct args *a);
/* tools/cmd-share.c: the permission change of a modify verb (or a usage
 * error, printed) */
int cli_permission_change(struct cli *cli, const struct args *a, const char *perm_opt,
                          const char *groups_opt, bsnap_permission_change *c, json_t **ret_doc,
                          void **ret_block);
int cmd_describe_snapshot_attribute(struct cli *cli, const struct args *a);
int cmd_reset_snapshot_attribute(struct cli *cli, const struct args *a);
int cmd_create_key(struct cli *cli, const struct args *a);
int cmd_describe_key(struct cli *cli, const struct args *a);
int cmd_list_keys(struct cli *cli, const struct args *a);
int cmd_enable_key(struct cli *cli, const struct args *a);
int cmd_disable_key(struct cli *cli, const struct args *a);
int cmd_schedule_key_deletion(struct cli *cli, const struct args *a);
int cmd_cancel_key_deletion(struct cli *cli, const struct args *a);
int cmd_create_grant(struct cli *cli, const struct args *a);
int cmd_tag_resource(struct cli *cli, const struct args *a);
int cmd_untag_resource(struct cli *cli, const struct args *a);
int cmd_list_resource_tags(struct cli *cli, const struct args *a);
int cmd_list_grants(struct cli *cli, const struct args *a);
int cmd_revoke_grant(struct cli *cli, const struct args *a);
int cmd_retire_grant(struct cli *cli, const struct args *a);
int cmd_create_alias(struct cli *cli, const struct args *a);
int cmd_delete_alias(struct cli *cli, const struct args *a);
int cmd_list_aliases(struct cli *cli, const struct args *a);
int cmd_enable_ebs_encryption_by_default(struct cli *cli, const struct args *a);
int cmd_disable_ebs_encryption_by_default(struct cli *cli, const struct args *a);
int cmd_get_ebs_encryption_by_default(struct cli *cli, const struct args *a);
int cmd_get_ebs_default_kms_key_id(struct cli *cli, const struct args *a);
int cmd_modify_ebs_default_kms_key_id(struct cli *cli, const struct args *a);
int cmd_reset_ebs_default_kms_key_id(struct cli *cli, const struct args *a);
extern const struct opt create_key_options[], key_id_options[], list_aliases_options[],
    create_alias_options[], delete_alias_options[], modify_default_key_options[],
    schedule_key_deletion_options[], create_grant_options[], list_grants_options[],
    revoke_grant_options[], retire_grant_options[], tag_resource_options[],
    untag_resource_options[];
/* A UTC time YYYY-MM-DDTHH:MM:SS[.mmm]Z (--now, BLOCKSNAP_NOW) into Unix
 * milliseconds; EXIT_USAGE (printed, naming @what) if malformed. */
int cli_parse_time(const struct cli *cli, const char *what, const char *text, int64_t *ret_ms);
/* The same, quiet: whether @text is such a time. */
bool cli_time_value(const char *text, int64_t *ret_ms);
int cmd_create_rule(struct cli *cli, const struct args *a);
int cmd_update_rule(struct cli *cli, const struct args *a);
int cmd_get_rule(struct cli *cli, const struct args *a);
int cmd_delete_rule(struct cli *cli, const struct args *a);
int cmd_list_rules(struct cli *cli, const struct args *a);
int cmd_list_snapshots_in_recycle_bin(struct cli *cli, const struct args *a);
int cmd_restore_snapshot_from_recycle_bin(struct cli *cli, const struct args *a);
extern const struct opt create_rule_options[], update_rule_options[], rule_id_options[],
    list_rules_options[], list_bin_options[], restore_bin_options[];
int cmd_create_lifecycle_policy(struct cli *cli, const struct args *a);
int cmd_update_lifecycle_policy(struct cli *cli, const struct args *a);
int cmd_delete_lifecycle_policy(struct cli *cli, const struct args *a);
int cmd_get_lifecycle_policy(struct cli *cli, const struct args *a);
int cmd_get_lifecycle_policies(struct cli *cli, const struct args *a);
int cmd_run_lifecycle_policies(struct cli *cli, const struct args *a);
extern const struct opt create_policy_options[], update_policy_options[], get_policies_options[],
    policy_id_options[], run_policies_options[];
int cmd_run_instances(struct cli *cli, const struct args *a);
int cmd_describe_instances(struct cli *cli, const struct args *a);
int cmd_get_console_output(struct cli *cli, const struct args *a);
int cmd_stop_instances(struct cli *cli, const struct args *a);
int cmd_start_instances(struct cli *cli, const struct args *a);
int cmd_reboot_instances(struct cli *cli, const struct args *a);
int cmd_terminate_instances(struct cli *cli, const struct args *a);
int cmd_get_launch_template_data(struct cli *cli, const struct args *a);
extern const struct opt run_instances_options[], describe_instances_options[],
    console_output_options[], stop_instances_options[], instance_ids_options[],
    terminate_instances_options[], template_data_options[];
int cmd_create_launch_template(struct cli *cli, const struct args *a);
int cmd_create_launch_template_version(struct cli *cli, const struct args *a);
int cmd_modify_launch_template(struct cli *cli, const struct args *a);
int cmd_describe_launch_templates(struct cli *cli, const struct args *a);
int cmd_describe_launch_template_versions(struct cli *cli, const struct args *a);
int cmd_delete_launch_template(struct cli *cli, const struct args *a);
int cmd_delete_launch_template_versions(struct cli *cli, const struct args *a);
extern const struct opt create_template_options[], create_template_version_options[],
    modify_template_options[], describe_templates_options[], describe_template_versions_options[],
    delete_template_options[], delete_template_versions_options[];

#endif
