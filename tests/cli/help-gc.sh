# The help of gc, as --help and `help VERB` print it.
blocksnap gc --help
