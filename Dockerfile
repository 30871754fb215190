# The Loraplex image: one image for every component (`loraplex controller`, `router`, `agent`,
# `engine-sim`...). Node 24 runs the TypeScript sources directly (type stripping), so there is
# no build step; the sources live in /app, outside node_modules, where Node strips types.
#   docker build -t loraplex/loraplex:0.1.0 .
# Layers as scripts/images.sh makes them: the runtime (Node + production node_modules) first,
# the sources last, so a source-only change rebuilds only the last layer.

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# .dockerignore keeps tests, benchmarks, charts and local state out of this copy.
COPY . .
# The image's "node" user, by number so runAsNonRoot can verify it.
USER 1000:1000
ENTRYPOINT ["node", "bin/loraplex.js"]
CMD ["--help"]
