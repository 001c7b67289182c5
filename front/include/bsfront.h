/* bsfront.h - the front-end library: what every blocksnap front end shares.
 *
 * The engine (blocksnap.h) takes typed options and returns EC2-shaped
 * documents; it knows no command line, no flag and no output format.  This
 * library sits between it and the front ends (the CLI, the FUSE view, the
 * nbdkit plugin, the API server and the coming web pages), so that each of
 * them is thin and there is one grammar and one renderer:
 *
 *   input   the AWS CLI's shorthand ("Key=env,Value=prod") and its JSON
 *           forms, for tags, EC2 filters and block device mappings, and
 *           whole requests (--cli-input-json, a describe-images manifest),
 *           parsed into the engine's typed options;
 *   output  documents (jansson json_t) rendered as the AWS CLI renders them
 *           (json, text, table) or as EC2's query API answers (xml), each
 *           form one emitter over the same document;
 *   words   the EC2 parameter names the engine's errors use, said in each
 *           front end's words (the CLI's "--snapshot-id").
 *   settings the config and credentials files of the aws CLI's grammar
 *           (profiles, regions, access key -> account), edited line by
 *           line, and the precedence of flags, environment and profile;
 *           the front end reads and writes the files.
 *   control the control channel of a volume served by the nbdkit plugin:
 *           its requests and answers, and the client's one call.
 *
 * Caveats
 * =======
 *  - Every function here is pure (no store, no I/O, no global state but the
 *    calling thread's error record): any thread may call any of them.  The
 *    exceptions say so: bsf_settings_read() reads a file,
 *    bsf_control_call() talks over a socket, and bsf_ec2_run() makes the
 *    engine call of an EC2 request on the store it is given.
 *  - Failures return a negative errno and leave details in
 *    bsf_last_error(), a record of the engine's type (bsnap_error) that is
 *    separate from the engine's own: read it right after the failing call.
 *
 * Conventions as in blocksnap.h: out-parameters last, named ret_*, written
 * only on success; results are malloc'd and the caller frees them.
 */
#ifndef BSFRONT_H
#define BSFRONT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "blocksnap.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

/** The calling thread's last failure in this library (not the engine's:
 * that is bsnap_last_error()).  Never NULL; valid until the next call of
 * this library in the same thread. */
const bsnap_error *bsf_last_error(void);

/** Longest word a front end says for one of the engine's names. */
#define BSF_WORD_MAX 128

/** A front end's word for the engine's name @name (an EC2 parameter such as
 * "SnapshotId", or an operation such as "RepairStore"): a static string,
 * or one written to @buf; NULL keeps the name. */
typedef const char *(*bsf_word_func)(void *ud, const char *name, char buf[BSF_WORD_MAX]);

/** The CLI's words: its verbs for the operations it runs ("RepairStore" is
 * "blocksnap verify --repair", "CreateImage" "create-image"), and for a
 * parameter its option ("NoBootCheck" is "--no-boot-check", a path such as
 * "BlockDeviceMappings[0].Ebs.SnapshotId" its first member's). */
const char *bsf_cli_word(void *ud, const char *name, char buf[BSF_WORD_MAX]) BSNAP_NONNULL(2, 3);

/** "Did you mean": the names closest to a mistyped @word (@len bytes), by
 * the restricted Damerau-Levenshtein distance, within a cutoff that grows
 * with @len (1 edit up to 3 characters, 2 up to 6, else 3).  Offer every
 * name with bsf_suggest_add(); the closest ones, at most BSF_SUGGEST_MAX,
 * are kept in the order offered. */
#define BSF_SUGGEST_MAX 3
typedef struct bsf_suggest {
    const char *word;
    size_t len;
    size_t best; /* the cutoff, then the distance of names[] */
    size_t n;
    const char *names[BSF_SUGGEST_MAX]; /* borrowed */
} bsf_suggest;

/** The edit distance of @a and @b (SIZE_MAX for names over 128 bytes). */
size_t bsf_distance(const char *a, size_t alen, const char *b, size_t blen) BSNAP_NONNULL(1, 3);
void bsf_suggest_init(bsf_suggest *s, const char *word, size_t len) BSNAP_NONNULL(1, 2);
/** Offer @name (borrowed: it must outlive @s); the word itself is not offered. */
void bsf_suggest_add(bsf_suggest *s, const char *name) BSNAP_NONNULL(1, 2);
/** "; did you mean 'P:a', 'P:b' or 'P:c'?" (each name after @prefix) in
 * @buf, or "" when nothing is close.  Returns @buf. */
const char *bsf_suggest_text(const bsf_suggest *s, const char *prefix, char *buf, size_t size)
    BSNAP_NONNULL(1, 2, 3);

/** @msg with each span of @refs (in order) rewritten in @word's words
 * (NULL: kept), the rest of it unchanged.  For log lines
 * (bsnap_log_refs()).  @ret_text out: malloc'd.  Errors: -ENOMEM (not
 * recorded). */
