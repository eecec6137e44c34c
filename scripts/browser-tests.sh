#!/usr/bin/env bash
# Browser tests of the web console, on a fresh machine as on a developer's:
#   1. installs what is missing: Chromium (Debian's `chromium` package, via apt-get, as root)
#      and the pinned playwright-core (npm ci in web/tests, from its package-lock.json);
#   2. builds the platefull binary (debug);
#   3. runs web/tests with `node --test`: units.test.mjs (the console's pure helpers, no
#      browser), pix.test.mjs (our Pix codes decoded by the pix-utils package), then console.test.mjs, which starts its own `platefull dev` on a free port
#      (and orders.test.mjs, the order board, with its own `platefull dev` over a fake model)
#      with a temporary data dir, drives headless Chromium, and stops the server even on failure;
#      order-crash.test.mjs (no browser) kills its `platefull dev` with SIGKILL between placing
#      an order and confirming it, starts it again on the same data dir, and counts one order
#      and one confirmation.
# Screenshots of every page (360 px and desktop) and the server log go to test-artifacts/console/.
# Nothing is skipped: a missing tool that can't be installed is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

fail() { echo "browser-tests.sh: $*" >&2; exit 1; }
for tool in cargo node npm; do
  command -v "$tool" >/dev/null || fail "$tool is required but not installed (Debian: apt-get install nodejs npm)"
done
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
  || fail "node >= 20 is required (playwright-core needs it) (found $(node --version))"

chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  [ "$(id -u)" = 0 ] || fail "$chromium is missing; install Debian's chromium package (apt-get install chromium)"
  echo "==> installing chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || fail "apt-get update failed"
  apt-get install -y -qq chromium >/dev/null || fail "apt-get install chromium failed"
  [ -x "$chromium" ] || fail "chromium installed but $chromium is not there"
fi
export CHROMIUM_PATH=$chromium

if ! (cd web/tests && npm ls >/dev/null 2>&1); then
  echo "==> installing the browser test dependencies (npm ci)"
  (cd web/tests && npm ci --no-audit --no-fund) || fail "npm ci in web/tests failed"
fi

echo "==> cargo build -p platefull-cli"
cargo build -p platefull-cli --locked
target_dir=$(cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
export PLATEFULL_BIN=$target_dir/debug/platefull
[ -x "$PLATEFULL_BIN" ] || fail "no binary at $PLATEFULL_BIN after the build"
export PLATEFULL_TEST_ARTIFACTS=$root/test-artifacts/console
rm -rf "$PLATEFULL_TEST_ARTIFACTS"

echo "==> browser tests (headless $("$chromium" --version 2>/dev/null || echo chromium))"
(cd web/tests && node --test --test-concurrency=1 units.test.mjs pix.test.mjs console.test.mjs orders.test.mjs order-crash.test.mjs) \
  || fail "browser tests failed (screenshots and the server log: test-artifacts/console/)"
echo "==> browser tests passed"
