# syntax=docker/dockerfile:1
# The image the GitLab CI template (templates/runnergen.yml) runs in: runnergen, git (for
# `diff --base`), curl and jq (for the merge-request note), as a non-root user.
#
#   docker build -t registry.gitlab.com/<group>/runnergen:0.1.0 .
#   docker push registry.gitlab.com/<group>/runnergen:0.1.0

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
# The built-in role catalogue src/roles compiles in (include_str!).
COPY data data
RUN cargo build --release --locked --bin runnergen && strip target/release/runnergen

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends git curl jq ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --create-home --shell /usr/sbin/nologin runnergen
COPY --from=build /src/target/release/runnergen /usr/local/bin/runnergen
COPY templates/runnergen-mr-note.sh /usr/local/bin/runnergen-mr-note
COPY ci/ /usr/share/runnergen/ci/
USER 10001
WORKDIR /home/runnergen
CMD ["runnergen", "--help"]
