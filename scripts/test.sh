#!/usr/bin/env bash
# Runs every check and test of Platefull, on a fresh machine as on a developer's:
#   1. installs what is missing into a venv under .venv-test/: moto (DynamoDB/SQS/KMS
#      emulator), cfn-lint and aws-sam-translator (offline checks of the SAM template),
#      openapi-spec-validator and openapi-core (the API description and the answers checked
#      against it) and schemathesis (the API fuzzed against it);
#   2. validates infra/template.yaml: cfn-lint, then the SAM transform and cfn-lint again;
#      and docs/openapi.json (openapi-spec-validator);
#   3. the supply chain: installs the pinned cargo-deny when it is missing or another
#      version (cargo install --locked), lays out the project's dated copy of the RustSec
#      advisory database when one is provided (scripts/advisory-db.sh) and runs `cargo deny` (advisories,
#      licenses, bans incl. duplicate versions, sources; deny.toml) offline;
#   4. starts a moto server on a free loopback port (stopped on exit, even on failure);
#   5. cargo fmt --check, cargo clippy -D warnings, cargo test for the whole workspace
#      (tests/it/template_drift.rs checks the template against the code, tests/it/openapi.rs
#      the API description, tests/it/lambda_runtime.rs runs the function executables under a
#      Lambda Runtime API emulator);
#   6. schemathesis against a local stack (scripts/api-fuzz.sh);
#   7. the web console's browser tests (scripts/browser-tests.sh: headless Chromium).
# Tests that need moto fail loudly without it; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

cfn_lint_version=1.58.0
sam_translator_version=1.115.0
openapi_spec_validator_version=0.8.5
openapi_core_version=0.23.1
schemathesis_version=4.32.5
cargo_deny_version=0.20.2

fail() { echo "test.sh: $*" >&2; exit 1; }
for tool in cargo python3; do
  command -v "$tool" >/dev/null || fail "$tool is required but not installed"
done
cargo fmt --version >/dev/null 2>&1 || fail "rustfmt is missing (rustup component add rustfmt)"
cargo clippy --version >/dev/null 2>&1 || fail "clippy is missing (rustup component add clippy)"

# The venv and moto's start are shared with scripts/package.sh.
. scripts/test-env.sh
venv_require "moto[server,dynamodb]==$moto_version" "cfn-lint==$cfn_lint_version" \
  "aws-sam-translator==$sam_translator_version" "openapi-spec-validator==$openapi_spec_validator_version" \
  "openapi-core==$openapi_core_version" "schemathesis==$schemathesis_version"
# tests/it/openapi.rs validates the routers' answers with openapi-core from this venv.
export PLATEFULL_TEST_PYTHON=$venv/bin/python

"$venv/bin/python" scripts/validate_template.py infra/template.yaml \
  || fail "infra/template.yaml is not valid (see above)"
"$venv/bin/python" scripts/check_openapi.py docs/openapi.json \
  || fail "docs/openapi.json is not valid OpenAPI (see above)"

if [ "$(cargo deny --version 2>/dev/null)" != "cargo-deny $cargo_deny_version" ]; then
  echo "==> installing cargo-deny $cargo_deny_version (cargo install --locked; a few minutes)"
  started=$SECONDS
  cargo install --locked --quiet "cargo-deny@$cargo_deny_version" \
    || fail "cargo install cargo-deny@$cargo_deny_version failed"
  echo "    cargo-deny installed in $((SECONDS - started)) s"
fi
deny_checks=(advisories licenses bans sources)
advisory_rc=0
scripts/advisory-db.sh install || advisory_rc=$?
if [ "$advisory_rc" = 3 ] && [ -z "${PLATEFULL_REQUIRE_ADVISORIES:-}" ]; then
  # The one check this machine can't do: RustSec's database lives on GitHub only.
  echo "==> WARNING: RustSec advisories NOT CHECKED: no advisory database on this machine" >&2
  echo "    (provide one with PLATEFULL_ADVISORY_DB; PLATEFULL_REQUIRE_ADVISORIES=1 makes this fatal)" >&2
  deny_checks=(licenses bans sources)
elif [ "$advisory_rc" != 0 ]; then
  fail "the RustSec advisory database could not be installed (see above)"
fi
# cargo deny reads `cargo metadata` for every target platform, and a build fetches only the
# host's crates: fetch them all first (crates.io is reachable; the advisory check stays offline).
cargo fetch --locked --quiet || fail "cargo fetch --locked failed (is crates.io reachable?)"
echo "==> cargo deny (${deny_checks[*]})"
cargo deny --offline --locked check "${deny_checks[@]}" \
  || fail "cargo deny found a problem (see above; policy in deny.toml)"

moto_start

echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
# The function executables tests/it/lambda_runtime.rs runs, built here rather than by the test
# itself (the same command: then a no-op), so that build doesn't compete with running tests.
cargo build --locked -p user-apis -p client-config -p whatsapp-sessions -p whatsapp-webhook -p bot-reply
cargo test --workspace --locked
scripts/api-fuzz.sh
scripts/browser-tests.sh
echo "==> all checks passed"
