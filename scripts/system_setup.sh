#!/usr/bin/env bash
# The course's system dependencies, installed like any other set-up step (`make` runs this).
#   bubblewrap - the OS sandbox every student process runs in (emcourse_grader.sandbox)
#   chromium   - Debian's headless browser for the site and JupyterLab tests (never downloaded
#                by a test tool)
#   npm        - configurable-http-proxy for `make hub`, the trial JupyterHub class (and its test)
#   python3-venv - the venvs `make hub` builds from the system Python for students and the
#                instructor (the project's own Python may not be readable by other users)
# Installs only what is missing; needs root (or sudo) and apt-get. Without them it says what to
# install and fails, because grading refuses to run student code without its sandbox.
set -euo pipefail
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)
{ [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import venv, ensurepip' >/dev/null 2>&1; } || need+=(python3-venv)
[ ${#need[@]} -eq 0 ] && exit 0
echo "system set-up: installing ${need[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=(); elif command -v sudo >/dev/null 2>&1; then sudo=(sudo -n); else
  echo "system set-up: please install the Debian packages: ${need[*]} (as root: apt-get install -y ${need[*]})" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system set-up: no apt-get here; install ${need[*]} with your system's package manager" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
