// IndexedDB: the device's keys (non-extractable CryptoKeys: structured clone keeps them so) and
// its X3DH sessions towards peers. One database per browser profile, records keyed by user id.
const DB = "messenger";
let opened = null;

function db() {
  if (!opened) {
    opened = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB, 1);
      request.onupgradeneeded = () => {
        request.result.createObjectStore("keys");
        request.result.createObjectStore("sessions");
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  return opened;
}

async function run(store, mode, action) {
  const database = await db();
  return new Promise((resolve, reject) => {
    const tx = database.transaction(store, mode);
    const request = action(tx.objectStore(store));
    tx.oncomplete = () => resolve(request.result);
    tx.onerror = () => reject(tx.error);
  });
}

export const loadKeys = (userId) => run("keys", "readonly", (s) => s.get(userId));
export const saveKeys = (userId, keys) => run("keys", "readwrite", (s) => s.put(keys, userId));
export const forgetKeys = (userId) => run("keys", "readwrite", (s) => s.delete(userId));
export const loadSession = (userId, peerId) => run("sessions", "readonly", (s) => s.get(`${userId} ${peerId}`));
export const saveSession = (userId, peerId, session) => run("sessions", "readwrite", (s) => s.put(session, `${userId} ${peerId}`));
