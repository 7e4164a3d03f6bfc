# The demo session, run by ./sscard-demo with pcscd ready and .venv/bin on PATH.
set -euo pipefail
OUT="${SSCARD_DEMO_OUT:-out/demo}"
mkdir -p "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
SERVER_PID=""
cleanup() { if [ -n "$SERVER_PID" ]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT

step "a personalized sample card (profile ssc3-sm4) as a card image"
sscard card new --sample --force --out "$OUT/sample.card"
sscard card show "$OUT/sample.card" | sed -n '1,40p'

step "serve it to pcscd through vpcd (sscard sim serve)"
sscard sim serve --card "$OUT/sample.card" > "$OUT/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 50); do
    if sscard readers --json 2>/dev/null | grep -q '"card": true'; then break; fi
    sleep 0.1
done
sscard readers

step "what a PC/SC program sees: the ATR"
sscard atr --reader "PCD 00 00"

step "an unmodified PC/SC client: opensc-tool selects the social-security application"
opensc-tool -c default -r 0 -s 00A404000F7378312E73682EC9E7BBE1B1A3D5CF -s 00C000001E

step "a reader session through pcscd (vectors/reader-session.apdu)"
sscard script run --reader "PCD 00 00" --trace "$OUT/trace.txt" vectors/reader-session.apdu

step "done: trace in $OUT/trace.txt (PINs redacted), card image in $OUT/sample.card"