int bsf_refs_rewrite(const char *msg, const bsnap_error_ref *refs, size_t nrefs, bsf_word_func word,
                     void *ud, char **ret_text) BSNAP_NONNULL(1, 6);

/** The message of error record @e (the engine's, or this library's) in
 * @word's words, as bsf_refs_rewrite().  Errors: -ENOMEM (not recorded). */
int bsf_error_message(const bsnap_error *e, bsf_word_func word, void *ud, char **ret_text)
    BSNAP_NONNULL(1, 4);

/* ------------------------------------------------------------------------
 * Input: tags and filters
 * ------------------------------------------------------------------------ */

/* EC2's limits on tags: a key has at most 127 characters and a value at
 * most 256, a resource at most 50 tags, counted in code points. */
#define BSF_TAG_KEY_MAX 127
#define BSF_TAG_VALUE_MAX 256
#define BSF_TAGS_MAX 50

/** Parse AWS CLI tag arguments into tags.
 *
 * Each of @args is shorthand ("Key=env,Value=prod", or "Key=env" for
 * delete) or a JSON array ('[{"Key":"env","Value":"prod"}]'); a single
 * object is accepted too.  Shorthand grammar (a subset of the AWS CLI's):
 *
 *   arg    := field ("," field)*
 *   field  := NAME "=" values
 *   values := "[" [item ("," item)*] "]" | item ("," item)*
 *   item   := '"' chars '"' | "'" chars "'" | chars up to the next ","
 *
 * A ","-separated piece that begins with NAME "=" starts a new field, any
 * other piece is one more item of the current field.  Inside double quotes
 * a backslash escapes the next character.
 *
 * @ret_tags out: one malloc'd block holding the array and its strings:
 * free it with a single free().  A tag given without a value has value
 * NULL.  Errors: -EINVAL (InvalidParameterValue, TagLimitExceeded) quoting
 * the bad argument: keys over 127 / values over 256 characters, "aws:"
 * keys, more than 50 tags, text that is not UTF-8; -ENOMEM. */
int bsf_tags_parse(const char *const *args, size_t nargs, bsnap_tag **ret_tags, size_t *ret_ntags)
    BSNAP_NONNULL(3, 4);
/** bsf_tags_parse() for KMS's tags (create-key, tag-resource):
 * "TagKey=env,TagValue=prod" or [{"TagKey":…,"TagValue":…}], a key of at
 * most 128 characters. */
int bsf_kms_tags_parse(const char *const *args, size_t nargs, bsnap_tag **ret_tags,
                       size_t *ret_ntags) BSNAP_NONNULL(3, 4);

/** Parse AWS CLI filter arguments ("Name=volume-id,Values=vol-1,vol-2" or a
 * JSON array of {"Name":…,"Values":[…]}).  @ret_filters as for
 * bsf_tags_parse() (one free()).  A filter without values is refused (it
 * would match nothing).  Errors: -EINVAL (InvalidParameterValue); -ENOMEM. */
int bsf_filters_parse(const char *const *args, size_t nargs, bsnap_filter **ret_filters,
                      size_t *ret_nfilters) BSNAP_NONNULL(3, 4);

/** Parse a permission argument (--create-volume-permission,
 * --launch-permission): shorthand 'Add=[{UserId=111122223333},{Group=all}],
 * Remove=[…]' or the same as a JSON object.  @ret out: the lists, pointing
 * into @ret_doc (json_decref() it) through @ret_block (free() it), both
 * valid until freed.  The values are not checked (the engine does).
 * Errors: -EINVAL (InvalidParameterValue) quoting what was wrong; -ENOMEM. */
int bsf_permission_parse(const char *arg, bsnap_permission_change *ret, json_t **ret_doc,
                         void **ret_block) BSNAP_NONNULL(1, 2, 3, 4);

/* ------------------------------------------------------------------------
 * Input: whole requests
 * ------------------------------------------------------------------------ */

/** A RegisterImage request being put together, for bsnap_image_register():
 * from a request document, block device mapping arguments, tags, and then
 * whatever the front end sets in its options itself (a flag wins over the
 * document, as the AWS CLI's flags win over --cli-input-json).  Strings in
 * the options are borrowed from what the request parsed: valid until
 * bsf_image_request_free(). */
typedef struct bsf_image_request bsf_image_request;

/** An empty request.  @ret out: free with bsf_image_request_free().
 * Errors: -ENOMEM. */
int bsf_image_request_new(bsf_image_request **ret) BSNAP_NONNULL(1);

/** Free @q and everything its options borrow.  NULL is a no-op. */
void bsf_image_request_free(bsf_image_request *q);

/** The request's engine options, to read and to change (set the front
 * end's own flags here; the mappings and tags belong to @q: change them
 * through the calls below).  Borrowed: valid until @q is freed. */
bsnap_image_options *bsf_image_request_options(bsf_image_request *q) BSNAP_NONNULL(1);

