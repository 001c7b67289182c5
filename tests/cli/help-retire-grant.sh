# The help of retire-grant, as --help and `help VERB` print it.
blocksnap retire-grant --help
