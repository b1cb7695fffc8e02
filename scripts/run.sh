#!/usr/bin/env bash
# The main job: builds the page and serves www/ on 127.0.0.1, printing its URL.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT="${PORT:-8080}"
bash "$ROOT/scripts/build-web.sh"
log "serving $ROOT/www"

exec node "$ROOT/scripts/serve.mjs" "$PORT"
