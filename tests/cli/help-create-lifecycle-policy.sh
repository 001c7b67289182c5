# The help of create-lifecycle-policy: DLM's PolicyDetails, what is refused.
blocksnap create-lifecycle-policy --help
