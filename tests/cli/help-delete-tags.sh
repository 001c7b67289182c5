# The help of delete-tags, as --help and `help VERB` print it.
blocksnap delete-tags --help
