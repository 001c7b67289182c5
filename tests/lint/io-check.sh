#!/usr/bin/env bash
# io-check.sh - no read of engine/, front/, fuse/, tools/, nbdkit/ or serve/ bypasses full_pread().
#
# The kernel's copy into user memory runs about 5x slower into a buffer
# that is not placed right for the file offset (the Buffers note in
# engine/util/util.h), so every read goes through full_pread(), which test
# builds check, into a buffer from alloc_aligned().  This check finds the
# calls that would bypass it: read, pread, readv, preadv, recv, recvfrom,
# recvmsg and fread, outside comments.  A call that is right as it is (the
# wrapper itself, a small read from a pipe) carries a marker comment
# "io-ok: WHY" on its line or in the comment just above it.
#
# Usage: tests/lint/io-check.sh [SOURCE_DIR]   (exit 0 clean, 1 offenders)
set -euo pipefail

cd "${1:-$(dirname "$0")/../..}"
found=$(find engine front fuse tools nbdkit serve -name '*.[ch]' -print0 | sort -z | xargs -0 awk '
    FNR == 1 { marked = 0 }
    {
        line = $0
        if ($0 ~ /io-ok:/)
            marked = 1
        # what lies in strings and comments is not a call: drop string
        # literals and /* ... */ on the line, and lines of a block comment
        # (an io-ok marker in the comment just above a call counts for it)
        gsub(/"([^"\\]|\\.)*"/, "\"\"", line)
        gsub(/\/\*([^*]|\*+[^*\/])*\*+\//, "", line)
        sub(/\/\/.*/, "", line)
        if (line ~ /^[ \t]*\*/ || line ~ /^[ \t]*\/\*/)
            next
        if (line ~ /(^|[^A-Za-z0-9_.>])(read|pread|pread64|readv|preadv|preadv2|recv|recvfrom|recvmsg|fread)[ \t]*\(/ &&
            !marked)
            printf "%s:%d: %s\n", FILENAME, FNR, $0
        if (line !~ /^[ \t]*$/)
            marked = 0
    }')
if [ -n "$found" ]; then
    printf '%s\n' "$found"
    echo "io-check: a read bypasses full_pread() (engine/util/util.h: Buffers);" \
        "read into an alloc_aligned() buffer with full_pread(), or mark a call" \
        "that is right as it is with a comment \"io-ok: WHY\"" >&2
    exit 1
fi
echo "io-check: every read of engine/ front/ fuse/ tools/ nbdkit/ serve/ goes through full_pread() or is marked io-ok"
