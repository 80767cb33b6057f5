#!/bin/sh
# Runs a browser test for ctest: the file named by the first argument
# (default login.test.mjs). When node, Debian's
# Chromium or playwright-core is missing it says so and exits 77, which
# ctest reports as skipped; with SEALAUTH_BROWSER_REQUIRED=1 a missing piece
# is a failure instead.
here=$(cd "$(dirname "$0")" && pwd)
chromium=${CHROMIUM:-/usr/bin/chromium}

missing() {
	echo "SKIPPED: browser test: $1 (scripts/setup --test installs it)"
	if [ "${SEALAUTH_BROWSER_REQUIRED:-0}" = 1 ]; then
		exit 1
	fi
	exit 77
}

command -v node >/dev/null 2>&1 || missing "node not found"
[ -x "$chromium" ] || missing "$chromium not found"
[ -f "$here/node_modules/playwright-core/package.json" ] ||
	missing "playwright-core not installed in tests/browser (npm ci)"
exec node "$here/${1:-login.test.mjs}"
