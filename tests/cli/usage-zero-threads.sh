# --threads 0 is no number of workers: a usage error, as is any value out of range.
blocksnap create-snapshot --volume x.img --threads 0
