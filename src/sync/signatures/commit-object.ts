/**
 * A raw Git commit object split the way `git verify-commit` splits it: the signature (the
 * `gpgsig` header, continuation lines joined) and the payload it signs (the object with that
 * header removed, byte for byte). isomorphic-git's own split looks for the OpenPGP end marker
 * and normalises line endings, which would break SSH signatures and CRLF messages; this one
 * works on bytes.
 */

/** What verification needs from a commit. */
export interface SignedCommit {
  /** The bytes the signature covers. */
  payload: Buffer;
  /** The armored signature, undefined when the commit is not signed. */
  signature?: string;
  /** Committer time (seconds since the epoch): SSH signers' validity is checked at it, as git does. */
  committerTime?: number;
  /** `Name <email>` of the committer, for messages. */
  committer?: string;
}

/** Signature headers git writes (SHA-1 and SHA-256 object formats); both are left out of the payload. */
const SIGNATURE_HEADERS = ['gpgsig', 'gpgsig-sha256'];

/** Splits a commit object (without its `commit <size>\0` prefix). */
export function splitSignedCommit(raw: Uint8Array): SignedCommit {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const headerEnd = buf.indexOf('\n\n');
  const headersLength = headerEnd < 0 ? buf.length : headerEnd + 1;
  const kept: Buffer[] = [];
  const sigLines: string[] = [];
  let inSignature = false;
  let sigHeader: string | undefined;
  let committer: string | undefined;
  let committerTime: number | undefined;
  for (let pos = 0; pos < headersLength;) {
    const nl = buf.indexOf(0x0a, pos);
    const next = nl < 0 || nl >= headersLength ? headersLength : nl + 1;
    const line = buf.subarray(pos, next);
    const text = line.toString('utf8');
    if (inSignature && text.startsWith(' ')) {
      if (sigHeader === 'gpgsig') sigLines.push(text.slice(1).replace(/\n$/, ''));
    } else {
      const name = text.slice(0, Math.max(0, text.indexOf(' ')));
      inSignature = SIGNATURE_HEADERS.includes(name);
      if (inSignature) {
        sigHeader = name;
        if (name === 'gpgsig') sigLines.push(text.slice(name.length + 1).replace(/\n$/, ''));
      } else {
        kept.push(line);
        const m = name === 'committer' ? /^committer (.*) (\d+) [+-]\d{4}\n?$/.exec(text) : null;
        if (m) {
          committer = m[1];
          committerTime = Number(m[2]);
        }
      }
    }
    pos = next;
  }
  kept.push(buf.subarray(headersLength));
  return {
    payload: Buffer.concat(kept),
    ...(sigLines.length > 0 ? { signature: `${sigLines.join('\n')}\n` } : {}),
    ...(committerTime !== undefined ? { committerTime, committer } : {}),
  };
}
