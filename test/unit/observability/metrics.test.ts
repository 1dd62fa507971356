import { describe, expect, it } from 'vitest';
import { Metrics, rejectReasonLabel } from '../../../src/observability/metrics.ts';

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('rejectReasonLabel', () => {
  it.each([
    ['timestamp: not a date', 'timestamp'], ['time: missing', 'timestamp'], ['date: not a date', 'timestamp'],
    ['item_uuid: missing', 'item'], ['item.id: not a string', 'item'], ['item.tags: not a list of strings', 'item'],
    ['uuid: missing', 'id'], ['id: missing', 'id'],
    ['user.uuid: missing', 'user'], ['actingUserId: missing', 'user'], ['user.id: missing (give user.id or user.email)', 'user'],
    ['vault_uuid: missing', 'vault'], ["no vault: record has no collectionId and the item's vault is unknown", 'vault'],
    ['record: not an object: expected ...', 'shape'], ['unrecognised record: expected ...', 'shape'], ['type: not an event code', 'shape'],
    ['json: Unexpected token', 'json'], ['not_json', 'json'], ['internal: TypeError while normalising', 'internal'],
    ['client.ip: not a string', 'other'], ['anything else', 'other'], ['', 'other'],
  ])('%j -> %s', (reason, label) => {
    expect(rejectReasonLabel(reason)).toBe(label);
  });
});

describe('Metrics', () => {
  it('exposes every metric by its documented name on its own registry', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const text = await m.render();
    for (const name of [
      'vaultwatch_events_received_total', 'vaultwatch_events_rejected_total', 'vaultwatch_events_skipped_total',
      'vaultwatch_events_duplicate_total', 'vaultwatch_alerts_total', 'vaultwatch_deliveries_total',
      'vaultwatch_dead_letters_total', 'vaultwatch_event_to_delivery_seconds', 'vaultwatch_ingest_to_enqueue_seconds',
      'vaultwatch_source_lag_seconds', 'vaultwatch_source_up', 'vaultwatch_source_last_success_timestamp_seconds',
      'vaultwatch_config_last_reload_successful', 'vaultwatch_config_file_ok', 'vaultwatch_queue_jobs', 'vaultwatch_redis_up',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    // Two instances do not collide (no global registry).
    expect(() => new Metrics({ defaultMetrics: false })).not.toThrow();
  });

  it('counts with bounded labels', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.eventsReceived.inc({ source: 'onepassword' }, 3);
    m.recordRejected('onepassword', 'timestamp: not a date');
    m.recordRejected('onepassword', 'item_uuid: missing');
    m.recordRejected('onepassword', 'timestamp: missing');
    m.recordAlert('high', false);
    m.recordAlert('high', true);
    m.recordDelivery('email', 'delivered');
    m.recordDelivery('slack', 'retried', 2);
    m.eventToDelivery.observe({ channel: 'email' }, 4.2);
    m.sourceLag.observe({ source: 'onepassword' }, 3 * 3600);
    m.configFileOk.set({ file: 'policies/finance.yaml' }, 1);
    const text = await m.render();
    expect(sample(text, 'vaultwatch_events_received_total{source="onepassword"}')).toBe(3);
    expect(sample(text, 'vaultwatch_events_rejected_total{source="onepassword",reason="timestamp"}')).toBe(2);
    expect(sample(text, 'vaultwatch_events_rejected_total{source="onepassword",reason="item"}')).toBe(1);
    expect(sample(text, 'vaultwatch_alerts_total{severity="high",suppressed="true"}')).toBe(1);
    expect(sample(text, 'vaultwatch_deliveries_total{channel="slack",outcome="retried"}')).toBe(2);
    expect(sample(text, 'vaultwatch_event_to_delivery_seconds_bucket{le="5",channel="email"}')).toBe(1);
    expect(sample(text, 'vaultwatch_event_to_delivery_seconds_bucket{le="600",channel="email"}')).toBe(1);
    expect(sample(text, 'vaultwatch_source_lag_seconds_bucket{le="7200",source="onepassword"}')).toBe(0);
    expect(sample(text, 'vaultwatch_source_lag_seconds_bucket{le="21600",source="onepassword"}')).toBe(1);
    expect(sample(text, 'vaultwatch_source_lag_seconds_bucket{le="86400",source="onepassword"}')).toBe(1);
    expect(sample(text, 'vaultwatch_config_file_ok{file="policies/finance.yaml"}')).toBe(1);
  });

  it('runs collect callbacks before each render; a failing or hung one does not fail the scrape', async () => {
    const m = new Metrics({ defaultMetrics: false, collectTimeoutMs: 50 });
    let waiting = 0;
    m.onCollect(async (metrics) => {
      waiting += 1;
      metrics.queueJobs.set({ queue: 'notify-email', state: 'waiting' }, waiting);
    });
    m.onCollect(() => { throw new Error('redis down'); });
    const remove = m.onCollect(() => new Promise(() => {}));
    const first = await m.render();
    expect(sample(first, 'vaultwatch_queue_jobs{queue="notify-email",state="waiting"}')).toBe(1);
    expect(sample(first, 'vaultwatch_metrics_collect_errors_total')).toBe(2);
    remove();
    const second = await m.render();
    expect(sample(second, 'vaultwatch_queue_jobs{queue="notify-email",state="waiting"}')).toBe(2);
    expect(sample(second, 'vaultwatch_metrics_collect_errors_total')).toBe(3);
  });

  it('concurrent scrapes share one collection', async () => {
    const m = new Metrics({ defaultMetrics: false });
    let runs = 0;
    m.onCollect(async () => { runs++; await new Promise((r) => setTimeout(r, 10)); });
    await Promise.all([m.render(), m.render(), m.render()]);
    expect(runs).toBe(1);
  });

  it('includes process metrics by default, optionally prefixed', async () => {
    expect(await new Metrics().render()).toContain('process_cpu_user_seconds_total');
    expect(await new Metrics({ defaultMetrics: { prefix: 'vaultwatch_' } }).render())
      .toContain('vaultwatch_process_cpu_user_seconds_total');
  });
});
