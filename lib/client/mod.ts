export {
  type ClientOptions,
  type FrameChannel,
  ParleyClient,
  ServerError,
  type SyncCommandType,
  type Welcome,
} from "./client.ts";
export {
  type ClientEvent,
  type ConversationInfo,
  conversationKey,
  conversationOf,
  type DeviceWelcome,
  isRoom,
  type MemberInfo,
  type RoomInfo,
  type SeqMessage,
  type SyncEvent,
} from "./events.ts";
export { TcpChannel, type TcpChannelOptions, TcpLineChannel } from "./tcp_channel.ts";
export { type LineChannel, SecureChannel, type SecureChannelOptions } from "./secure_channel.ts";
export { WsChannel } from "./ws_channel.ts";
export { Backoff, type BackoffOptions } from "./backoff.ts";
export {
  type ConnectionState,
  type Credentials,
  type ReconnectEvent,
  ReconnectingClient,
  type ReconnectOptions,
  type StatusEvent,
} from "./reconnect.ts";

import { type ClientOptions, ParleyClient } from "./client.ts";
import { TcpChannel, type TcpChannelOptions } from "./tcp_channel.ts";

/** Connects to a Parley server's TCP port in JSON mode. */
export async function connectTcp(
  options: TcpChannelOptions & ClientOptions,
): Promise<ParleyClient> {
  return new ParleyClient(await TcpChannel.connect(options), options);
}
