# Build: docker build -t alertledger .
# The image runs as an unprivileged user (uid 10001) in production mode by
# default: it refuses to start without its secrets (ALERTLEDGER_JWT_SECRET or
# ALERTLEDGER_JWT_PUBLIC_KEY, ALERTLEDGER_MASTER_KEY, ALERTLEDGER_SIGNING_KEY)
# and refuses a DATABASE_URL whose role is a superuser or owns the event log
# (run `alertledger migrate --service-role NAME` as the owner first; see
# docker-compose.yml). Pass ALERTLEDGER_ENV=development for a trial.
FROM rust:1-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends cmake clang && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked --bin alertledger

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --home-dir /var/lib/alertledger --shell /usr/sbin/nologin alertledger \
    && mkdir -p /var/lib/alertledger/keys /var/lib/alertledger/checkpoints \
    && chown -R alertledger:alertledger /var/lib/alertledger \
    && chmod 0700 /var/lib/alertledger/keys
COPY --from=build /src/target/release/alertledger /usr/local/bin/alertledger
USER 10001:10001
WORKDIR /var/lib/alertledger
EXPOSE 8080
ENV ALERTLEDGER_LISTEN=0.0.0.0:8080 \
    ALERTLEDGER_ENV=production \
    ALERTLEDGER_LOG_FORMAT=json
ENTRYPOINT ["alertledger"]
CMD ["serve"]
