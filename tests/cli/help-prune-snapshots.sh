# The help of prune-snapshots: its keep rules and --dry-run.
blocksnap prune-snapshots --help
