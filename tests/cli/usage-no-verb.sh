# No verb: a usage error pointing at the main help.
blocksnap
