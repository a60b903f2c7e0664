/**
 * Commit signature verification (`--verify-commits`): a revision is applied only when its
 * commit carries a valid signature by one of the trusted keys. OpenPGP signatures are checked
 * with openpgp.js (the OpenPGP.js project's library: key expiry and revocation included, at the
 * time of the check); SSH signatures as `ssh-keygen -Y verify` checks them for git: the key is
 * in the allowed signers, the namespace is `git`, and the committer time falls inside the key's
 * `valid-after`/`valid-before`.
 *
 * Verdicts are kept per commit id (a commit never changes), so a revision in force is not
 * verified again on every poll.
 */
import { errorMessage } from '../../errors.js';
import { splitSignedCommit } from './commit-object.js';
import { parseSshPublicKey, parseSshSignature, verifySshSignature, type SshSignature } from './ssh.js';
import { loadOpenPgp, type AllowedSigner, type TrustedKeys } from './trusted-keys.js';

/** The outcome of verifying a commit. */
export type Verdict = { ok: true; signer: string } | { ok: false; reason: string };

/** The namespace git signs commits in. */
const GIT_NAMESPACE = 'git';

/** OpenSSH's pattern-list match (`*`, `?`, `!negation`), for `namespaces=`. */
function matchPatternList(value: string, patterns: readonly string[]): boolean {
  let matched = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    if (re.test(value)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** Checks commits against a set of trusted keys. */
export class CommitVerifier {
  private readonly verdicts = new Map<string, Verdict>();

  constructor(private readonly keys: TrustedKeys, private readonly opts: { maxEntries?: number } = {}) {}

  /** What the trusted keys are, for a start-up message. */
  describe(): string {
    return `${this.keys.openpgp.length} OpenPGP and ${this.keys.ssh.length} SSH trusted key${this.keys.openpgp.length + this.keys.ssh.length === 1 ? '' : 's'}`;
  }

  /**
   * Verifies the commit `id`; `read` gives its raw object (without the `commit <size>` header),
   * and is called only for a commit not verified before.
   */
  async verify(id: string, read: () => Promise<Uint8Array>): Promise<Verdict> {
    const known = this.verdicts.get(id);
    if (known) return known;
    const verdict = await this.check(id, await read());
    this.verdicts.set(id, verdict);
    if (this.verdicts.size > (this.opts.maxEntries ?? 1000)) this.verdicts.delete(this.verdicts.keys().next().value as string);
    return verdict;
  }

  private async check(id: string, raw: Uint8Array): Promise<Verdict> {
    const short = id.slice(0, 7);
    const commit = splitSignedCommit(raw);
    if (!commit.signature) return { ok: false, reason: `commit ${short} is not signed` };
    try {
      if (commit.signature.startsWith('-----BEGIN SSH SIGNATURE-----')) {
        return this.checkSsh(short, parseSshSignature(commit.signature), commit.payload, commit.committerTime);
      }
      if (commit.signature.startsWith('-----BEGIN PGP SIGNATURE-----')) return await this.checkOpenPgp(short, commit.signature, commit.payload);
      return { ok: false, reason: `commit ${short} carries a signature gantry cannot check (neither OpenPGP nor SSH; X.509 signatures are not supported)` };
    } catch (err) {
      return { ok: false, reason: `commit ${short} has an unreadable signature: ${errorMessage(err)}` };
    }
  }

  private checkSsh(short: string, sig: SshSignature, payload: Buffer, committerTime: number | undefined): Verdict {
    const candidates = this.keys.ssh.filter((s) => s.key.blob.equals(sig.publicKey));
    if (candidates.length === 0) {
      return { ok: false, reason: `commit ${short} is signed with SSH key${keyLabel(sig.publicKey)}, which is not a trusted key` };
    }
    const problems: string[] = [];
    for (const signer of candidates) {
      const refusal = this.sshRefusal(signer, committerTime);
      if (refusal) {
        problems.push(refusal);
        continue;
      }
      try {
        verifySshSignature(sig, signer.key, payload, GIT_NAMESPACE);
        return { ok: true, signer: `${signer.principals.join(',')} (${signer.key.type} ${signer.key.fingerprint})` };
      } catch (err) {
        return { ok: false, reason: `commit ${short} has a bad SSH signature by ${signer.principals.join(',')}: ${errorMessage(err)}` };
      }
    }
    return { ok: false, reason: `commit ${short} is signed with trusted SSH key ${candidates[0]!.key.fingerprint}, which may not sign it: ${problems.join('; ')}` };
  }

  /** Why an allowed signer's line does not let it sign this commit, if it does not. */
  private sshRefusal(signer: AllowedSigner, committerTime: number | undefined): string | undefined {
    if (signer.namespaces && !matchPatternList(GIT_NAMESPACE, signer.namespaces)) return `${signer.source} limits it to namespaces ${signer.namespaces.join(',')}`;
    if (committerTime !== undefined && signer.validAfter !== undefined && committerTime < signer.validAfter) {
      return `${signer.source}: valid only after ${new Date(signer.validAfter * 1000).toISOString()}, committed ${new Date(committerTime * 1000).toISOString()}`;
    }
    if (committerTime !== undefined && signer.validBefore !== undefined && committerTime >= signer.validBefore) {
      return `${signer.source}: valid only before ${new Date(signer.validBefore * 1000).toISOString()}, committed ${new Date(committerTime * 1000).toISOString()}`;
    }
    return undefined;
  }

  private async checkOpenPgp(short: string, armored: string, payload: Buffer): Promise<Verdict> {
    const openpgp = await loadOpenPgp();
    const signature = await openpgp.readSignature({ armoredSignature: armored });
    const issuers = signature.getSigningKeyIDs();
    const trusted = this.keys.openpgp.filter((k) => issuers.some((id) => k.getKeys(id).length > 0));
    if (trusted.length === 0) {
      const ids = issuers.map((i) => i.toHex().toUpperCase()).join(', ') || 'unknown';
      return { ok: false, reason: `commit ${short} is signed with OpenPGP key ${ids}, which is not a trusted key` };
    }
    const message = await openpgp.createMessage({ binary: payload });
    const result = await openpgp.verify({ message, signature, verificationKeys: trusted, format: 'binary' });
    const reasons: string[] = [];
    for (const s of result.signatures) {
      const key = trusted.find((k) => k.getKeys(s.keyID).length > 0);
      const who = key ? `${key.getUserIDs()[0] ?? 'no user id'} (OpenPGP ${key.getFingerprint().toUpperCase()})` : s.keyID.toHex().toUpperCase();
      try {
        await s.verified;
        return { ok: true, signer: who };
      } catch (err) {
        reasons.push(`${who}: ${errorMessage(err)}`);
      }
    }
    return { ok: false, reason: `commit ${short} has a bad OpenPGP signature: ${reasons.join('; ') || 'no signature verified'}` };
  }
}

/** `SHA256:… (ssh-ed25519)` for a key blob, or nothing when it does not parse. */
function keyLabel(blob: Buffer): string {
  try {
    const k = parseSshPublicKey(blob);
    return ` ${k.fingerprint} (${k.type})`;
  } catch {
    return '';
  }
}
