export {
  DEFAULT_MAX_FRAME_BYTES,
  FRAME_SEPARATOR,
  FrameDecoder,
  encodeFrame,
  excerptOf,
  type FrameDecoderOptions,
  type FrameSink,
} from './frame';
export {
  MAX_NODE_ID_LENGTH,
  heartbeatText,
  helloText,
  isValidNodeId,
  toFrame,
  toMessage,
  wireTypeOf,
  type HeartbeatMessage,
  type HelloMessage,
  type LegacyMessage,
  type Message,
  type OtherMessage,
} from './message';
