# The help of tag-resource, as --help and `help VERB` print it.
blocksnap tag-resource --help
