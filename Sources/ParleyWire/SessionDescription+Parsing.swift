extension SessionDescription {
    /// Parses SDP text (RFC 8866 §5, grammar in §9).
    ///
    /// Accepts LF or CRLF line endings and trailing blank lines, and keeps unknown attributes.
    /// Rejects input over `SDPLimits.maximumSize` bytes, a first line other than `v=0`, lines
    /// without `type=`, type letters RFC 8866 does not define, session-only lines inside a media
    /// description, missing or duplicate `o=`/`s=` lines, and malformed `o=`, `c=` or `m=` lines.
    public init(parsing text: String) throws(SDPError) {
        let size = text.utf8.count
        guard size <= SDPLimits.maximumSize else { throw .tooLarge(bytes: size) }
        var parser = SDPTextParser()
        for (number, line) in Self.lines(of: text).enumerated() {
            try parser.consume(line, number: number + 1)
        }
        self = try parser.finish()
    }

    /// The input split on LF, each line stripped of one trailing CR, trailing blank lines dropped.
    private static func lines(of text: String) -> [ArraySlice<UInt8>] {
        let bytes = Array(text.utf8)
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map { line in
            line.last == 0x0D ? line.dropLast() : line
        }
        while let last = lines.last, last.isEmpty {
            lines.removeLast()
        }
        return lines
    }
}

/// Line-by-line state for `SessionDescription(parsing:)`.
private struct SDPTextParser {
    private static let sessionTypes: Set<UInt8> = Set("vosiuepcbtrzkam".utf8)
    private static let mediaTypes: Set<UInt8> = Set("icbka".utf8)

    private var sawVersion = false
    private var origin: SDPOrigin?
    private var sessionName: String?
    private var connection: SDPConnection?
    private var otherLines: [SDPLine] = []
    private var sessionAttributes: [SDPAttribute] = []
    private var media: [SDPMediaDescription] = []
    private var current: SDPMediaDescription?
    private var lastLine = 0

    mutating func consume(_ line: ArraySlice<UInt8>, number: Int) throws(SDPError) {
        lastLine = number
        guard line.count >= 2, line[line.startIndex + 1] == UInt8(ascii: "=") else {
            throw .malformed(line: number, reason: "expected '<type>=<value>' (RFC 8866 §5), found \(SDPSyntax.excerpt(String(decoding: line, as: UTF8.self)))")
        }
        if let bad = line.first(where: { $0 == 0x00 || $0 == 0x0D }) {
            throw .malformed(line: number, reason: bad == 0 ? "contains a NUL byte" : "contains a bare CR")
        }
        let typeByte = line[line.startIndex]
        let value = String(decoding: line.dropFirst(2), as: UTF8.self)
        guard Self.sessionTypes.contains(typeByte) else {
            throw .malformed(line: number, reason: "\(SDPSyntax.excerpt(String(UnicodeScalar(typeByte)))) is not an SDP line type (RFC 8866 §5)")
        }
        let type = Character(UnicodeScalar(typeByte))
        guard sawVersion else {
            guard type == "v", value == "0" else {
                throw .malformed(line: number, reason: "the first line must be 'v=0' (RFC 8866 §5.1)")
            }
            sawVersion = true
            return
        }
        if current != nil {
            try consumeMediaLine(type: type, value: value, number: number)
        } else {
            try consumeSessionLine(type: type, value: value, number: number)
        }
    }

    private mutating func consumeSessionLine(type: Character, value: String, number: Int) throws(SDPError) {
        switch type {
        case "v":
            throw .malformed(line: number, reason: "a second 'v=' line")
        case "o":
            guard origin == nil else { throw .malformed(line: number, reason: "a second 'o=' line") }
            origin = try Self.parseOrigin(value, number: number)
        case "s":
            guard sessionName == nil else { throw .malformed(line: number, reason: "a second 's=' line") }
            sessionName = value
        case "c":
            guard connection == nil else { throw .malformed(line: number, reason: "a second session-level 'c=' line") }
            connection = try Self.parseConnection(value, number: number)
        case "a":
            sessionAttributes.append(try Self.parseAttribute(value, number: number))
        case "m":
            guard origin != nil, sessionName != nil else {
                throw .malformed(line: number, reason: "'m=' before the session's 'o=' and 's=' lines (RFC 8866 §5)")
            }
            current = try Self.parseMediaLine(value, number: number)
        default:
            otherLines.append(SDPLine(type: type, value: value))
        }
    }

