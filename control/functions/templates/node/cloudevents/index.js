/**
 * A CloudEvents function: called with each event (a Trigger's delivery, or any binary or
 * structured CloudEvent POSTed to it).
 *
 * context: { method, headers, query, body, log, cloudevent }
 * Return an event ({ type, source, data, … }: sent back as the reply, which a Broker routes on),
 * or nothing (202 Accepted).
 */
export function handle(context, cloudevent) {
  if (cloudevent === undefined) return { statusCode: 400, body: 'expected a CloudEvent (ce-* headers or application/cloudevents+json)\n' }
  context.log.info(`received ${cloudevent.type} from ${cloudevent.source}`)
  return {
    type: '{{name}}.response',
    source: '{{name}}',
    datacontenttype: 'application/json',
    data: { received: cloudevent.data },
  }
}
