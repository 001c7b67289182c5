# The help of create-alias, as --help and `help VERB` print it.
blocksnap create-alias --help
