# create-image takes --threads as create-snapshot does: 1 to 1024.
blocksnap create-image --name m1 --volume /dev/xvda=x.img --threads 0
