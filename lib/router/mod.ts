export type { Connection, ReaderProgress } from "./connection.ts";
export { Router, type RouterStats } from "./router.ts";
export { ClientSession, type SignedInUser } from "./client_session.ts";
export { DEFAULT_LIMITS, type Limits, type RouterOptions } from "./options.ts";
export { COMMANDS, type CommandSpec } from "./commands.ts";
export { composeRouter, composeRouterOptions, decorateStore, type RouterSetup } from "./compose.ts";
