#!/usr/bin/env bash
# Refreshes the board's copy of TradingView's lightweight-charts from npm: its standalone production
# build and its licence, embedded into the binary by internal/board (go:embed). No CDN, no build step
# at run time. Usage: hack/board-vendor.sh [version] (default: LWC_VERSION, else the pinned one).
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:-${LWC_VERSION:-5.2.1}}"
dest=internal/board/static/vendor
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "lightweight-charts@${version}" >/dev/null)
tar -xzf "$tmp"/lightweight-charts-*.tgz -C "$tmp"
mkdir -p "$dest"
cp "$tmp/package/dist/lightweight-charts.standalone.production.js" "$dest/lightweight-charts.standalone.production.js"
cp "$tmp/package/LICENSE" "$dest/lightweight-charts.LICENSE"
echo "$version" > "$dest/lightweight-charts.VERSION"
echo "vendored lightweight-charts $version into $dest"
