// An example user plugin, loaded from this file by the Plugin object in plugins.yaml: it tells
// the app which route the request came through, and tells the client which revision served it.
import { definePlugin, object, string, validator } from 'sluice/plugin'

const schema = object({
  header: string({ default: 'x-served-by', pattern: /^[A-Za-z0-9-]+$/ }),
})

export default definePlugin({
  name: 'served-by',
  priority: 10,
  validate: validator(schema),
  create(config) {
    const header = config.header.toLowerCase()
    return {
      onUpstream(ctx) {
        ctx.requestHeaders.set('x-sluice-route', `${ctx.route.namespace}/${ctx.route.name}`)
      },
      onResponseHeaders(ctx) {
        ctx.responseHeaders.set(header, ctx.revision)
      },
    }
  },
})
