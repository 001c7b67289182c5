# An unknown option is a usage error naming it.
blocksnap describe-snapshots --snapshot-idz snap-0123456789abcdef0
