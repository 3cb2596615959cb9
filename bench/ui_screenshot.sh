#!/usr/bin/env bash
# Headless screenshot of the Prefect UI page of the last nightly flow run, for a person to look at.
#
#   PREFECT_API_URL=http://127.0.0.1:4200/api bench/ui_screenshot.sh [out.png]
#
# Needs a running `prefect server start` (UI enabled) that has seen a nightly run. Installs Debian's chromium
# when missing (needs root and the Debian mirror).
set -euo pipefail
api="${PREFECT_API_URL:-http://127.0.0.1:4200/api}"
ui="${api%/api}"
out="${1:-data/nightly-run.png}"
here="$(cd "$(dirname "$0")/.." && pwd)"
python="${here}/.venv/bin/python"

browser="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$browser" ]; then
  echo "installing chromium (Debian package)…" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  browser="$(command -v chromium)"
fi

run_id="$("$python" - "$api" <<'PY'
import sys

import requests

api = sys.argv[1]
body = {"flow_runs": {"name": {"like_": "nightly-"}}, "sort": "START_TIME_DESC", "limit": 1}
runs = requests.post(f"{api}/flow_runs/filter", json=body, timeout=30).json()
if not runs:
    sys.exit("no nightly flow run on this server yet")
print(runs[0]["id"])
PY
)"
mkdir -p "$(dirname "$out")"
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking --hide-scrollbars \
  --window-size=1600,1100 --virtual-time-budget=15000 --screenshot="$out" "${ui}/runs/flow-run/${run_id}" \
  2>/dev/null
echo "screenshot of ${ui}/runs/flow-run/${run_id} → ${out}"
