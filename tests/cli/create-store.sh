# create-store makes an empty store and prints describe-store's document;
# a second create-store of the same store fails and changes nothing, and
# the new store answers the reading verbs.
blocksnap --store s create-store | sed -E 's/"(Path|StoreUuid|OwnerId|MetaBytes)": [^,]*/"\1": X/g'
blocksnap --store s create-store
echo "exit $?"
blocksnap --store s describe-snapshots
