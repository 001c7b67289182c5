# The help of verify, as --help and `help VERB` print it.
blocksnap verify --help
