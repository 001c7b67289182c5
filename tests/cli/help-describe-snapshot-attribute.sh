# The help of describe-snapshot-attribute, as --help and `help VERB` print it.
blocksnap describe-snapshot-attribute --help
