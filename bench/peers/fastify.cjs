// Peer: @fastify/http-proxy with its defaults, the most used Node gateway building block.
// node bench/peers/fastify.cjs PORT UPSTREAM_PORT
const [port, upstream] = process.argv.slice(2).map(Number)
const app = require('fastify')({ logger: false })
app.register(require('@fastify/http-proxy'), { upstream: `http://127.0.0.1:${upstream}` })
app.listen({ port, host: '127.0.0.1' })
// A clean exit on SIGTERM, so that --cpu-prof (BENCH_PROFILE) writes its profile.
process.on('SIGTERM', () => process.exit(0))
