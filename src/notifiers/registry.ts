/**
 * One notifier per channel kind, from the `channels` section of vaultwatch.yaml (secrets already
 * resolved by the loader). A channel that is not configured writes to the outbox folder instead, so
 * nothing is lost and the example runs with no account anywhere. Adding a channel: a folder and a line.
 */
import { resolve } from 'node:path';
import type { ConfigFile } from '../config/schema.ts';
import type { ChannelKind } from '../domain/target.ts';
import { createEmailNotifier } from './email/sender.ts';
import type { Notifier } from './notifier.ts';
import { createOutboxNotifier } from './outbox/sender.ts';
import { createSlackNotifier } from './slack/sender.ts';
import { createWebhookNotifier } from './webhook/sender.ts';

export type ChannelsConfig = NonNullable<ConfigFile['channels']>;

export const DEFAULT_OUTBOX = 'var/outbox';

export function createNotifiers(channels: ChannelsConfig | undefined, opts: { configDir: string }): Record<ChannelKind, Notifier> {
  const { email, slack, webhooks, outbox = DEFAULT_OUTBOX } = channels ?? {};
  const dir = resolve(opts.configDir, outbox);
  return {
    email: email?.smtp ? createEmailNotifier({ smtp: email.smtp, from: email.from }) : createOutboxNotifier(dir, 'email', email?.from ? { from: email.from } : {}),
    slack: slack?.token ? createSlackNotifier({ token: slack.token, ...(slack.api_url ? { apiUrl: slack.api_url } : {}) }) : createOutboxNotifier(dir, 'slack'),
    webhook: webhooks && Object.keys(webhooks).length > 0 ? createWebhookNotifier(webhooks) : createOutboxNotifier(dir, 'webhook'),
  };
}
