# create-snapshot needs --volume or --volume-id.
blocksnap create-snapshot --description nightly
