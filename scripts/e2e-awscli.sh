#!/usr/bin/env bash
# End-to-end test with a real client: Debian's AWS CLI v2.9, which speaks SQS's query/XML
# protocol, drives a real `sluice serve` on 127.0.0.1 through every standard-queue action.
# Usage: scripts/e2e-awscli.sh [path/to/sluice]   (builds ./cmd/sluice when no binary is given)
set -euo pipefail

AWSCLI=${AWSCLI:-/usr/bin/aws}
if ! "$AWSCLI" --version 2>&1 | grep -q '^aws-cli/2\.9\.'; then
  echo "e2e-awscli: need Debian's awscli 2.9 at $AWSCLI (apt-get install awscli)" >&2
  exit 1
fi

work=$(mktemp -d)
bin=${1:-}
if [ -z "$bin" ]; then
  bin="$work/sluice"
  go build -o "$bin" ./cmd/sluice
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --listen "127.0.0.1:$port" --data-dir "$work/data" --log-level warn 2>"$work/server.log" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

export AWS_ACCESS_KEY_ID=AKIDE2E AWS_SECRET_ACCESS_KEY=secret AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
aws() { "$AWSCLI" --endpoint-url "http://127.0.0.1:$port" --output text "$@"; }
fail() { echo "e2e-awscli: FAIL: $*" >&2; cat "$work/server.log" >&2; exit 1; }
expect() { # expect NAME GOT WANT
  if [ "$2" != "$3" ]; then fail "$1: got '$2', want '$3'"; fi
  echo "ok - $1"
}

# The CLI must really be speaking the query protocol.
"$AWSCLI" --endpoint-url "http://127.0.0.1:$port" --debug sqs list-queues >/dev/null 2>"$work/debug.log"
grep -q "'Action': 'ListQueues'" "$work/debug.log" || fail "aws cli did not use the query protocol"
echo "ok - aws cli speaks the query protocol"

url=$(aws sqs create-queue --queue-name e2e --attributes VisibilityTimeout=40,DelaySeconds=0 --tags team=core --query QueueUrl)
expect create-queue "$url" "http://127.0.0.1:$port/000000000000/e2e"
expect create-queue-idempotent "$(aws sqs create-queue --queue-name e2e --attributes VisibilityTimeout=40 --query QueueUrl)" "$url"
if aws sqs create-queue --queue-name e2e --attributes VisibilityTimeout=41 2>"$work/err"; then fail "create with other attributes succeeded"; fi
grep -q QueueAlreadyExists "$work/err" || fail "want QueueAlreadyExists, got $(cat "$work/err")"
echo "ok - create-queue conflict"
expect get-queue-url "$(aws sqs get-queue-url --queue-name e2e --query QueueUrl)" "$url"
if aws sqs get-queue-url --queue-name missing 2>"$work/err"; then fail "missing queue found"; fi
grep -q "AWS.SimpleQueueService.NonExistentQueue" "$work/err" || fail "want NonExistentQueue, got $(cat "$work/err")"
echo "ok - get-queue-url of a missing queue"

aws sqs set-queue-attributes --queue-url "$url" --attributes MaximumMessageSize=2048,ReceiveMessageWaitTimeSeconds=1
expect get-queue-attributes "$(aws sqs get-queue-attributes --queue-url "$url" --attribute-names VisibilityTimeout MaximumMessageSize QueueArn --query 'Attributes.[VisibilityTimeout,MaximumMessageSize,QueueArn]')" \
  "40	2048	arn:aws:sqs:us-east-1:000000000000:e2e"

body=$'hello "e2e" <&> \r\nline2 ünïcode'
sent=$(aws sqs send-message --queue-url "$url" --message-body "$body" --message-attributes \
  '{"s":{"DataType":"String","StringValue":"v"},"n":{"DataType":"Number","StringValue":"1493147359900"},"b":{"DataType":"Binary","BinaryValue":"AAEC"}}' \
  --query '[MessageId,MD5OfMessageBody,MD5OfMessageAttributes]')
read -r mid md5body md5attrs <<<"$sent"
expect send-message-md5 "$md5body" "$(printf '%s' "$body" | md5sum | cut -d' ' -f1)"
aws sqs get-queue-attributes --queue-url "$url" --attribute-names ApproximateNumberOfMessages --query 'Attributes.ApproximateNumberOfMessages' >"$work/n"
expect depth-after-send "$(cat "$work/n")" 1

"$AWSCLI" --endpoint-url "http://127.0.0.1:$port" --output json sqs receive-message --queue-url "$url" \
  --attribute-names All --message-attribute-names All >"$work/recv.json"
