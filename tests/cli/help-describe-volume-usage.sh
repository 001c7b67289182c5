# The help of describe-volume-usage, as --help prints it.
blocksnap describe-volume-usage --help
