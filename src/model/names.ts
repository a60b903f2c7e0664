/**
 * Name checks as Kubernetes makes them (apimachinery `validation.go`): DNS-1123 labels and
 * subdomains, DNS-1035 labels, qualified names (label and annotation keys), label values,
 * IANA service names (port names) and environment variable names.
 *
 * The `validate*` functions return the first problem as a message worded like Kubernetes'
 * own, or undefined when the text is valid. The `is*` functions are the boolean forms.
 */

const dns1123LabelFmt = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const dns1123SubdomainFmt = `${dns1123LabelFmt}(\\.${dns1123LabelFmt})*`;
const dns1035LabelFmt = '[a-z]([-a-z0-9]*[a-z0-9])?';
const qualifiedNameFmt = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const labelValueFmt = `(${qualifiedNameFmt})?`;
const envVarNameFmt = '[-._a-zA-Z][-._a-zA-Z0-9]*';
const configKeyFmt = '[-._a-zA-Z0-9]+';

const dns1123LabelRe = new RegExp(`^${dns1123LabelFmt}$`);
const dns1123SubdomainRe = new RegExp(`^${dns1123SubdomainFmt}$`);
const dns1035LabelRe = new RegExp(`^${dns1035LabelFmt}$`);
const qualifiedNameRe = new RegExp(`^${qualifiedNameFmt}$`);
const labelValueRe = new RegExp(`^${labelValueFmt}$`);
const envVarNameRe = new RegExp(`^${envVarNameFmt}$`);
const configKeyRe = new RegExp(`^${configKeyFmt}$`);
const ianaSvcNameRe = /^[-a-z0-9]+$/;
const hasLetterRe = /[a-z]/;

/** Longest DNS-1123 / DNS-1035 label. */
export const DNS1123_LABEL_MAX = 63;
/** Longest DNS-1123 subdomain. */
export const DNS1123_SUBDOMAIN_MAX = 253;
/** Longest name part of a qualified name, and longest label value. */
export const QUALIFIED_NAME_MAX = 63;
/** Longest IANA service name (a port name). */
export const IANA_SVC_NAME_MAX = 15;

const maxLen = (n: number): string => `must be no more than ${n} characters`;

const dns1123LabelMsg =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must " +
  "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for " +
  `validation is '${dns1123LabelFmt}')`;
const dns1123SubdomainMsg =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', " +
  "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for " +
  `validation is '${dns1123SubdomainFmt}')`;
const dns1035LabelMsg =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an " +
  "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', " +
  `regex used for validation is '${dns1035LabelFmt}')`;
const qualifiedNameMsg =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an " +
  "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for " +
  `validation is '${qualifiedNameFmt}')`;
const labelValueMsg =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', " +
  "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or " +
  `'12345', regex used for validation is '${labelValueFmt}')`;
const envVarNameMsg =
  "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or " +
  "'.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', " +
  `regex used for validation is '${envVarNameFmt}')`;
const configKeyMsg =
  "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  " +
  `or 'KEY_NAME',  or 'key-name', regex used for validation is '${configKeyFmt}')`;

/** True when `s` is a DNS-1123 label (≤ 63 chars of `[a-z0-9-]`, alphanumeric at both ends). */
export function isDns1123Label(s: string): boolean {
  return s.length <= DNS1123_LABEL_MAX && dns1123LabelRe.test(s);
}

/** True when `s` is a DNS-1123 subdomain (≤ 253 chars, dot-separated DNS-1123 labels). */
export function isDns1123Subdomain(s: string): boolean {
  return s.length <= DNS1123_SUBDOMAIN_MAX && dns1123SubdomainRe.test(s);
}

/** True when `s` is a DNS-1035 label (a DNS-1123 label that starts with a letter). */
export function isDns1035Label(s: string): boolean {
  return s.length <= DNS1123_LABEL_MAX && dns1035LabelRe.test(s);
}

/** Why `s` is not a DNS-1123 label, or undefined when it is one. */
export function validateDns1123Label(s: string): string | undefined {
  if (s.length > DNS1123_LABEL_MAX) return maxLen(DNS1123_LABEL_MAX);
  return dns1123LabelRe.test(s) ? undefined : dns1123LabelMsg;
}

