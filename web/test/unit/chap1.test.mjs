import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as chap1 from '../../src/chap1.js';

// The worked example of docs/chap1.md.
const V = {
  password: 'correct horse battery staple',
  salt: 'AAECAwQFBgcICQoLDA0ODw',
  iterations: 4096,
  username: 'alice',
  clientId: 'dash-1',
  nonce: 'ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM',
  saltedPassword: 'c4120a097ae5a3c78f702c4c8a719bc2fc0ede03832cf915ca8d96da09a68f66',
  clientKey: '9bce4619be25eb19db70fdbbc33a48009d86a1b122ef3b0fe4231a639771ec70',
  storedKey: '38d61b489057b4a97a6cfe8f56ac3ca66f5eec489a729acb9e85103c54bcd07c',
  authMessage: 'chap1,ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM,alice,dash-1',
  proof: 'rPXxdYJI8z-Kk9ibbkRIZL1FTENqOPRjRG6mvyr3yOE',
  field: 'chap1:ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM:rPXxdYJI8z-Kk9ibbkRIZL1FTENqOPRjRG6mvyr3yOE',
};

test('chap1 test vector, step by step', async () => {
  const salt = chap1.b64urlDecode(V.salt);
  assert.deepEqual([...salt], [...Array(16).keys()]);
  assert.equal(chap1.hex(await chap1.saltedPassword(V.password, salt, V.iterations)), V.saltedPassword);
  const ck = await chap1.clientKey(V.password, salt, V.iterations);
  assert.equal(chap1.hex(ck), V.clientKey);
  assert.equal(chap1.hex(await chap1.storedKey(ck)), V.storedKey);
  assert.equal(chap1.authMessage(V.nonce, V.username, V.clientId), V.authMessage);
  const p = await chap1.proof(ck, V.nonce, V.username, V.clientId);
  assert.equal(chap1.b64urlEncode(p), V.proof);
  assert.equal(chap1.passwordField(V.nonce, p), V.field);
});

test('nonce bytes decode as the spec says', () => {
  const n = chap1.b64urlDecode(V.nonce);
  assert.equal(n.length, 32);
  assert.equal(n[0], 0x64);
  assert.equal(n[31], 0x83);
  assert.equal(chap1.b64urlEncode(n), V.nonce);
});

test('a different client id or wrong password gives another proof', async () => {
  const salt = chap1.b64urlDecode(V.salt);
  const ck = await chap1.clientKey(V.password, salt, V.iterations);
  const other = await chap1.proof(ck, V.nonce, V.username, 'dash-2');
  assert.notEqual(chap1.b64urlEncode(other), V.proof);
  const bad = await chap1.clientKey('Correct horse battery staple', salt, V.iterations);
  assert.notEqual(chap1.b64urlEncode(await chap1.proof(bad, V.nonce, V.username, V.clientId)), V.proof);
  await assert.rejects(chap1.proof(ck, V.nonce, V.username, ''), /empty client id/);
});

test('base64url round trip and rejects', () => {
  for (let n = 0; n < 40; n++) {
    const b = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
    const s = chap1.b64urlEncode(b);
    assert.doesNotMatch(s, /[+/=]/);
    assert.deepEqual(chap1.b64urlDecode(s), b);
  }
  assert.deepEqual([...chap1.b64urlDecode('_-8')], [0xff, 0xef]);
  assert.throws(() => chap1.b64urlDecode('a+b'), /not base64url/);
  assert.throws(() => chap1.b64urlDecode(null), /not base64url/);
});
