import ParleyRouting
import Synchronization

/// The secrets a transceiver holds: the routing keyring (tokens, call ids, client secrets)
/// and the server API keys callers present. Read on every request and replaced whole when the
/// operator rotates a Secret (`MediaEngine.reloadRoutingKeys`, `reloadAPIKeys`), so rotation
/// needs no restart.
public final class TransceiverCredentials: Sendable {
    public struct Snapshot: Sendable {
        public var routingKeyring: RoutingKeyring
        public var apiKeys: Set<String>
    }

    private let state: Mutex<Snapshot>

    init(routingKeyring: RoutingKeyring, apiKeys: Set<String>) {
        state = Mutex(Snapshot(routingKeyring: routingKeyring, apiKeys: apiKeys))
    }

    public var current: Snapshot { state.withLock { $0 } }

    func replaceRoutingKeyring(_ keyring: RoutingKeyring) {
        state.withLock { $0.routingKeyring = keyring }
    }

    func replaceAPIKeys(_ keys: Set<String>) {
        state.withLock { $0.apiKeys = keys }
    }
}

/// Server API keys as an operator writes them in a file or `PARLEY_API_KEYS`: separated by
/// newlines or commas, blanks and `#` lines skipped.
public enum APIKeyList {
    public struct Empty: Error, CustomStringConvertible {
        public var description: String {
            "no API keys: a key file that empties would open the API to anyone, so it is refused"
        }
    }

    public static func parse(_ text: String) -> Set<String> {
        Set(text.split { $0 == "\n" || $0 == "\r" || $0 == "," || $0 == "\r\n" }
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") })
    }

    /// The keys in `text`; throws when there are none.
    public static func load(text: String) throws(Empty) -> Set<String> {
        let keys = parse(text)
        guard !keys.isEmpty else { throw Empty() }
        return keys
    }
}
