# The help of create-snapshot, as --help and `help VERB` print it.
blocksnap create-snapshot --help
