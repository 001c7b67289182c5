# create-launch-template --tag-specifications: EC2's form of the template's
# tags (ResourceType launch-template, shorthand or JSON) tags the template;
# another resource type and --tags with it are usage errors (exit 2) that
# leave nothing behind.
blocksnap create-store >/dev/null
d='{"InstanceType":"t3.micro"}'
blocksnap create-launch-template --launch-template-name web --launch-template-data "$d" \
    --tag-specifications 'ResourceType=instance,Tags=[{Key=env,Value=prod}]' || echo "exit $?"
blocksnap create-launch-template --launch-template-name web --launch-template-data "$d" \
    --tags Key=a,Value=b \
    --tag-specifications 'ResourceType=launch-template,Tags=[{Key=env,Value=prod}]' || echo "exit $?"
blocksnap create-launch-template --launch-template-name web --launch-template-data "$d" \
    --tag-specifications 'ResourceType=launch-template,Tags=[{Key=env,Value=prod},{Key=team}]' \
    --query 'LaunchTemplate.Tags' --output text
blocksnap create-launch-template --launch-template-name dbs --launch-template-data "$d" \
    --tag-specifications '[{"ResourceType":"launch-template","Tags":[{"Key":"k","Value":"v"}]}]' \
    --query 'LaunchTemplate.Tags' --output text
blocksnap describe-launch-templates --filters Name=tag:env,Values=prod \
    --query 'LaunchTemplates[].LaunchTemplateName' --output text
