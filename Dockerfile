# syntax=docker/dockerfile:1
# tollgate in a container: built in one stage, run from a slim image as a non-root user,
# with the store on a volume and readiness as the health check.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY assets ./assets
COPY policies ./policies
RUN cargo build --release --locked --bin tollgate

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/tollgate --create-home tollgate \
 && mkdir -p /var/lib/tollgate/data \
 && chown tollgate:tollgate /var/lib/tollgate/data
COPY --from=build /src/target/release/tollgate /usr/local/bin/tollgate
COPY policies /etc/tollgate/policies
USER tollgate
ENV TOLLGATE_LISTEN=0.0.0.0:8080 \
    TOLLGATE_DATA=/var/lib/tollgate/data \
    TOLLGATE_POLICIES=/etc/tollgate/policies \
    TOLLGATE_LOG_FORMAT=json
VOLUME ["/var/lib/tollgate/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["tollgate", "probe", "--url", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["tollgate"]
CMD ["serve"]
