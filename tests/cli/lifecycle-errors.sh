# Lifecycle policies: required flags missing (usage), details that name the
# field they fail on (InvalidRequestException), malformed and unknown ids,
# a bad --now; nothing is created by any of them.
blocksnap create-lifecycle-policy --state ENABLED || echo "exit $?"
blocksnap create-lifecycle-policy --description d --state ON --policy-details '{}' || echo "exit $?"
blocksnap create-lifecycle-policy --description 'a;b' --state ENABLED --policy-details '{}' || echo "exit $?"
blocksnap create-lifecycle-policy --description d --state ENABLED --policy-details '{"Schedules":[' || echo "exit $?"
blocksnap create-lifecycle-policy --description d --state ENABLED --policy-details '{"TargetTags":[{"Key":"k","Value":"v"}],"Schedules":[{"Name":"c","CreateRule":{"CronExpression":"cron(0 3 * * ? *)"},"RetainRule":{"Count":1}}]}' || echo "exit $?"
blocksnap create-lifecycle-policy --description d --state ENABLED --policy-details '{"TargetTags":[{"Key":"k","Value":"v"}],"Schedules":[{"Name":"c","CreateRule":{"Interval":5,"IntervalUnit":"HOURS"},"RetainRule":{"Count":1}}]}' || echo "exit $?"
blocksnap create-lifecycle-policy --description d --state ENABLED --policy-details file://missing.json || echo "exit $?"
blocksnap get-lifecycle-policies
blocksnap get-lifecycle-policy --policy-id policy-1 || echo "exit $?"
blocksnap get-lifecycle-policy --policy-id policy-0123456789abcdef0 || echo "exit $?"
blocksnap delete-lifecycle-policy --policy-id policy-0123456789abcdef0 || echo "exit $?"
blocksnap update-lifecycle-policy --policy-id policy-0123456789abcdef0 --state DISABLED || echo "exit $?"
blocksnap run-lifecycle-policies --now yesterday || echo "exit $?"
blocksnap run-lifecycle-policies --policy-ids policy-0123456789abcdef0 || echo "exit $?"
blocksnap run-lifecycle-policies --now 2026-01-01T00:00:00Z
