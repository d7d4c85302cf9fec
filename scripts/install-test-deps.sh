#!/usr/bin/env bash
# Installs the servers the end-to-end tests start themselves (Dovecot), and the OCR engine
# that reads scanned forms (Tesseract with its EN/FR/NL/DE data, poppler's pdftoppm for the
# tests' scans), from Debian's packages. Only what is missing is installed.
set -euo pipefail
missing=()
command -v dovecot >/dev/null 2>&1 || missing+=(dovecot-imapd)
# Headless Chromium renders the reviewers' case page in the report tests.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# systemd-analyze verifies the service unit in deploy/.
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
# Selenium drives it through Debian's driver in the workspace's browser tests.
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v tesseract >/dev/null 2>&1 || missing+=(tesseract-ocr)
for lang in fra nld deu; do
  # The language data lives in its own package; eng comes with tesseract-ocr.
  ls /usr/share/tesseract-ocr/*/tessdata/${lang}.traineddata >/dev/null 2>&1 \
    || missing+=(tesseract-ocr-${lang})
done
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing test servers and tools: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "test servers: dovecot $(dovecot --version 2>/dev/null || echo missing); $(chromium --version 2>/dev/null || echo chromium missing); $(chromedriver --version 2>/dev/null || echo chromedriver missing)"
echo "OCR: $(tesseract --version 2>/dev/null | head -1 || echo tesseract missing), languages $(tesseract --list-langs 2>/dev/null | tail -n +2 | tr '\n' ' ')"
