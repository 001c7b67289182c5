# help for a verb that does not exist.
blocksnap help frobnicate
