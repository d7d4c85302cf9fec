#!/usr/bin/env bash
# Installs the servers the end-to-end tests start themselves (Dovecot), from Debian's packages.
set -euo pipefail
missing=()
command -v dovecot >/dev/null 2>&1 || missing+=(dovecot-imapd)
# Headless Chromium renders the reviewers' case page in the report tests.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# systemd-analyze verifies the service unit in deploy/.
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
# Selenium drives it through Debian's driver in the workspace's browser tests.
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing test servers: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "test servers: dovecot $(dovecot --version 2>/dev/null || echo missing); $(chromium --version 2>/dev/null || echo chromium missing); $(chromedriver --version 2>/dev/null || echo chromedriver missing)"
