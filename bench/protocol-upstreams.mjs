// Upstreams for bench/protocols.sh: an h2c "hello world" on :9002 and a WebSocket echo on :9003.
import http2 from 'node:http2'
import http from 'node:http'
import { WebSocketServer } from 'ws'
http2.createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('hello world\n') }).listen(9002, '127.0.0.1')
const server = http.createServer((_req, res) => res.end('ws\n'))
new WebSocketServer({ server }).on('connection', (ws) => ws.on('message', (m) => ws.send(m)))
server.listen(9003, '127.0.0.1')
