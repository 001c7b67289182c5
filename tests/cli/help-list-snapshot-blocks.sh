# The help of list-snapshot-blocks, as --help and `help VERB` print it.
blocksnap list-snapshot-blocks --help
