#!/usr/bin/env bash
# Starts or stops a throw-away nginx on 127.0.0.1 that speaks the Bazel HTTP cache layout
# through WebDAV PUT, for pcstore's remote-tier tests and benchmark.
#
#   scripts/nginx-test-server.sh start DIR PORT   # config, data and logs all under DIR
#   scripts/nginx-test-server.sh stop DIR
#
# Locations (all store under DIR/data):
#   /cache/   open: GET, HEAD, PUT, DELETE
#   /bearer/  only with "Authorization: Bearer pcstore-test-token"
#   /basic/   only with HTTP Basic pcstore:pcstore-test-password
# Started as root, nginx workers run as nobody, so DIR's data and temp folders are given to
# nobody:nogroup (otherwise PUT fails with a misleading 500 "mkdir() ... No such file").
set -euo pipefail

usage() { echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
action=$1
dir=$(realpath -m "$2")

nginx_bin=$(command -v nginx || true)
[ -n "$nginx_bin" ] || nginx_bin=/usr/sbin/nginx

case "$action" in
start)
  [ $# -eq 3 ] || usage
  port=$3
  if [ ! -x "$nginx_bin" ]; then
    echo "nginx is not installed: run scripts/install-deps.sh (Debian package nginx)" >&2
    exit 1
  fi
  mkdir -p "$dir/data/cache" "$dir/data/bearer" "$dir/data/basic" "$dir/tmp"
  chmod 755 "$dir"
  printf 'pcstore:{PLAIN}pcstore-test-password\n' >"$dir/htpasswd"
  user_line=""
  if [ "$(id -u)" -eq 0 ]; then
    user_line="user nobody nogroup;"
    chown -R nobody:nogroup "$dir/data" "$dir/tmp"
    chmod 644 "$dir/htpasswd"
  fi
  cat >"$dir/nginx.conf" <<CONF
$user_line
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 100000;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  client_max_body_size 128m;
  client_body_buffer_size 1m;
  server {
    listen 127.0.0.1:$port;
    root $dir/data;
    location /cache/ {
      dav_methods PUT DELETE;
      create_full_put_path on;
    }
    location /bearer/ {
      if (\$http_authorization != "Bearer pcstore-test-token") { return 401; }
      dav_methods PUT DELETE;
      create_full_put_path on;
    }
    location /basic/ {
      auth_basic "pcstore";
      auth_basic_user_file $dir/htpasswd;
      dav_methods PUT DELETE;
      create_full_put_path on;
    }
  }
}
CONF
  "$nginx_bin" -c "$dir/nginx.conf" -p "$dir" -e "$dir/error.log"
  # Wait (bounded) until it accepts connections.
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      exit 0
    fi
    sleep 0.05
  done
  echo "nginx did not start listening on 127.0.0.1:$port; see $dir/error.log" >&2
  cat "$dir/error.log" >&2 || true
  exit 1
  ;;
stop)
  [ -f "$dir/nginx.pid" ] || exit 0
  pid=$(cat "$dir/nginx.pid")
  kill -QUIT "$pid" 2>/dev/null || exit 0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || exit 0
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  ;;
*) usage ;;
esac
