# The help of describe-key, as --help and `help VERB` print it.
blocksnap describe-key --help
