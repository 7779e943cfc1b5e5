export {
  type HashRunOptions,
  PasswordHashBusyError,
  PasswordHashPool,
  type PasswordHashPoolOptions,
  type ScryptDeriver,
} from "./hash-pool";
export {
  DEFAULT_SCRYPT_PARAMS,
  hashPassword,
  PasswordHashError,
  type ScryptParams,
  type ScryptRequest,
  type ScryptRunner,
  verifyPasswordHash,
} from "./password-hash";
export { type StaticUserEntry, type StaticUsersOptions, staticUsers } from "./static-users";
export {
  type AdmittedLogin,
  type LoginAttempt,
  type LoginDelayCheck,
  LoginDelayTracker,
  type LoginDelayTrackerOptions,
  LoginThrottle,
  type LoginThrottleOptions,
  normalizeAddress,
  type RefusedLogin,
} from "./throttle";
export type { AuthContext, Authenticator, AuthResult } from "./types";
export {
  type AddUserOptions,
  addUserToFile,
  type UserFileAuthenticator,
  UserFileError,
  type UserFileOptions,
  userFile,
} from "./user-file";
