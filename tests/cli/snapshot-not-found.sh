# A well-formed id that does not exist.
blocksnap --quiet gc >/dev/null # a verb that writes makes the (empty) store
blocksnap describe-snapshots --snapshot-ids snap-0123456789abcdef0
