#!/usr/bin/env bash
# The steps of the sos-inventory-update Jenkins job, one per call: the Jenkinsfile runs them in
# order and only maps what they print to the build result, so every branch of the job runs here,
# in a shell, where tests/test_jenkinsfile.py runs them the way Jenkins does.
#
#   jenkins/job.sh prepare    wipe this build's reports; the venv from the hashed lock
#   jenkins/job.sh exports    check the Netint exports out ($NETINT_REPO at $NETINT_BRANCH)
#   jenkins/job.sh validate   sos-inventory validate
#   jenkins/job.sh update     sos-inventory update (plan with PLAN_ONLY=true), with the build's parameters
#   jenkins/job.sh evidence   the weekly ledger export into evidence/ (or EXPORT_EVIDENCE=true)
#   jenkins/job.sh verify     sos-inventory audit verify: a ledger that does not verify fails the build
#   jenkins/job.sh diagnose   sos-inventory diagnose "$BUILD_URL" (after a failure)
#   jenkins/job.sh result N   the build result of exit code N: SUCCESS, UNSTABLE, NOT_BUILT or FAILURE
#
# Parameters come from the environment (the Jenkinsfile's parameters are environment variables):
# C_CODES, UNDO_RUN, PLAN_ONLY, FORCE, FORCE_REASON, MAX_CHANGES, MAX_CHANGE_RATIO, MIN_EXPORT_RATIO,
# CONCURRENCY, MAX_RPS, EXPORT_EVIDENCE, NETINT_REPO, NETINT_BRANCH. Secrets (SOS_API_TOKEN, the git credential) come
# from Jenkins' credential bindings and are never echoed.
set -euo pipefail

CONFIG=${SOS_CONFIG:-sos-inventory.yaml}
EXPORTS=${NETINT_EXPORT:-softlayer-data}
STATE=${SOS_STATE_DIR:-/var/lib/sos-inventory}
REPORTS=${SOS_REPORT_DIR:-reports}
VENV=${SOS_INVENTORY_VENV:-.venv}   # a ready venv may be given (tests); else prepare makes .venv
CLI="$VENV/bin/sos-inventory"
USAGE=2  # sos-inventory's exit code for a usage error: a bad parameter is one too

say() { printf 'sos-inventory job: %s\n' "$*"; }
# A usage error of the job itself, in the tool's own closing words, so that `diagnose` reads it back.
refuse() {
    printf 'error: %s\ncause: input_error\nrerun: will not help until it is fixed\naction: %s\n' "$1" "$2" >&2
    exit $USAGE
}
flag() { case "${1:-}" in true | TRUE | True | yes | 1) return 0 ;; *) return 1 ;; esac; }

prepare() {
    # A killed or failed build must never publish the reports of the build before it.
    rm -rf "$REPORTS" evidence
    mkdir -p "$REPORTS" evidence
    [ -f "$CONFIG" ] || refuse "no $CONFIG in the job's checkout" \
        "Commit the job's config beside the Jenkinsfile (start from jenkins/sos-inventory.example.yaml)."
    mkdir -p "$STATE" 2>/dev/null || refuse "cannot create the state folder $STATE" \
        "Create $STATE on the agent, owned by the user Jenkins runs as (it keeps the lock and the ledger)."
    if [ -n "${SOS_INVENTORY_VENV:-}" ]; then
        say "using the venv $VENV"
        return
    fi
    local stamp
    stamp=$(sha256sum requirements/runtime.txt pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ -x "$CLI" ] && [ "$(cat "$VENV/.lock-sha256" 2>/dev/null)" = "$stamp" ]; then
        say "the venv holds the locked versions already"
        return
    fi
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    # Exactly the pinned, hashed dependencies; the package itself without resolving any.
    "$VENV/bin/pip" install --quiet --require-hashes -r requirements/runtime.txt
    "$VENV/bin/pip" install --quiet --no-deps --no-build-isolation .
    echo "$stamp" >"$VENV/.lock-sha256"
}

