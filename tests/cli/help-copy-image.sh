# The help of copy-image, as --help and `help VERB` print it.
blocksnap copy-image --help
