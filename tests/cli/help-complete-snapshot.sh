# The help of complete-snapshot, as --help and `help VERB` print it.
blocksnap complete-snapshot --help
