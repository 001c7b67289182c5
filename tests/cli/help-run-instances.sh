# The help of run-instances, as --help and `help VERB` print it.
blocksnap run-instances --help
