# A malformed id is the engine's error: exit 1, EC2's code.
blocksnap describe-snapshots --snapshot-ids snap-xyz
