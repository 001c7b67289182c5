# Key and alias errors as KMS names them, each failing with exit 1 and
# changing nothing; the EBS settings before and after.
blocksnap create-store >/dev/null
blocksnap describe-key --key-id alias/nope || echo "exit $?"
blocksnap describe-key --key-id 00000000-0000-4000-8000-000000000000 || echo "exit $?"
blocksnap create-alias --alias-name alias/aws/mine --target-key-id alias/aws/ebs || echo "exit $?"
blocksnap create-alias --alias-name dr --target-key-id alias/aws/ebs || echo "exit $?"
blocksnap create-alias --alias-name alias/dr --target-key-id alias/none || echo "exit $?"
blocksnap delete-alias --alias-name alias/dr || echo "exit $?"
blocksnap modify-ebs-default-kms-key-id --kms-key-id alias/none || echo "exit $?"
blocksnap get-ebs-default-kms-key-id --output text
blocksnap get-ebs-encryption-by-default --output text
blocksnap enable-ebs-encryption-by-default --output text
blocksnap get-ebs-encryption-by-default --output text
blocksnap list-aliases
blocksnap list-keys