/** Fill @q from a whole request document of @len bytes: a RegisterImage
 * request ({"Name":…,"BlockDeviceMappings":[…],"TagSpecifications":…}), an
 * image object as describe-images prints it, or a describe-images document
 * holding exactly one image.  Output-only fields (ImageId, State,
 * CreationDate, OwnerId, …) are ignored, so a manifest registers again as
 * it is.  @name in: what to call the document in messages (the CLI:
 * "--cli-input-json").  Errors: -EINVAL (InvalidParameterValue "NAME: …",
 * or InvalidBlockDeviceMapping from the mappings, as below); -ENOMEM. */
int bsf_image_request_load(bsf_image_request *q, const char *json, size_t len, const char *name)
    BSNAP_NONNULL(1, 2, 4);

/** Replace @q's block device mappings with those of @args: each a JSON
 * array (or object) of {"DeviceName":…,"Ebs":{"SnapshotId":…,
 * "VolumeSize":GiB,"DeleteOnTermination":…,"VolumeType":…}} /
 * {"DeviceName":…,"VirtualName":"ephemeralN"} / {"DeviceName":…,
 * "NoDevice":""}, or the shorthand "DeviceName=/dev/xvda,Ebs={SnapshotId=
 * snap-…,VolumeSize=8}" (grammar as bsf_tags_parse()'s, with NAME={…}
 * nesting an object).  Numbers and booleans may be strings ("8", "true").
 * Errors: -EINVAL (InvalidBlockDeviceMapping naming what is wrong,
 * InvalidSnapshotID.Malformed for a SnapshotId that is not a string), more
 * than BSNAP_IMAGE_MAPPINGS_MAX; -ENOMEM. */
int bsf_image_request_set_mappings(bsf_image_request *q, const char *const *args, size_t nargs)
    BSNAP_NONNULL(1);

/** Add @tags (borrowed: they must outlive @q) to @q's; a key given twice
 * keeps its last value.  Errors: -ENOMEM. */
int bsf_image_request_add_tags(bsf_image_request *q, const bsnap_tag *tags, size_t ntags)
    BSNAP_NONNULL(1);

/** Set member @member (BlockDeviceMappings, TagSpecifications: lists;
 * LaunchTemplate: an object) of RunInstances request @req from the
 * arguments @args: each a JSON value or the shorthand
 * ("DeviceName=/dev/xvdb,Ebs={SnapshotId=snap-…,VolumeSize=8}",
 * "ResourceType=instance,Tags=[{Key=a,Value=b}]",
 * "LaunchTemplateName=web,Version=$Latest"); a list member gathers the
 * objects of every argument.  The numbers and booleans EC2 types as such
 * (VolumeSize, Iops, Throughput; DeleteOnTermination, Encrypted) get
 * their types.  Errors: -EINVAL (InvalidParameterValue) naming @member;
 * -ENOMEM. */
int bsf_run_request_add(json_t *req, const char *member, const char *const *args, size_t n)
    BSNAP_NONNULL(1, 2);

/* ------------------------------------------------------------------------
 * Output: rendering documents
 * ------------------------------------------------------------------------ */

/** One output form: a function that renders a whole document.  The
 * renderer dispatches on the format's name to one of these; a front end
 * with a form of its own (the web pages' HTML) adds an emitter rather than
 * walking documents itself.  @title is the operation ("DescribeSnapshots"),
 * NULL when none.  Errors: -ENOMEM (nothing recorded). */
typedef struct bsf_emitter {
    const char *format; /**< "json", "text", "table", "xml" */
    int (*render)(const json_t *doc, const char *title, char **ret_text);
} bsf_emitter;

/** The emitter of @format, or NULL when there is none.  The built-in forms:
 *
 *  json   the document pretty-printed with a 4-space indent, keys in the
 *         order the document has them, non-ASCII characters kept;
 *
 *  text   awscli/text.py's rules: an object prints one line of its scalar
 *         values, tab-separated, in sorted key order; inside a list the
 *         line starts with the list's key UPPER-CASED and every element
 *         lists the union of the elements' scalar keys (missing ones
 *         empty); nested lists and objects follow as their own lines.
 *         Booleans are "True"/"False" and null "None", as Python prints
 *         them.  Keys and values are escaped (bsf_escape());
 *
 *  table  awscli/formatter.py's TableFormatter: a boxed section per list or
 *         object, titled with its key, a header row of the sorted scalar
 *         keys, one row per element, nested sections indented by one more
 *         '|' on each side, @title on top.  The describe lists (Snapshots,
 *         Volumes, Images, their mappings and tags) show chosen columns
 *         with long values cut, and an object wider than 100 columns is
 *         drawn as KEY | VALUE rows, so that a describe table fits in 120
 *         columns; widths come from the content only.  Cells are escaped;
 *
 *  xml    EC2's query API answer: <TITLEResponse xmlns=…> holding the
 *         document's members with lowerCamelCase names, each list as a
 *         NAMESet (EC2's names where they differ) of <item> elements,
 *         booleans as true/false; text XML-escaped, and characters XML 1.0
 *         cannot hold written as bsf_escape() writes them.
 *
 * Every form ends with a newline, except that an empty document ({}, [],
 * or lists with nothing in them) renders as "" in text form, and as the
 * title alone (or "") in table form, as the AWS CLI prints it. */
