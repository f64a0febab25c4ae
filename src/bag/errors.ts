/** Where in a bag (or message) a problem was found. All fields optional. */
export interface BagErrorContext {
  /** Bag file path. */
  path?: string;
  /** Topic name. */
  topic?: string;
  /** Byte offset in the file (MCAP) or row id (sqlite3). */
  offset?: bigint | number;
  /** Message index within the read (0-based). */
  index?: number;
  /** Field or record that is wrong (e.g. 'step', 'chunk CRC', 'messages table'). */
  field?: string;
  /** Underlying error. */
  cause?: unknown;
}

function describe(ctx: BagErrorContext): string {
  const parts: string[] = [];
  if (ctx.path !== undefined) parts.push(`file ${ctx.path}`);
  if (ctx.topic !== undefined) parts.push(`topic ${ctx.topic}`);
  if (ctx.offset !== undefined) parts.push(`offset ${ctx.offset.toString()}`);
  if (ctx.index !== undefined) parts.push(`message #${ctx.index}`);
  if (ctx.field !== undefined) parts.push(`field '${ctx.field}'`);
  return parts.length > 0 ? ` [${parts.join(', ')}]` : '';
}

/** A bag that cannot be opened or read (bad magic, truncated, missing table, corrupt chunk...). */
export class BagError extends Error {
  readonly path?: string;
  readonly topic?: string;
  readonly offset?: bigint | number;
  readonly index?: number;
  readonly field?: string;

  constructor(message: string, ctx: BagErrorContext = {}) {
    super(`${message}${describe(ctx)}`, ctx.cause !== undefined ? { cause: ctx.cause } : undefined);
    this.name = 'BagError';
    this.path = ctx.path;
    this.topic = ctx.topic;
    this.offset = ctx.offset;
    this.index = ctx.index;
    this.field = ctx.field;
  }
}

/** A message payload that does not decode (or an object that does not encode) with its type's definition. */
export class DecodeError extends BagError {
  constructor(message: string, ctx: BagErrorContext = {}) {
    super(message, ctx);
    this.name = 'DecodeError';
  }
}

/** A message type whose definition is unknown (not embedded, not in ros/msg, not in the bag). */
export class UnknownSchemaError extends BagError {
  constructor(message: string, ctx: BagErrorContext = {}) {
    super(message, ctx);
    this.name = 'UnknownSchemaError';
  }
}

/** An image message whose encoding, size, step or data is inconsistent. */
export class ImageFormatError extends BagError {
  constructor(message: string, ctx: BagErrorContext = {}) {
    super(message, ctx);
    this.name = 'ImageFormatError';
  }
}

/** Message of an unknown thrown value. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
