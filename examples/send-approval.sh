#!/bin/sh
# Signs and sends one approval (or denial) to policy-sidecar's webhook, the way an approval
# system should: Standard Webhooks headers, HMAC-SHA256 over "<id>.<timestamp>.<body>" with the
# base64-decoded part of a whsec_ secret. Needs only openssl and curl.
#
#   examples/send-approval.sh URL SECRETS_FILE AGENT_ID TARGET_TIER APPROVER [RATIONALE]
#
#   URL           https://127.0.0.1:8443 (the webhook path is appended)
#   SECRETS_FILE  webhook.secrets_file: the first whsec_ line signs
#   environment:  CACERT=ca.pem          CA that signed the listener's certificate
#                 CLIENT_CERT/CLIENT_KEY  when the listener requires client certificates
#                 TYPE=promotion.denied   to send a denial (default promotion.approved)
#                 WEBHOOK_ID=...          to resend the same delivery (default: a new id)
#                 REVIEW_ID=...           the approval system's own reference (optional)
#
# The answer is printed; the exit status is 0 for a 2xx answer, 22 otherwise (curl --fail).
# Note: openssl takes the HMAC key as a command-line argument for the moment it runs; on a
# shared host, run this where other users cannot list your processes.
set -eu

if [ $# -lt 5 ]; then
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
url=$1 secrets_file=$2 agent=$3 tier=$4 approver=$5 rationale=${6:-}
type=${TYPE:-promotion.approved}

case $tier in ''|*[!0-9]*) echo "send-approval: TARGET_TIER must be a number" >&2; exit 2 ;; esac

secret=$(grep -m1 '^whsec_' "$secrets_file" || true)
if [ -z "$secret" ]; then
  echo "send-approval: no whsec_ secret in $secrets_file" >&2
  exit 2
fi
key_hex=$(printf '%s' "${secret#whsec_}" | openssl base64 -d -A | od -An -v -tx1 | tr -d ' \n')

# JSON string escaping for the few characters that need it in these fields.
json_str() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }

body="{\"type\":\"$type\",\"data\":{\"agent_id\":\"$(json_str "$agent")\",\"target_tier\":$tier,\"approver\":\"$(json_str "$approver")\""
[ -n "$rationale" ] && body="$body,\"rationale\":\"$(json_str "$rationale")\""
[ -n "${REVIEW_ID:-}" ] && body="$body,\"review_id\":\"$(json_str "$REVIEW_ID")\""
body="$body}}"

id=${WEBHOOK_ID:-msg_$(openssl rand -hex 12)}
ts=$(date +%s)
sig=$(printf '%s.%s.%s' "$id" "$ts" "$body" |
      openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key_hex" -binary | openssl base64 -A)

set -- --silent --show-error --fail-with-body --max-time 30 \
  -H "Content-Type: application/json" \
  -H "webhook-id: $id" -H "webhook-timestamp: $ts" -H "webhook-signature: v1,$sig" \
  --data-binary "$body"
[ -n "${CACERT:-}" ] && set -- "$@" --cacert "$CACERT"
[ -n "${CLIENT_CERT:-}" ] && set -- "$@" --cert "$CLIENT_CERT" --key "${CLIENT_KEY:?CLIENT_KEY is needed with CLIENT_CERT}"

curl "$@" "${url%/}/v1/webhooks/approval"
echo
