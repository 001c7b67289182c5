# A malformed id is the engine's error: exit 1, EC2's code.
blocksnap --quiet gc >/dev/null # a verb that writes makes the (empty) store
blocksnap describe-snapshots --snapshot-ids snap-xyz
