# The help of stop-instances, as --help and `help VERB` print it.
blocksnap stop-instances --help
