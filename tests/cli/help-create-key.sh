# The help of create-key, as --help and `help VERB` print it.
blocksnap create-key --help
