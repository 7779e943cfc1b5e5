export { generateCertificate, type TestCertificate } from "./certificate";
export {
  createTestServer,
  type Deletion,
  type TestServer,
  type TestServerOptions,
} from "./test-server";
