/** Canonical actions (events.md). Policies are written in these words, whatever the vendor said. */
export const ACTIONS = [
  'view', 'reveal', 'copy', 'fill', 'edit', 'create', 'delete', 'export', 'share', 'sso', 'fetch',
  // Vault permission changes (1Password audit events): someone was given, or lost, access to a vault.
  'grant', 'revoke',
  'other',
] as const;
export type Action = (typeof ACTIONS)[number];

const ACTION_SET: ReadonlySet<string> = new Set(ACTIONS);
export function isAction(value: unknown): value is Action {
  return typeof value === 'string' && ACTION_SET.has(value);
}

/** The action as a past-tense verb, for message text ("revealed", "copied", "filled"). */
export const ACTION_WORDS: Record<Action, string> = {
  view: 'viewed',
  reveal: 'revealed',
  copy: 'copied',
  fill: 'filled',
  edit: 'edited',
  create: 'created',
  delete: 'deleted',
  export: 'exported',
  share: 'shared',
  sso: 'signed in with',
  fetch: 'fetched',
  grant: 'granted access to',
  revoke: 'removed access to',
  other: 'used',
};

/** Canonical names of the value that was revealed or copied, when the source says which. */
export const FIELDS = [
  'password', 'hidden_field', 'card_code', 'card_number', 'totp', 'bank_account_number', 'pin',
  'license_number', 'passport_number', 'swift_code', 'iban', 'national_id',
] as const;
export type Field = (typeof FIELDS)[number];
