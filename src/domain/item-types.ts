/** Canonical item types (events.md). `unknown` is what enrichment could not tell. */
export const ITEM_TYPES = [
  'login', 'password', 'secure_note', 'credit_card', 'bank_account', 'identity', 'document',
  'api_credential', 'ssh_key', 'server', 'database', 'software_license', 'email_account', 'membership',
  'passport', 'driver_license', 'outdoor_license', 'reward_program', 'wireless_router',
  'social_security_number', 'medical_record', 'crypto_wallet', 'custom', 'unknown',
] as const;
export type ItemType = (typeof ITEM_TYPES)[number];

const ITEM_TYPE_SET: ReadonlySet<string> = new Set(ITEM_TYPES);
export function isItemType(value: unknown): value is ItemType {
  return typeof value === 'string' && ITEM_TYPE_SET.has(value);
}

/** 1Password Connect spells categories `CREDIT_CARD`; unknown spellings become `unknown`, never an error. */
export function itemTypeFromConnect(category: string): ItemType {
  const t = category.toLowerCase();
  return isItemType(t) ? t : 'unknown';
}

const SDK_SPECIAL: Record<string, ItemType> = {
  ApiCredentials: 'api_credential',
  Router: 'wireless_router',
  Rewards: 'reward_program',
  Email: 'email_account',
  Unsupported: 'unknown',
};

/** The 1Password SDK spells categories `CreditCard`; snake-case them, with the renames events.md lists. */
export function itemTypeFromSdk(category: string): ItemType {
  // Own properties only: `constructor` or `toString` must not resolve to Object.prototype's members.
  if (Object.hasOwn(SDK_SPECIAL, category)) return SDK_SPECIAL[category]!;
  const t = category.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
  return isItemType(t) ? t : 'unknown';
}

const BITWARDEN_CIPHER_TYPES: Record<number, ItemType> = {
  1: 'login', 2: 'secure_note', 3: 'credit_card', 4: 'identity', 5: 'ssh_key',
};
export function itemTypeFromBitwarden(cipherType: number): ItemType {
  return BITWARDEN_CIPHER_TYPES[cipherType] ?? 'unknown';
}