/** Why `s` is not a DNS-1123 subdomain, or undefined when it is one. */
export function validateDns1123Subdomain(s: string): string | undefined {
  if (s.length > DNS1123_SUBDOMAIN_MAX) return maxLen(DNS1123_SUBDOMAIN_MAX);
  return dns1123SubdomainRe.test(s) ? undefined : dns1123SubdomainMsg;
}

/**
 * Why `s` cannot be a path segment name, or undefined when it can: the names of RBAC objects
 * (`system:aggregate-to-view` is one), which Kubernetes checks only for what breaks a URL path.
 */
export function validatePathSegmentName(s: string): string | undefined {
  if (s === '.' || s === '..') return `may not be '${s}'`;
  if (s.includes('/')) return "may not contain '/'";
  if (s.includes('%')) return "may not contain '%'";
  return undefined;
}

/** Why `s` is not a DNS-1035 label, or undefined when it is one (Service names). */
export function validateDns1035Label(s: string): string | undefined {
  if (s.length > DNS1123_LABEL_MAX) return maxLen(DNS1123_LABEL_MAX);
  return dns1035LabelRe.test(s) ? undefined : dns1035LabelMsg;
}

/**
 * Why `key` is not a valid label key (a qualified name: an optional DNS-1123 subdomain prefix
 * and '/', then a name of ≤ 63 alphanumerics, '-', '_' or '.', alphanumeric at both ends), or
 * undefined when it is valid. Annotation keys follow the same rule.
 */
export function validateLabelKey(key: string): string | undefined {
  const parts = key.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0]!;
  } else if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) return 'prefix part must be non-empty';
    const bad = validateDns1123Subdomain(prefix);
    if (bad) return `prefix part ${bad}`;
  } else {
    return (
      `a qualified name ${qualifiedNameMsg} with an optional DNS subdomain prefix and '/' ` +
      "(e.g. 'example.com/MyName')"
    );
  }
  if (name.length === 0) return 'name part must be non-empty';
  if (name.length > QUALIFIED_NAME_MAX) return `name part ${maxLen(QUALIFIED_NAME_MAX)}`;
  return qualifiedNameRe.test(name) ? undefined : `name part ${qualifiedNameMsg}`;
}

/** Why `value` is not a valid label value (may be empty), or undefined when it is valid. */
export function validateLabelValue(value: string): string | undefined {
  if (value.length > QUALIFIED_NAME_MAX) return maxLen(QUALIFIED_NAME_MAX);
  return labelValueRe.test(value) ? undefined : labelValueMsg;
}

/**
 * Why `name` is not an IANA service name (the form of a named port), or undefined when it is
 * one: ≤ 15 lower-case alphanumerics and '-', at least one letter, no '--', no '-' at either end.
 */
export function validatePortName(name: string): string | undefined {
  if (name.length > IANA_SVC_NAME_MAX) return maxLen(IANA_SVC_NAME_MAX);
  if (!ianaSvcNameRe.test(name)) return 'must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)';
  if (name.includes('--')) return 'must not contain consecutive hyphens';
  if (!hasLetterRe.test(name)) return 'must contain at least one letter (a-z)';
  if (name.startsWith('-') || name.endsWith('-')) return 'must not begin or end with a hyphen';
  return undefined;
}

/** Why `name` is not a valid environment variable name, or undefined when it is one. */
export function validateEnvVarName(name: string): string | undefined {
  return envVarNameRe.test(name) ? undefined : envVarNameMsg;
}

/** Why `key` is not a valid ConfigMap/Secret data key, or undefined when it is one. */
export function validateConfigKey(key: string): string | undefined {
  if (key.length > DNS1123_SUBDOMAIN_MAX) return maxLen(DNS1123_SUBDOMAIN_MAX);
  if (!configKeyRe.test(key)) return configKeyMsg;
  if (key === '.') return "must not be '.'";
  if (key === '..') return "must not be '..'";
  if (key.startsWith('..')) return "must not start with '..'";
  return undefined;
}
