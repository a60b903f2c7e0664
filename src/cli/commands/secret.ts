/**
 * `gantry secret keygen|encrypt|decrypt`: age keys and SOPS-encrypted Secrets for the repo.
 * The files `encrypt` writes are sops's own format (the `sops` CLI reads and edits them), and
 * `decrypt` reads files written by `sops` — the same code the sync loop decrypts with.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { dataPaths } from '../../config.js';
import { GantryError, errorMessage } from '../../errors.js';
import { loadAge, loadAgeIdentities, parseIdentityText } from '../../sync/sops/age-keys.js';
import { decryptSopsText, encryptSopsText, formatOf, ruleFromOptions, type SopsFormat } from '../../sync/sops/file.js';
import { parseSopsText, toPlain } from '../../sync/sops/tree.js';
import { k8sTime } from '../../model/time.js';

type Result = { output: string; exitCode: number };

/** Reads FILE, or stdin for `-` / no file. */
async function readInput(file: string | undefined, stdin: NodeJS.ReadableStream): Promise<string> {
  if (file !== undefined && file !== '-') {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      throw new GantryError('InvalidArgument', `cannot read ${file}: ${errorMessage(err)}`);
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks).toString('utf8');
}

/** Writes `text` to a file atomically (a temp file renamed over it), readable by its owner only when `secret`. */
async function writeOutput(path: string, text: string, secret: boolean): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  await writeFile(tmp, text, { mode: secret ? 0o600 : 0o644 });
  await rename(tmp, path);
}

/** The format: `--input-type`, else by the file's extension (YAML for stdin). */
function formatFor(file: string | undefined, inputType: string | undefined): SopsFormat {
  if (inputType !== undefined) {
    if (inputType !== 'yaml' && inputType !== 'json') throw new GantryError('InvalidArgument', `--input-type ${inputType}: yaml or json`);
    return inputType;
  }
  return file && file !== '-' ? formatOf(file) : 'yaml';
}

/** Options of `gantry secret keygen`. */
export interface KeygenOptions {
  dataDir: string;
  /** Where to write the identity; default `<data-dir>/age.key`. */
  output?: string;
  /** Where the note saying where the key went is written; default stderr (stdout carries the public key). */
  notice?: (text: string) => void;
}

/**
 * Makes an age identity in age-keygen's format (mode 0600) and prints its recipient, the public
 * key to encrypt Secrets to. Never overwrites a key: Secrets encrypted to it would be lost.
 */
export async function runSecretKeygen(o: KeygenOptions): Promise<Result> {
  const path = o.output ?? dataPaths(o.dataDir).ageKey;
  const age = await loadAge();
  const existing = await readFile(path, 'utf8').catch(() => undefined);
  if (existing !== undefined) {
    let recipients = '';
    try {
      const ids = parseIdentityText(existing, path);
      recipients = `; its public key: ${(await Promise.all(ids.map((id) => age.identityToRecipient(id)))).join(', ')}`;
    } catch {
      // Not a key file gantry can read: say only that it exists.
    }
    throw new GantryError('AlreadyExists', `${path} already exists${recipients} (remove it first to make a new one: Secrets encrypted to it can then no longer be decrypted)`);
  }
  const identity = await age.generateX25519Identity();
  const recipient = await age.identityToRecipient(identity);
  const created = k8sTime(Date.now());
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `# created: ${created}\n# public key: ${recipient}\n${identity}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(path, 0o600);
  (o.notice ?? ((t) => process.stderr.write(t)))(`age key written to ${path}; encrypt Secrets to its public key:\n`);
  return { output: recipient, exitCode: 0 };
}

/** Options of `gantry secret encrypt`. */
export interface EncryptCommandOptions {
  /** Recipients, each possibly a comma-separated list (as sops takes them). */
  age?: string[];
  encryptedRegex?: string;
  unencryptedRegex?: string;
  encryptedSuffix?: string;
  unencryptedSuffix?: string;
  macOnlyEncrypted?: boolean;
  inputType?: string;
  output?: string;
  inPlace?: boolean;
  stdin?: NodeJS.ReadableStream;
  env?: NodeJS.ProcessEnv;
}

/**
 * Encrypts a Secret manifest (FILE or stdin) to age recipients, in sops's format. Only Secrets:
 * gantry refuses other kinds from encrypted files, as it would show their values.
 */
export async function runSecretEncrypt(file: string | undefined, o: EncryptCommandOptions): Promise<Result> {
  const env = o.env ?? process.env;
  const recipients = (o.age?.length ? o.age : (env.SOPS_AGE_RECIPIENTS ? [env.SOPS_AGE_RECIPIENTS] : []))
    .flatMap((r) => r.split(','))
    .map((r) => r.trim())
    .filter((r) => r !== '');
  if (recipients.length === 0) throw new GantryError('InvalidArgument', 'give the age recipients to encrypt to: --age age1… (or SOPS_AGE_RECIPIENTS)');
  if (o.inPlace && (file === undefined || file === '-')) throw new GantryError('InvalidArgument', '--in-place needs a FILE');
  const format = formatFor(file, o.inputType);
  const text = await readInput(file, o.stdin ?? process.stdin);
  const where = file && file !== '-' ? file : 'stdin';
  let docs;
  try {
    docs = parseSopsText(text, format).filter((d) => !d.empty);
  } catch (err) {
    throw new GantryError('InvalidManifest', `${where}: ${errorMessage(err)}`);
  }
  docs.forEach((d, i) => {
    const obj = toPlain(d.root) as { kind?: unknown; metadata?: { name?: unknown } };
    if (obj.kind !== 'Secret') {
      throw new GantryError('InvalidManifest', `${where}: document ${i + 1} is ${typeof obj.kind === 'string' ? `a ${obj.kind}` : 'not a Kubernetes object'}; only Secrets may be encrypted (gantry would show other kinds' values)`);
    }
  });
  const encrypted = await encryptSopsText(text, format, { recipients, rule: ruleFromOptions(o), macOnlyEncrypted: o.macOnlyEncrypted });
  const target = o.inPlace ? file! : o.output;
  if (target) {
    await writeOutput(target, encrypted, false);
    return { output: '', exitCode: 0 };
  }
  return { output: encrypted, exitCode: 0 };
}

/** Options of `gantry secret decrypt`. */
export interface DecryptCommandOptions {
  dataDir: string;
  inputType?: string;
  output?: string;
  stdin?: NodeJS.ReadableStream;
  env?: NodeJS.ProcessEnv;
}

/**
 * Decrypts a SOPS file with the keys gantry uses (the data directory's, SOPS_AGE_KEY_FILE,
 * SOPS_AGE_KEY) and prints it (or writes it, mode 0600, with --output): to check that gantry
 * can read a file, or to edit one.
 */
export async function runSecretDecrypt(file: string | undefined, o: DecryptCommandOptions): Promise<Result> {
  const format = formatFor(file, o.inputType);
  const text = await readInput(file, o.stdin ?? process.stdin);
  const keys = await loadAgeIdentities({ dataDir: o.dataDir, env: o.env ?? process.env });
  let plain: string;
  try {
    plain = (await decryptSopsText(text, format, keys)).text();
  } catch (err) {
    throw new GantryError('DecryptionFailed', `${file && file !== '-' ? file : 'stdin'}: ${errorMessage(err)}`);
  }
  if (o.output) {
    await writeOutput(o.output, plain, true);
    return { output: '', exitCode: 0 };
  }
  return { output: plain, exitCode: 0 };
}
