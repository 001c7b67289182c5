# delete-volume needs --volume-id: the parser names the missing required option.
blocksnap delete-volume