exports() {
    local repo=${NETINT_REPO:?NETINT_REPO: the git repository of the Netint exports}
    local branch=${NETINT_BRANCH:-master}
    case "$repo" in
    *://*@*) refuse "NETINT_REPO holds credentials" "Give NETINT_REPO without user or password; bind the netint-git credential instead." ;;
    esac
    # A fresh shallow checkout each build: what was read is exactly that commit, nothing left over.
    rm -rf "$EXPORTS"
    git clone --quiet --depth 1 --branch "$branch" -- "$repo" "$EXPORTS"
    say "exports: $repo $branch at commit $(git -C "$EXPORTS" rev-parse HEAD)"
}

run_cli() {
    local code=0
    "$CLI" "$@" || code=$?
    say "sos-inventory $1 exited $code"
    return "$code"
}

validate() {
    run_cli validate --config "$CONFIG" --devices "$EXPORTS"
}

update() {
    local args=(--config "$CONFIG" --report-dir "$REPORTS" --state-dir "$STATE" --deadline "${SOS_DEADLINE:-40m}"
        --concurrency "${CONCURRENCY:-8}")
    [ -z "${MAX_RPS:-}" ] || args+=(--max-rps "$MAX_RPS")
    local reason=${FORCE_REASON:-}
    local codes=${C_CODES:-}
    for c_code in ${codes//,/ }; do
        args+=(--c-code "$c_code")
    done
    [ -z "${MAX_CHANGES:-}" ] || args+=(--max-changes "$MAX_CHANGES")
    [ -z "${MAX_CHANGE_RATIO:-}" ] || args+=(--max-change-ratio "$MAX_CHANGE_RATIO")
    [ -z "${MIN_EXPORT_RATIO:-}" ] || args+=(--min-export-ratio "$MIN_EXPORT_RATIO")
    if flag "${FORCE:-}"; then
        [ -n "${reason// /}" ] || refuse "FORCE needs FORCE_REASON" \
            "Give FORCE_REASON: why the guard is overridden (the report and the ledger record it)."
        args+=(--force)
    fi
    [ -z "${reason// /}" ] || args+=(--reason "$reason")
    if [ -n "${UNDO_RUN:-}" ]; then
        # What that run wrote, put back where the records still hold it (no export is read).
        run_cli undo "$UNDO_RUN" --apply "${args[@]}"
        return
    fi
    args+=(--devices "$EXPORTS")
    if flag "${PLAN_ONLY:-}"; then
        # The plan, saved for review: `update --plan reports/plan.json` applies exactly it later.
        run_cli plan "${args[@]}" --out "$REPORTS/plan.json"
        return
    fi
    run_cli update "${args[@]}"
}

evidence() {
    if flag "${EXPORT_EVIDENCE:-}" || { [ "$(date -u +%u)" = 1 ] && [ "$(date -u +%H)" -lt 4 ]; }; then
        if [ ! -e "$STATE/ledger.db" ]; then
            say "no ledger in $STATE yet: no evidence to export"
            return 0
        fi
        # The last 8 days: builds are kept ~10 days, the archived exports as long as the artifact
        # policy says, the ledger itself for ever.
        local since
        since=$(date -u -d "@$(($(date +%s) - 8 * 86400))" +%F)
        "$CLI" audit export --state-dir "$STATE" --since "$since" --format jsonl >"evidence/ledger-$(date -u +%F).jsonl"
        say "evidence: ledger rows since $since exported"
    fi
}

verify() {
    if [ ! -e "$STATE/ledger.db" ]; then
        say "no ledger in $STATE yet: nothing to verify"
        return 0
    fi
    "$CLI" audit verify --state-dir "$STATE"
}

diagnose() {
    "$CLI" diagnose "${BUILD_URL:?BUILD_URL}" || true
}

# The build result of an exit code (README, Exit codes). 5 is another build holding the lock: this
# one did nothing and must not page anyone (NOT_BUILT), not fail.
result() {
    case "$1" in
    0) echo SUCCESS ;;
    1) echo UNSTABLE ;;
    5) echo NOT_BUILT ;;
    *) echo FAILURE ;;
    esac
}

step=${1:?usage: jenkins/job.sh prepare|exports|validate|update|evidence|verify|diagnose|result N}
shift
case "$step" in
prepare | exports | validate | update | evidence | verify | diagnose | result) "$step" "$@" ;;
*) echo "jenkins/job.sh: unknown step $step" >&2; exit $USAGE ;;
esac
