#!/usr/bin/env bash
# Start the services the integration tests talk to (PostgreSQL, MariaDB,
# Redis on 127.0.0.1 with default ports), installing them with apt-get if
# they are missing, and install what other tests run: the OpenSSH server and
# client the SSH CA tests start themselves, OpenSSL and SoftHSM2. Idempotent: services already up are left alone.
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
apt_updated=
install() {
  if [ -z "$apt_updated" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
wait_for() { # name, command
  for _ in $(seq 1 60); do
    if eval "$2" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "$1 did not come up"
  return 1
}

# PostgreSQL: trust auth on 127.0.0.1, database "test".
if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  have pg_ctlcluster || install postgresql
  ver=$(ls /etc/postgresql | sort -V | tail -n1)
  log "starting postgresql $ver"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  wait_for postgresql "pg_isready -h 127.0.0.1 -p 5432"
fi
psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname='test'" 2>/dev/null | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -c 'create database test' >/dev/null 2>&1 || true

# MariaDB: root with an empty password, database "test".
if ! mysqladmin -h 127.0.0.1 -uroot ping >/dev/null 2>&1; then
  have mariadbd || install mariadb-server
  log "starting mariadb"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql || true
  wait_for mariadb "mysqladmin -h 127.0.0.1 -uroot ping"
fi
mysql -h 127.0.0.1 -uroot -e 'create database if not exists test' >/dev/null 2>&1 || true

# Redis: nothing kept on disk.
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  have redis-server || install redis-server
  log "starting redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for redis "redis-cli -h 127.0.0.1 -p 6379 ping"
fi
# OpenSSH: the SSH CA tests run their own sshd (never the system one) and
# the ssh client; they only need the binaries.
if [ ! -x /usr/sbin/sshd ] || ! have ssh; then
  install openssh-server openssh-client
fi
# OpenSSL: the transit import and PKI tests check our output with an
# independent implementation (KWP wrapping, openssl verify and ocsp).
have openssl || install openssl
# SoftHSM2: the PKCS#11 module the pkcs11 seal tests load; each test makes
# its own token in a private SOFTHSM2_CONF directory.
if ! command -v softhsm2-util >/dev/null 2>&1 || ! ls /usr/lib/softhsm/libsofthsm2.so >/dev/null 2>&1; then
  install softhsm2
fi
log "postgresql, mariadb and redis are up; sshd and softhsm2 are installed"