    private mutating func consumeMediaLine(type: Character, value: String, number: Int) throws(SDPError) {
        guard var section = current else { return }
        switch type {
        case "m":
            media.append(section)
            current = try Self.parseMediaLine(value, number: number)
            return
        case "a":
            section.attributes.append(try Self.parseAttribute(value, number: number))
        case "c":
            guard section.connection == nil else {
                throw .malformed(line: number, reason: "a second 'c=' line in one media description (multicast is not supported)")
            }
            section.connection = try Self.parseConnection(value, number: number)
        case "i", "b", "k":
            section.otherLines.append(SDPLine(type: type, value: value))
        default:
            throw .malformed(line: number, reason: "'\(type)=' is a session-level line and cannot follow an 'm=' line (RFC 8866 §5)")
        }
        current = section
    }

    func finish() throws(SDPError) -> SessionDescription {
        guard sawVersion else { throw .malformed(line: 1, reason: "the SDP is empty; it must start with 'v=0'") }
        guard let origin else { throw .malformed(line: lastLine, reason: "the SDP has no 'o=' line (RFC 8866 §5.2)") }
        guard let sessionName else { throw .malformed(line: lastLine, reason: "the SDP has no 's=' line (RFC 8866 §5.3)") }
        return SessionDescription(origin: origin, sessionName: sessionName, connection: connection,
                                  otherLines: otherLines, sessionAttributes: sessionAttributes,
                                  media: media + (current.map { [$0] } ?? []))
    }

    private static func parseOrigin(_ value: String, number: Int) throws(SDPError) -> SDPOrigin {
        let fields = SDPSyntax.fields(value)
        guard fields.count == 6, SDPSyntax.isDigits(fields[1]), SDPSyntax.isDigits(fields[2]) else {
            throw .malformed(line: number, reason: "'o=' needs 'username sess-id sess-version nettype addrtype address' with numeric ids (RFC 8866 §5.2)")
        }
        return SDPOrigin(username: String(fields[0]), sessionID: String(fields[1]), sessionVersion: String(fields[2]),
                         networkType: String(fields[3]), addressType: String(fields[4]), address: String(fields[5]))
    }

    private static func parseConnection(_ value: String, number: Int) throws(SDPError) -> SDPConnection {
        let fields = SDPSyntax.fields(value)
        guard fields.count == 3, SDPSyntax.isToken(fields[0]), SDPSyntax.isToken(fields[1]) else {
            throw .malformed(line: number, reason: "'c=' needs 'nettype addrtype address' (RFC 8866 §5.7)")
        }
        return SDPConnection(networkType: String(fields[0]), addressType: String(fields[1]), address: String(fields[2]))
    }

    private static func parseAttribute(_ value: String, number: Int) throws(SDPError) -> SDPAttribute {
        let name: Substring
        let attributeValue: String?
        if let colon = value.firstIndex(of: ":") {
            name = value[..<colon]
            attributeValue = String(value[value.index(after: colon)...])
        } else {
            name = Substring(value)
            attributeValue = nil
        }
        guard SDPSyntax.isToken(name) else {
            throw .malformed(line: number, reason: "attribute name \(SDPSyntax.excerpt(name)) is not a token (RFC 8866 §5.13)")
        }
        return SDPAttribute(name: String(name), value: attributeValue, sourceLine: number)
    }

    private static func parseMediaLine(_ value: String, number: Int) throws(SDPError) -> SDPMediaDescription {
        let fields = SDPSyntax.fields(value)
        guard fields.count >= 4 else {
            throw .malformed(line: number, reason: "'m=' needs 'media port proto fmt ...' with at least one format (RFC 8866 §5.14)")
        }
        guard SDPSyntax.isToken(fields[0]) else {
            throw .malformed(line: number, reason: "media type \(SDPSyntax.excerpt(fields[0])) is not a token")
        }
        let portParts = fields[1].split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard SDPSyntax.isDigits(portParts[0]), let port = UInt16(portParts[0]) else {
            throw .malformed(line: number, reason: "port \(SDPSyntax.excerpt(fields[1])) is not a number from 0 to 65535")
        }
        var numberOfPorts: UInt16?
        if portParts.count == 2 {
            guard SDPSyntax.isDigits(portParts[1]), let count = UInt16(portParts[1]) else {
                throw .malformed(line: number, reason: "port count \(SDPSyntax.excerpt(portParts[1])) is not a number")
            }
            numberOfPorts = count
        }
        guard SDPSyntax.isProto(fields[2]) else {
            throw .malformed(line: number, reason: "transport \(SDPSyntax.excerpt(fields[2])) is not a valid proto (RFC 8866 §5.14)")
        }
        let formats = fields[3...]
        if let bad = formats.first(where: { !SDPSyntax.isToken($0) }) {
            throw .malformed(line: number, reason: "format \(SDPSyntax.excerpt(bad)) is not a token")
        }
        return SDPMediaDescription(kind: String(fields[0]), port: port, numberOfPorts: numberOfPorts,
                                   proto: String(fields[2]), formats: formats.map(String.init))
    }
}
