#!/usr/bin/env bash
# include-cycles.sh - the engine's modules use each other one way only.
#
# A module is a file name without its extension: X.c and X.h are module X
# (engine/, engine/util/ and engine/include/ alike).  Module X uses module Y
# when X.c or X.h has #include "Y.h".  The layers (docs/design.md) only
# work downwards, so these uses form no loop; a loop means two modules that
# call into each other, which either belong together or need the lower one
# to take what it needs from the upper one through a callback.  This check
# prints every loop it finds, as X -> Y -> ... -> X, and fails.
#
# Usage: tests/lint/include-cycles.sh [SOURCE_DIR]   (exit 0 clean, 1 loops)
set -euo pipefail

cd "${1:-$(dirname "$0")/../..}"

# Uses not counted yet, one "X Y" a line ("X uses Y"), each under its
# reason.  Delete a line as soon as the loop it stands for is gone (the
# check says when X no longer includes Y.h).
known='
'

mapfile -d '' files < <(find engine -name '*.[ch]' -print0 | sort -z)
awk -v known="$known" '
    BEGIN {
        n = split(known, k, "\n")
        for (i = 1; i <= n; i++)
            if (k[i] != "" && k[i] !~ /^#/)
                skip[k[i]] = 1
    }
    FNR == 1 {
        from = FILENAME
        sub(/.*\//, "", from)
        sub(/\.[ch]$/, "", from)
        mod[from] = 1
    }
    /^[ \t]*#[ \t]*include[ \t]*"/ {
        to = $0
        sub(/^[^"]*"/, "", to)
        sub(/".*/, "", to)
        sub(/.*\//, "", to)
        sub(/\.h$/, "", to)
        raw[from, to] = 1
        if (to == from || (from " " to) in skip)
            next
        if (!((from, to) in edge)) {
            edge[from, to] = 1
            adj[from] = adj[from] " " to
        }
    }
    # Depth-first search; an edge to a module on the current path closes a
    # loop: print the path from there.
    function visit(m,    i, n, next_mods, t, j, line) {
        state[m] = 1
        path[++depth] = m
        n = split(adj[m], next_mods, " ")
        for (i = 1; i <= n; i++) {
            t = next_mods[i]
            if (!(t in mod))
                continue # a system or unknown header
            if (state[t] == 1) {
                line = ""
                for (j = 1; j <= depth; j++)
                    if (line != "" || path[j] == t)
                        line = line path[j] " -> "
                print line t
                loops++
            } else if (state[t] == 0) {
                visit(t)
            }
        }
        depth--
        state[m] = 2
    }
    END {
        for (m in mod)
            state[m] = 0
        nm = 0
        for (m in mod)
            names[++nm] = m
        # sorted, so the output is the same from run to run
        for (i = 1; i <= nm; i++)
            for (j = i + 1; j <= nm; j++)
                if (names[j] < names[i]) {
                    t = names[i]; names[i] = names[j]; names[j] = t
                }
        for (i = 1; i <= nm; i++)
            if (state[names[i]] == 0)
                visit(names[i])
        if (loops) {
            fflush()
            printf "include-cycles: %d loop(s) among the engine'"'"'s modules (X -> Y: X.c or X.h includes Y.h);" \
                " the layers of docs/design.md go one way\n", loops > "/dev/stderr"
            exit 1
        }
        printf "include-cycles: the includes of %d engine modules form no loop\n", nm
        for (s in skip) {
            split(s, p, " ")
            if (!((p[1], p[2]) in raw))
                printf "include-cycles: %s no longer includes %s.h: delete \"%s\" from the known list\n",
                    p[1], p[2], s
        }
    }
' "${files[@]}"
