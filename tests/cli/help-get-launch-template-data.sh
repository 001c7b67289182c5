# The help of get-launch-template-data, as --help and `help VERB` print it.
blocksnap get-launch-template-data --help
