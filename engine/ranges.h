/* ranges.h - changed-block lists (the input of an incremental snapshot that
 * reads only what changed) and the check of text a user gave for a field
 * EC2 limits in characters.
 *
 * The public entry points are bsnap_ranges_parse(), bsnap_ranges_load() and
 * bsnap_text_check() (see blocksnap.h).  This module guarantees:
 *  - a list is sorted, without overlaps or empty ranges, every range ends
 *    at an offset a file can have, and it is written only on success;
 *  - every rejection is -EINVAL (InvalidParameterValue) naming
 *    "NAME line N: what";
 *  - nothing here touches a store: the parser is pure and fuzzed
 *    (tests/fuzz/fuzz-ranges.c).
 *
 * The AWS CLI's tag and filter arguments are a front end's input: the
 * front-end library parses them (front/include/bsfront.h).
 */
#ifndef BSNAP_RANGES_H
#define BSNAP_RANGES_H

#include <stdint.h>

/* The largest changed-block list file bsnap_ranges_load() reads.  A 1 TiB
 * volume listed chunk by chunk is about 400 MiB of text in a store of
 * 64 KiB chunks, but 1.6 GiB at 16 KiB: a list past this bound is refused
 * with an error naming it (merged runs, as diff prints, stay far below). */
#define RANGES_FILE_MAX (1024ull * 1024 * 1024)

/* A range must end at or before this: an offset a file (off_t) can have. */
#define RANGE_END_MAX ((uint64_t)INT64_MAX)

#endif
