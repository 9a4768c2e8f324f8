interface Callbacks {
  callbacks: Set<() => void>;
  listener: () => void;
}

/**
 * Per signal, the callbacks waiting for it to abort. Thousands of waits may share one signal (the
 * server's shutdown, a library caller's one signal for many waits): each adding its own listener
 * would cost a linear scan per add and remove on the EventTarget and a MaxListenersExceededWarning
 * past ten; `AbortSignal.any([own, shared])` instead leaves, in Node 20, a WeakRef in the shared
 * signal for every call that is never dropped. Here a signal carries one listener at most.
 */
const bySignal = new WeakMap<AbortSignal, Callbacks>();

/**
 * Calls `callback` once when `signal` aborts (at once when it already has). Returns what
 * forgets the callback; the signal's one listener goes with its last callback.
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  if (signal.aborted) {
    callback();
    return () => {};
  }
  let entry = bySignal.get(signal);
  if (entry === undefined) {
    const callbacks = new Set<() => void>();
    const listener = () => {
      bySignal.delete(signal);
      for (const call of [...callbacks]) call();
      callbacks.clear();
    };
    entry = { callbacks, listener };
    bySignal.set(signal, entry);
    signal.addEventListener('abort', listener, { once: true });
  }
  const { callbacks, listener } = entry;
  // A callback given twice must still be forgotten once per registration.
  const registered = () => callback();
  callbacks.add(registered);
  return () => {
    if (!callbacks.delete(registered) || callbacks.size > 0) return;
    signal.removeEventListener('abort', listener);
    if (bySignal.get(signal)?.callbacks === callbacks) bySignal.delete(signal);
  };
}
