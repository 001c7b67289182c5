# A single-dash word is not an option blocksnap knows.
blocksnap diff -x
