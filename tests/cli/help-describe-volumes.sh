# The help of describe-volumes, as --help and `help VERB` print it.
blocksnap describe-volumes --help
