# --flag=value works for list options too, and "--" ends the options:
# both ids reach the engine, which rejects them as malformed (exit 1).
blocksnap --quiet gc >/dev/null # a verb that writes makes the (empty) store
blocksnap describe-snapshots --snapshot-ids=snap-xyz
blocksnap diff -- --not-an-option
