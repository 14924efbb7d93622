#!/usr/bin/env bash
# Starts or stops a throw-away Apache httpd (mod_dav + mod_dav_fs) on 127.0.0.1 that speaks the
# Bazel HTTP cache layout through WebDAV PUT: the second server implementation pcstore's remote
# tier is tested against (the first is nginx, scripts/nginx-test-server.sh).
#
#   scripts/apache-test-server.sh start DIR PORT   # config, data and logs all under DIR
#   scripts/apache-test-server.sh stop DIR
#
# Locations (all store under DIR/data), the same as the nginx script's:
#   /cache/   open: GET, HEAD, PUT, DELETE
#   /bearer/  only with "Authorization: Bearer pcstore-test-token"
#   /basic/   only with HTTP Basic pcstore:pcstore-test-password
# mod_dav does not create missing parent collections (a PUT below one is 409 Conflict), so each
# location's ac/ folder is created here: do the same on a real server. Started as root, the
# workers run as nobody, so DIR's data and lock folders are given to nobody:nogroup.
set -euo pipefail

usage() { echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
action=$1
dir=$(realpath -m "$2")
apache_bin=/usr/sbin/apache2
modules=/usr/lib/apache2/modules

case "$action" in
start)
  [ $# -eq 3 ] || usage
  port=$3
  if [ ! -x "$apache_bin" ] || [ ! -f "$modules/mod_dav_fs.so" ]; then
    echo "Apache is not installed: run scripts/install-deps.sh (Debian package apache2-bin)" >&2
    exit 1
  fi
  mkdir -p "$dir/data/cache/ac" "$dir/data/bearer/ac" "$dir/data/basic/ac" "$dir/lock"
  chmod 755 "$dir"
  user_lines=""
  if [ "$(id -u)" -eq 0 ]; then
    user_lines=$'User nobody\nGroup nogroup'
    chown -R nobody:nogroup "$dir/data" "$dir/lock"
  fi
  basic=$(printf 'pcstore:pcstore-test-password' | base64)
  cat >"$dir/httpd.conf" <<CONF
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$dir/httpd.pid"
ErrorLog "$dir/error.log"
LogLevel warn
$user_lines
LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule dav_module $modules/mod_dav.so
LoadModule dav_fs_module $modules/mod_dav_fs.so
KeepAlive On
MaxKeepAliveRequests 0
LimitRequestBody 134217728
DocumentRoot "$dir/data"
DavLockDB "$dir/lock/DavLock"
<Directory "$dir/data">
  Require all granted
</Directory>
<Location /cache/>
  Dav On
</Location>
<Location /bearer/>
  Dav On
  Require expr "%{HTTP:Authorization} == 'Bearer pcstore-test-token'"
</Location>
<Location /basic/>
  Dav On
  Require expr "%{HTTP:Authorization} == 'Basic $basic'"
</Location>
CONF
  "$apache_bin" -f "$dir/httpd.conf" -k start
  # Wait (bounded) until it accepts connections, then create mod_dav's lock database with one
  # PUT and DELETE: while it does not exist yet, one of two concurrent PUTs waits ~1 s (measured
  # on Apache 2.4.71), which the tests would report as a slow server.
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      curl -sf -o /dev/null -X PUT --data-binary warm-up "http://127.0.0.1:$port/cache/ac/warm-up"
      curl -sf -o /dev/null -X DELETE "http://127.0.0.1:$port/cache/ac/warm-up"
      exit 0
    fi
    sleep 0.05
  done
  echo "Apache did not start listening on 127.0.0.1:$port; see $dir/error.log" >&2
  cat "$dir/error.log" >&2 || true
  exit 1
  ;;
stop)
  [ -f "$dir/httpd.pid" ] || exit 0
  pid=$(cat "$dir/httpd.pid")
  kill -TERM "$pid" 2>/dev/null || exit 0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || exit 0
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  ;;
*) usage ;;
esac
