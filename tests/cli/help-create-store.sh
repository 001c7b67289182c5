# The help of create-store, as --help and `help VERB` print it.
blocksnap create-store --help
