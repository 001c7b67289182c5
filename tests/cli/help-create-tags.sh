# The help of create-tags, as --help and `help VERB` print it.
blocksnap create-tags --help
