# The help of create-launch-template, as --help and `help VERB` print it.
blocksnap create-launch-template --help
