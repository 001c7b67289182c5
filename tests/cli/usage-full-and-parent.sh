# --full and --parent contradict each other.
blocksnap create-snapshot --volume x.img --full --parent snap-0123456789abcdef0
