/**
 * An HTTP function: called with each request's context and parsed body.
 *
 * context: { method, path, headers, query, body, rawBody, httpVersion, log }
 * Return a body (string, object → JSON, Buffer), or { statusCode, headers, body }.
 */
export function handle(context, body) {
  context.log.info(`${context.method} ${context.path}`)
  if (context.method === 'POST') {
    return { statusCode: 200, body: { received: body } }
  }
  return { statusCode: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `Hello from hello-func${context.query.name ? `, ${context.query.name}` : ''}!\n` }
}
