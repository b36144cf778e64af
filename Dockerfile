# Build stage: compile TypeScript with the dev dependencies, then drop them.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json app.ts ./
COPY config ./config
COPY lib ./lib
RUN npm run build && npm prune --omit=dev

# Runtime stage: production dependencies and dist/ only, as an unprivileged user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production HTTP_HOST=0.0.0.0 HTTP_PORT=3000
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
USER node
EXPOSE 3000
# Exec form: node is PID 1 and receives SIGTERM itself; app.ts handles it (staged shutdown, exit 0).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.HTTP_PORT+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/app.js"]
