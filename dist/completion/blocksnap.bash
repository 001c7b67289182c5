# bash completion of blocksnap: verbs, the options of the verb being typed,
# and snapshot, volume, image and launch template ids read from the store.
# blocksnap itself works out what fits (its hidden `__complete` verb reads
# the words as it would parse them); this only hands them over.
_blocksnap() {
    local cur=${COMP_WORDS[COMP_CWORD]} out rc=0
    out=$("${COMP_WORDS[0]:-blocksnap}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || rc=$?
    local IFS=$'\n'
    # shellcheck disable=SC2207 # one candidate a line
    COMPREPLY=($(compgen -W "$out" -- "$cur"))
    if [ "$rc" -eq 3 ]; then
        # shellcheck disable=SC2207
        COMPREPLY+=($(compgen -f -- "$cur"))
        compopt -o filenames 2>/dev/null || true
    fi
}
complete -F _blocksnap blocksnap
