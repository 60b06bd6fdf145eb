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
// A reply also holds a second lock that says so. A tab that finds the chat held by
// another's rename or delete (a moment's save) waits for it, up to BRIEF_HOLD_MS, instead
// of answering that a reply is being written there, and gives up as soon as the reply's
// lock shows up (looking every BRIEF_LOOK_MS: a reply takes it just after the chat's). The
// browser releases the locks of a tab that closes or crashes. Resolves to the function
// that releases them, or to undefined (Python's None) while another tab holds the chat
// past that; never rejects: without the Locks API, or if it fails, every tab may write, as
// before there were locks.
const BRIEF_HOLD_MS = 2000;
const BRIEF_LOOK_MS = 50;

export async function claim(chatId, reply) {
  const locks = globalThis.navigator?.locks;
  if (!locks) return () => {};
  const name = `hearth-chat:${chatId}`;
  const replying = `hearth-reply:${chatId}`;
  let release;
  try {
    release = (await hold(locks, name, { ifAvailable: true })) ?? (await wait(locks, name, replying));
  } catch {
    return () => {};
  }
  if (!release || !reply) return release;
  // free: only the chat's holder takes it; without it, others only wait longer
  const marker = await hold(locks, replying, { ifAvailable: true }).catch(() => undefined);
  return () => { marker?.(); release(); };
}

// Wait for lock `name` for up to BRIEF_HOLD_MS, unless lock `replying` is seen held.
async function wait(locks, name, replying) {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), BRIEF_HOLD_MS);
  const granted = hold(locks, name, { signal: stop.signal });
  const look = async () => {
    while (!stop.signal.aborted) {
      const { held = [] } = await locks.query().catch(() => ({}));
      if (held.some((lock) => lock.name === replying)) return stop.abort();
      await new Promise((wake) => setTimeout(wake, BRIEF_LOOK_MS));
    }
  };
  const looking = look();
  try {
    return await granted;
  } finally {
    clearTimeout(timer);
    stop.abort(); // done: stop looking
    await looking;
  }
}

// Request a Web Lock and keep it until the resolved function is called: undefined when it
// is not free (`ifAvailable`) or the wait was called off (`signal`).
function hold(locks, name, options) {
  return new Promise((resolve, reject) => {
    locks.request(name, options, (lock) => {
      if (!lock) return resolve(undefined);
      return new Promise((release) => resolve(release));
    }).catch((error) => (error?.name === "AbortError" ? resolve(undefined) : reject(error)));
  });
}
