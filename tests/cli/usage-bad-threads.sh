# --threads takes a number.
blocksnap create-snapshot --volume x.img --threads many