const bsf_emitter *bsf_emitter_find(const char *format) BSNAP_NONNULL(1);

/** Render @doc in @format (bsf_emitter_find()) under the operation name
 * @title (optional; the table's top row, the XML's root element; json and
 * text ignore it).  @doc is only read.  @ret_text out: malloc'd.
 * Errors: -EINVAL (InvalidParameterValue) for an unknown format; -ENOMEM. */
int bsf_render(const json_t *doc, const char *format, const char *title, char **ret_text)
    BSNAP_NONNULL(1, 2, 4);

/** Escape @s for a terminal or a line-oriented reader, in C's style, as the
 * text and table forms do: a backslash becomes two (\\); tab, newline and
 * carriage return become \t, \n and \r; every other control character (C0,
 * DEL, and C1, U+0080 to U+009F) becomes \xHH per byte (ESC is \x1b, U+009B
 * is \xc2\x9b), and so does a byte that is not part of well-formed UTF-8.
 * Everything else, printable non-ASCII included, is kept, so a result never
 * holds a control character and reads back unambiguously.  Front ends use
 * it for any user text they echo, error messages included.
 * @ret_text out: malloc'd.  Errors: -ENOMEM (not recorded). */
int bsf_escape(const char *s, char **ret_text) BSNAP_NONNULL(1, 2);

/** The longest bsf_size_text() result, with its NUL. */
#define BSF_SIZE_TEXT_MAX 16

/** @bytes as a person reads it, the one way every front end writes a byte
 * count for people: below 1024 the exact count and " B" ("512 B"), else
 * binary units (KiB, MiB, GiB, TiB, PiB, EiB: powers of 1024) with one
 * decimal, rounded to nearest, in the largest unit that keeps the number
 * below 1024 after rounding ("1.0 KiB", "64.0 KiB", "1.5 GiB", never
 * "1024.0 KiB").  @buf out: BSF_SIZE_TEXT_MAX bytes.  Returns @buf.  Any
 * thread. */
const char *bsf_size_text(uint64_t bytes, char buf[BSF_SIZE_TEXT_MAX]) BSNAP_NONNULL(2);

/* ------------------------------------------------------------------------
 * Settings: the config and credentials files
 * ------------------------------------------------------------------------ */

/** A parsed INI file (the aws CLI's `config` / `credentials` grammar:
 * "[section]", "key = value", '#' and ';' comment lines, indented
 * continuation lines kept as they are).  Every line is kept, so an edit
 * (bsf_ini_set()) and bsf_ini_format() give back the file with only that
 * setting changed: comments, order and other sections stay. */
typedef struct bsf_ini bsf_ini;

/** Parse @text[0..@len).  @ret out: free with bsf_ini_free().  Errors:
 * -EINVAL (ConfigParseError, naming the line: a setting before any
 * section, a header without ']', a section or a key in one section given
 * twice, a NUL byte); -ENOMEM. */
int bsf_ini_parse(const char *text, size_t len, bsf_ini **ret) BSNAP_NONNULL(3);
/** Free a parsed file; NULL is a no-op. */
void bsf_ini_free(bsf_ini *ini);
/** The value of @key in [@section], or NULL (also for @ini NULL): borrowed,
 * valid until the next edit or bsf_ini_free(). */
const char *bsf_ini_get(const bsf_ini *ini, const char *section, const char *key)
    BSNAP_NONNULL(2, 3);
/** The name of the @i-th section of @ini (from 0), or NULL past the last
 * (or for @ini NULL): borrowed as bsf_ini_get()'s. */
const char *bsf_ini_section(const bsf_ini *ini, size_t i);
/** Whether [@section] is in @ini (false for @ini NULL). */
bool bsf_ini_has_section(const bsf_ini *ini, const char *section) BSNAP_NONNULL(2);
/** The first section in which @key is @value, or NULL: borrowed as
 * bsf_ini_get()'s. */
const char *bsf_ini_find(const bsf_ini *ini, const char *key, const char *value)
    BSNAP_NONNULL(2, 3);
/** Set @key to @value in [@section]: the key's line is rewritten in place,
 * a new key goes after the section's last setting, a new section at the
 * end.  Errors: -EINVAL (InvalidParameterValue) for a key that is not
 * [A-Za-z0-9_.-]+, a section name with brackets or a line break, a value
 * with a line break or blanks at an end; -ENOMEM (then @ini may hold part
 * of the edit: free it). */
int bsf_ini_set(bsf_ini *ini, const char *section, const char *key, const char *value)
    BSNAP_NONNULL(1, 2, 3, 4);
/** The file's text, every line ended by a newline.  @ret_text out:
 * malloc'd.  Errors: -ENOMEM. */
int bsf_ini_format(const bsf_ini *ini, char **ret_text) BSNAP_NONNULL(1, 2);

/** What decides a front end's settings, each NULL when not given.  Flags
 * beat the environment, which beats the profile, which beats the
 * defaults; at each level a store directory beats a region name. */
