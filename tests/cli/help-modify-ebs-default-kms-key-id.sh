# The help of modify-ebs-default-kms-key-id, as --help and `help VERB` print it.
blocksnap modify-ebs-default-kms-key-id --help
