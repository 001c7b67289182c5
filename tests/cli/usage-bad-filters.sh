# A filter without Name=.
blocksnap describe-volumes --filters Values=a,b
