#!/usr/bin/env bash
# The system tools `make test` needs beyond the Python packages of the test extra.
#
# Only a headless Chromium: the HTML report tests load the page in a real browser. (MP4 output
# uses the ffmpeg binary of imageio-ffmpeg, a Python package of the plot extra.) Installs
# Debian's chromium when it is missing and we may (root with apt-get); otherwise stops with
# the command to run.
#
#   scripts/provision.sh [--dry-run]
#
# --dry-run prints what would be installed instead of installing it.
# TOPOAE_CHROMIUM names the browser command to look for (default: chromium, as the tests use).
set -euo pipefail

chromium=${TOPOAE_CHROMIUM:-chromium}
dry_run=0
case "${1:-}" in
    "") ;;
    --dry-run) dry_run=1 ;;
    *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac

install_command="apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium"

if command -v "$chromium" >/dev/null 2>&1; then
    echo "provision: $chromium found at $(command -v "$chromium")"
    exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    cat >&2 <<MESSAGE
provision: $chromium is not installed, and the report tests need a real headless browser.
Install it and run make test again; on Debian or Ubuntu:
    sudo sh -c '$install_command'
(or put a chromium on the PATH; TOPOAE_CHROMIUM names another command to look for).
MESSAGE
    exit 1
fi

echo "provision: $chromium not found; installing Debian's chromium: $install_command"
if [ "$dry_run" -eq 1 ]; then
    echo "provision: dry run, nothing installed"
    exit 0
fi
if ! sh -c "$install_command"; then
    echo "provision: installing chromium failed (see above); install it by hand: $install_command" >&2
    exit 1
fi
if ! command -v "$chromium" >/dev/null 2>&1; then
    echo "provision: installed the chromium package, but $chromium is still not on the PATH" >&2
    exit 1
fi
echo "provision: $chromium installed at $(command -v "$chromium")"
