# The help of put-snapshot-block, as --help and `help VERB` print it.
blocksnap put-snapshot-block --help
