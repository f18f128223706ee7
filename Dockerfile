# sessiond container image: a build stage with the -dev packages, then a slim
# Debian 12 runtime with only the shared libraries the two programs load.
#
#   docker build -t sessiond .          (docker-compose.yml does this for you)
#
# Configuration comes from SESSIOND_* environment variables and, optionally,
# `-c FILE`; keys are mounted (README "Deploy"). The process runs as an
# unprivileged user and drains on SIGTERM.

# ---- build -----------------------------------------------------------------
FROM debian:12-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libhiredis-dev libevent-dev libssl-dev libjansson-dev libjwt-dev libcmocka-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the build reads (CMakeLists.txt needs tests/ to configure; the
# tests themselves are run by ./scripts/dev test, not here).
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY include/ include/
COPY lua/ lua/
COPY src/ src/
COPY tests/ tests/
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSD_WERROR=ON \
 && cmake --build build -j"$(nproc)" --target sessiond sessionctl \
 && strip build/sessiond build/sessionctl

# ---- runtime ---------------------------------------------------------------
FROM debian:12-slim
# sessiond: hiredis, libevent, OpenSSL, jansson; sessionctl also libjwt.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libhiredis0.14 libevent-2.1-7 libssl3 libjansson4 libjwt0 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin sessiond \
 && mkdir -p /etc/sessiond
COPY --from=build /src/build/sessiond /src/build/sessionctl /usr/local/bin/

# Containers are reached from other hosts; the built-in default is loopback.
ENV SESSIOND_LISTEN=0.0.0.0:8080
EXPOSE 8080
USER 10001:10001

# Liveness without curl in the image: bash's /dev/tcp speaks enough HTTP.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sessiond"]
