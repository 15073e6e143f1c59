#!/usr/bin/env node
// The `sluice` command's entry point. An installed package runs the JavaScript that `npm pack`
// compiled into dist/ (Node does not strip types under node_modules); a checkout runs the
// TypeScript source directly (Node 24).
import { existsSync } from 'node:fs'

const compiled = new URL('../dist/bin/sluice.js', import.meta.url)
await import(existsSync(compiled) ? compiled.href : new URL('./sluice.ts', import.meta.url).href)
