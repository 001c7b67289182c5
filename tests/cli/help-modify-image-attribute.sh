# The help of modify-image-attribute, as --help and `help VERB` print it.
blocksnap modify-image-attribute --help
