# ... but not both.
blocksnap create-snapshot --volume x.img --volume-id vol-0123456789abcdef0
