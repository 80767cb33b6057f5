# sealauth in a container: built on Debian 12 with the project's own setup
# script, run as an unprivileged user with its data in /var/lib/sealauth.
# The runtime image installs exactly the packages whose libraries the binary
# links (scripts/runtime-deps reads them off the built binary), plus curl for
# the health check.
FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/setup scripts/setup
RUN scripts/setup
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSEALAUTH_TESTS=OFF \
 && cmake --build build -j"$(nproc)" --target sealauth \
 && scripts/runtime-deps build/sealauth > build/runtime-packages

FROM debian:bookworm-slim
COPY --from=build /src/build/runtime-packages /tmp/runtime-packages
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates curl $(cat /tmp/runtime-packages) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages \
 && useradd --system --home /var/lib/sealauth --create-home sealauth
COPY --from=build /src/build/sealauth /usr/local/bin/sealauth
COPY --from=build /src/web /usr/local/share/sealauth/web
USER sealauth
ENV SEALAUTH_LISTEN=0.0.0.0:8080 \
    SEALAUTH_DATA_DIR=/var/lib/sealauth \
    SEALAUTH_WEB_DIR=/usr/local/share/sealauth/web
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["/usr/local/bin/sealauth", "serve"]
