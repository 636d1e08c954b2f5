import Foundation

/// Where a Redis server listens and how to log in: `redis://[[user]:password@]host[:port][/db]`
/// (IPv6 hosts in brackets; user and password percent-encoded), as Redis clients write it.
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var database: Int
    /// Sent with `AUTH` (Redis 6 ACL users; the default user when nil).
    public var username: String?
    /// When set, every connection starts with `AUTH` (`requirepass` or an ACL user).
    public var password: String?

    public init(host: String, port: Int = 6379, database: Int = 0, username: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.database = database
        self.username = username
        self.password = password
    }

    /// Parses the URL; nil for any other scheme or a malformed part.
    public init?(url: String) {
        guard url.hasPrefix("redis://") else { return nil }
        var rest = Substring(url.dropFirst("redis://".count))
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            guard let colon = userinfo.firstIndex(of: ":"),
                  let user = String(userinfo[..<colon]).removingPercentEncoding,
                  let secret = String(userinfo[userinfo.index(after: colon)...]).removingPercentEncoding, !secret.isEmpty else { return nil }
            username = user.isEmpty ? nil : user
            password = secret
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            if !path.isEmpty {
                guard let number = Int(path), number >= 0 else { return nil }
                database = number
            }
            rest = rest[..<slash]
        }
        var host = rest
        var port = 6379
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let tail = rest[rest.index(after: close)...]
            if !tail.isEmpty {
                guard tail.hasPrefix(":"), let number = Int(tail.dropFirst()) else { return nil }
                port = number
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            guard let number = Int(rest[rest.index(after: colon)...]) else { return nil }
            port = number
        }
        guard !host.isEmpty, !host.contains("@"), (1...65_535).contains(port) else { return nil }
        self.init(host: String(host), port: port, database: database, username: username, password: password)
    }

    /// The URL with the password left out, for logs and errors.
    public var description: String {
        let login = password == nil ? "" : "\(username ?? ""):***@"
        let address = host.contains(":") ? "[\(host)]" : host
        return "redis://\(login)\(address):\(port)/\(database)"
    }

    /// A URL as it may be shown: any password replaced by `***`.
    static func redacted(_ url: String) -> String {
        guard url.hasPrefix("redis://"), let at = url.lastIndex(of: "@") else { return url }
        let userinfo = url[url.index(url.startIndex, offsetBy: "redis://".count)..<at]
        let user = userinfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return "redis://\(user):***" + url[at...]
    }
}
