# The test environment shared by scripts/test.sh and scripts/package.sh: the test venv
# (.venv-test/, or PLATEFULL_TEST_VENV) with pinned PyPI packages, and a moto server.
# Sourced, with $root set to the repository root and a `fail` function defined:
#   . scripts/test-env.sh
#   venv_require 'moto[server,dynamodb]==5.2.5' 'cfn-lint==1.58.0'   # then "$venv/bin/…"
#   moto_start                  # exports PLATEFULL_TEST_MOTO_URL; stopped when the script exits
venv=${PLATEFULL_TEST_VENV:-$root/.venv-test}
moto_version=5.2.5 # the moto both scripts run: venv_require "moto[server,dynamodb]==$moto_version"

# Installs the packages (pip, exact versions) unless each is already there at its version.
# Each argument is name[extras]==version.
venv_require() {
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" - "$@" 2>/dev/null <<'PY'
import re, sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, want = re.fullmatch(r"([^\[=]+)(?:\[[^\]]*\])?==(.+)", spec).groups()
    if version(name) != want:
        sys.exit(1)
PY
  then
    return 0
  fi
  echo "==> installing $* into $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" \
    || fail "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" \
    || fail "pip could not install $*"
}

# Starts the venv's moto server (DynamoDB, SQS, KMS, Secrets Manager) on a free loopback
# port, logging to target/moto.log, and stops it when the calling script exits. It runs
# through scripts/moto_serve.py, which makes moto's DynamoDB item operations atomic with
# one another (moto's failed transactions restore a table copy, losing concurrent writes).
moto_start() {
  local port
  port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$root/target"
  "$venv/bin/python" "$root/scripts/moto_serve.py" -H 127.0.0.1 -p "$port" >"$root/target/moto.log" 2>&1 &
  moto_pid=$!
  trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT INT TERM
  for _ in $(seq 1 100); do
    if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/data.json', timeout=1)" 2>/dev/null; then
      echo "==> moto on 127.0.0.1:$port"
      export PLATEFULL_TEST_MOTO_URL="http://127.0.0.1:$port"
      return 0
    fi
    kill -0 "$moto_pid" 2>/dev/null || { cat "$root/target/moto.log" >&2; fail "moto server exited"; }
    sleep 0.2
  done
  fail "moto server did not answer on 127.0.0.1:$port"
}
