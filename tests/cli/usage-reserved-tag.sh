# Keys starting with "aws:" are reserved.
blocksnap create-tags --resources snap-0123456789abcdef0 --tags '[{"Key":"aws:x","Value":"y"}]'
