export { apopDigest, verifyApopDigest } from "./apop";
export { decodeBase64Strict, encodeBase64 } from "./base64";
export { timingSafeEqual } from "./compare";
export {
  type CramMd5ClientOptions,
  type CramMd5Credentials,
  cramMd5Client,
  verifyCramMd5,
} from "./cram-md5";
export {
  authCommand,
  initialResponseFits,
  MAX_INITIAL_RESPONSE_LINE,
} from "./initial-response";
export {
  LOGIN_PASSWORD_CHALLENGE,
  LOGIN_USERNAME_CHALLENGE,
  type LoginClientOptions,
  loginClient,
} from "./login";
export { hmacMd5, md5, toHex } from "./md5";
export {
  createSaslServerExchange,
  isSaslMechanism,
  SASL_MECHANISMS,
  type SaslMechanismName,
  type SaslServerOptions,
} from "./mechanisms";
export {
  type OauthbearerClientOptions,
  type OauthbearerErrorOptions,
  oauthbearerClient,
  oauthbearerErrorChallenge,
} from "./oauthbearer";
export { type PlainClientOptions, plainClient } from "./plain";
export type {
  SaslClientMechanism,
  SaslCredentials,
  SaslServerExchange,
  SaslServerStep,
} from "./types";
export {
  type Xoauth2ClientOptions,
  type Xoauth2ErrorOptions,
  xoauth2Client,
  xoauth2ErrorChallenge,
} from "./xoauth2";
