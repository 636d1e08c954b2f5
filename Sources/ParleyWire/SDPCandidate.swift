/// An ICE candidate from an `a=candidate` line (RFC 8839 §5.1).
public struct SDPCandidate: Sendable, Equatable, CustomStringConvertible {
    /// `cand-type` (RFC 8839 §5.1, RFC 8445 §5.1.1).
    public enum CandidateType: Sendable, Equatable, CustomStringConvertible {
        case host, srflx, prflx, relay
        /// A type token this endpoint does not know; RFC 8839 §5.1 allows extensions.
        case other(String)

        init(token: String) {
            switch token.lowercased() {
            case "host": self = .host
            case "srflx": self = .srflx
            case "prflx": self = .prflx
            case "relay": self = .relay
            default: self = .other(token)
            }
        }

        public var description: String {
            switch self {
            case .host: return "host"
            case .srflx: return "srflx"
            case .prflx: return "prflx"
            case .relay: return "relay"
            case .other(let token): return token
            }
        }
    }

    /// An `extension-att-name extension-att-value` pair such as `generation 0`.
    public struct Extension: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// 1 to 32 ice-chars.
    public var foundation: String
    /// 1 for RTP (and everything when rtcp-mux is used), 2 for RTCP; 1 to 256.
    public var component: UInt16
    /// Lowercased: `udp`, `tcp`, or an extension token.
    public var transport: String
    public var priority: UInt32
    /// An IP address or, for mDNS candidates, a `.local` host name (RFC 8839 §5.1).
    public var address: String
    public var port: UInt16
    public var type: CandidateType
    public var relatedAddress: String?
    public var relatedPort: UInt16?
    public var extensions: [Extension]

    public init(foundation: String, component: UInt16 = 1, transport: String = "udp", priority: UInt32,
                address: String, port: UInt16, type: CandidateType, relatedAddress: String? = nil,
                relatedPort: UInt16? = nil, extensions: [Extension] = []) {
        self.foundation = foundation
        self.component = component
        self.transport = transport
        self.priority = priority
        self.address = address
        self.port = port
        self.type = type
        self.relatedAddress = relatedAddress
        self.relatedPort = relatedPort
        self.extensions = extensions
    }

    /// Parses an `a=candidate` value, with or without the `candidate:` prefix that trickled
    /// candidates carry (RFC 8839 §5.1, RFC 8840 §4.1).
    public init(parsing text: String) throws(SDPError) {
        try self.init(parsing: text, line: 0)
    }

    init(parsing text: String, line: Int) throws(SDPError) {
        let body = text.hasPrefix("candidate:") ? text.dropFirst("candidate:".count) : Substring(text)
        let fields = SDPSyntax.fields(body)
        func fail(_ reason: String) -> SDPError {
            .malformed(line: line, reason: "a=candidate: \(reason) (RFC 8839 §5.1)")
        }
        guard fields.count >= 8 else { throw fail("needs 'foundation component transport priority address port typ type'") }
        guard (1...32).contains(fields[0].utf8.count), SDPSyntax.isICEChars(fields[0]) else {
            throw fail("foundation \(SDPSyntax.excerpt(fields[0])) is not 1 to 32 ice-chars")
        }
        guard SDPSyntax.isDigits(fields[1]), fields[1].utf8.count <= 3, let component = UInt16(fields[1]),
              (1...256).contains(component) else {
            throw fail("component \(SDPSyntax.excerpt(fields[1])) is not a number from 1 to 256")
        }
        guard SDPSyntax.isToken(fields[2]) else { throw fail("transport \(SDPSyntax.excerpt(fields[2])) is not a token") }
        guard SDPSyntax.isDigits(fields[3]), let priority = UInt32(fields[3]) else {
            throw fail("priority \(SDPSyntax.excerpt(fields[3])) is not a 32-bit number")
        }
        guard SDPSyntax.isDigits(fields[5]), let port = UInt16(fields[5]) else {
            throw fail("port \(SDPSyntax.excerpt(fields[5])) is not a number from 0 to 65535")
        }
        guard fields[6] == "typ", SDPSyntax.isToken(fields[7]) else { throw fail("expected 'typ <type>' after the port") }
        self.init(foundation: String(fields[0]), component: component, transport: fields[2].lowercased(),
                  priority: priority, address: String(fields[4]), port: port, type: CandidateType(token: String(fields[7])))
        var rest = fields[8...]
        guard rest.count % 2 == 0 else { throw fail("extension \(SDPSyntax.excerpt(rest.last ?? "")) has no value") }
        while let name = rest.popFirst(), let value = rest.popFirst() {
            switch name {
            case "raddr":
                relatedAddress = String(value)
            case "rport":
                guard SDPSyntax.isDigits(value), let relatedPort = UInt16(value) else {
                    throw fail("rport \(SDPSyntax.excerpt(value)) is not a port number")
                }
                self.relatedPort = relatedPort
            default:
                extensions.append(Extension(name: String(name), value: String(value)))
            }
        }
    }

    /// The candidate's transport address when `address` is a literal IP (not an mDNS name).
    public var peerAddress: PeerAddress? {
        IPAddress(address).map { PeerAddress(ip: $0, port: port) }
    }

    /// Candidate priority (RFC 8445 §5.1.2.1):
    /// 2^24 × type preference + 2^8 × local preference + (256 − component).
    public static func priority(typePreference: UInt8, localPreference: UInt16, component: UInt16 = 1) -> UInt32 {
        UInt32(typePreference) << 24 + UInt32(localPreference) << 8 + UInt32(256 - min(max(component, 1), 256))
    }

    /// The attribute value, without the `candidate:` prefix.
    public var attributeValue: String {
        var text = "\(foundation) \(component) \(transport) \(priority) \(address) \(port) typ \(type)"
        if let relatedAddress { text += " raddr \(relatedAddress)" }
        if let relatedPort { text += " rport \(relatedPort)" }
        for item in extensions { text += " \(item.name) \(item.value)" }
        return text
    }

    /// `candidate:...`, the form trickle ICE and `RTCIceCandidate.candidate` use.
    public var description: String {
        "candidate:" + attributeValue
    }
}
