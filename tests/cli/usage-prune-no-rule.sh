# prune-snapshots needs at least one keep rule above 0: a usage error.
blocksnap prune-snapshots --keep-daily 0 --dry-run
