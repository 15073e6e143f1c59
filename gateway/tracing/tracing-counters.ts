// Tracing's counters: plain numbers written by the span processor, read by the metrics collectors
// at scrape time. They exist (at zero) with tracing off, so the metric names are always there.
import { collector } from '../metrics/route-slots.ts'

export class TracingCounters {
  /** spans that did not fit the bounded export queue */
  dropped = 0
  /** spans the collector accepted */
  exported = 0
  /** spans in batches the collector refused or never answered */
  failed = 0

  collectors(): object[] {
    return [
      collector('sluice_tracing_spans_dropped_total', 'Spans dropped because the export queue was full (export never blocks requests).', 'counter', () => [{ labels: {}, value: this.dropped }]),
      collector('sluice_tracing_spans_exported_total', 'Spans exported to the tracing endpoint.', 'counter', () => [{ labels: {}, value: this.exported }]),
      collector('sluice_tracing_export_failed_spans_total', 'Spans in export batches that failed (endpoint down, refused or timed out).', 'counter', () => [{ labels: {}, value: this.failed }]),
    ]
  }
}
