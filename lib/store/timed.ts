import type { Store } from "./store.ts";

/**
 * The same store, with every call's duration reported to `observe` (operation name, seconds):
 * how `/metrics` shows store latency without each backend measuring itself.
 */
export function timedStore(store: Store, observe: (op: string, seconds: number) => void): Store {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || typeof property !== "string") return value;
      return (...args: unknown[]) => {
        const started = performance.now();
        const result = value.apply(target, args);
        if (!(result instanceof Promise)) return result;
        return result.finally(() => observe(property, (performance.now() - started) / 1000));
      };
    },
  });
}
