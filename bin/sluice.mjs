#!/usr/bin/env node
// The `sluice` command's entry point. An installed package runs the JavaScript that `npm pack`
// compiled into dist/ (Node does not strip types under node_modules); a checkout runs the
// TypeScript source directly (Node 24).
import { existsSync } from 'node:fs'

// Checked before any import that needs a newer Node (module.registerHooks, erasable TypeScript),
// so an old Node says what to do instead of failing on a missing export.
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`sluice needs Node.js 22.19 or later; this is Node.js ${process.versions.node} (${process.execPath}).\n` +
    'Install a newer Node (https://nodejs.org), or in a checkout run `npm run sluice -- <command>`, which uses the Node 24 from `npm ci`.\n')
  process.exit(1)
}

const compiled = new URL('../dist/bin/sluice.js', import.meta.url)
await import(existsSync(compiled) ? compiled.href : new URL('./sluice.ts', import.meta.url).href)
