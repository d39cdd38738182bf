#!/usr/bin/env bash
# Installs Debian's chromium and a Japanese font for the Playwright tests when they are missing.
# Never fails the build: the browser tests skip with a reason when chromium is still absent.
set -u
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
fc-list 2>/dev/null | grep -qi -e "noto sans cjk" -e ipaexgothic || need+=(fonts-noto-cjk)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-browser: apt-get unavailable; browser tests will be skipped (missing: ${need[*]})" >&2
  exit 0
fi
sudo=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo -n"
echo "ensure-browser: installing ${need[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null 2>&1 || true
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" fontconfig >/dev/null 2>&1 \
  || echo "ensure-browser: apt-get install failed; browser tests will be skipped" >&2
exit 0
