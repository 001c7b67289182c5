# A well-formed id that does not exist.
blocksnap describe-snapshots --snapshot-ids snap-0123456789abcdef0
