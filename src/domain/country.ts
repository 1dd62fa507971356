import countries from 'i18n-iso-countries';

const cache = new Map<string, string | undefined>();

/**
 * ISO 3166 alpha-2 for a code or an English country name ("CA", "ca", "Canada", "United States");
 * undefined when it cannot be mapped. Cached: vendors repeat the same few names.
 */
export function toCountryCode(text: string): string | undefined {
  const key = text.trim();
  if (cache.has(key)) return cache.get(key);
  let code: string | undefined;
  if (/^[A-Za-z]{2}$/.test(key) && countries.isValid(key.toUpperCase())) code = key.toUpperCase();
  else code = countries.getAlpha2Code(key, 'en') ?? undefined;
  if (cache.size > 10_000) cache.clear();
  cache.set(key, code);
  return code;
}
