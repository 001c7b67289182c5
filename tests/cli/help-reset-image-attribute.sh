# The help of reset-image-attribute, as --help and `help VERB` print it.
blocksnap reset-image-attribute --help
