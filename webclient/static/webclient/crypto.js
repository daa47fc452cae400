// Encryption on the device (docs/CRYPTO.md): WebCrypto's X25519, Ed25519, HKDF-SHA-256 and
// AES-256-GCM, and the vendored argon2id for the key backup. No primitive is written here; this
// module only composes them. Every byte string crossing the API is standard base64.
import { argon2id } from "./vendor/hash-wasm/argon2.js";

const subtle = crypto.subtle;
const enc = new TextEncoder();
const dec = new TextDecoder();
export const CRYPTO_VERSION = "mx1";
export const ALGORITHM = "x3dh-x25519+aes-256-gcm";
export const GROUP_ALGORITHM = "sealed-x25519+aes-256-gcm";
const ONE_TIME_PREKEYS = 50;
// argon2id parameters: RFC 9106's second recommended option (64 MiB, 3 passes, 1 lane).
const KDF = { memorySize: 65536, iterations: 3, parallelism: 1 };

// --- bytes -----------------------------------------------------------------------------------
export function b64(bytes) {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let text = "";
  for (let i = 0; i < view.length; i += 0x8000) text += String.fromCharCode(...view.subarray(i, i + 0x8000));
  return btoa(text);
}
export function unb64(text) {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}
function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) { out.set(new Uint8Array(p), at); at += p.byteLength; }
  return out;
}
const random = (n) => crypto.getRandomValues(new Uint8Array(n));
const jsonBytes = (value) => enc.encode(JSON.stringify(value));
const parseBytes = (bytes) => JSON.parse(dec.decode(bytes));

// --- keys ------------------------------------------------------------------------------------
const X25519 = { name: "X25519" };
const ED25519 = { name: "Ed25519" };
const genX = () => subtle.generateKey(X25519, true, ["deriveBits"]);
const rawPub = async (pair) => new Uint8Array(await subtle.exportKey("raw", pair.publicKey));
const importXPub = (raw) => subtle.importKey("raw", raw, X25519, true, []);
const dh = async (priv, pubRaw) => new Uint8Array(await subtle.deriveBits({ name: "X25519", public: await importXPub(pubRaw) }, priv, 256));

// A fresh identity: generated extractable (so the backup can hold it), exported once into the
// backup plaintext, then kept only as non-extractable copies (see importIdentity).
export async function generateIdentity() {
  const ik = await genX();
  const sig = await subtle.generateKey(ED25519, true, ["sign", "verify"]);
  const spk = await genX();
  const spkPub = await rawPub(spk);
  const material = {
    ik: { priv: b64(await subtle.exportKey("pkcs8", ik.privateKey)), pub: b64(await rawPub(ik)) },
    sig: { priv: b64(await subtle.exportKey("pkcs8", sig.privateKey)), pub: b64(await rawPub(sig)) },
    spk: {
      id: 1,
      priv: b64(await subtle.exportKey("pkcs8", spk.privateKey)),
      pub: b64(spkPub),
      signature: b64(await subtle.sign(ED25519, sig.privateKey, spkPub)),
    },
    opks: [],
  };
  for (let id = 1; id <= ONE_TIME_PREKEYS; id++) {
    const opk = await genX();
    material.opks.push({ id, priv: b64(await subtle.exportKey("pkcs8", opk.privateKey)), pub: b64(await rawPub(opk)) });
  }
  return material;
}

// What the server publishes: the profile's public_key (both identity keys) and PUT /keys' body.
export function publicKeyField(material) {
  return `${CRYPTO_VERSION}.${material.ik.pub}.${material.sig.pub}`;
}
export function parsePublicKeyField(text) {
  const parts = (text || "").split(".");
  if (parts.length !== 3 || parts[0] !== CRYPTO_VERSION) return null;
  return { ik: unb64(parts[1]), sig: unb64(parts[2]) };
}
export function keysUpload(material) {
  return {
    identity_key: material.ik.pub,
    signed_prekey: { key_id: material.spk.id, public_key: material.spk.pub, signature: material.spk.signature },
    one_time_prekeys: material.opks.map((k) => ({ key_id: k.id, public_key: k.pub })),
  };
}

// Non-extractable copies for IndexedDB: from here on no script (ours included) can read them out.
export async function importIdentity(material) {
  const x = (pkcs8) => subtle.importKey("pkcs8", unb64(pkcs8), X25519, false, ["deriveBits"]);
  const opks = {};
  for (const k of material.opks) opks[k.id] = await x(k.priv);
  return {
    ikPriv: await x(material.ik.priv),
    ikPub: material.ik.pub,
    sigPub: material.sig.pub,
    spk: { [material.spk.id]: await x(material.spk.priv) },
    opks,
  };
}

