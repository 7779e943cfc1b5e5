/** `nextEvent` has nothing to give until more bytes arrive. */
export const NEED_DATA: unique symbol = Symbol("NEED_DATA");
/** `nextEvent` will give nothing until this side has answered (server) or sent something. */
export const PAUSED: unique symbol = Symbol("PAUSED");
