#!/usr/bin/env bash
# Fuzzes the API against its description: schemathesis (in the test venv) sends generated
# requests for every operation of docs/openapi.json to a real local stack and fails on any
# 5xx, any answer that doesn't match the document's schema, or any undocumented status.
#   1. builds the platefull binary (debug) and starts `platefull dev` on a free loopback
#      port with a temporary data dir (stopped on exit, even on failure); Meta's webhook is
#      on (a test secret) and the Graph API it proves numbers with is the stack itself, so
#      nothing leaves the machine;
#   2. signs in (`platefull dev-token`), creates the WhatsApp connection whose store and
#      apiKey the store routes are called with, pairs its slot 1 through the simulator and
#      has a customer write, so the inbox routes find a chat, and saves a menu whose item is
#      the `{itemId}` of the sold-out switch; a second connection is the `{id}` of the
#      user-API routes (which may delete it or rotate its key);
#   3. runs `st run` with the owner token and the apiKey bound to the document's security
#      schemes (each operation lists the scheme it's called with first), seeded and bounded.
# Run by scripts/test.sh; needs the venv it creates (PLATEFULL_TEST_VENV, default .venv-test).
# Deeper runs by hand: PLATEFULL_FUZZ_CHECKS (e.g. `all`, which also reports where the
# document's request schemas are looser or stricter than the handlers) and
# PLATEFULL_FUZZ_ARGS (more `st run` options, e.g. `--include-operation-id getConfig`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=${PLATEFULL_TEST_VENV:-$root/.venv-test}
# Bounds: the seed, examples per operation, the phases (`examples,coverage,fuzzing` adds
# schemathesis' boundary-value sweep: about 2,700 requests instead of about 360).
seed=${PLATEFULL_FUZZ_SEED:-20}
examples=${PLATEFULL_FUZZ_EXAMPLES:-10}
phases=${PLATEFULL_FUZZ_PHASES:-examples,fuzzing}

fail() { echo "api-fuzz.sh: $*" >&2; exit 1; }
[ -x "$venv/bin/st" ] || fail "$venv/bin/st is missing: run ./scripts/test.sh, which installs schemathesis"

echo "==> cargo build -p platefull-cli"
cargo build -p platefull-cli --locked
target_dir=$(cargo metadata --format-version 1 --no-deps | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin=$target_dir/debug/platefull
[ -x "$bin" ] || fail "no binary at $bin after the build"

work=$(mktemp -d)
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
api=http://127.0.0.1:$port
env -u OPENROUTER_API_KEY META_APP_SECRET=fuzz-app-secret META_VERIFY_TOKEN=fuzz-verify-token \
  META_GRAPH_URL="$api" "$bin" dev --addr "127.0.0.1:$port" --data-dir "$work/data" \
  --no-reply-pacing >"$work/server.log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Waits for the stack, then sets up the store the fuzzing calls (prints NAME=value lines).
"$venv/bin/python" - "$api" "$bin" "$work/data" >"$work/setup.env" <<'EOF' || { cat "$work/server.log" >&2; fail "setting up the local stack failed"; }
import json, subprocess, sys, time, urllib.error, urllib.request

api, binary, data = sys.argv[1:4]

def call(method, path, token=None, body=None):
    req = urllib.request.Request(api + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    if body is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read()
        return json.loads(text) if text else None

for _ in range(300):
    try:
        if call("GET", "/health")["status"] == "ok":
            break
    except (OSError, urllib.error.URLError):
        time.sleep(0.1)
else:
    sys.exit("the local stack did not answer /health")
owner = subprocess.run([binary, "dev-token", "--user", "fuzz-owner", "--data-dir", data],
                       check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
store = call("POST", "/api/user-apis", owner, {"name": "Pizzaria Fuzz", "type": "whatsapp"})
victim = call("POST", "/api/user-apis", owner, {"name": "Loja de teste", "type": "whatsapp"})
store_id, key = store["storeId"], store["apiKey"]
call("PUT", f"/api/client/{store_id}/config", key, {"botName": "Maria", "debounceSeconds": 0})
call("PUT", f"/api/client/{store_id}/menu", key, {"categories": [{"id": "pizzas", "name": "Pizzas", "items": [
    {"id": "calabresa", "name": "Pizza Calabresa", "priceCents": 4590}]}]})
call("POST", f"/api/whatsapp/{store_id}/1/start", key)
pairing = call("GET", f"/dev/simulator/{store_id}/1/pairing", key)
call("POST", f"/dev/simulator/{store_id}/1/pair?code={pairing['code']}&phone=5511988887777")
call("POST", f"/dev/simulator/{store_id}/1/messages", None, {"from": "5511999990000", "text": "Oi, tem pizza?"})
for _ in range(100):
    if call("GET", f"/api/whatsapp/{store_id}/chats", key)["data"]:
        break
    time.sleep(0.1)
else:
    sys.exit("the customer's message never reached the inbox")
print(f"OWNER_TOKEN={owner}\nSTORE_KEY={key}\nSTORE_ID={store_id}\nAPI_ID={victim['id']}")
EOF
set -a
# shellcheck disable=SC1091
. "$work/setup.env"
set +a

cat >"$work/schemathesis.toml" <<'EOF'
[auth.openapi.ownerToken]
bearer = "${OWNER_TOKEN}"

[auth.openapi.storeApiKey]
bearer = "${STORE_KEY}"

[parameters]
"path.storeId" = "${STORE_ID}"
"path.id" = "${API_ID}"
"path.chatId" = "w1:5511999990000"
"path.itemId" = "calabresa"
EOF

echo "==> schemathesis $("$venv/bin/st" --version | awk '{print $NF}') against $api (seed $seed, phases $phases, at most $examples examples per operation and phase)"
started=$SECONDS
"$venv/bin/st" --config-file "$work/schemathesis.toml" --no-color run "$root/docs/openapi.json" \
  --url "$api" --seed "$seed" --max-examples "$examples" --phases "$phases" \
  --checks ${PLATEFULL_FUZZ_CHECKS:-not_a_server_error,response_schema_conformance,status_code_conformance} \
  --generation-database none --workers 1 --request-timeout 20 \
  --report junit --report-dir "$root/test-artifacts/api-fuzz" ${PLATEFULL_FUZZ_ARGS:-} \
  || { tail -50 "$work/server.log" >&2; fail "schemathesis found answers that break docs/openapi.json (see above)"; }
echo "==> schemathesis passed in $((SECONDS - started)) s"
