# The instance verbs' option errors: each names what was wrong, exits 2 and
# writes nothing (the store is not even made).
blocksnap run-instances
echo "exit $?"
blocksnap run-instances --image-id ami-0123456789abcdef0 --count 0
echo "exit $?"
blocksnap run-instances --image-id ami-0123456789abcdef0 --count 2 --min-count 1
echo "exit $?"
blocksnap run-instances --image-id ami-0123456789abcdef0 --count 3:x
echo "exit $?"
blocksnap run-instances --image-id ami-0123456789abcdef0 --block-device-mappings 'DeviceName=/dev/xvdb,Ebs={VolumeSize=big}'
echo "exit $?"
blocksnap run-instances --image-id ami-0123456789abcdef0 --tag-specifications '[{"ResourceType":'
echo "exit $?"
blocksnap stop-instances
echo "exit $?"
blocksnap stop-instances --instance-ids i-0123456789abcdef0 --stop-timeout soon
echo "exit $?"
blocksnap get-console-output
echo "exit $?"
[ -e store ] && echo "a store was made"
exit 0
