/// An SDP session description (RFC 8866 §5), kept generic: every line is stored in order,
/// so a parsed description serializes back to the same lines.
///
/// Session-level lines other than `v=`, `o=`, `s=`, `c=` and `a=` (`i=`, `u=`, `e=`, `p=`,
/// `b=`, `t=`, `r=`, `z=`, `k=`) are kept verbatim in `otherLines`.
public struct SessionDescription: Sendable, Equatable {
    /// The `o=` line (RFC 8866 §5.2).
    public var origin: SDPOrigin
    /// The `s=` line (RFC 8866 §5.3); WebRTC endpoints write `-`.
    public var sessionName: String
    /// The session-level `c=` line (RFC 8866 §5.7), if any.
    public var connection: SDPConnection?
    /// Other session-level lines, in input order (RFC 8866 §5.4–§5.12).
    public var otherLines: [SDPLine]
    /// Session-level `a=` lines, in order (RFC 8866 §5.13).
    public var sessionAttributes: [SDPAttribute]
    /// The media descriptions, in `m=` line order (RFC 8866 §5.14).
    public var media: [SDPMediaDescription]

    public init(origin: SDPOrigin, sessionName: String = "-", connection: SDPConnection? = nil,
                otherLines: [SDPLine] = [SDPLine(type: "t", value: "0 0")],
                sessionAttributes: [SDPAttribute] = [], media: [SDPMediaDescription] = []) {
        self.origin = origin
        self.sessionName = sessionName
        self.connection = connection
        self.otherLines = otherLines
        self.sessionAttributes = sessionAttributes
        self.media = media
    }

    /// The value of the first session-level attribute called `name`: `""` for a property
    /// attribute such as `a=ice-lite`, nil when absent.
    public func attribute(_ name: String) -> String? {
        sessionAttributes.first { $0.name == name }.map { $0.value ?? "" }
    }

    /// The values of every session-level attribute called `name`, in order.
    public func attributes(named name: String) -> [String] {
        sessionAttributes.filter { $0.name == name }.map { $0.value ?? "" }
    }

    /// The mids of each `a=group:BUNDLE` line (RFC 8843 §7.1), in order.
    public var bundleGroups: [[String]] {
        attributes(named: "group").compactMap { value in
            let fields = SDPSyntax.fields(value)
            guard fields.first == "BUNDLE" else { return nil }
            return fields.dropFirst().map(String.init)
        }
    }

    /// The description as SDP text with CRLF line endings, lines in RFC 8866 §5 order.
    public func serialized() -> String {
        var lines = ["v=0", "o=\(origin)", "s=\(sessionName)"]
        let beforeConnection: Set<Character> = ["i", "u", "e", "p"]
        lines += otherLines.filter { beforeConnection.contains($0.type) }.map(\.description)
        if let connection { lines.append("c=\(connection)") }
        lines += otherLines.filter { !beforeConnection.contains($0.type) }.map(\.description)
        lines += sessionAttributes.map(\.description)
        for section in media {
            lines += section.serializedLines()
        }
        return lines.map { $0 + "\r\n" }.joined()
    }
}

/// The `o=` line: `username sess-id sess-version nettype addrtype unicast-address` (RFC 8866 §5.2).
public struct SDPOrigin: Sendable, Equatable, CustomStringConvertible {
    public var username: String
    /// Decimal digits; kept as text because RFC 8866 sets no upper bound.
    public var sessionID: String
    public var sessionVersion: String
    public var networkType: String
    public var addressType: String
    public var address: String

    public init(username: String = "-", sessionID: String, sessionVersion: String = "2",
                networkType: String = "IN", addressType: String = "IP4", address: String = "127.0.0.1") {
        self.username = username
        self.sessionID = sessionID
        self.sessionVersion = sessionVersion
        self.networkType = networkType
        self.addressType = addressType
        self.address = address
    }

    public var description: String {
        "\(username) \(sessionID) \(sessionVersion) \(networkType) \(addressType) \(address)"
    }
}

/// A `c=` line: `nettype addrtype connection-address` (RFC 8866 §5.7).
public struct SDPConnection: Sendable, Equatable, CustomStringConvertible {
    public var networkType: String
    public var addressType: String
    public var address: String

    public init(networkType: String = "IN", addressType: String = "IP4", address: String = "0.0.0.0") {
        self.networkType = networkType
        self.addressType = addressType
        self.address = address
    }

    public var description: String {
        "\(networkType) \(addressType) \(address)"
    }
}

/// Any SDP line kept verbatim: its type letter and the text after `=` (RFC 8866 §5).
public struct SDPLine: Sendable, Equatable, CustomStringConvertible {
    public var type: Character
    public var value: String

    public init(type: Character, value: String) {
        self.type = type
        self.value = value
    }

    public var description: String {
        "\(type)=\(value)"
    }
}
