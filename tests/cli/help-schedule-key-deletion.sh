# The help of schedule-key-deletion, as --help and `help VERB` print it.
blocksnap schedule-key-deletion --help
