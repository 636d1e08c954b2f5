/// One media description: an `m=` line and the lines up to the next one (RFC 8866 §5.14).
public struct SDPMediaDescription: Sendable, Equatable {
    /// `audio`, `video`, `application`, or another token.
    public var kind: String
    /// 0 means the section is rejected or bundle-only (RFC 8829 §5.2.1, RFC 8843 §6).
    public var port: UInt16
    /// The `/<number of ports>` suffix of the port, if present.
    public var numberOfPorts: UInt16?
    /// For example `UDP/TLS/RTP/SAVPF` or `UDP/DTLS/SCTP`.
    public var proto: String
    /// RTP payload types or, for `application`, format names such as `webrtc-datachannel`.
    public var formats: [String]
    /// The media-level `c=` line, if any.
    public var connection: SDPConnection?
    /// `i=`, `b=` and `k=` lines of this section, in order.
    public var otherLines: [SDPLine]
    /// The `a=` lines of this section, in order.
    public var attributes: [SDPAttribute]

    public init(kind: String, port: UInt16, numberOfPorts: UInt16? = nil, proto: String, formats: [String],
                connection: SDPConnection? = nil, otherLines: [SDPLine] = [], attributes: [SDPAttribute] = []) {
        self.kind = kind
        self.port = port
        self.numberOfPorts = numberOfPorts
        self.proto = proto
        self.formats = formats
        self.connection = connection
        self.otherLines = otherLines
        self.attributes = attributes
    }

    /// The value of the first attribute called `name`: `""` for a property attribute such as
    /// `a=rtcp-mux`, nil when absent.
    public func attribute(_ name: String) -> String? {
        attributes.first { $0.name == name }.map { $0.value ?? "" }
    }

    /// The values of every attribute called `name`, in order (`""` for property attributes).
    public func attributes(named name: String) -> [String] {
        attributes.filter { $0.name == name }.map { $0.value ?? "" }
    }

    /// The `a=mid` value (RFC 5888 §4), if any.
    public var mid: String? {
        attribute("mid")
    }

    /// The direction attribute of this section (RFC 8866 §6.7), nil when it has none.
    public var direction: MediaDirection? {
        attributes.lazy.compactMap { $0.value == nil ? MediaDirection(rawValue: $0.name) : nil }.first
    }

    func serializedLines() -> [String] {
        let port = numberOfPorts.map { "\(self.port)/\($0)" } ?? "\(self.port)"
        var lines = ["m=\(kind) \(port) \(proto) \(formats.joined(separator: " "))"]
        lines += otherLines.filter { $0.type == "i" }.map(\.description)
        if let connection { lines.append("c=\(connection)") }
        lines += otherLines.filter { $0.type != "i" }.map(\.description)
        lines += attributes.map(\.description)
        return lines
    }
}

/// An `a=` line: `a=name` (property) or `a=name:value` (value attribute), RFC 8866 §5.13.
public struct SDPAttribute: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    /// nil for a property attribute; `""` for `a=name:` with an empty value.
    public var value: String?
    /// The 1-based input line this attribute came from, for error messages; nil when built in
    /// code. Not part of equality.
    public var sourceLine: Int?

    public init(_ name: String, _ value: String? = nil) {
        self.name = name
        self.value = value
        self.sourceLine = nil
    }

    init(name: String, value: String?, sourceLine: Int) {
        self.name = name
        self.value = value
        self.sourceLine = sourceLine
    }

    public static func == (lhs: SDPAttribute, rhs: SDPAttribute) -> Bool {
        lhs.name == rhs.name && lhs.value == rhs.value
    }

    public var description: String {
        value.map { "a=\(name):\($0)" } ?? "a=\(name)"
    }
}

/// Media direction attributes (RFC 8866 §6.7); absent means `sendrecv`.
public enum MediaDirection: String, Sendable, CaseIterable {
    case sendrecv, sendonly, recvonly, inactive

    /// The direction an answerer writes for this offered direction (RFC 8829 §5.3.1, RFC 3264 §6.1).
    public var answered: MediaDirection {
        switch self {
        case .sendrecv: return .sendrecv
        case .sendonly: return .recvonly
        case .recvonly: return .sendonly
        case .inactive: return .inactive
        }
    }

    /// Whether the endpoint writing this direction sends media.
    public var sends: Bool {
        self == .sendrecv || self == .sendonly
    }
}

extension SDPAttribute {
    /// `a=ice-options` with `tokens` (RFC 8839 §5.6); no attribute when there are none.
    static func iceOptions(_ tokens: [String]) -> [SDPAttribute] {
        tokens.isEmpty ? [] : [SDPAttribute("ice-options", tokens.joined(separator: " "))]
    }

    /// `a=sctp-init` (SNAP, draft-hancke-tsvwg-snap-00): our INIT chunk in padded base64.
    static func sctpInit(_ initiation: SCTPInitChunk) -> SDPAttribute {
        SDPAttribute("sctp-init", Base64.encodePadded(initiation.chunk))
    }
}
