#!/usr/bin/env bash
# Installs the system packages the project needs, only where they are missing: with `run`,
# what the service itself needs (the font its PDFs embed); without, also what the tests need.
set -euo pipefail
need=()
# The TrueType CJK font every PDF embeds (reportlab cannot embed Noto CJK's CFF outlines).
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need+=(fonts-wqy-zenhei)
if [ "${1:-}" != "run" ]; then
ldconfig -p 2>/dev/null | grep 'libzbar\.so' >/dev/null || need+=(libzbar0)
# The browser tests (tests/e2e): Debian's Chromium and ChromeDriver, and a CJK font for the pages.
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
fc-list : family 2>/dev/null | grep -iE 'Noto Sans CJK|WenQuanYi' >/dev/null || need+=(fonts-noto-cjk)
fi
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${need[*]} (run: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
