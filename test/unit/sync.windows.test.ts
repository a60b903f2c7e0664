import assert from 'node:assert/strict';
import { checkSyncWindows, parseSyncWindow } from '../../src/sync/windows.js';

const w = (text: string) => parseSyncWindow(text);

describe('sync windows (Argo CD semantics)', () => {
  // 2026-03-02 is a Monday.
  const cases: Array<{ name: string; windows: string[]; at: string; manual?: boolean; allowed: boolean; until?: string }> = [
    { name: 'no windows let every sync through', windows: [], at: '2026-03-02T23:00:00Z', allowed: true },
    { name: 'an open deny window holds an automatic sync until it closes', windows: ['deny 0 22 * * * 8h'], at: '2026-03-02T23:00:00Z', allowed: false, until: '2026-03-03T06:00:00.000Z' },
    { name: 'a closed deny window holds nothing', windows: ['deny 0 22 * * * 8h'], at: '2026-03-02T12:00:00Z', allowed: true },
    { name: 'a forced manual sync does not pass a deny window without manual', windows: ['deny 0 22 * * * 8h'], at: '2026-03-02T23:00:00Z', manual: true, allowed: false },
    { name: 'a forced manual sync passes a deny window with manual', windows: ['deny 0 22 * * * 8h manual'], at: '2026-03-02T23:00:00Z', manual: true, allowed: true },
    { name: 'every open deny window must allow manual syncs', windows: ['deny 0 22 * * * 8h manual', 'deny 0 23 * * * 1h'], at: '2026-03-02T23:30:00Z', manual: true, allowed: false },
    { name: 'outside every allow window an automatic sync waits for the next opening', windows: ['allow 0 9 * * 1-5 8h'], at: '2026-03-07T12:00:00Z', allowed: false, until: '2026-03-09T09:00:00.000Z' },
    { name: 'inside an allow window a sync runs', windows: ['allow 0 9 * * 1-5 8h'], at: '2026-03-02T10:00:00Z', allowed: true },
    { name: 'deny wins over an open allow window', windows: ['allow 0 9 * * 1-5 8h', 'deny 0 12 * * * 1h'], at: '2026-03-02T12:30:00Z', allowed: false, until: '2026-03-02T13:00:00.000Z' },
    { name: 'a time zone moves the window', windows: ['deny 0 22 * * * 2h tz=Europe/Berlin'], at: '2026-03-02T21:30:00Z', allowed: false, until: '2026-03-02T23:00:00.000Z' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const verdict = checkSyncWindows(c.windows.map(w), new Date(c.at), { manual: c.manual });
      assert.equal(verdict.allowed, c.allowed, JSON.stringify(verdict));
      if (c.until) assert.equal(!verdict.allowed && verdict.until?.toISOString(), c.until);
    });
  }

  const bad: Array<[string, RegExp]> = [
    ['block 0 22 * * * 8h', /starts with allow or deny/],
    ['deny 0 25 * * * 8h', /schedule "0 25 \* \* \*"/],
    ['deny 0 22 * * * soon', /duration "soon" is not a positive duration/],
    ['deny 0 22 * * * 8h tz=Mars/Olympus', /unknown time zone Mars\/Olympus/],
    ['deny 0 22 * * * 8h later', /unexpected "later"/],
  ];
  for (const [text, why] of bad) {
    it(`refuses '${text}', naming the flag and the problem`, () => {
      assert.throws(() => parseSyncWindow(text), (err: Error) => /--sync-window/.test(err.message) && why.test(err.message));
    });
  }
});
