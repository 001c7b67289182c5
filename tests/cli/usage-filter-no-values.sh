# A filter without values is a usage error, not a filter that matches nothing.
blocksnap describe-images --filters Name=name
