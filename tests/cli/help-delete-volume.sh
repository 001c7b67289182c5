# The help of delete-volume, as --help and `help VERB` print it.
blocksnap delete-volume --help
