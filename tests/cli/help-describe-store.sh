# The help of describe-store, as --help and `help VERB` print it.
blocksnap describe-store --help
