# syntax=docker/dockerfile:1
# NodeFoundry api and worker (one image, two commands; see docker-compose.yml and docs/deployment.md).
#
# The TypeScript runs through tsx, which is a runtime dependency, so `npm ci --omit=dev` keeps it
# and drops only the toolchain (typescript, eslint, vitest, @temporalio/testing): no compile step,
# the code that runs is the code that was reviewed and type-checked in CI.
FROM node:20-bookworm-slim

# ipmitool: the worker's real power driver drives BMCs with it (IPMI over LAN).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ipmitool ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY . .

# Listen on all interfaces inside the container; docker-compose.yml decides what is published.
ENV NF_HOST=0.0.0.0 \
    PORT=8080 \
    NF_DATA_DIR=/tmp/nodefoundry
USER node
EXPOSE 8080

# The api by default; the worker runs `node --import tsx worker/main.ts`, the one-shot setup
# `node --import tsx scripts/deploy-setup.ts`, the admin CLI `node bin/nodefoundry.cjs …`.
CMD ["node", "--import", "tsx", "api/main.ts"]
