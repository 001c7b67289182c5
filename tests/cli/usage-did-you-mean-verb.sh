# A mistyped verb is a usage error (exit 2) naming the closest verbs; a word
# close to none gets no suggestion.
blocksnap descibe-snapshots
blocksnap create-tag --resources snap-0123456789abcdef0
blocksnap help descibe-images
blocksnap delete-snapshots --snapshot-id snap-0123456789abcdef0
blocksnap zzzzzzzz