// --- key backup --------------------------------------------------------------------------------
async function passphraseKey(passphrase, salt, params) {
  const bits = await argon2id({ password: passphrase, salt, ...params, hashLength: 32, outputType: "binary" });
  return subtle.importKey("raw", bits, "AES-GCM", false, ["encrypt", "decrypt"]);
}
export async function sealBackup(material, passphrase, userId) {
  const salt = random(16);
  const iv = random(12);
  const key = await passphraseKey(passphrase, salt, KDF);
  const ct = await subtle.encrypt({ name: "AES-GCM", iv, additionalData: enc.encode(`backup:${userId}`) }, key, jsonBytes(material));
  const blob = b64(jsonBytes({ v: 1, kdf: "argon2id", ...KDF, salt: b64(salt), iv: b64(iv), ct: b64(ct) }));
  // PUT /keys/backup's body: the server keeps `kdf` and `version` beside the blob, unread.
  const phcSalt = b64(salt).replace(/=+$/, "");
  return { blob, version: 1, kdf: `$argon2id$v=19$m=${KDF.memorySize},t=${KDF.iterations},p=${KDF.parallelism}$${phcSalt}` };
}
export async function openBackup(blob, passphrase, userId) {
  const box = parseBytes(unb64(blob));
  const params = { memorySize: box.memorySize, iterations: box.iterations, parallelism: box.parallelism };
  const key = await passphraseKey(passphrase, unb64(box.salt), params);
  try {
    const pt = await subtle.decrypt({ name: "AES-GCM", iv: unb64(box.iv), additionalData: enc.encode(`backup:${userId}`) }, key, unb64(box.ct));
    return parseBytes(new Uint8Array(pt));
  } catch {
    throw new Error("That passphrase does not open this key backup.");
  }
}

// --- wrapping a message key ----------------------------------------------------------------------
async function hkdfAesKey(ikm, info) {
  const base = await subtle.importKey("raw", ikm, "HKDF", false, ["deriveKey"]);
  return subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(32), info: enc.encode(info) },
    base, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"],
  );
}
async function wrap(key, messageKey, aad) {
  const iv = random(12);
  return { iv: b64(iv), w: b64(await subtle.encrypt({ name: "AES-GCM", iv, additionalData: enc.encode(aad) }, key, messageKey)) };
}
async function unwrap(key, box, aad) {
  return new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: unb64(box.iv), additionalData: enc.encode(aad) }, key, unb64(box.w)));
}

// X3DH (Signal's, with Ed25519 signing the signed prekey, see docs/CRYPTO.md): the sender's
// session towards one peer, made from the peer's claimed prekey bundle and published identity.
export async function startSession(keys, bundle, peerPublic) {
  if (!peerPublic) throw new Error("This person has not set up encryption yet.");
  if (b64(peerPublic.ik) !== bundle.identity_key) throw new Error("This person's identity key does not match their profile.");
  const spkPub = unb64(bundle.signed_prekey.public_key);
  const edPub = await subtle.importKey("raw", peerPublic.sig, ED25519, false, ["verify"]);
  if (!(await subtle.verify(ED25519, edPub, unb64(bundle.signed_prekey.signature), spkPub))) {
    throw new Error("This person's signed prekey has a bad signature.");
  }
  const ek = await genX();
  const parts = [
    new Uint8Array(32).fill(0xff),
    await dh(keys.ikPriv, spkPub),
    await dh(ek.privateKey, peerPublic.ik),
    await dh(ek.privateKey, spkPub),
  ];
  const opk = bundle.one_time_prekey;
  if (opk) parts.push(await dh(ek.privateKey, unb64(opk.public_key)));
  const header = { v: 1, ek: b64(await rawPub(ek)), spk: bundle.signed_prekey.key_id, opk: opk ? opk.key_id : null };
  return { header, key: await hkdfAesKey(concat(...parts), `mx1 x3dh ${keys.ikPub} ${bundle.identity_key}`) };
}
// The recipient's side, from the header every message of the session carries (so any device of
// the recipient holding the backed-up prekeys can read it, a restored one too).
async function acceptSession(keys, header, senderPublic) {
  const spk = keys.spk[header.spk];
  if (!spk) throw new Error("missing signed prekey");
  const ek = unb64(header.ek);
  const parts = [new Uint8Array(32).fill(0xff), await dh(spk, senderPublic.ik), await dh(keys.ikPriv, ek), await dh(spk, ek)];
  if (header.opk !== null) {
    const opk = keys.opks[header.opk];
    if (!opk) throw new Error("missing one-time prekey");
    parts.push(await dh(opk, ek));
  }
  return hkdfAesKey(concat(...parts), `mx1 x3dh ${b64(senderPublic.ik)} ${keys.ikPub}`);
}
const sessionCache = new Map();

// Sealed to one identity key, authenticated by the sender's: for group members and for the
// sender's own devices (sender_encrypted_session_key).
async function sealKey(keys, messageKey, recipientIk, aad) {
  const e = await genX();
  const ePub = b64(await rawPub(e));
  const ikm = concat(await dh(e.privateKey, recipientIk), await dh(keys.ikPriv, recipientIk));
  const key = await hkdfAesKey(ikm, `mx1 sealed ${ePub} ${keys.ikPub} ${b64(recipientIk)}`);
  return b64(jsonBytes({ v: 1, e: ePub, ...(await wrap(key, messageKey, aad)) }));
}
async function openSealed(keys, sealed, senderIk, aad) {
  const box = parseBytes(unb64(sealed));
  const ikm = concat(await dh(keys.ikPriv, unb64(box.e)), await dh(keys.ikPriv, senderIk));
  const key = await hkdfAesKey(ikm, `mx1 sealed ${box.e} ${b64(senderIk)} ${keys.ikPub}`);
  return unwrap(key, box, aad);
}

