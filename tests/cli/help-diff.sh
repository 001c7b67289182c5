# The help of diff, as --help and `help VERB` print it.
blocksnap diff --help