typedef struct bsf_settings_input {
    const bsf_ini *config;      /**< the config file, or NULL */
    const bsf_ini *credentials; /**< the credentials file, or NULL */
    const char *profile_flag;   /**< --profile */
    const char *profile_env;    /**< $BLOCKSNAP_PROFILE */
    const char *store_flag;     /**< --store */
    const char *region_flag;    /**< --region */
    const char *store_env;      /**< $BLOCKSNAP_STORE */
    const char *region_env;     /**< $BLOCKSNAP_REGION */
} bsf_settings_input;

/** One profile's settings.  Strings are borrowed from the input (valid as
 * long as it is); a *_source says where a value came from: "flag", "env",
 * "config-file", "credentials-file", or NULL when it is not set. */
typedef struct bsf_settings {
    const char *profile; /**< the profile used: "default" unless named */
    const char *profile_source;
    const char *region; /**< region name, or NULL (the engine's default) */
    const char *region_source;
    const char *store_dir; /**< a store directory, or NULL: the region's
                                default place ("~/" not yet expanded) */
    const char *store_source;
    const char *account; /**< blocksnap_account_id, or NULL: the store's */
    const char *account_source;
    const char *access_key; /**< aws_access_key_id, or NULL */
    const char *output;     /**< the profile's output format, or NULL */
    const char *output_source;
} bsf_settings;

/** Resolve @in into @ret.  A profile's settings come from its section of
 * the credentials file ([NAME]: aws_access_key_id, aws_secret_access_key,
 * blocksnap_account_id) and of the config file ([default] or [profile
 * NAME]: region, output, and the same keys, the credentials file winning).
 * A region's store is [region NAME]'s store_path in the config file, when
 * there is one.  Errors: -ENOENT (ProfileNotFound) for a named profile in
 * neither file; -EINVAL (InvalidParameterValue) for a store_path neither
 * absolute nor under "~/", a blocksnap_account_id that is not 12 digits. */
int bsf_settings_resolve(const bsf_settings_input *in, bsf_settings *ret) BSNAP_NONNULL(1, 2);

/** "~/x" with $HOME, anything else as it is.  Returns a malloc'd copy, or
 * NULL when out of memory. */
char *bsf_expand_home(const char *p) BSNAP_NONNULL(1);
/** The path of the config file (@env "BLOCKSNAP_CONFIG_FILE", @name
 * "config") or the credentials file (@env
 * "BLOCKSNAP_SHARED_CREDENTIALS_FILE", @name "credentials"): $@env, else
 * $XDG_CONFIG_HOME/blocksnap/@name, else ~/.config/blocksnap/@name.
 * Returns a malloc'd path, or NULL when out of memory or with neither
 * $XDG_CONFIG_HOME nor $HOME. */
char *bsf_settings_path(const char *env, const char *name) BSNAP_NONNULL(1, 2);
/** Read @path (to its end: it may be a pipe) and parse it into *@ret, NULL
 * when there is no such file.  Errors, each naming the file: -EIO or the
 * open's (ConfigError: unreadable, larger than 1 MiB), bsf_ini_parse()'s,
 * -ENOMEM. */
int bsf_settings_read(const char *path, bsf_ini **ret) BSNAP_NONNULL(1, 2);
/** The store directory of region @region when the config file names one
 * ([region NAME] store_path, "~/" expanded): 1 and *@ret_path malloc'd;
 * 0 and NULL when it names none (the engine's default place then).
 * Errors: -EINVAL (InvalidParameterValue) for a path neither absolute nor
 * under "~/"; -ENOMEM. */
int bsf_region_store_path(const bsf_ini *config, const char *region, char **ret_path)
    BSNAP_NONNULL(2, 3);

/** The account of access key @access_key: the blocksnap_account_id of the
 * credentials section whose aws_access_key_id it is (what the API server
 * needs for a request's key).  @ret_account out: borrowed from
 * @credentials.  Errors: -ENOENT (AuthFailure) for an unknown key or one
 * whose section names no valid account. */
int bsf_account_for_access_key(const bsf_ini *credentials, const char *access_key,
                               const char **ret_account) BSNAP_NONNULL(2, 3);

/** The secret of access key @access_key and the account it acts as: the
 * aws_secret_access_key and blocksnap_account_id of the credentials
 * section whose aws_access_key_id it is (what the API server checks a
 * request's signature with).  @ret_secret, @ret_account out: borrowed from
 * @credentials.  Errors: -ENOENT (AuthFailure, naming the key, never the
 * secret) for an unknown key, or one whose section has no secret or no
 * valid account. */
int bsf_access_key_lookup(const bsf_ini *credentials, const char *access_key,
                          const char **ret_secret, const char **ret_account) BSNAP_NONNULL(2, 3, 4);

/* ---- SigV4: checking a signed request (sigv4.c) -------------------------- */

/** How far a request's X-Amz-Date may be from the server's clock. */
#define BSF_SIGV4_SKEW_S 300

/** One header or query parameter of a request, percent-decoded. */
typedef struct bsf_http_pair {
    const char *name;
    const char *value;
} bsf_http_pair;

