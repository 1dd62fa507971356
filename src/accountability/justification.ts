/**
 * The justification loop and manager actions, as data (alerting-anchors.md §9 items 1 and 7): the
 * common reasons an accessor can pick, what an answer and a manager's action look like, what is kept
 * on an alert record, and the plain-language status lines every surface shows (Slack context block,
 * CLI, pages). Pure.
 */
import { DateTime } from 'luxon';
import { factRows, humanDuration, type AlertFacts, type FactRow } from '../notifiers/alert-facts.ts';
import { singleLine, truncate } from '../notifiers/escape.ts';

export const REASONS = [
  { id: 'supplier', label: 'Paying a supplier / invoice' },
  { id: 'routine', label: 'Routine task' },
  { id: 'testing', label: 'Testing / setting up' },
  { id: 'other', label: 'Other…' },
] as const;

export type ReasonId = (typeof REASONS)[number]['id'];

/** Free text is bounded: it is shown in Slack, email and a terminal. */
export const MAX_ANSWER_TEXT = 1000;

export function isReasonId(value: unknown): value is ReasonId {
  return typeof value === 'string' && REASONS.some((r) => r.id === value);
}

/** `Other…` is a button label; in a sentence the reason reads "Other". */
export function reasonLabel(id: ReasonId): string {
  return id === 'other' ? 'Other' : REASONS.find((r) => r.id === id)!.label;
}

export interface JustificationAnswer {
  reason: ReasonId;
  /** The label at the time of answering (so a later wording change does not rewrite history). */
  reason_label: string;
  /** Free text; may be empty except for `other`. */
  text: string;
  /** Who answered: the accessor's email (web link) or `slack:U123 (jo)` (Slack button). */
  by: string;
  /** ISO instant. */
  at: string;
  via: 'web' | 'slack';
  /** Answered after the deadline (the escalation may already have gone out). */
  late?: boolean;
}

/** What is kept per alert whose rule asks for a justification. */
export interface JustificationRecord {
  /** The accessor, by email (absent when the event named none: nobody could be asked). */
  accessor?: string;
  accessor_name?: string;
  within_ms?: number;
  /** When the first question was delivered; `within` runs from here. */
  asked_at?: string;
  deadline?: string;
  /** Where the question went: `email:jo@example.com`, `slack:@U123`. */
  asked_via?: string[];
  /** Why the accessor could not be asked (no email, every channel refused). */
  ask_error?: string;
  answer?: JustificationAnswer;
  escalated_at?: string;
  escalated_to?: string[];
}

export type JustificationStatus = 'waiting' | 'asked' | 'answered' | 'escalated' | 'not_asked';

export function justificationStatus(r: JustificationRecord): JustificationStatus {
  if (r.answer) return 'answered';
  if (r.escalated_at) return 'escalated';
  if (r.asked_at) return 'asked';
  if (r.ask_error) return 'not_asked';
  return 'waiting';
}

export type ManagerActionKind = 'expected' | 'investigating';

export const MANAGER_ACTIONS: readonly { id: ManagerActionKind; label: string; past: string }[] = [
  { id: 'expected', label: 'Expected', past: 'Marked expected' },
  { id: 'investigating', label: 'Investigating', past: 'Marked investigating' },
];

export function isManagerAction(value: unknown): value is ManagerActionKind {
  return typeof value === 'string' && MANAGER_ACTIONS.some((a) => a.id === value);
}

export interface ManagerAction {
  action: ManagerActionKind;
  /** `email:cfo@example.com`, or `slack:U123`. */
  by: string;
  /** How to show who: `@cfo` (Slack username) or the email address. */
  by_name: string;
  via: 'slack' | 'email';
  at: string;
  comment?: string;
}

// ---------------------------------------------------------------------------------------------------
// Asking the accessor about their own use

const PRESENT: Record<string, string> = {
  viewed: 'view', revealed: 'reveal', copied: 'copy', filled: 'fill', edited: 'edit', created: 'create', deleted: 'delete',
  exported: 'export', shared: 'share', fetched: 'fetch', 'signed in with': 'sign in with',
};

/** `Why did you reveal the card code of Company card?` (any other verb: `Why did you use …?`). */
export function askQuestion(f: AlertFacts): string {
  const present = PRESENT[f.verb];
  if (!present) return `Why did you use ${f.item}?`;
  return `Why did you ${present}${f.action.slice(f.verb.length)} ${f.item}?`;
}

/**
 * What the accessor is shown of their own use: item, type, vault, the action ("revealed the card
 * code", not the sentence fragment "revealed the card code of"), time in the policy zone, client.
 */
