# The main job, run by ./sscard-demo with pcscd ready and .venv/bin on PATH:
# personalize the sample cardholders onto virtual cards with the published TEST keys,
# serve one card through pcscd + vpcd, and read it back as a terminal does.
set -euo pipefail
OUT="${SSCARD_DEMO_OUT:-out/demo}"
KEYS=vectors/test-issuer-keys.toml        # TEST KEYS: never use them on real cards
rm -rf "$OUT" && mkdir -p "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
SERVER_PID=""
cleanup() { if [ -n "$SERVER_PID" ]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT

step "validate the batch (vectors/sample_cardholders.csv) without touching a card"
sscard perso run vectors/sample_cardholders.csv --keys "$KEYS" --insecure-keys --cards "$OUT/cards" \
    --journal "$OUT/journal.sqlite" --dry-run | tail -n 12

step "personalize every cardholder onto a blank virtual card, verifying each (journal: $OUT/journal.sqlite)"
sscard perso run vectors/sample_cardholders.csv --keys "$KEYS" --insecure-keys --cards "$OUT/cards" \
    --journal "$OUT/journal.sqlite" --trace "$OUT/perso-trace.txt"
sscard perso status "$OUT/journal.sqlite"
sscard perso export "$OUT/journal.sqlite" vectors/sample_cardholders.csv --out "$OUT/card-faces.csv"

CARD="$(ls "$OUT"/cards/*.json | head -n 1)"
step "serve $CARD to pcscd through vpcd (sscard sim serve)"
sscard sim serve --card "$CARD" > "$OUT/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 50); do
    if sscard readers --json 2>/dev/null | grep -q '"card": true'; then break; fi
    sleep 0.1
done
sscard readers

step "read it back through pcscd, as a terminal does (both zones)"
sscard card read --reader "PCD 00 00" --keys "$KEYS" --insecure-keys

step "an unmodified PC/SC client: opensc-tool selects the social-security application"
opensc-tool -c default -r 0 -s 00A404000F7378312E73682EC9E7BBE1B1A3D5CF

step "the cardholder's PIN (social-security zone): status, then the initial PIN"
sscard pin status --zone ssse --reader "PCD 00 00"
SSCARD_PIN=123456 sscard pin verify --zone ssse --reader "PCD 00 00" --pin-env SSCARD_PIN

step "done: cards in $OUT/cards, card faces in $OUT/card-faces.csv, APDU trace (PINs and keys redacted) in $OUT/perso-trace.txt"
