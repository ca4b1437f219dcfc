// chap1 client side (docs/chap1.md) on WebCrypto. The same
// code runs in the browser and in Node (globalThis.crypto.subtle), so the
// unit tests check exactly what the page runs.

const enc = new TextEncoder();

function subtle() {
  const s = globalThis.crypto && globalThis.crypto.subtle;
  if (!s) {
    throw new Error('WebCrypto is not available: open the dashboard over https (or on localhost)');
  }
  return s;
}

/** base64url without padding (RFC 4648 §5). */
export function b64urlEncode(bytes) {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Decodes base64url with or without padding; throws on bad input. */
export function b64urlDecode(s) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*={0,2}$/.test(s)) {
    throw new Error('chap1: not base64url');
  }
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  const padded = b64 + '==='.slice((b64.length + 3) % 4);
  const bin = atob(padded);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

async function hmac(key, message) {
  const k = await subtle().importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await subtle().sign('HMAC', k, typeof message === 'string' ? enc.encode(message) : message));
}

/** SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations, 32 bytes). */
export async function saltedPassword(password, salt, iterations) {
  const base = await subtle().importKey('raw', enc.encode(password), 'PBKDF2', false, ['deriveBits']);
  const bits = await subtle().deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, base, 256);
  return new Uint8Array(bits);
}

/** ClientKey = HMAC-SHA-256(SaltedPassword, "Client Key"). */
export async function clientKey(password, salt, iterations) {
  return hmac(await saltedPassword(password, salt, iterations), 'Client Key');
}

/** StoredKey = SHA-256(ClientKey). */
export async function storedKey(ck) {
  return new Uint8Array(await subtle().digest('SHA-256', ck));
}

export function authMessage(nonce, username, clientId) {
  return `chap1,${nonce},${username},${clientId}`;
}

/** ClientProof = ClientKey XOR HMAC-SHA-256(StoredKey, AuthMessage). */
export async function proof(ck, nonce, username, clientId) {
  if (!clientId) throw new Error('chap1: empty client id');
  const sig = await hmac(await storedKey(ck), authMessage(nonce, username, clientId));
  const out = new Uint8Array(ck.length);
  for (let i = 0; i < ck.length; i++) out[i] = ck[i] ^ sig[i];
  return out;
}

/** The CONNECT password: "chap1:<nonce>:<b64url proof>". */
export function passwordField(nonce, p) {
  return `chap1:${nonce}:${b64urlEncode(p)}`;
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
