export {
  type CertificateOptions,
  generateCertificate,
  type TestCertificate,
} from "./certificate";
export * from "./conformance/index";
export { createFaultProxy, type FaultProxy } from "./faults/proxy";
export type { SessionRecord } from "./faults/session-log";
export type { Fault, FaultRule } from "./faults/types";
export {
  createTestServer,
  type Deletion,
  type FaultControl,
  type TestServer,
  type TestServerOptions,
} from "./test-server";
export * from "./transcript/index";
