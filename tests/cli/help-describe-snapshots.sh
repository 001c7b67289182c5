# The help of describe-snapshots, as --help and `help VERB` print it.
blocksnap describe-snapshots --help
