#!/usr/bin/env bash
# The whole test suite: installs prerequisites (scripts/setup.sh), type-checks, then runs unit
# and integration tests. Integration tests start their own private containerd, registry, Git
# server and etcd on loopback, and clean up after themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "==> type-checking" >&2
# The sources and the tests (setup.sh's build has already checked the web dashboard's types).
npx tsc --noEmit -p .
echo "==> running tests" >&2
exec npx mocha --reporter ./test/reporter.cjs 'test/unit/**/*.test.ts' 'test/integration/**/*.test.ts' "$@"
