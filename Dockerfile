# sealauth in a container: built on Debian 12 with the project's own setup
# script, run as an unprivileged user with its data in /var/lib/sealauth.
FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/setup scripts/setup
RUN scripts/setup
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSEALAUTH_TESTS=OFF \
 && cmake --build build -j"$(nproc)" --target sealauth

FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates curl libmicrohttpd12 libwslay1 libevent-2.1-7 libevent-pthreads-2.1-7 \
      libjansson4 libssl3 libxml2 libxmlsec1 libxmlsec1-openssl libfido2-1 libcbor0.8 \
      libmsgpackc2 libcurl4 libsqlite3-0 libpq5 libhiredis0.14 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/sealauth --create-home sealauth
COPY --from=build /src/build/sealauth /usr/local/bin/sealauth
COPY --from=build /src/web /usr/local/share/sealauth/web
USER sealauth
ENV SEALAUTH_LISTEN=0.0.0.0:8080 \
    SEALAUTH_DATA_DIR=/var/lib/sealauth \
    SEALAUTH_WEB_DIR=/usr/local/share/sealauth/web
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["/usr/local/bin/sealauth", "serve"]
