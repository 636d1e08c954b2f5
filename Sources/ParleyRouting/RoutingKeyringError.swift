/// Why a keyring could not be built or loaded. Never carries secret bytes.
public enum RoutingKeyringError: Error, Sendable, Equatable {
    /// The keyring would hold no key.
    case noKeys
    /// A secret is shorter than the 16-byte minimum.
    case secretTooShort(keyID: UInt8, length: Int)
    /// Two keys share one id.
    case duplicateKeyID(UInt8)
    /// The signing key id names no key in the keyring.
    case signingKeyNotFound(UInt8)
    /// Entry number `index` (from 1) is not `ID:BASE64SECRET` or `signing=ID`.
    case malformedEntry(index: Int)
    /// Entry number `index` (from 1) has an id that is not a decimal number 0-255.
    case invalidKeyID(index: Int)
    /// The secret of key `keyID` is not standard base64.
    case invalidSecretEncoding(keyID: UInt8)
}
