# The help of start-snapshot, as --help and `help VERB` print it.
blocksnap start-snapshot --help
