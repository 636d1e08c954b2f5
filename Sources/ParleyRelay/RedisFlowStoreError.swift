/// Why the Redis flow store could not answer. The relay treats every case as "unknown flow".
public enum RedisFlowStoreError: Error, Sendable, Equatable {
    /// The URL is not `redis://host[:port][/db]`.
    case invalidURL(String)
    /// The last connection attempt failed and the store is waiting before the next one.
    case unavailable
    /// Connecting to Redis failed.
    case connectFailed(String)
    /// No reply within the store's timeout; the connection is dropped and re-made.
    case timedOut
    /// The connection closed before the reply arrived.
    case connectionClosed
    /// Redis answered with an error reply (RESP2 `-...`).
    case serverError(String)
    /// Redis answered with a reply this command never gets.
    case unexpectedReply(String)
    /// A stored value is not an `IP:PORT` address.
    case malformedValue(String)
}
