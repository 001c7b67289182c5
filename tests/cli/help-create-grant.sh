# The help of create-grant, as --help and `help VERB` print it.
blocksnap create-grant --help