/** A request as the server received it (everything borrowed). */
typedef struct bsf_sigv4_request {
    const char *method;         /**< "POST", "GET", "PUT" */
    const char *path;           /**< the path, percent-decoded ("/") */
    const bsf_http_pair *query; /**< the query's pairs, decoded, in any order */
    size_t nquery;
    const bsf_http_pair *headers; /**< every header (names in any case) */
    size_t nheaders;
    const void *body; /**< the payload (NULL: none) */
    size_t body_len;
} bsf_sigv4_request;

/** What a request's signature claims (bsf_sigv4_parse()). */
typedef struct bsf_sigv4_auth {
    char access_key[129];
    char date[9];     /**< YYYYMMDD of the credential scope */
    char region[65];  /**< the scope's region: which store */
    char service[33]; /**< the scope's service: "ec2", "ebs" */
    char amz_date[17];
    char signed_headers[1024];
    char signature[65];
    bool presigned;  /**< from the query (X-Amz-Signature) */
    int64_t expires; /**< presigned: X-Amz-Expires, seconds */
} bsf_sigv4_auth;

/** Read the signature of @rq: its Authorization header (AWS4-HMAC-SHA256
 * Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=…,
 * Signature=…, with X-Amz-Date), else its presigned query (X-Amz-Algorithm
 * and the rest).  Only checks the form; bsf_sigv4_check() checks the
 * signature.  @ret out.  Errors, all -EACCES: MissingAuthenticationToken
 * (neither form), IncompleteSignature (a part missing or malformed, host
 * not signed, a bad date), SignatureDoesNotMatch (the scope's day is not
 * X-Amz-Date's). */
int bsf_sigv4_parse(const bsf_sigv4_request *rq, bsf_sigv4_auth *ret) BSNAP_NONNULL(1, 2);

/** Check that @a (bsf_sigv4_parse() of @rq) is a signature of @rq by
 * @secret, made within BSF_SIGV4_SKEW_S seconds of @now_s (Unix time), or
 * for a presigned request not expired.  The payload signed is the body's
 * SHA-256 unless X-Amz-Content-SHA256 says UNSIGNED-PAYLOAD (or a hash,
 * which must then be the body's).  The signatures are compared in
 * constant time; no message holds the secret or a signature.  Errors, all
 * -EACCES: RequestExpired, SignatureDoesNotMatch, IncompleteSignature (a
 * signed header the request lacks); -ENOMEM. */
int bsf_sigv4_check(const bsf_sigv4_request *rq, const bsf_sigv4_auth *a, const char *secret,
                    int64_t now_s) BSNAP_NONNULL(1, 2, 3);

/** The signature of @rq by @secret under @a's scope, date and signed
 * headers (what a client computes; tests and load clients sign with it):
 * @payload_hash the hex SHA-256 to sign, or NULL for the body's.
 * @ret_signature out: 64 hex digits.  Errors as bsf_sigv4_check(). */
int bsf_sigv4_sign(const bsf_sigv4_request *rq, const bsf_sigv4_auth *a, const char *secret,
                   const char *payload_hash, char ret_signature[65]) BSNAP_NONNULL(1, 2, 3, 5);

/* ---- EC2's query API: one request, one engine call (ec2.c) --------------- */

/** Most parameters one request may have. */
#define BSF_EC2_PARAMS_MAX 1000

/** One EC2 query request: its name=value pairs (a form body or a query
 * string, percent-decoded), kept as copies. */
typedef struct bsf_ec2_request bsf_ec2_request;

/** A request of the @n pairs @pairs (copied).  @ret out: free with
 * bsf_ec2_request_free().  Errors: -EINVAL (MalformedQueryString: text
 * that is not UTF-8; InvalidParameterValue: a name given twice); -E2BIG
 * (InvalidParameterValue) past BSF_EC2_PARAMS_MAX; -ENOMEM. */
int bsf_ec2_request_new(const bsf_http_pair *pairs, size_t n, bsf_ec2_request **ret)
    BSNAP_NONNULL(3);
/** Free @q; NULL is a no-op. */
void bsf_ec2_request_free(bsf_ec2_request *q);

/** Split a form body or query string (application/x-www-form-urlencoded:
 * "a=1&b=x%20y+z") of @len bytes into decoded pairs ('+' is a space; a
 * pair without '=' has the value "").  Untrusted input: bounded by
 * BSF_EC2_PARAMS_MAX pairs.  @ret out: free with bsf_form_free().
 * Errors: -EINVAL (MalformedQueryString: a '%' without two hexadecimal
 * digits, a NUL); -E2BIG (InvalidParameterValue); -ENOMEM. */
int bsf_form_parse(const char *body, size_t len, bsf_http_pair **ret, size_t *ret_n)
    BSNAP_NONNULL(3, 4);
/** Free what bsf_form_parse() returned; NULL is a no-op. */
void bsf_form_free(bsf_http_pair *pairs, size_t n);
/** The value of parameter @name, or NULL: borrowed from @q. */
const char *bsf_ec2_get(const bsf_ec2_request *q, const char *name) BSNAP_NONNULL(1, 2);
/** The Action, or NULL. */
const char *bsf_ec2_action(const bsf_ec2_request *q) BSNAP_NONNULL(1);

