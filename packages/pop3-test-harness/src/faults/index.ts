export { createFaultProxy, type FaultProxy } from "./proxy";
export type { Fault, FaultRule } from "./types";
