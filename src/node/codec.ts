/**
 * The message codec the node is given: CDR encode/decode by type name. The default adapter uses the bag
 * module's codecs (built from .msg text) and adds the diagnostic_msgs definitions the node publishes.
 */
import { getDefinitionText, getCodec, registerMsgDefinition } from '../bag/codecs';

/** CDR encode/decode by fully qualified type (`sensor_msgs/msg/Image`, `declip_ros/srv/Locate_Request`). */
export interface MessageCodecRegistry {
  /** CDR bytes (with the 4-byte encapsulation header) of a message object; missing fields take defaults. */
  encode(type: string, message: unknown): Uint8Array;
  /** Message object from CDR bytes. Throws on malformed bytes. */
  decode(type: string, data: Uint8Array): any;
}

/** diagnostic_msgs definitions (ROS 2 Humble/Jazzy), used for /diagnostics. */
export const DIAGNOSTIC_MSG_DEFINITIONS: Readonly<Record<string, string>> = {
  'diagnostic_msgs/msg/KeyValue': 'string key\nstring value\n',
  'diagnostic_msgs/msg/DiagnosticStatus':
    'byte OK=0\nbyte WARN=1\nbyte ERROR=2\nbyte STALE=3\n' +
    'byte level\nstring name\nstring message\nstring hardware_id\nKeyValue[] values\n',
  'diagnostic_msgs/msg/DiagnosticArray': 'std_msgs/Header header\nDiagnosticStatus[] status\n',
};

/** Register the diagnostic_msgs definitions with the bag codecs unless they already know them. */
export function ensureDiagnosticDefinitions(): void {
  for (const [type, text] of Object.entries(DIAGNOSTIC_MSG_DEFINITIONS)) {
    try {
      getDefinitionText(type);
    } catch {
      registerMsgDefinition(type, text);
    }
  }
}

/** The default codec: src/bag codecs (standard + declip_ros messages) plus diagnostic_msgs. */
export function defaultCodec(): MessageCodecRegistry {
  ensureDiagnosticDefinitions();
  return {
    encode: (type, message) => getCodec(type).encode(message),
    decode: (type, data) => getCodec(type).decode(data),
  };
}