/** Check @q before it runs: an Action this library serves, Version
 * 2016-11-15, only parameters that action takes, DryRun true or false.
 * @ret_dry_run out: DryRun=true (the front end puts its store handle in a
 * dry run, bsnap_store_set_dry_run(), for bsf_ec2_run()).  Errors:
 * -EINVAL (MissingAction, InvalidAction, MissingParameter, NoSuchVersion,
 * UnknownParameter, InvalidParameterValue). */
int bsf_ec2_check(const bsf_ec2_request *q, bool *ret_dry_run) BSNAP_NONNULL(1, 2);

/** What an action runs against. */
typedef struct bsf_ec2_env {
    /** the store of the request's region, acting as the caller
     * (bsnap_store_view()), in a dry run when DryRun says so */
    bsnap_store *store;
    const char *region; /**< that region's name */
    /** optional: the store of another served region, acting as the same
     * caller (a copy's source), which the action closes with
     * bsnap_store_close(); < 0 when that region is not served */
    int (*region_store)(void *ud, const char *region, bsnap_store **ret);
    void *ud;
    /** optional: a long call's cancel flag (bsnap_run_options.cancel) */
    const volatile int *cancel;
    /** the request's DryRun (@store is in a dry run): no background work */
    bool dry_run;
    /** optional: run @fn(@arg) in a thread of the front end's, which
     * keeps the stores open and other requests' dry runs out until it
     * returns (and sets @cancel when it stops); 0, or < 0 when it cannot
     * (the action then runs in the request).  What EC2 answers at once and
     * finishes later (CopySnapshot: the copy pending) runs there, on views
     * of its own of the stores. */
    int (*background)(void *ud, void (*fn)(void *arg), void *arg);
} bsf_ec2_env;

/** Run request @q (checked as bsf_ec2_check() does) against @env: the
 * engine call of its Action with its parameters read from their wire
 * names (lists "SnapshotId.N", "Filter.N.Name"/"Filter.N.Value.M",
 * "TagSpecification.N.Tag.M.Key", "BlockDeviceMapping.N.Ebs.…",
 * MaxResults/NextToken, "self" as the caller).  @ret_doc out: the answer,
 * EC2's shape ({"Return": true} for a call that returns nothing); the
 * caller json_decref()s it.  Errors: bsf_ec2_check()'s, a parameter's
 * (MissingParameter, InvalidParameterValue, TagLimitExceeded), and the
 * engine's; every failure is in bsf_last_error() (the engine's copied
 * there).  Any thread, with its own @q. */
int bsf_ec2_run(const bsf_ec2_env *env, bsf_ec2_request *q, json_t **ret_doc)
    BSNAP_NONNULL(1, 2, 3);

/** The names of the actions served, in order (at most @max of them in
 * @ret_names); returns how many there are. */
size_t bsf_ec2_actions(const char **ret_names, size_t max);

/** The HTTP status EC2 answers error @code with: 400 for client errors,
 * 401 AuthFailure and MissingAuthenticationToken, 403
 * UnauthorizedOperation and SignatureDoesNotMatch, 412 DryRunOperation,
 * 413 RequestEntityTooLarge, 500 InternalError, 503 ServiceUnavailable. */
int bsf_ec2_status(const char *code) BSNAP_NONNULL(1);

/** EC2's error body: <Response><Errors><Error><Code>@code</Code>
 * <Message>@message</Message></Error></Errors><RequestID>@request_id
 * </RequestID></Response>, text escaped.  @ret_text out: malloc'd.
 * Errors: -ENOMEM (not recorded). */
int bsf_ec2_error_xml(const char *code, const char *message, const char *request_id,
                      char **ret_text) BSNAP_NONNULL(1, 2, 3, 4);

/** The answer of @action: @doc in the xml form under
 * <ACTIONResponse>, with <requestId> first.  @ret_text out: malloc'd.
 * Errors: -ENOMEM (not recorded). */
int bsf_ec2_answer_xml(const char *action, const json_t *doc, const char *request_id,
                       char **ret_text) BSNAP_NONNULL(1, 2, 3, 4);

/* ---- --query: a JMESPath subset (query.c) --------------------------------- */

/** A compiled JMESPath expression. */
typedef struct bsf_query bsf_query;

/** Compile @expr, a JMESPath expression of the subset front/query.c
 * describes (and docs/cli.md lists): identifiers, sub-expressions,
 * indexes, slices, projections, flatten, filters with comparisons and
 * && || !, literals, raw strings, @, multiselect lists and hashes, pipes,
 * and the functions length, keys, values, contains, starts_with,
 * ends_with, to_string, to_number, type, reverse, join, sort, sort_by,
 * max, min, max_by, min_by, sum and not_null.
 * @ret out: free with bsf_query_free().  Errors: -EINVAL
 * (InvalidParameterValue) naming the position and what is wrong, or the
 * piece outside the subset; -ENOMEM. */
