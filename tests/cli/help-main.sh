# The main help, on stdout, exit 0; "help" prints the same.
blocksnap --help
blocksnap help | cmp - <(blocksnap --help) && echo "help: same as --help"
