#!/bin/sh
# Install Debian/Ubuntu packages, without recommends, and leave no package lists behind.
# Usage: apt_install.sh PACKAGE...
set -eu
if [ "$#" -eq 0 ]; then
    echo "apt_install.sh: name at least one package" >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "$@"
rm -rf /var/lib/apt/lists/*
