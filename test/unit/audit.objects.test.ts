import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import { buildPack, commitBody, encodeObject } from '../../src/audit/objects.js';
import { TreeIndex } from '../../src/audit/tree.js';

describe('audit Git objects', () => {
  it('encodeObject() gives the ids git gives', () => {
    // `echo hello | git hash-object --stdin` and git's well-known empty tree.
    assert.equal(encodeObject('blob', Buffer.from('hello\n')).oid, 'ce013625030ba8dba906f756967f9e9ca394464a');
    assert.equal(encodeObject('tree', Buffer.alloc(0)).oid, '4b825dc642cb6eb9a060e54bf8d69288fbee4904');
  });

  it('TreeIndex encodes nested trees as git does, directories sorted as name/', () => {
    const index = new TreeIndex();
    const hello = encodeObject('blob', Buffer.from('hello\n')).oid;
    index.setFile(['a', 'b.yaml'], hello);
    index.setFile(['a-b.yaml'], hello);
    const out: ReturnType<typeof encodeObject>[] = [];
    const root = index.encode(out);
    // From git: printf 'hello\n' > a/b.yaml; cp a/b.yaml a-b.yaml; git add -A; git write-tree
    assert.equal(root, 'af83db4d0034dae998e839597b3ce888f09d0dee');
    assert.equal(out.length, 2);
    // Removing the only file of a directory removes the directory.
    index.removeFile(['a', 'b.yaml']);
    const after = index.encode([]);
    assert.equal(after, encodeObject('tree', Buffer.concat([Buffer.from('100644 a-b.yaml\0'), Buffer.from(hello, 'hex')])).oid);
  });

  it('buildPack() writes a version 2 pack whose index lists every object at its offset', async () => {
    const objects = [encodeObject('blob', Buffer.from('one\n')), encodeObject('blob', Buffer.alloc(20_000, 'x')), encodeObject('tree', Buffer.alloc(0))];
    const { name, chunks, idx } = await buildPack(objects);
    const pack = Buffer.concat(chunks);
    assert.equal(pack.subarray(0, 4).toString('latin1'), 'PACK');
    assert.equal(pack.readUInt32BE(8), 3);
    const sum = createHash('sha1').update(pack.subarray(0, pack.length - 20)).digest('hex');
    assert.equal(name, `pack-${sum}`);
    assert.equal(idx.readUInt32BE(8 + 255 * 4), 3);
    const oids = [0, 1, 2].map((i) => idx.subarray(1032 + i * 20, 1052 + i * 20).toString('hex'));
    assert.deepEqual(oids, objects.map((o) => o.oid).sort());
    // Each offset points at an entry whose inflated body has the object's id.
    for (let i = 0; i < 3; i++) {
      const offset = idx.readUInt32BE(1032 + 3 * 20 + 3 * 4 + i * 4);
      let p = offset;
      let byte = pack[p++]!;
      const type = (byte >> 4) & 7;
      while (byte & 0x80) byte = pack[p++]!;
      const body = inflateSync(pack.subarray(p));
      const typeName = ({ 2: 'tree', 3: 'blob' } as Record<number, 'tree' | 'blob'>)[type]!;
      assert.equal(encodeObject(typeName, body).oid, oids[i]);
    }
  });

  it('commitBody() formats parent, author and committer as git does', () => {
    const sig = { name: 'gantry', email: 'gantry@localhost', timestamp: 1700000000 };
    const body = commitBody({ tree: '4b825dc642cb6eb9a060e54bf8d69288fbee4904', parent: 'a'.repeat(40), author: sig, committer: sig, message: 'x' }).toString();
    assert.equal(body, `tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nparent ${'a'.repeat(40)}\nauthor gantry <gantry@localhost> 1700000000 +0000\ncommitter gantry <gantry@localhost> 1700000000 +0000\n\nx\n`);
  });
});
