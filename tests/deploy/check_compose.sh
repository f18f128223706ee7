#!/bin/sh
# ctest deploy/compose_config: docker-compose.yml and docker-compose.sentinel.yml
# are valid (checked offline,
# no Docker engine needed), and the nginx configuration its nginx service
# renders at start is too: the service's own SD_NGINX_* values through
# deploy/nginx/render.sh, then `nginx -t` on the result with loopback
# stand-ins for what exists only inside the containers (the replicas' DNS
# name, the image's directories). Exits 77 (skipped) without docker-compose.
#
#   check_compose.sh SOURCE_DIR
set -eu
root=$1
command -v docker-compose >/dev/null 2>&1 || {
  echo "skipped: docker-compose is not installed (./scripts/deps installs it)"; exit 77; }
cd "$root"
tmp=$(mktemp -d /tmp/sd-compose-check-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

docker-compose -f docker-compose.yml config -q
docker-compose -f docker-compose.yml config > "$tmp/compose.yml"
docker-compose -f docker-compose.sentinel.yml config -q
docker-compose -f docker-compose.sentinel.yml config > "$tmp/sentinel.yml"

# The Sentinel topology: three sentinels that all monitor the same master
# name the workers ask for, and workers that know every sentinel and no URL.
python3 - "$tmp/sentinel.yml" <<'PY'
import sys, yaml
s = yaml.safe_load(open(sys.argv[1]))["services"]
env = s["sessiond"]["environment"]
assert "SESSIOND_REDIS_URL" not in env, "sessiond must not name a Redis URL"
name = env["SESSIOND_REDIS_MASTER_NAME"]
names = sorted(k for k in s if k.startswith("sentinel-"))
assert env["SESSIOND_REDIS_SENTINELS"] == ",".join(n + ":26379" for n in names), env
for n in names:
    cmd = " ".join(s[n]["command"])
    assert "sentinel monitor %s redis-master 6379 2" % name in cmd, cmd
assert s["redis-replica"]["command"].count("--replicaof") == 1
print("docker-compose.sentinel.yml: %d sentinels monitor %s" % (len(names), name))
PY

# The nginx service's environment as shell assignments. python3-yaml comes
# with docker-compose.
python3 - "$tmp/compose.yml" > "$tmp/nginx.env" <<'PY'
import shlex, sys, yaml
env = yaml.safe_load(open(sys.argv[1]))["services"]["nginx"]["environment"]
for k, v in sorted(env.items()):
    if k.startswith("SD_NGINX_"):
        print("export %s=%s" % (k, shlex.quote(str(v))))
PY
. "$tmp/nginx.env"
sh deploy/nginx/render.sh deploy/nginx/nginx.conf.template > "$tmp/as-deployed.conf"
echo "rendered the compose nginx configuration ($(wc -l < "$tmp/as-deployed.conf") lines)"

nginx=$(command -v nginx || echo /usr/sbin/nginx)
if [ -x "$nginx" ]; then
  mkdir -p "$tmp/run"
  SD_NGINX_UPSTREAMS=$(echo "$SD_NGINX_UPSTREAMS" | sed 's/[^ :]*:/127.0.0.1:/g') \
    SD_NGINX_RUN_DIR="$tmp/run" SD_NGINX_LOG_DIR="$tmp/run" \
    sh deploy/nginx/render.sh deploy/nginx/nginx.conf.template > "$tmp/nginx.conf"
  "$nginx" -t -q -p "$tmp/run" -c "$tmp/nginx.conf" -e "$tmp/run/error.log"
  echo "nginx -t: the rendered configuration loads"
fi
echo "docker-compose.yml, docker-compose.sentinel.yml: valid"
