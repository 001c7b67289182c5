# The help of backup-vm, as --help and `help VERB` print it.
blocksnap backup-vm --help
