# The help of serve, as --help and `help VERB` print it.
blocksnap serve --help
