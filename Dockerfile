# syntax=docker/dockerfile:1
# vaultwatch: multi-stage build, runs as a non-root user, `node` as PID 1's child via tini-less exec so
# SIGTERM reaches the daemon directly (npm/npx do not forward signals).

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY schema ./schema
COPY config ./config
RUN mkdir -p /app/var/outbox && chown -R node:node /app/var
USER node
EXPOSE 8787
# Mount your own configuration over /app/config (or set --config); REDIS_URL overrides redis.url.
ENV REDIS_URL=redis://redis:6379
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8787/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "bin/vaultwatch.js"]
CMD ["start", "--config", "config/vaultwatch.yaml", "--listen", "0.0.0.0:8787"]
