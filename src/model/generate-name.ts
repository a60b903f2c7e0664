/**
 * Generated name suffixes, as Kubernetes makes them for `generateName`, a controller's pods and
 * a projected token volume: five characters of an alphabet without vowels or look-alikes.
 */
import { randomInt } from 'node:crypto';

/** Characters of generated name suffixes (Kubernetes' utilrand alphabet: no vowels, no 0/1/3). */
export const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** A random suffix of `len` characters (5, as Kubernetes'). */
export function randomSuffix(len = 5): string {
  let s = '';
  for (let i = 0; i < len; i++) s += NAME_ALPHABET[randomInt(NAME_ALPHABET.length)];
  return s;
}
