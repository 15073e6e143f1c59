// The plugins Sluice ships, by the name a Plugin object's `spec.plugin` uses.
import type { Plugin } from '../api.ts'
import accessLog from './access-log.ts'
import basicAuth from './basic-auth.ts'
import cache from './cache.ts'
import cors from './cors.ts'
import extAuthz from './ext-authz.ts'
import headers from './headers.ts'
import ipFilter from './ip-filter.ts'
import jwt from './jwt.ts'
import rateLimit from './rate-limit.ts'

const all = [accessLog, basicAuth, cache, cors, extAuthz, headers, ipFilter, jwt, rateLimit] as unknown as Plugin<never>[]

export const builtinPlugins: ReadonlyMap<string, Plugin<never>> = new Map(all.map((p) => [p.name, p]))
