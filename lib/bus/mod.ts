export {
  type Bus,
  type BusHandler,
  type BusMessage,
  type BusStatus,
  MAX_BUS_MESSAGE_BYTES,
  newNodeId,
} from "./bus.ts";
export { InProcessBusHub } from "./in_process.ts";