int bsf_query_compile(const char *expr, bsf_query **ret) BSNAP_NONNULL(1, 2) BSNAP_WUR;

/** Evaluate @q on @doc (only read).  @ret out: the result, a new
 * reference (JSON null when the expression finds nothing).  Errors:
 * -EINVAL (InvalidParameterValue) when a function is given a value of a
 * wrong type (invalid-type, naming it); -ENOMEM. */
int bsf_query_run(const bsf_query *q, const json_t *doc, json_t **ret) BSNAP_NONNULL(1, 2, 3)
    BSNAP_WUR;

/** Free @q; NULL is a no-op. */
void bsf_query_free(bsf_query *q);

/* ---- the control channel of a served volume (control.c) ------------------ */

/* The nbdkit plugin's control=SOCKET: a unix socket (mode 0600, its owner
 * only) beside a writable volume it serves, through which the process that
 * holds the volume's one writer handle is asked to flush it or snapshot it
 * (create-image of a running instance).  The protocol: one request a line,
 * one answer a line, each a JSON object; requests are served one at a time.
 *
 *   {"Op":"flush"}                       -> {"Ok":true}
 *   {"Op":"snapshot","Description":"…","Tags":[{"Key":"k","Value":"v"}]}
 *      -> {"Ok":true,"SnapshotId":"snap-…","Stats":{"VolumeBytes":…,
 *          "ReadBytes":…,"NewChunks":…,"NewBytes":…,"ReusedChunks":…,
 *          "ZeroChunks":…,"NewPages":…}}
 *   a failure of either -> {"Ok":false,"Code":"EC2Code","Message":"…"}
 *
 * A request line is at most BSF_CONTROL_LINE_MAX bytes without its
 * newline. */
#define BSF_CONTROL_LINE_MAX 16384

typedef enum bsf_control_op {
    BSF_CONTROL_FLUSH = 1,    /**< bsnap_volume_flush() */
    BSF_CONTROL_SNAPSHOT = 2, /**< bsnap_volume_snapshot() */
} bsf_control_op;

/** A request.  Owned strings: free with bsf_control_request_clear(). */
typedef struct bsf_control_request {
    bsf_control_op op;
    char *description; /**< snapshot: its Description, or NULL */
    bsnap_tag *tags;   /**< snapshot: its tags (one block, as bsf_tags_parse()) */
    size_t ntags;
} bsf_control_request;

/** An answer: @ok, and then @snapshot_id and @stats of a snapshot ("" for a
 * flush), or the failure's EC2 @code and @message. */
typedef struct bsf_control_answer {
    bool ok;
    char snapshot_id[BSNAP_ID_MAX];
    bsnap_snapshot_stats stats;
    char code[64];
    char message[512];
} bsf_control_answer;

/** Parse request line @line of @len bytes (no newline; untrusted: anyone
 * who may connect wrote it).  Only the fields above, each of its type;
 * tags as bsf_tags_parse() checks them (with a Value each); no field of a
 * snapshot on a flush.  @ret out.  Errors: -E2BIG (InvalidParameterValue)
 * over BSF_CONTROL_LINE_MAX; -EINVAL (InvalidParameterValue: not JSON,
 * not an object, an unknown field or Op, a field of a wrong type;
 * MissingParameter: no Op; the tag errors); -ENOMEM. */
int bsf_control_request_parse(const char *line, size_t len, bsf_control_request *ret)
    BSNAP_NONNULL(3);

/** Free what @r owns and zero it. */
void bsf_control_request_clear(bsf_control_request *r) BSNAP_NONNULL(1);

/** @r as a request line, its newline included.  @ret_line out: malloc'd.
 * Errors: -ENOMEM. */
int bsf_control_request_format(const bsf_control_request *r, char **ret_line) BSNAP_NONNULL(1, 2);

/** @a as an answer line, its newline included.  @ret_line out: malloc'd.
 * Errors: -ENOMEM. */
int bsf_control_answer_format(const bsf_control_answer *a, char **ret_line) BSNAP_NONNULL(1, 2);

/** Parse answer line @line (no newline).  A snapshot id that is not one,
 * or a negative figure, is refused.  @ret out.  Errors: -EPROTO
 * (InternalError). */
int bsf_control_answer_parse(const char *line, size_t len, bsf_control_answer *ret)
    BSNAP_NONNULL(1, 3);

/** Connect to the control socket @socket_path, send @req and read its
 * answer within @timeout_ms (a snapshot of a large write may take a
 * while).  Returns 0 with the answer in @ret, a failure of the server
 * included (@ret->ok false); a negative errno when no answer came:
 * -ENOENT/-ECONNREFUSED (no server), -ETIMEDOUT, -EPIPE (closed), -EPROTO
 * (not an answer), -ENAMETOOLONG, -ENOMEM.  Blocks; any thread. */
int bsf_control_call(const char *socket_path, const bsf_control_request *req, int timeout_ms,
                     bsf_control_answer *ret) BSNAP_NONNULL(1, 2, 4);

#ifdef __cplusplus
}
#endif

#endif /* BSFRONT_H */