export function accessorRows(f: AlertFacts): FactRow[] {
  const keep = new Set(['Item', 'Type', 'Vault', 'Action', 'Used at', 'Client', 'Location']);
  return factRows(f).filter((r) => keep.has(r.label)).map((r) => (r.label === 'Action' ? { ...r, value: r.value.replace(/ of$/, '') } : r));
}

// ---------------------------------------------------------------------------------------------------
// Input

export type AnswerInput = { reason?: unknown; text?: unknown };

/**
 * A form or button -> the reason and text to record, or what is wrong in words the page shows.
 * Text is kept on one line, without controls, and bounded.
 */
export function validateAnswer(input: AnswerInput): { ok: true; reason: ReasonId; text: string } | { ok: false; error: string } {
  if (!isReasonId(input.reason)) return { ok: false, error: 'Choose one of the reasons.' };
  const raw = typeof input.text === 'string' ? input.text : '';
  const text = cleanText(raw);
  if (input.reason === 'other' && text === '') return { ok: false, error: 'Say in a few words why (required with "Other").' };
  if (raw.length > MAX_ANSWER_TEXT * 2) return { ok: false, error: `Keep it under ${MAX_ANSWER_TEXT} characters.` };
  return { ok: true, reason: input.reason, text };
}

export function cleanText(raw: string, max = MAX_ANSWER_TEXT): string {
  return truncate(singleLine(raw), max);
}

// ---------------------------------------------------------------------------------------------------
// Words

/** `Paying a supplier / invoice — "for the March invoice"`, or the reason alone. */
export function answerSummary(a: Pick<JustificationAnswer, 'reason' | 'reason_label' | 'text'>): string {
  return a.text ? `${a.reason_label || reasonLabel(a.reason)} — “${a.text}”` : (a.reason_label || reasonLabel(a.reason));
}

/** `10:42 Europe/London` (same day) or `Sat 21 Nov 10:42 Europe/London`, in the policy zone. */
export function shortTime(iso: string, zone: string, reference?: string): string {
  const t = DateTime.fromISO(iso, { zone: 'utc' }).setZone(zone).setLocale('en-GB');
  if (!t.isValid) return iso;
  const ref = reference ? DateTime.fromISO(reference, { zone: 'utc' }).setZone(zone) : undefined;
  const sameDay = ref?.isValid && ref.hasSame(t, 'day');
  return `${t.toFormat(sameDay ? 'HH:mm' : 'ccc d LLL HH:mm')} ${t.zoneName ?? zone}`;
}

export interface StatusContext {
  /** The accessor as messages name them: `Jo Bloggs`. */
  person: string;
  /** The policy zone. */
  zone: string;
  /** The time of use (ISO), so a status on the same day shows only the time. */
  usedAt?: string;
}

/**
 * One line per fact, oldest first: the question, the answer or the escalation, each manager action.
 * Plain text: each channel escapes it for its own markup.
 */
export function statusLines(j: JustificationRecord | undefined, actions: readonly ManagerAction[], c: StatusContext): string[] {
  const items: { at: string; text: string }[] = [];
  const when = (iso: string) => shortTime(iso, c.zone, c.usedAt);
  if (j) {
    if (j.answer) {
      const late = j.answer.late ? ' (after the deadline)' : '';
      items.push({ at: j.answer.at, text: `Answered by ${c.person} at ${when(j.answer.at)}${late}: ${answerSummary(j.answer)}` });
    }
    if (j.escalated_at) {
      const within = j.within_ms !== undefined ? ` within ${humanDuration(j.within_ms)}` : '';
      const to = j.escalated_to?.length ? `; escalated to ${j.escalated_to.join(', ')}` : '';
      const what = j.ask_error && !j.asked_at ? `${c.person} could not be asked why (${j.ask_error})` : `${c.person} did not say why${within}`;
      items.push({ at: j.escalated_at, text: `${what}${to} (${when(j.escalated_at)})` });
    } else if (!j.answer && j.asked_at) {
      items.push({ at: j.asked_at, text: `${c.person} was asked why at ${when(j.asked_at)}${j.deadline ? `; answer due by ${when(j.deadline)}` : ''}` });
    }
  }
  for (const a of actions) {
    const label = MANAGER_ACTIONS.find((m) => m.id === a.action)?.past ?? a.action;
    items.push({ at: a.at, text: `${label} by ${a.by_name} at ${when(a.at)}${a.comment ? `: “${a.comment}”` : ''}` });
  }
  // Oldest first; ISO instants in UTC compare as strings.
  return items.sort((x, y) => x.at.localeCompare(y.at)).map((i) => i.text);
}
