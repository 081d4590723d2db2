#!/usr/bin/env bash
# Remove one stage of chalice-chat from AWS: chalice delete, empty the site
# bucket, terraform destroy. Safe to re-run: each step skips what is already gone.
# AWS_ENDPOINT_URL sends every call to an emulator (the offline tests use it).
set -Eeuo pipefail
cd "$(dirname "$0")"

usage() {
  cat <<'EOF_USAGE'
Usage: ./cleanup.sh [--stage dev] [--region us-east-1] [--yes] [--terraform]

  --stage NAME    stage to remove (default: dev)
  --region NAME   AWS region (default: $AWS_REGION, $AWS_DEFAULT_REGION or us-east-1)
  --yes, -y       do not ask before deleting
  --terraform     the stage was deployed with ./deploy.sh --terraform
  --help, -h      this text

Deletes the stage's Lambdas, APIs, tables (every user and message), site bucket,
JWT secret and log groups.
EOF_USAGE
}

STAGE=dev
REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}
YES=0
COMBINED=0
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) STAGE=${2:?--stage needs a value}; shift 2 ;;
    --region) REGION=${2:?--region needs a value}; shift 2 ;;
    --yes | -y) YES=1; shift ;;
    --terraform) COMBINED=1; shift ;;
    --help | -h) usage; exit 0 ;;
    *) echo "cleanup.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
SCRIPT=cleanup.sh
# shellcheck source=infra/scripts/common.sh
source infra/scripts/common.sh
check_stage_and_region
trap 'on_error' ERR
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
TOTAL=5
STEP=0
if [ "$COMBINED" = 1 ]; then DIR=infra/combined/$STAGE; WORKSPACE=""; else DIR=infra; WORKSPACE=$STAGE; fi

step "Checking prerequisites"
SKIP_BUILD=1 check_prerequisites
if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
  note "emulator endpoint: $AWS_ENDPOINT_URL (AWS_ENDPOINT_URL)"
fi
confirm "Delete stage '$STAGE' in $REGION: its APIs, Lambdas, tables with every message and user, and the site?"

step "chalice delete --stage $STAGE"
if [ "$COMBINED" = 1 ]; then
  note "the Lambdas and APIs are in the Terraform state: terraform destroy removes them"
elif [ -n "$("$PY" -m infra.tools deployed --stage "$STAGE" rest_api_url)" ]; then
  .venv/bin/chalice delete --stage "$STAGE"
  # chalice delete leaves {"resources": []}, which the next deploy must not take for a stage.
  rm -f ".chalice/deployed/$STAGE.json" ".chalice/deployed/$STAGE.sha256"
else
  note "nothing recorded in .chalice/deployed/$STAGE.json; looking for what a failed deploy left"
  LEFT=$("$PY" -m infra.tools leftovers --stage "$STAGE" --region "$REGION")
  while IFS= read -r line; do note "$line"; done <<<"$LEFT"
fi

step "Emptying the site bucket"
HAVE_STATE=0
if [ -d "$DIR" ] && [ -n "$(ls "$DIR"/*.tf 2>/dev/null)" ]; then
  terraform_init "$DIR" "$WORKSPACE"
  if [ -n "$(terraform -chdir="$DIR" state list 2>/dev/null)" ]; then HAVE_STATE=1; fi
fi
if [ "$HAVE_STATE" = 1 ]; then
  terraform -chdir="$DIR" output -json >"$WORK/outputs.json"
  BUCKET=$(output site_bucket 2>/dev/null || true)
  if [ -n "$BUCKET" ]; then
    EMPTIED=$("$PY" -m infra.tools empty-bucket --region "$REGION" --bucket "$BUCKET")
    note "$EMPTIED"
  else
    note "no site bucket in the state"
  fi
else
  note "no Terraform state for stage $STAGE in $DIR: nothing to empty"
fi

step "terraform destroy in $DIR"
if [ "$HAVE_STATE" = 1 ]; then
  mapfile -t EXTRA < <(emulator_vars)
  terraform -chdir="$DIR" destroy -input=false -auto-approve -var "stage=$STAGE" -var "region=$REGION" \
    "${EXTRA[@]}" 2>&1 | tee "$WORK/destroy.log" | grep -E 'Destruction complete|Destroy complete|Error' || true
  grep -q 'Destroy complete' "$WORK/destroy.log" || { cat "$WORK/destroy.log" >&2; fail "terraform destroy failed"; }
else
  note "nothing to destroy"
fi

step "Done"
note "stage $STAGE removed from $REGION (re-running ./cleanup.sh is harmless)"