python3 - "$work/recv.json" "$mid" "$md5attrs" "$body" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
m = r["Messages"][0]
assert m["MessageId"] == sys.argv[2], m
assert m["MD5OfMessageAttributes"] == sys.argv[3], m
assert m["Body"] == sys.argv[4], (m["Body"], sys.argv[4])
assert m["MessageAttributes"]["n"]["StringValue"] == "1493147359900", m
assert m["Attributes"]["ApproximateReceiveCount"] == "1", m
assert m["Attributes"]["SenderId"] == "AKIDE2E", m
open(sys.argv[1] + ".handle", "w").write(m["ReceiptHandle"])
PY
echo "ok - receive-message with attributes"
handle=$(cat "$work/recv.json.handle")
aws sqs change-message-visibility --queue-url "$url" --receipt-handle "$handle" --visibility-timeout 0
again=$(aws sqs receive-message --queue-url "$url" --attribute-names ApproximateReceiveCount --query 'Messages[0].[ReceiptHandle,Attributes.ApproximateReceiveCount]')
read -r handle count <<<"$again"
expect change-message-visibility "$count" 2
aws sqs delete-message --queue-url "$url" --receipt-handle "$handle"
if aws sqs delete-message --queue-url "$url" --receipt-handle garbage 2>"$work/err"; then fail "garbage handle accepted"; fi
grep -q ReceiptHandleIsInvalid "$work/err" || fail "want ReceiptHandleIsInvalid, got $(cat "$work/err")"
echo "ok - delete-message"

out=$(aws sqs send-message-batch --queue-url "$url" --entries \
  'Id=a,MessageBody=one' 'Id=b,MessageBody=two' "Id=c,MessageBody=$(printf 'x%.0s' $(seq 3000))" \
  --query '[length(Successful), length(Failed), Failed[0].Code]')
expect send-message-batch "$out" "2	1	InvalidParameterValue"
# Receive both, then change their visibility and delete them in batches.
"$AWSCLI" --endpoint-url "http://127.0.0.1:$port" --output json sqs receive-message --queue-url "$url" --max-number-of-messages 10 >"$work/r.json"
python3 - "$work/r.json" >"$work/entries" <<'PY'
import json, sys
ms = json.load(open(sys.argv[1]))["Messages"]
assert len(ms) == 2, ms
print(json.dumps([{"Id": "e%d" % i, "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 300} for i, m in enumerate(ms)]))
PY
expect change-message-visibility-batch "$(aws sqs change-message-visibility-batch --queue-url "$url" --entries "file://$work/entries" --query 'length(Successful)')" 2
python3 -c 'import json,sys; print(json.dumps([{"Id":e["Id"],"ReceiptHandle":e["ReceiptHandle"]} for e in json.load(open(sys.argv[1]))]))' "$work/entries" >"$work/del"
expect delete-message-batch "$(aws sqs delete-message-batch --queue-url "$url" --entries "file://$work/del" --query 'length(Successful)')" 2
expect empty-after-delete "$(aws sqs get-queue-attributes --queue-url "$url" --attribute-names All --query 'Attributes.[ApproximateNumberOfMessages,ApproximateNumberOfMessagesNotVisible]')" "0	0"

aws sqs send-message --queue-url "$url" --message-body purge-me >/dev/null
aws sqs purge-queue --queue-url "$url"
expect purge-queue "$(aws sqs get-queue-attributes --queue-url "$url" --attribute-names ApproximateNumberOfMessages --query 'Attributes.ApproximateNumberOfMessages')" 0
if aws sqs purge-queue --queue-url "$url" 2>"$work/err"; then fail "second purge within 60s succeeded"; fi
grep -q PurgeQueueInProgress "$work/err" || fail "want PurgeQueueInProgress, got $(cat "$work/err")"
echo "ok - purge-queue 60-second rule"

aws sqs create-queue --queue-name e2e-other >/dev/null
expect list-queues "$(aws sqs list-queues --queue-name-prefix e2e --query 'length(QueueUrls)')" 2
expect list-queues-prefix "$(aws sqs list-queues --queue-name-prefix e2e-o --query 'QueueUrls[0]')" "http://127.0.0.1:$port/000000000000/e2e-other"

aws sqs tag-queue --queue-url "$url" --tags env=dev,Team=x
expect list-queue-tags "$(aws sqs list-queue-tags --queue-url "$url" --query 'Tags.[team,env,Team]')" "core	dev	x"
aws sqs untag-queue --queue-url "$url" --tag-keys team Team
expect untag-queue "$(aws sqs list-queue-tags --queue-url "$url" --query 'Tags.env')" dev

aws sqs delete-queue --queue-url "$url"
if aws sqs get-queue-url --queue-name e2e 2>/dev/null; then fail "deleted queue still there"; fi
echo "ok - delete-queue"
echo "e2e-awscli: all passed"
