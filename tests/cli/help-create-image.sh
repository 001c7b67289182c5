# The help of create-image: machines by their volumes, or instances.
blocksnap create-image --help