// --- content ---------------------------------------------------------------------------------------
export const directAad = (senderId, recipientId, clientMessageId) => `mx1 direct ${senderId} ${recipientId} ${clientMessageId}`;
export const groupAad = (groupId, senderId, clientMessageId) => `mx1 group ${groupId} ${senderId} ${clientMessageId}`;

async function sealContent(plain, aad) {
  const messageKey = random(32);
  const key = await subtle.importKey("raw", messageKey, "AES-GCM", false, ["encrypt"]);
  const iv = random(12);
  const ct = await subtle.encrypt({ name: "AES-GCM", iv, additionalData: enc.encode(aad) }, key, jsonBytes(plain));
  return { messageKey, content: b64(concat(iv, ct)) };
}
async function openContent(messageKey, content, aad) {
  const bytes = unb64(content);
  const key = await subtle.importKey("raw", messageKey, "AES-GCM", false, ["decrypt"]);
  const pt = await subtle.decrypt({ name: "AES-GCM", iv: bytes.subarray(0, 12), additionalData: enc.encode(aad) }, key, bytes.subarray(12));
  return parseBytes(new Uint8Array(pt));
}

// A 1:1 message: the content under a fresh key, that key wrapped for the peer under the X3DH
// session and sealed to the sender's own identity.
export async function encryptDirect(keys, session, plain, aad) {
  const { messageKey, content } = await sealContent(plain, aad);
  const forPeer = { ...session.header, ...(await wrap(session.key, messageKey, aad)) };
  return {
    encrypted_content: content,
    encrypted_session_key: b64(jsonBytes(forPeer)),
    sender_encrypted_session_key: await sealKey(keys, messageKey, unb64(keys.ikPub), aad),
    crypto_version: CRYPTO_VERSION,
    encryption_algorithm: ALGORITHM,
  };
}
export async function decryptDirect(keys, message, myId, senderPublic, aad) {
  let messageKey;
  if (message.sender_id === myId) {
    messageKey = await openSealed(keys, message.sender_encrypted_session_key, unb64(keys.ikPub), aad);
  } else {
    const box = parseBytes(unb64(message.encrypted_session_key));
    const cacheKey = `${message.sender_id} ${box.ek}`;
    if (!sessionCache.has(cacheKey)) sessionCache.set(cacheKey, acceptSession(keys, box, senderPublic));
    try {
      messageKey = await unwrap(await sessionCache.get(cacheKey), box, aad);
    } catch (error) {
      sessionCache.delete(cacheKey);
      throw error;
    }
  }
  return openContent(messageKey, message.encrypted_content, aad);
}

// A group message: one sealed copy of the key per member (the API's encrypted_session_keys).
export async function encryptGroup(keys, members, plain, aad) {
  const { messageKey, content } = await sealContent(plain, aad);
  const wrapped = {};
  for (const m of members) {
    if (!m.public) throw new Error(`${m.username} has not set up encryption yet.`);
    wrapped[m.id] = await sealKey(keys, messageKey, m.public.ik, aad);
  }
  return { encrypted_content: content, encrypted_session_keys: wrapped, crypto_version: CRYPTO_VERSION, encryption_algorithm: GROUP_ALGORITHM };
}
export async function decryptGroup(keys, message, senderPublic, aad) {
  const messageKey = await openSealed(keys, message.encrypted_session_key, senderPublic.ik, aad);
  return openContent(messageKey, message.encrypted_content, aad);
}

// --- files ---------------------------------------------------------------------------------------
export async function encryptFile(bytes) {
  const raw = random(32);
  const key = await subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt"]);
  const iv = random(12);
  const ct = concat(iv, await subtle.encrypt({ name: "AES-GCM", iv }, key, bytes));
  const hash = new Uint8Array(await subtle.digest("SHA-256", ct));
  return { ciphertext: ct, key: b64(raw), sha256: [...hash].map((b) => b.toString(16).padStart(2, "0")).join("") };
}
export async function decryptFile(ciphertext, keyB64, sha256) {
  const bytes = new Uint8Array(ciphertext);
  const hash = [...new Uint8Array(await subtle.digest("SHA-256", bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
  if (sha256 && hash !== sha256) throw new Error("The downloaded file does not match what was sent.");
  const key = await subtle.importKey("raw", unb64(keyB64), "AES-GCM", false, ["decrypt"]);
  return subtle.decrypt({ name: "AES-GCM", iv: bytes.subarray(0, 12) }, key, bytes.subarray(12));
}
