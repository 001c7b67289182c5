# The help of copy-snapshot, as --help and `help VERB` print it.
blocksnap copy-snapshot --help
