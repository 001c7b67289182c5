/* args.h - parsers of what users type: AWS CLI tag and filter arguments and
 * changed-block lists.
 *
 * The public entry points are bsnap_tags_parse(), bsnap_filters_parse(),
 * bsnap_ranges_parse() and bsnap_ranges_load() (see blocksnap.h).  This
 * module guarantees:
 *  - every result is ONE malloc'd block (array, pointer arrays and strings),
 *    so a caller frees it with a single free(), and is written only on
 *    success;
 *  - every string handed back is valid UTF-8 without NUL bytes, so it can go
 *    into JSON unchanged;
 *  - every rejection is -EINVAL (InvalidParameterValue) with a message that
 *    quotes the offending argument, or for a changed-block list names
 *    "NAME line N: what";
 *  - nothing here touches a store: the parsers are pure and fuzzed
 *    (tests/fuzz/fuzz-{tags,filters,ranges}.c).
 *
 * Shorthand grammar (a subset of the AWS CLI's):
 *
 *   arg    := field ("," field)*
 *   field  := NAME "=" values
 *   values := "[" [item ("," item)*] "]" | item ("," item)*
 *   item   := '"' chars '"' | "'" chars "'" | chars up to the next ","
 *
 * A ","-separated piece that begins with NAME "=" starts a new field, any
 * other piece is one more item of the current field.  Inside double quotes
 * a backslash escapes the next character.  The JSON forms are arrays of
 * objects ('[{"Key":"k","Value":"v"}]'); a single object is accepted too.
 */
#ifndef BSNAP_ARGS_H
#define BSNAP_ARGS_H

#include <stdint.h>

/* EC2's limits on tags: a key has at most 127 characters and a value at
 * most 256, a resource at most 50 tags.  Lengths are in characters (UTF-8
 * code points), as AWS counts them. */
#define TAG_KEY_MAX 127
#define TAG_VALUE_MAX 256
#define TAGS_MAX 50

/* Bounds that keep a hostile filter argument from costing unbounded memory:
 * far above anything EC2 accepts in one call. */
#define FILTERS_MAX 200
#define FILTER_VALUES_MAX 1000

/* The largest changed-block list file bsnap_ranges_load() reads (a 1 TiB
 * volume listed chunk by chunk at 64 KiB is about 400 MiB of text). */
#define RANGES_FILE_MAX (1024ull * 1024 * 1024)

/* A range must end at or before this: an offset a file (off_t) can have. */
#define RANGE_END_MAX ((uint64_t)INT64_MAX)

#endif
