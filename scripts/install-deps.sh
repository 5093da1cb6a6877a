#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/debian-packages.txt.
# Run as root. Installing Debian's postgresql normally creates and starts a
# system-wide cluster; ofcmail never uses one (the node has its own private
# cluster, the tests start theirs), so we ask postgresql-common not to.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: run as root (apt-get)" >&2
    exit 1
fi

mapfile -t pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$here/debian-packages.txt" | grep -v '^$')

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps.sh: all ${#pkgs[@]} packages present"
    exit 0
fi

if ! dpkg-query -W -f='${Status}' postgresql-common 2>/dev/null | grep -q 'install ok installed'; then
    mkdir -p /etc/postgresql-common
    if [ ! -f /etc/postgresql-common/createcluster.conf ]; then
        echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
    fi
fi

# Debian's sendmail postinst starts (and enables) a system-wide daemon; the
# tests run sendmail privately and ofcmail never uses a system MTA service.
# A policy-rc.d that answers 101 ("action forbidden") keeps invoke-rc.d from
# starting anything during this install; it is removed afterwards, and only
# if we created it.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 0755 "$policy"
    own_policy=1
    trap 'rm -f "$policy"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps.sh: installing ${missing[*]}"
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
if [ "$own_policy" -eq 1 ]; then
    rm -f "$policy"
    trap - EXIT
fi
