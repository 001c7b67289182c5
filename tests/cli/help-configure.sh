# The help of configure, as --help and `help VERB` print it.
blocksnap configure --help
