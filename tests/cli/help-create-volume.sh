# The help of create-volume, as --help and `help VERB` print it.
blocksnap create-volume --help
