# The help of describe-snapshot-usage, as --help prints it.
blocksnap describe-snapshot-usage --help
