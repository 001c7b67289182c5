#!/usr/bin/env bash
# engine-check.sh - engine/ knows no command line and no output format.
#
# The engine takes typed options, returns documents and names EC2
# parameters in its errors (@{NoBootCheck}); the front-end library and the
# front ends own flags, argument parsing and rendering.  This check fails
# when a file of engine/:
#  - has a string literal that names a flag ("--word"),
#  - parses a command line (argc, argv, getopt),
#  - prints or renders for a terminal (stdout, stderr, printf, puts,
#    isatty, a pretty-printed JSON_INDENT).
# Comments do not count.  A line that is right as it is (the alignment
# check of test builds, which aborts like an assert) carries a marker
# comment "lint-ok: WHY" on it or in the comment just above it.
#
# Usage: tests/lint/engine-check.sh [SOURCE_DIR]   (exit 0 clean, 1 offenders)
set -euo pipefail

cd "${1:-$(dirname "$0")/../..}"
found=$(find engine -name '*.[ch]' -print0 | sort -z | xargs -0 awk '
    FNR == 1 { marked = 0; incomment = 0 }
    {
        line = $0
        if ($0 ~ /lint-ok:/)
            marked = 1
        # the string literals of the line, before comments are dropped
        # (a "/*" inside a string is not a comment)
        code = line
        gsub(/"([^"\\]|\\.)*"/, "\"\"", code)
        if (incomment) {
            if (code !~ /\*\//)
                next
            sub(/^.*\*\//, "", code)
            incomment = 0
        }
        gsub(/\/\*([^*]|\*+[^*\/])*\*+\//, "", code)
        sub(/\/\/.*/, "", code)
        if (code ~ /\/\*/) {
            sub(/\/\*.*/, "", code)
            incomment = 1
        }
        why = ""
        rest = line
        # strings only where the code has them: skip lines that are all comment
        if (code ~ /""/) {
            while (match(rest, /"([^"\\]|\\.)*"/)) {
                s = substr(rest, RSTART, RLENGTH)
                rest = substr(rest, RSTART + RLENGTH)
                if (s ~ /(^"|[^A-Za-z0-9_-])--[a-z]/)
                    why = "names a flag"
            }
        }
        if (code ~ /(^|[^A-Za-z0-9_])(argc|argv|getopt|getopt_long)([^A-Za-z0-9_]|$)/)
            why = "parses a command line"
        gsub(/format\(printf/, "format(", code) # the attribute, not a call
        if (code ~ /(^|[^A-Za-z0-9_])(stdout|stderr|printf|fprintf|puts|fputs|isatty|JSON_INDENT)([^A-Za-z0-9_]|$)/)
            why = "prints or renders"
        if (why != "" && !marked)
            printf "%s:%d: %s: %s\n", FILENAME, FNR, why, $0
        if (code !~ /^[ \t]*$/)
            marked = 0
    }')
if [ -n "$found" ]; then
    printf '%s\n' "$found"
    echo "engine-check: engine/ names flags, parses a command line or renders output;" \
        "name EC2 parameters in messages as @{Name} (engine/error.h) and leave" \
        "flags, parsing and rendering to the front-end library (front/)" >&2
    exit 1
fi
echo "engine-check: engine/ names no flag, parses no command line and renders nothing"
