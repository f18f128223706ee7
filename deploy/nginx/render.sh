#!/bin/sh
# Renders deploy/nginx/nginx.conf.template into an nginx configuration on
# stdout. The one renderer of the one template: docker-compose.yml runs it in
# the nginx container, scripts/dev up and tests/e2e run it on loopback, so
# the containers and their loopback twin cannot drift apart.
#
#   render.sh TEMPLATE > nginx.conf
#
# Placeholders come from the environment; all are required:
#   SD_NGINX_LISTEN     the load balancer's listen address: 8080, 127.0.0.1:8080
#   SD_NGINX_UPSTREAMS  the sessiond replicas, host:port separated by spaces;
#                       a template line holding @UPSTREAM@ is repeated once per
#                       replica (a host name that resolves to several
#                       addresses, as a scaled compose service does, counts
#                       as one line and nginx adds every address)
#   SD_NGINX_DEMO       host:port of the demo upstream API (served by the same
#                       nginx)
#   SD_NGINX_RUN_DIR    pid file and temporary files
#   SD_NGINX_LOG_DIR    access.log and error.log
#
# Values may hold only letters, digits and . _ : / - [ ] (addresses and
# paths), so nothing in them can change the configuration's syntax. Exits 2
# on a missing or bad value, 1 when the template names an unknown
# placeholder.
set -eu

[ $# -eq 1 ] || { echo "usage: render.sh TEMPLATE > nginx.conf" >&2; exit 2; }
template=$1

for name in SD_NGINX_LISTEN SD_NGINX_UPSTREAMS SD_NGINX_DEMO SD_NGINX_RUN_DIR \
            SD_NGINX_LOG_DIR; do
  eval "value=\${$name-}"
  if [ -z "$value" ]; then
    echo "render.sh: $name is not set" >&2; exit 2
  fi
  if printf '%s' "$value" | grep -q '[^][A-Za-z0-9._:/ -]'; then
    echo "render.sh: $name may hold only letters, digits and . _ : / - [ ] and spaces: $value" >&2
    exit 2
  fi
done
case $SD_NGINX_UPSTREAMS in
  *[!\ ]*) ;;
  *) echo "render.sh: SD_NGINX_UPSTREAMS names no replica" >&2; exit 2 ;;
esac

exec awk '
  function fill(line) {
    gsub(/@LISTEN@/, ENVIRON["SD_NGINX_LISTEN"], line)
    gsub(/@DEMO@/, ENVIRON["SD_NGINX_DEMO"], line)
    gsub(/@RUN_DIR@/, ENVIRON["SD_NGINX_RUN_DIR"], line)
    gsub(/@LOG_DIR@/, ENVIRON["SD_NGINX_LOG_DIR"], line)
    if (match(line, /@[A-Z_]+@/)) {
      printf "render.sh: %s:%d: unknown placeholder %s\n", FILENAME, FNR,
             substr(line, RSTART, RLENGTH) > "/dev/stderr"
      exit 1
    }
    return line
  }
  /@UPSTREAM@/ {
    n = split(ENVIRON["SD_NGINX_UPSTREAMS"], ups, " ")
    for (i = 1; i <= n; i++) {
      line = $0
      gsub(/@UPSTREAM@/, ups[i], line)
      print fill(line)
    }
    next
  }
  { print fill($0) }
' "$template"
