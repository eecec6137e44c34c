#!/usr/bin/env bash
# Builds the Lambda packages as `sam deploy` uploads them, and runs them:
#   1. installs the pinned aws-sam-cli, cargo-lambda and ziglang (the linker cargo lambda
#      uses to target Lambda's glibc) from PyPI into the test venv (.venv-test/, shared with
#      scripts/test.sh), beside moto;
#   2. `sam build` (samconfig.toml: infra/template.yaml, the beta flag the rust-cargolambda
#      build method needs, one function after the other): `cargo lambda build --release` of
#      each function into .aws-sam/build/<LogicalId>/bootstrap; SAM's telemetry off;
#   3. zips each bootstrap as `sam deploy` would (target/lambda-packages/<LogicalId>.zip),
#      prints its sizes, and fails when a zip is over PLATEFULL_PACKAGE_MAX_MB (default 10)
#      or a bootstrap needs a newer glibc than provided.al2023's (2.34);
#   4. the runtime smoke test (tests/it/lambda_runtime.rs) against these bootstraps: each
#      started under a Lambda Runtime API emulator with its template environment pointed at
#      moto, answering the events/ fixtures; it prints each function's init time.
# Cold (nothing built) it takes about 25 minutes on two cores: it is not part of
# scripts/test.sh. Needs what test.sh needs, plus objdump (binutils).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

sam_cli_version=1.170.0
cargo_lambda_version=1.9.2
ziglang_version=0.16.0 # what aws-sam-cli 1.170 tests cargo-lambda 1.9.2 with
max_mb=${PLATEFULL_PACKAGE_MAX_MB:-10}
lambda_glibc=2.34 # Amazon Linux 2023, the provided.al2023 runtime

fail() { echo "package.sh: $*" >&2; exit 1; }
for tool in cargo python3 objdump; do
  command -v "$tool" >/dev/null || fail "$tool is required but not installed"
done

. scripts/test-env.sh # the venv, moto's pin and its start, shared with test.sh
venv_require "moto[server,dynamodb]==$moto_version" "aws-sam-cli==$sam_cli_version" \
  "cargo-lambda==$cargo_lambda_version" "ziglang==$ziglang_version"
# sam finds cargo-lambda, and cargo lambda finds zig (python -m ziglang), on the PATH.
export PATH="$venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0

echo "==> sam build ($(sam --version))"
started=$SECONDS
sam build
echo "    built in $((SECONDS - started)) s"

functions=$(grep -c 'BuildMethod: rust-cargolambda' infra/template.yaml)
built=(.aws-sam/build/*/bootstrap)
[ "${#built[@]}" = "$functions" ] \
  || fail "sam build left ${#built[@]} bootstraps for the template's $functions functions"
mkdir -p target/lambda-packages
echo "==> packages (zip as sam deploy uploads it; limit $max_mb MB each)"
too_big=0
for bootstrap in "${built[@]}"; do
  function=$(basename "$(dirname "$bootstrap")")
  zip=target/lambda-packages/$function.zip
  "$venv/bin/python" - "$bootstrap" "$zip" <<'PY'
import sys, zipfile
bootstrap, out = sys.argv[1:]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o100755 << 16  # a regular, executable file
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(bootstrap, "rb") as f:
        z.writestr(info, f.read())
PY
  glibc=$(objdump -T "$bootstrap" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
  size() { "$venv/bin/python" -c "import os,sys; print(f'{os.path.getsize(sys.argv[1]) / 1e6:.1f}')" "$1"; }
  printf '    %-26s bootstrap %5s MB   zip %5s MB   glibc >= %s\n' \
    "$function" "$(size "$bootstrap")" "$(size "$zip")" "${glibc:-none}"
  if [ "$(stat -c %s "$zip")" -gt $((max_mb * 1000 * 1000)) ]; then too_big=1; fi
  if [ -n "$glibc" ] && [ "$(printf '%s\n%s\n' "$glibc" "$lambda_glibc" | sort -V | tail -1)" != "$lambda_glibc" ]; then
    fail "$function needs glibc $glibc; provided.al2023 has $lambda_glibc"
  fi
done
[ "$too_big" = 0 ] || fail "a package is over $max_mb MB (see above)"

moto_start
echo "==> runtime smoke test of the packaged bootstraps"
PLATEFULL_LAMBDA_BOOTSTRAPS=$root/.aws-sam/build \
  cargo test --locked -p platefull-tests --test it lambda_runtime:: -- --nocapture
echo "==> packages built and tested in $((SECONDS - started)) s"
