/**
 * Country codes: ISO 3166 alpha-2 for a code or English name (`ca`, `CAN`, `Canada`, accents ignored),
 * shared by the normalisers (vendor records) and the policy compiler (`countries:` lists).
 */
import { createRequire } from 'node:module';
import countries from 'i18n-iso-countries/index.js';
import type { LocaleData } from 'i18n-iso-countries/index.js';

const COUNTRY_CACHE_LIMIT = 2_000;
const countryCache = new Map<string, string>();
let countryIndex: Map<string, string> | undefined;

const COMBINING_MARKS = /[\u0300-\u036f]/g;

/** Folds case and accents so `Côte d'Ivoire`, `cote d'ivoire` and `COTE D'IVOIRE` meet. */
function foldName(text: string): string {
  return text.normalize('NFD').replace(COMBINING_MARKS, '').toLowerCase();
}

/** Built on first use: alpha-2, alpha-3 and every English name and alias, to alpha-2. */
function buildCountryIndex(): Map<string, string> {
  // Only the English names are needed: the package's main entry would load all 78 locales.
  const require = createRequire(import.meta.url);
  countries.registerLocale(require('i18n-iso-countries/langs/en.json') as LocaleData);
  const index = new Map<string, string>();
  const ambiguous = new Set<string>();
  const names = countries.getNames('en', { select: 'all' });
  for (const [alpha2, list] of Object.entries(names)) {
    for (const name of list) {
      const key = foldName(name);
      const prev = index.get(key);
      // "Congo" names two countries: better kept as given than mapped to the wrong one.
      if (prev !== undefined && prev !== alpha2) ambiguous.add(key);
      index.set(key, alpha2);
    }
  }
  for (const key of ambiguous) index.delete(key);
  for (const [alpha3, alpha2] of Object.entries(countries.getAlpha3Codes())) index.set(alpha3.toLowerCase(), alpha2);
  for (const alpha2 of Object.keys(countries.getAlpha2Codes())) index.set(alpha2.toLowerCase(), alpha2);
  return index;
}

/**
 * ISO 3166 alpha-2 for a country code or English name (`ca`, `CAN`, `Canada` -> `CA`); text that maps
 * to no country is kept as given (trimmed).
 */
export function normalizeCountry(value: string): string {
  const text = value.trim();
  const cached = countryCache.get(text);
  if (cached !== undefined) return cached;
  countryIndex ??= buildCountryIndex();
  const out = text.length > 100 ? text : (countryIndex.get(foldName(text)) ?? text);
  if (countryCache.size >= COUNTRY_CACHE_LIMIT) countryCache.clear();
  countryCache.set(text, out);
  return out;
}


/** The alpha-2 code, or undefined when the text names no (unambiguous) country. */
export function toCountryCode(text: string): string | undefined {
  const out = normalizeCountry(text);
  return /^[A-Z]{2}$/.test(out) && countries.isValid(out) ? out : undefined;
}
