#!/usr/bin/env bash
# Make MariaDB and Redis available for the integration test run: install them if absent,
# start them if stopped, and create the app user `bo` (password `bo`) that may create test databases.
set -euo pipefail

SUDO=""; [ "$(id -u)" = "0" ] || SUDO="sudo"

if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
  echo "==> installing MariaDB server"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mariadb-server >/dev/null
fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "==> installing Redis"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi

if ! mysqladmin -uroot ping >/dev/null 2>&1; then
  echo "==> starting MariaDB"
  $SUDO mkdir -p /run/mysqld && $SUDO chown mysql:mysql /run/mysqld 2>/dev/null || true
  $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 1 60); do mysqladmin -uroot ping >/dev/null 2>&1 && break; sleep 1; done
fi
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  echo "==> starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done
fi

# Debian's root logs in over the unix socket only; the app connects over TCP as `bo`.
$SUDO mysql -uroot <<'SQL'
CREATE DATABASE IF NOT EXISTS bo CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'bo'@'localhost' IDENTIFIED BY 'bo';
CREATE USER IF NOT EXISTS 'bo'@'127.0.0.1' IDENTIFIED BY 'bo';
GRANT ALL PRIVILEGES ON `bo`.* TO 'bo'@'localhost';
GRANT ALL PRIVILEGES ON `bo`.* TO 'bo'@'127.0.0.1';
GRANT ALL PRIVILEGES ON `test\_%`.* TO 'bo'@'localhost';
GRANT ALL PRIVILEGES ON `test\_%`.* TO 'bo'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
echo "==> MariaDB (bo/bo@127.0.0.1:3306) and Redis (127.0.0.1:6379) are ready"
