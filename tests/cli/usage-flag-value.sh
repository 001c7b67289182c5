# A flag does not take a value.
blocksnap create-snapshot --volume x.img --full=yes
