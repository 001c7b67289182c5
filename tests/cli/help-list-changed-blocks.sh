# The help of list-changed-blocks, as --help and `help VERB` print it.
blocksnap list-changed-blocks --help
