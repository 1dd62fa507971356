#!/usr/bin/env bash
# The test command (README, CI): type-check, then every unit and integration test, then one line
# "N passed, M failed". Integration tests start their own redis-server on a free port.
set -uo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server not found on PATH: the integration tests start their own Redis." >&2
  echo "Install it with: sudo apt-get install -y redis-server   (Debian/Ubuntu)" >&2
  echo "             or: brew install redis                     (macOS)" >&2
  exit 1
fi

failed_checks=0
echo "== type-check (tsc --noEmit)"
if ! npx tsc --noEmit -p tsconfig.json; then
  echo "type-check failed" >&2
  failed_checks=1
fi

report=$(mktemp -t vaultwatch-vitest-XXXXXX.json)
trap 'rm -f "$report"' EXIT
echo "== tests (vitest: unit, then integration)"
npx vitest run --reporter=default --reporter=json --outputFile="$report" "$@"
vitest_status=$?

counts=$(node -e '
  const fs = require("fs");
  let r = {};
  try { r = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch {}
  // A file that fails to load has no failed test of its own: count it as one failure.
  const broken = (r.testResults ?? []).filter((s) => s.status === "failed" && !(s.assertionResults ?? []).some((a) => a.status === "failed")).length;
  process.stdout.write(`${r.numPassedTests ?? 0} ${(r.numFailedTests ?? 0) + broken}`);
' "$report")
passed=${counts% *}
failed=${counts#* }
failed=$((failed + failed_checks))
if [ "$vitest_status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ] && [ "$vitest_status" -eq 0 ]
