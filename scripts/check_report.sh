#!/usr/bin/env bash
# Check an initgrid HTML report in headless Chromium and take a screenshot.
#
#   scripts/check_report.sh REPORT.html [OUT.png]
#
# A synthetic report to try it on (no training needed):
#   INITGRID_REPORT_SAMPLE=/tmp/sample.html cargo test --lib report::tests::write_sample_report
#   EXPECT_SVG=19 scripts/check_report.sh /tmp/sample.html /tmp/sample.png
#
# Fails (non-zero exit) when
#   - Chromium is missing (install: apt-get update && apt-get install -y chromium),
#   - the file references anything outside itself (http(s)://, protocol-relative URLs,
#     <script src>; the SVG namespace URI is allowed), or the page logs a console error or
#     an uncaught exception, or writes anything to the console (all network access is blocked while it loads),
#   - the rendered DOM holds fewer <svg> charts than the file (or than $EXPECT_SVG if set),
#   - no screenshot is written.
# Prints the number of SVG charts found. Env: CHROMIUM (binary), WINDOW_SIZE (default
# 1400,4000), EXPECT_SVG (exact number of charts required), KEEP_LOGS=1 (keep the work dir).
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 || ! -f $1 ]]; then
    echo "usage: $0 REPORT.html [OUT.png]" >&2
    exit 2
fi
report=$(realpath "$1")
out=${2:-${report%.html}.png}
mkdir -p "$(dirname "$out")"
out=$(realpath -m "$out")

chrome=${CHROMIUM:-}
if [[ -z $chrome ]]; then
    for c in chromium chromium-browser google-chrome; do
        if command -v "$c" >/dev/null 2>&1; then chrome=$(command -v "$c"); break; fi
    done
fi
if [[ -z $chrome ]]; then
    echo "check_report: Chromium not found; install it with: apt-get update && apt-get install -y chromium" >&2
    exit 2
fi

work=$(mktemp -d)
cleanup() { if [[ ${KEEP_LOGS:-0} == 1 ]]; then echo "check_report: logs kept in $work" >&2; else rm -rf "$work"; fi; }
trap cleanup EXIT

flags=(
    --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
    --disable-background-networking --disable-component-update --disable-sync
    --disable-default-apps --disable-extensions --mute-audio --hide-scrollbars
    --host-resolver-rules="MAP * ~NOTFOUND"
)
url="file://$report"

run_chrome() { # profile-dir log-file args...
    local profile=$1 log=$2
    shift 2
    timeout 180 "$chrome" "${flags[@]}" --user-data-dir="$profile" "$@" "$url" 2>"$log"
}

# 1. Load the page, dump the DOM after scripts ran, and collect console output.
if ! run_chrome "$(mktemp -d -p "$work")" "$work/dom.log" \
    --enable-logging=stderr --v=0 --virtual-time-budget=5000 --dump-dom >"$work/dom.html"; then
    echo "check_report: FAIL: Chromium exited with an error while loading the page" >&2
    tail -n 20 "$work/dom.log" >&2
    exit 1
fi

status=0
# External references: anything http(s) except the SVG namespace URI, and <script src>.
# (Chromium does not log a blocked <img>/<link>, so check the file itself.)
if sed 's#http://www.w3.org/2000/svg##g' "$report" | grep -Eio '(https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^"'"'"' )<]*|<script[^>]+src=' \
    | grep -v '^//$' >"$work/external.txt"; then
    echo "check_report: FAIL: the report references external resources:" >&2
    sort -u "$work/external.txt" | head -n 10 >&2
    status=1
fi
# Chromium logs every console message at INFO level whatever its severity, and the report
# itself never writes to the console: any console line is an error.
if grep -E 'Uncaught|:CONSOLE[(:]|Failed to load resource|net::ERR_' \
    "$work/dom.log" >"$work/errors.txt"; then
    echo "check_report: FAIL: the page logged errors:" >&2
    head -n 20 "$work/errors.txt" >&2
    status=1
fi
if ! grep -qi '</html>' "$work/dom.html"; then
    echo "check_report: FAIL: no DOM was dumped" >&2
    status=1
fi

in_file=$( (grep -o '<svg' "$report" || true) | wc -l)
in_dom=$( (grep -o '<svg' "$work/dom.html" || true) | wc -l)
echo "check_report: $in_dom SVG charts rendered ($in_file in the file)"
if ((in_dom < in_file)); then
    echo "check_report: FAIL: the browser parsed fewer SVG charts than the file holds" >&2
    status=1
fi
if [[ -n ${EXPECT_SVG:-} ]] && ((in_dom != EXPECT_SVG)); then
    echo "check_report: FAIL: expected $EXPECT_SVG SVG charts, found $in_dom" >&2
    status=1
fi

# 2. Screenshot.
rm -f "$out"
if ! run_chrome "$(mktemp -d -p "$work")" "$work/shot.log" \
    --window-size="${WINDOW_SIZE:-1400,4000}" --virtual-time-budget=5000 --screenshot="$out" >/dev/null; then
    echo "check_report: FAIL: Chromium exited with an error while taking the screenshot" >&2
    tail -n 20 "$work/shot.log" >&2
    exit 1
fi
if [[ ! -s $out ]]; then
    echo "check_report: FAIL: no screenshot written to $out" >&2
    exit 1
fi
echo "check_report: screenshot $out"
if ((status == 0)); then echo "check_report: OK"; fi
exit "$status"
