# Build: docker build -t alertledger .
FROM rust:1-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends cmake clang && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked --bin alertledger

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/alertledger alertledger
COPY --from=build /src/target/release/alertledger /usr/local/bin/alertledger
USER alertledger
EXPOSE 8080
ENV ALERTLEDGER_LISTEN=0.0.0.0:8080
ENTRYPOINT ["alertledger"]
CMD ["serve"]
