#!/usr/bin/env bash
# The README's main job: install what gantry needs, then run `gantry up` (on the bundled sample
# app unless --repo is given). Extra arguments go to `gantry up`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node bin/gantry.js up "$@"
