export {
  DEFAULT_SCRYPT_PARAMS,
  hashPassword,
  PasswordHashError,
  type ScryptParams,
  verifyPasswordHash,
} from "./password-hash";
export { type StaticUserEntry, type StaticUsersOptions, staticUsers } from "./static-users";
export {
  type LoginAttempt,
  type LoginDelayCheck,
  LoginDelayTracker,
  type LoginDelayTrackerOptions,
  LoginThrottle,
  type LoginThrottleOptions,
  normalizeAddress,
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
