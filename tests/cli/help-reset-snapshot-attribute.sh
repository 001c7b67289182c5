# The help of reset-snapshot-attribute, as --help and `help VERB` print it.
blocksnap reset-snapshot-attribute --help
