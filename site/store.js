// IndexedDB with promises, for the worker (pyapp/browser/storage.py is its only user).
// One database per browser profile: "kv" holds small values by key (the settings), "chats"
// holds one record per chat, keyed by its id. Every failure rejects with an Error whose
// name is the browser's (QuotaExceededError, InvalidStateError, ...).

const NAME = "hearth";
const VERSION = 1;
let opened = null;

function promised(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error || new Error("IndexedDB request failed"));
  });
}

export function open() {
  if (!opened) {
    opened = new Promise((resolve, reject) => {
      if (typeof indexedDB === "undefined") {
        reject(Object.assign(new Error("IndexedDB is not available in this browser"), { name: "NotSupportedError" }));
        return;
      }
      const request = indexedDB.open(NAME, VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains("kv")) db.createObjectStore("kv");
        if (!db.objectStoreNames.contains("chats")) db.createObjectStore("chats", { keyPath: "id" });
      };
      request.onsuccess = () => {
        const db = request.result;
        // a newer Hearth in another tab wants to upgrade: let it, and reopen next time
        db.onversionchange = () => { db.close(); opened = null; };
        resolve(db);
      };
      request.onerror = () => reject(request.error || new Error("IndexedDB could not be opened"));
      request.onblocked = () => reject(new Error("IndexedDB is blocked by another tab; close it and reload"));
    });
    opened.catch(() => { opened = null; });
  }
  return opened;
}

async function transaction(store, mode, work) {
  const db = await open();
  const tx = db.transaction(store, mode);
  const done = new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error || new Error("IndexedDB transaction aborted"));
    tx.onerror = () => reject(tx.error || new Error("IndexedDB transaction failed"));
  });
  const result = await promised(work(tx.objectStore(store)));
  await done;
  return result;
}

export function get(store, key) {
  return transaction(store, "readonly", (s) => s.get(key));
}

export function getAll(store) {
  return transaction(store, "readonly", (s) => s.getAll());
}

// Each tab keeps its chats in memory, so one that saved last would overwrite what another
// tab of this profile wrote: after a chat is written or deleted, the others hear its id.
const changes = typeof BroadcastChannel === "undefined" ? null : new BroadcastChannel("hearth-chats");

export function onChatChange(handler) {
  if (changes) changes.onmessage = ({ data }) => handler(String(data));
}

// `key` only for stores without a key path ("kv").
export async function put(store, value, key) {
  const result = await transaction(store, "readwrite", (s) => (key === undefined ? s.put(value) : s.put(value, key)));
  if (store === "chats") changes?.postMessage(value.id);
  return result;
}

export async function remove(store, key) {
  const result = await transaction(store, "readwrite", (s) => s.delete(key));
  if (store === "chats") changes?.postMessage(key);
  return result;
}

// A tab changing a chat (writing a reply into it, renaming or deleting it) holds the chat's
// Web Lock until it is done: each tab saves its own copy, so two replies written at once,
// or a rename during another tab's reply, would be undone by the other tab's next save.
// A reply also holds a second lock that says so: a tab that finds the chat held by
// another's rename or delete (a moment's save) waits for it, up to BRIEF_HOLD_MS, instead
// of answering that a reply is being written there. The browser releases the locks of a
// tab that closes or crashes. Resolves to the function that releases them, or to
// undefined (Python's None) while another tab writes a reply in the chat; without the
// Locks API, or if it refuses, every tab may write, as before there were locks.
const BRIEF_HOLD_MS = 2000;

export async function claim(chatId, reply) {
  const locks = globalThis.navigator?.locks;
  if (!locks) return () => {};
  const name = `hearth-chat:${chatId}`;
  const replying = `hearth-reply:${chatId}`;
  let release = await hold(locks, name, { ifAvailable: true });
  if (!release) {
    const { held } = await locks.query().catch(() => ({ held: [] }));
    if (held.some((lock) => lock.name === replying)) return undefined;
    release = await hold(locks, name, { signal: AbortSignal.timeout(BRIEF_HOLD_MS) });
    if (!release) return undefined;
  }
  if (!reply) return release;
  const marker = await hold(locks, replying, {}); // free: only the chat's holder takes it
  return () => { marker(); release(); };
}

// Request a Web Lock and keep it until the resolved function is called: undefined when it
// is not free (`ifAvailable`) or not freed in time (`signal`).
function hold(locks, name, options) {
  return new Promise((resolve) => {
    locks.request(name, options, (lock) => {
      if (!lock) return resolve(undefined);
      return new Promise((release) => resolve(release));
    }).catch((error) => resolve(error?.name === "AbortError" || error?.name === "TimeoutError" ? undefined : () => {}));
  });
}
