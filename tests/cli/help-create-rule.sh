# The help of create-rule: what the Recycle Bin keeps, and its clock.
blocksnap create-rule --help
