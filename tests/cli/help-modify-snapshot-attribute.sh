# The help of modify-snapshot-attribute, as --help and `help VERB` print it.
blocksnap modify-snapshot-attribute --help
