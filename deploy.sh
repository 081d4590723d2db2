#!/usr/bin/env bash
# Deploy one stage of chalice-chat to AWS in one command (docs/DEPLOY.md).
#
#   infra/ (Terraform: tables, private site bucket + CloudFront, JWT secret, log groups)
#   -> chalice deploy (Lambdas with a role each, REST + WebSocket APIs, stream mappings)
#   -> what Chalice cannot set: stage throttles, every stream mapping's
#      ReportBatchItemFailures, the APIs' origins in the site's Content-Security-Policy
#   -> the site and its config.json on S3, then a CloudFront invalidation.
#
# Every step checks before it changes, so a second run changes only what changed.
# AWS_ENDPOINT_URL (e.g. a moto server) sends Terraform, Chalice and boto3 to an
# emulator instead of AWS; the offline tests use it.
set -Eeuo pipefail
cd "$(dirname "$0")"

usage() {
  cat <<'EOF'
Usage: ./deploy.sh [--stage dev] [--region us-east-1] [--yes] [--terraform] [--skip-build]
       ./deploy.sh --rotate-secret [--stage dev] [--region us-east-1]

  --stage NAME    stage to deploy (default: dev); names every resource
  --region NAME   AWS region (default: $AWS_REGION, $AWS_DEFAULT_REGION or us-east-1)
  --yes, -y       apply the Terraform plan without asking
  --terraform     one Terraform state for everything: `chalice package` output
                  combined with infra/ in infra/combined/<stage>/
  --skip-build    upload frontend/dist as it is (no npm ci / npm run build)
  --rotate-secret only the next due phase of a JWT signing key rotation (publish,
                  sign, drop); it says when to run it again. No token is refused.
  --help, -h      this text

Needs: AWS credentials, terraform >= 1.11, python3 >= 3.11 (the project venv is
made with `make venv` when missing), node + npm to build the site.
EOF
}

STAGE=dev
REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}
YES=0
COMBINED=0
SKIP_BUILD=0
ROTATE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) STAGE=${2:?--stage needs a value}; shift 2 ;;
    --region) REGION=${2:?--region needs a value}; shift 2 ;;
    --yes | -y) YES=1; shift ;;
    --terraform) COMBINED=1; shift ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    --rotate-secret) ROTATE=1; shift ;;
    --help | -h) usage; exit 0 ;;
    *) echo "deploy.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
SCRIPT=deploy.sh
# shellcheck source=infra/scripts/common.sh
source infra/scripts/common.sh
check_stage_and_region
trap 'on_error' ERR
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [ "$COMBINED" = 1 ]; then TOTAL=8; else TOTAL=11; fi
STEP=0

# ---------------------------------------------------------------- 1. tools
step "Checking prerequisites"
check_prerequisites
if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
  note "emulator endpoint: $AWS_ENDPOINT_URL (AWS_ENDPOINT_URL)"
fi

if [ "$ROTATE" = 1 ]; then
  "$PY" -m infra.tools rotate-secret --stage "$STAGE" --region "$REGION"
  exit 0
fi

# Build the site early: a broken build should stop us before anything changes.
build_site() {
  if [ ! -f frontend/package.json ] && [ ! -d frontend/dist ]; then
    note "frontend/ not present: no site to upload"
    return
  fi
  if [ "$SKIP_BUILD" = 1 ]; then
    note "using frontend/dist as it is (--skip-build)"
  else
    (cd frontend && npm ci --no-audit --no-fund && npm run build)
  fi
  [ -f frontend/dist/index.html ] || fail "frontend/dist/index.html missing after the build"
}

upload_site() { # [rest_url ws_url]: config.json only with both URLs; then the invalidation
  [ -f frontend/dist/index.html ] || return 0
  notes "$("$PY" -m infra.tools upload-site --region "$REGION" --bucket "$SITE_BUCKET" \
    --dist frontend/dist --rest-api-url "${1:-}" --websocket-api-url "${2:-}" \
    --distribution-id "$(output distribution_id)")"
}

read_outputs() { # read_outputs DIR: its state's outputs into $WORK/outputs.json
  terraform -chdir="$1" output -json >"$WORK/outputs.json"
  SITE_BUCKET=$(output site_bucket)
  WEBSITE_URL=$(output website_url)
}

# What the account can reserve for the REST function (infra/throttles.tf decides).
UNRESERVED=$("$PY" -m infra.tools available-concurrency --stage "$STAGE" --region "$REGION")
TF_VARS=(-var "stage=$STAGE" -var "region=$REGION" -var "account_unreserved_concurrency=$UNRESERVED")

apply_api_origins() { # DIR WORKSPACE ORIGINS: the CSP's connect-src, applied only on a change
  if [ "$3" = "$API_ORIGINS" ]; then
    note "Content-Security-Policy already allows $3"
    return 0
  fi
  API_ORIGINS=$3
  note "Content-Security-Policy: connect-src 'self' plus $API_ORIGINS"
  terraform_apply "$1" "$2" "${TF_VARS[@]}" -var "api_origins=$API_ORIGINS"
}

