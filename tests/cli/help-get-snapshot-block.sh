# The help of get-snapshot-block, as --help and `help VERB` print it.
blocksnap get-snapshot-block --help
