# shellcheck shell=bash
# Shared by deploy.sh and cleanup.sh (sourced; expects SCRIPT, STEP, TOTAL, YES, WORK).

STEP_NAME=""

check_stage_and_region() { # stage names go into resource names: short and DNS-safe
  if ! [[ "$STAGE" =~ ^[a-z][a-z0-9-]{0,15}$ ]]; then
    echo "$SCRIPT: --stage must be 1-16 characters of a-z, 0-9 and '-', starting with a letter" >&2
    exit 2
  fi
  export AWS_REGION=$REGION AWS_DEFAULT_REGION=$REGION
}

step() { # numbered progress: step "what happens now"
  STEP=$((STEP + 1))
  STEP_NAME=$1
  printf '\n\033[1m[%d/%d] %s\033[0m\n' "$STEP" "$TOTAL" "$1"
}

note() { printf '      %s\n' "$*"; }

notes() { # notes "several lines": each as a note
  local line
  while IFS= read -r line; do note "$line"; done <<<"$1"
}

fail() {
  if [ "${STEP:-0}" -gt 0 ]; then
    printf '%s: step %d/%d (%s) failed: %s\n' "$SCRIPT" "$STEP" "$TOTAL" "$STEP_NAME" "$*" >&2
  else
    printf '%s: error: %s\n' "$SCRIPT" "$*" >&2
  fi
  exit 1
}

on_error() {
  # Command substitutions inherit the trap (set -E): let the outer shell report once.
  [ "$BASH_SUBSHELL" -gt 0 ] && exit 1
  printf '\n%s: step %d/%d (%s) failed; see the messages above. Later steps did not run.\n' \
    "$SCRIPT" "$STEP" "$TOTAL" "$STEP_NAME" >&2
  exit 1
}

confirm() { # confirm "question": returns when the user says yes (or --yes was given)
  [ "$YES" = 1 ] && return 0
  [ -t 0 ] || fail "no terminal to ask '$1': re-run with --yes"
  local answer
  read -r -p "      $1 [y/N] " answer
  case "$answer" in
    y | Y | yes | YES) return 0 ;;
    *) echo "Cancelled: nothing was changed by this step." >&2; exit 1 ;;
  esac
}

check_prerequisites() { # sets PY (the project venv's python); needs REGION
  command -v python3 >/dev/null || fail "python3 not found: install Python 3.11 or newer"
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    fail "python3 is $(python3 -V 2>&1 | cut -d' ' -f2); Chalice and the tools need 3.11 or newer"
  if [ ! -x .venv/bin/chalice ]; then
    note "creating the project venv (make venv)"
    command -v make >/dev/null || fail "make not found: install it, or run the Makefile's venv recipe by hand"
    make venv >/dev/null
  fi
  PY=$PWD/.venv/bin/python
  note "python: $("$PY" -V 2>&1), chalice $("$PY" -c 'import chalice; print(chalice.__version__)')"

  command -v terraform >/dev/null ||
    fail "terraform not found: install Terraform 1.11 or newer (https://developer.hashicorp.com/terraform/install)"
  local tf_version
  tf_version=$(terraform version -json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["terraform_version"])')
  "$PY" -c 'import sys; sys.exit(tuple(map(int, sys.argv[1].split("-")[0].split(".")[:2])) < (1, 11))' "$tf_version" ||
    fail "terraform is $tf_version; infra/ needs 1.11 or newer (write-only attributes keep the JWT secret out of the state)"
  note "terraform: $tf_version"

  if [ -f frontend/package.json ] && [ "${SKIP_BUILD:-0}" = 0 ]; then
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
      fail "node and npm are needed to build the site (Node 20 or newer), or pass --skip-build"
    fi
    note "node: $(node --version), npm $(npm --version)"
  fi

  local identity
  identity=$("$PY" -m infra.tools credentials --region "$REGION") ||
    fail "AWS credentials are needed (see above)"
  note "AWS identity: $identity, region $REGION"
}

emulator_vars() { # Terraform variables that point the provider at an emulator
  if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
    printf '%s\n' -var "endpoint_url=$AWS_ENDPOINT_URL"
  fi
}

terraform_init() { # terraform_init DIR [WORKSPACE]
  terraform -chdir="$1" init -input=false -no-color >"$WORK/init.log" 2>&1 ||
    { cat "$WORK/init.log" >&2; fail "terraform init failed in $1"; }
  if [ -n "${2:-}" ]; then
    terraform -chdir="$1" workspace select -or-create "$2" >/dev/null
  fi
}

terraform_apply() { # terraform_apply DIR WORKSPACE -var ...: plan, show, ask, apply
  local dir=$1 workspace=$2 rc=0
  shift 2
  local extra=()
  mapfile -t extra < <(emulator_vars)
  terraform_init "$dir" "$workspace"
  terraform -chdir="$dir" plan -input=false -detailed-exitcode -out="$WORK/tfplan" \
    "$@" "${extra[@]}" || rc=$?
  case "$rc" in
    0) note "Terraform: no changes"; return 0 ;;
    2) ;;
    *) fail "terraform plan failed in $dir" ;;
  esac
  confirm "Apply this plan to stage $STAGE?"
  terraform -chdir="$dir" apply -input=false "$WORK/tfplan"
}

output() { # output NAME [KEY]: one value (or one key of a map) of the last `terraform output -json`
  "$PY" -c 'import json,sys
value = json.load(open(sys.argv[1]))[sys.argv[2]]["value"]
print(value[sys.argv[3]] if len(sys.argv) > 3 else value)' "$WORK/outputs.json" "$@"
}

app_fingerprint() { # what chalice deploy would upload, plus its stage config
  {
    local sources=(app.py requirements.txt chalicelib)
    [ -d vendor ] && sources+=(vendor)
    find "${sources[@]}" -type f ! -name '*.pyc' | LC_ALL=C sort | xargs sha256sum
    sha256sum .chalice/config.json .chalice/policy-"$STAGE"-*.json
    echo "${STREAM_ENV:-} $REGION"
  } | sha256sum | cut -d' ' -f1
}

chalice_deploy() { # chalice deploy, skipped when nothing it uploads has changed
  local stamp=".chalice/deployed/$STAGE.sha256" fingerprint
  fingerprint=$(app_fingerprint)
  if [ -f ".chalice/deployed/$STAGE.json" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$fingerprint" ]; then
    note "app and stage config unchanged since the last deploy: chalice deploy skipped"
    return 0
  fi
  # Chalice's CLI with compiled bytecode in the package (infra/tools/packaging.py).
  "$PY" -m infra.tools.packaging deploy --stage "$STAGE"
  echo "$fingerprint" >"$stamp"
}
