#!/usr/bin/env bash
# From nothing to a running node: installs the Debian packages, builds,
# installs under $OFC_PREFIX (default /opt/ofcmail), creates the embedded
# default node ESNODE (private PostgreSQL cluster, domain COM, ADMIN,
# ORAPOST and a demo user), starts the Guardian and `startup all;`, prints
# how to connect, and runs the test suite. Run again, it reuses the node.
#
# Environment: OFC_PREFIX, OFC_SKIP_TESTS=1 (do not run the suite).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
prefix=${OFC_PREFIX:-/opt/ofcmail}
jobs=$(nproc 2>/dev/null || echo 2)

if [ "$(id -u)" -ne 0 ]; then
    echo "run.sh: run as root: it installs packages and creates the ofcmail system user" >&2
    exit 1
fi

scripts/install-deps.sh

# ofcmail's processes and its database never run as root.
if ! getent passwd ofcmail >/dev/null; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin ofcmail
    echo "run.sh: created system user ofcmail"
fi

cmake -S . -B build-release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-release -j"$jobs"
cmake --install build-release --prefix "$prefix" >/dev/null

install -d -m 0755 "$prefix/etc"
if [ ! -f "$prefix/etc/ofcmail.conf" ]; then
    install -m 0644 etc/ofcmail.conf "$prefix/etc/ofcmail.conf"
fi

# Passwords are generated once and kept where only root can read them;
# there is no default password.
cred="$prefix/etc/credentials"
if [ ! -f "$cred" ]; then
    gen() { head -c 18 /dev/urandom | base64 | tr -d "/+=" | head -c 20; }
    (umask 077 && printf 'ADMIN %s\nORAPOST %s\ndemo %s\n' "$(gen)" "$(gen)" "$(gen)" > "$cred")
    chmod 0600 "$cred"
fi
pw() { awk -v u="$1" '$1 == u { print $2 }' "$cred"; }

OFC_ADMIN_PASSWORD=$(pw ADMIN) OFC_ORAPOST_PASSWORD=$(pw ORAPOST) OFC_DEMO_PASSWORD=$(pw demo) \
    "$prefix/bin/ofcsetup" create-node --demo-user=demo
# A self-signed certificate so that STARTTLS, POP3S and IMAPS work from
# the start; replace it with `ofcsetup cert store` (see ofcsetup(8)).
if [ ! -f "$prefix/etc/tls/imap.crt" ]; then
    tmp=$(mktemp -d)
    "$prefix/bin/ofcsetup" cert generate --cn="$(hostname -f 2>/dev/null || hostname)" \
        --org="ofcmail" --out-key="$tmp/node.key" --out-cert="$tmp/node.crt"
    "$prefix/bin/ofcsetup" cert store --protocol=imap,pop3,lmtp \
        --key="$tmp/node.key" --cert="$tmp/node.crt"
    rm -rf "$tmp"
fi
# The Guardian starts the embedded cluster, then every process an
# administrator started; `startup all;` asks for all of them, as in the
# Installation Guide. Both are no-ops when already done.
if ! "$prefix/bin/ofcguard" status >/dev/null 2>&1; then
    "$prefix/bin/ofcguard" start
fi
echo 'startup all;' | OFC_OOMGR_PASSWORD=$(pw ADMIN) "$prefix/bin/oomgr" ADMIN
sleep 2  # let the Guardian start them before showing the table
echo 'disp process;' | OFC_OOMGR_PASSWORD=$(pw ADMIN) "$prefix/bin/oomgr" ADMIN

cat <<TXT

ofcmail node ESNODE is ready under $prefix.
  Configuration  $prefix/etc/ofcmail.conf
  Logs           $prefix/log/ofcmail/
  Database       embedded PostgreSQL, data in $prefix/var/ofcmail/pgdata,
                 socket only: psql "host=$prefix/var/ofcmail/run dbname=ofcmail user=ofcmail options=-csearch_path=ofc"
                 (run psql as root or as the ofcmail user)
  Accounts       ADMIN, ORAPOST and demo; passwords in $cred (root only)
  POP3, IMAP     ports 1110 (STLS) and 1995 (POP3S), 1143 (STARTTLS) and 1993 (IMAPS)
                 on every address; self-signed certificate in $prefix/etc/tls
  Guardian       $prefix/bin/ofcguard status | stop | start
  IOFCMGR        $prefix/bin/oomgr ADMIN      (then: disp process; whoami; help;)
  Status         $prefix/bin/ofcsetup status
TXT

if [ "${OFC_SKIP_TESTS:-0}" != 1 ]; then
    scripts/test.sh
fi
