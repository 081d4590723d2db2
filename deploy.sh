#!/usr/bin/env bash
# Deploy one stage of chalice-chat to AWS in one command (README: "Deploy to AWS").
#
#   infra/ (Terraform: tables, site bucket, JWT secret, log groups)
#   -> chalice deploy (Lambdas, REST + WebSocket APIs, stream mapping)
#   -> the stream mapping's ReportBatchItemFailures (Chalice cannot set it)
#   -> the site and its config.json on S3.
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

if [ "$COMBINED" = 1 ]; then TOTAL=7; else TOTAL=8; fi
STEP=0
FUNCTION_PREFIX="chalice-chat-$STAGE"

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

upload_site() { # [rest_url ws_url]
  [ -f frontend/dist/index.html ] || return 0
  "$PY" -m infra.tools upload-site --region "$REGION" --bucket "$SITE_BUCKET" \
    --dist frontend/dist --rest-api-url "${1:-}" --websocket-api-url "${2:-}"
}

if [ "$COMBINED" = 1 ]; then
  # ------------------------------------------------ --terraform: one state
  step "Building the site"
  build_site
  step "Packaging the app with infra/ into infra/combined/$STAGE/"
  DIR=$("$PY" -m infra.tools combined --stage "$STAGE" --region "$REGION" | tail -n 1)
  step "Terraform plan and apply of $DIR"
  terraform_apply "$DIR" "" -var "stage=$STAGE" -var "region=$REGION"
  terraform -chdir="$DIR" output -json >"$WORK/outputs.json"
  SITE_BUCKET=$(output site_bucket)
  WEBSITE_URL=$(output website_url)
  REST_URL=$(output EndpointURL)
  REST_URL=${REST_URL%/}
  WS_URL=$(output WebsocketConnectEndpointURL)
  WS_URL=${WS_URL%/}
  step "Uploading the site and its config.json"
  upload_site "$REST_URL" "$WS_URL"
  step "Checking the stream mapping"
  note "ReportBatchItemFailures comes from infra/combined/$STAGE/chalice_override.tf.json"
else
  # ------------------------------------------------ chalice deploy
  step "Building the site"
  build_site
  step "Terraform plan and apply of infra/ (workspace $STAGE)"
  terraform_apply infra "$STAGE" -var "stage=$STAGE" -var "region=$REGION"
  terraform -chdir=infra output -json >"$WORK/outputs.json"
  SITE_BUCKET=$(output site_bucket)
  WEBSITE_URL=$(output website_url)
  STREAM_ARN=$(output messages_stream_arn)

  step "Uploading the site (config.json follows once the APIs exist)"
  upload_site

  step "chalice deploy --stage $STAGE"
  # The stream ARN is read when the Chalice CLI imports app.py, not from config.json.
  export MESSAGES_STREAM_ARN=$STREAM_ARN
  CHANGE=$("$PY" -m infra.tools stage-config --stage "$STAGE" --outputs "$WORK/outputs.json")
  note ".chalice/config.json and policy-$STAGE.json: $CHANGE"
  chalice_deploy
  # The stream handler posts to the WebSocket API, whose id exists only now.
  CHANGE=$("$PY" -m infra.tools stage-config --stage "$STAGE" --outputs "$WORK/outputs.json")
  if [ "$CHANGE" = changed ]; then
    note "WebSocket API id recorded in .chalice/config.json: deploying again"
    chalice_deploy
  fi
  REST_URL=$("$PY" -m infra.tools deployed --stage "$STAGE" rest_api_url)
  WS_URL=$("$PY" -m infra.tools deployed --stage "$STAGE" websocket_api_url)

  step "Stream mapping: ReportBatchItemFailures, bisect on error, bounded retries"
  CHANGE=$("$PY" -m infra.tools stream-mapping --region "$REGION" \
    --function "$FUNCTION_PREFIX-on_new_messages" --stream-arn "$STREAM_ARN")
  note "event source mapping: $CHANGE"

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
