# The Sluice gateway image: `sluice serve --kubernetes` on Node 24, production dependencies only,
# as a non-root user on a read-only root filesystem (config/kubernetes/30-deployment.yaml); or
# file mode with the arguments replaced (docs/running.md, "In a container"):
#   docker build -t sluice:0.1.0 .
#   docker run --rm --init -p 8080:8080 sluice:0.1.0 serve --config config/examples --host 0.0.0.0
# Node 24 runs the TypeScript sources directly (type stripping): there is no build step, and the
# image holds the same files the repository does. test/kubernetes/production-install.test.ts
# checks that every module bin/sluice.ts loads is copied below and that its packages are
# "dependencies" (not devDependencies).

# ---- dependencies: npm ci without devDependencies (argon2 ships prebuilt glibc binaries) ----
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime ----
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY lib ./lib
COPY plugins ./plugins
COPY gateway ./gateway
COPY control ./control
# The example, so that the image can be tried without a mount (`serve --config config/examples`);
# its commands name config/examples/app/… relative to the working directory, /app.
COPY config/examples ./config/examples
COPY config/functions ./config/functions
# The default --state directory, writable without a volume (`docker run`); the Deployment mounts an
# emptyDir over it, since its root filesystem is read-only.
RUN mkdir -p /var/lib/sluice && chown 65532:65532 /var/lib/sluice
# A numeric user, so the kubelet can verify runAsNonRoot (a name such as `node` cannot be checked).
USER 65532:65532
# public HTTP/1.1 + h2c, public TLS, internal (cluster-local routes), admin (/healthz, /readyz, /metrics)
EXPOSE 8080 8443 8081 9090
ENV SLUICE_STATE_DIR=/var/lib/sluice
ENTRYPOINT ["node", "bin/sluice.ts"]
CMD ["serve", "--kubernetes"]
