# Launch template errors: usage errors exit 2 (a template named by both id
# and name, by neither, a required option missing, a bad number); what the
# engine refuses exits 1 naming the field (a malformed name, unknown or
# mistyped data, an unknown image, a file:// that is not there, the
# default version); and nothing is left behind.
blocksnap create-store >/dev/null
d='{"InstanceType":"t3.micro"}'
blocksnap create-launch-template --launch-template-name web || echo "exit $?"
blocksnap create-launch-template --launch-template-data "$d" || echo "exit $?"
blocksnap create-launch-template-version --launch-template-data "$d" || echo "exit $?"
blocksnap create-launch-template-version --launch-template-name web \
    --launch-template-id lt-0123456789abcdef0 --launch-template-data "$d" || echo "exit $?"
blocksnap modify-launch-template --launch-template-name web || echo "exit $?"
blocksnap delete-launch-template || echo "exit $?"
blocksnap describe-launch-template-versions --launch-template-name web --min-version x \
    || echo "exit $?"
blocksnap create-launch-template --launch-template-name 'a b' --launch-template-data "$d" \
    || echo "exit $?"
blocksnap create-launch-template --launch-template-name web --launch-template-data '{"Cpu":1}' \
    || echo "exit $?"
blocksnap create-launch-template --launch-template-name web \
    --launch-template-data '{"InstanceType":["t3.micro"]}' || echo "exit $?"
blocksnap create-launch-template --launch-template-name web \
    --launch-template-data '{"ImageId":"ami-0123456789abcdef0"}' || echo "exit $?"
blocksnap create-launch-template --launch-template-name web \
    --launch-template-data file://nothere.json || echo "exit $?"
blocksnap describe-launch-templates --launch-template-names web || echo "exit $?"
blocksnap describe-launch-template-versions --versions 1 || echo "exit $?"
blocksnap describe-launch-templates --output text
echo "$d" >data.json
blocksnap create-launch-template --launch-template-name web --launch-template-data file://data.json \
    --output text | cut -f 3-5
{ blocksnap delete-launch-template-versions --launch-template-name web --versions 1 \
    --output text || echo "exit $?"; } | sed 's/lt-[0-9a-f]*/lt-ID/'
blocksnap delete-launch-template --launch-template-name web --output text | cut -f 3-5
blocksnap describe-launch-templates --output text
