# The help of delete-snapshot, as --help and `help VERB` print it.
blocksnap delete-snapshot --help