report_reserved_concurrency() {
  local reserved
  reserved=$(output throttles api_reserved_concurrency)
  if [ "$reserved" = 0 ]; then
    note "WARNING: no concurrency reserved for the REST function: the account can reserve $UNRESERVED"
    note "and AWS keeps 100 unreserved. Raise the quota and deploy again (docs/DEPLOY.md, Throttles)."
  else
    note "REST function: $reserved concurrent executions reserved (and its cap)"
  fi
}

if [ "$COMBINED" = 1 ]; then
  # ------------------------------------------------ --terraform: one state
  DIR=infra/combined/$STAGE
  step "Building the site"
  build_site
  step "Packaging the app with infra/ into $DIR/"
  "$PY" -m infra.tools combined --stage "$STAGE" --region "$REGION" >/dev/null
  terraform_init "$DIR" ""
  terraform -chdir="$DIR" output -json >"$WORK/outputs.json"
  API_ORIGINS=$("$PY" -m infra.tools api-origins --outputs "$WORK/outputs.json")
  step "Terraform plan and apply of $DIR"
  terraform_apply "$DIR" "" "${TF_VARS[@]}" -var "api_origins=$API_ORIGINS"
  read_outputs "$DIR"
  report_reserved_concurrency
  step "Content-Security-Policy: the APIs' origins"
  apply_api_origins "$DIR" "" "$("$PY" -m infra.tools api-origins --outputs "$WORK/outputs.json")"
  read_outputs "$DIR"
  REST_URL=$(output EndpointURL)
  REST_URL=${REST_URL%/}
  WS_URL=$(output WebsocketConnectEndpointURL)
  WS_URL=${WS_URL%/}
  step "Uploading the site and its config.json"
  upload_site "$REST_URL" "$WS_URL"
  step "Stream mappings and throttles"
  note "ReportBatchItemFailures, throttles and the delivery queue: $DIR/chalice_override.tf.json, additions.tf.json"
else
  # ------------------------------------------------ chalice deploy
  step "Building the site"
  build_site
  step "Terraform plan and apply of infra/ (workspace $STAGE)"
  API_ORIGINS=$("$PY" -m infra.tools deployed --stage "$STAGE" api_origins)
  terraform_apply infra "$STAGE" "${TF_VARS[@]}" -var "api_origins=$API_ORIGINS"
  read_outputs infra
  report_reserved_concurrency

  step "Uploading the site (config.json follows once the APIs exist)"
  upload_site

  step "chalice deploy --stage $STAGE"
  # Stream ARNs are read when the Chalice CLI imports app.py, not from config.json.
  STREAM_ENV=$("$PY" -m infra.tools stream-environment --stage "$STAGE" --outputs "$WORK/outputs.json")
  while IFS= read -r assignment; do export "${assignment?}"; done <<<"$STREAM_ENV"
  CHANGE=$("$PY" -m infra.tools stage-config --stage "$STAGE" --outputs "$WORK/outputs.json")
  note ".chalice/config.json and policy-$STAGE-<function>.json: $CHANGE"
  chalice_deploy
  # The functions that post to connections need the WebSocket API's id, and
  # their policies name it: it exists only now.
  CHANGE=$("$PY" -m infra.tools stage-config --stage "$STAGE" --outputs "$WORK/outputs.json")
  if [ "$CHANGE" = changed ]; then
    note "WebSocket API id recorded in .chalice/config.json and the policies: deploying again"
    chalice_deploy
  fi
  REST_URL=$("$PY" -m infra.tools deployed --stage "$STAGE" rest_api_url)
  WS_URL=$("$PY" -m infra.tools deployed --stage "$STAGE" websocket_api_url)

  step "Throttles: REST stage and WebSocket default route"
  notes "$("$PY" -m infra.tools throttles --stage "$STAGE" --region "$REGION" --outputs "$WORK/outputs.json")"

  step "Stream mappings: ReportBatchItemFailures, bisect on error, bounded retries"
  notes "$("$PY" -m infra.tools stream-mappings --stage "$STAGE" --region "$REGION" --outputs "$WORK/outputs.json")"

  step "Delivery function: failed asynchronous invocations kept in the queue"
  notes "$("$PY" -m infra.tools delivery-destination --region "$REGION" \
    --function "chalice-chat-$STAGE-deliver_to_connections" --queue-arn "$(output failed_deliveries_queue_arn)")"

  step "Content-Security-Policy: the APIs' origins"
  apply_api_origins infra "$STAGE" "$("$PY" -m infra.tools deployed --stage "$STAGE" api_origins)"
  read_outputs infra

  step "Writing config.json for the site"
  upload_site "$REST_URL" "$WS_URL"
fi

step "Done"
cat <<EOF
  Website:    $WEBSITE_URL
  REST API:   $REST_URL
  WebSocket:  $WS_URL
Remove everything with: ./cleanup.sh --stage $STAGE$([ "$COMBINED" = 1 ] && echo " --terraform")
EOF
