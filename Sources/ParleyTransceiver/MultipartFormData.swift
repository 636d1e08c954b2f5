import Foundation

/// `multipart/form-data` bodies (RFC 7578, framing from RFC 2046 §5.1.1), as the Realtime
/// API's `POST /v1/realtime/calls` accepts them: an `sdp` part and an optional `session` part.
/// Public for the fuzz targets (Fuzz/), which feed it any bytes.
public struct MultipartFormData: Sendable {
    public struct Part: Sendable, Equatable {
        public var name: String
        public var body: [UInt8]
    }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case missingBoundary
        case malformed(String)

        public var description: String {
            switch self {
            case .missingBoundary: return "multipart/form-data needs a boundary parameter in Content-Type"
            case .malformed(let reason): return "the multipart body is malformed: \(reason)"
            }
        }
    }

    public let parts: [Part]

    /// The `boundary` parameter of a `multipart/form-data` Content-Type, unquoted.
    public static func boundary(inContentType contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == "boundary" else { continue }
            var value = pair[1].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            // RFC 2046 §5.1.1: 1 to 70 characters.
            return (1...70).contains(value.count) ? value : nil
        }
        return nil
    }

    /// Splits `body` at `--boundary` delimiter lines into named parts.
    public init(body: [UInt8], boundary: String) throws(ParseError) {
        let delimiter = Array("--\(boundary)".utf8)
        var positions: [Int] = []
        var index = 0
        while let found = Self.find(delimiter, in: body, from: index) {
            positions.append(found)
            index = found + delimiter.count
        }
        guard positions.count >= 2 else { throw .malformed("no closing boundary") }
        var parts: [Part] = []
        for (start, end) in zip(positions, positions.dropFirst()) {
            var content = Array(body[(start + delimiter.count)..<end])
            guard content.starts(with: [13, 10]) else { throw .malformed("a boundary line does not end with CRLF") }
            content.removeFirst(2)
            // The CRLF before the next delimiter belongs to the delimiter.
            if content.suffix(2) == [13, 10] { content.removeLast(2) }
            guard let split = Self.find([13, 10, 13, 10], in: content, from: 0) else {
                throw .malformed("a part has no blank line after its headers")
            }
            let headers = String(decoding: content[..<split], as: UTF8.self)
            guard let name = Self.formName(headers) else {
                throw .malformed("a part has no Content-Disposition: form-data; name=...")
            }
            parts.append(Part(name: name, body: Array(content[(split + 4)...])))
        }
        self.parts = parts
    }

    /// The first part named `name`.
    public func part(named name: String) -> Part? {
        parts.first { $0.name == name }
    }

    private static func formName(_ headers: String) -> String? {
        for line in headers.split(separator: "\r\n") where line.lowercased().hasPrefix("content-disposition:") {
            for parameter in line.split(separator: ";").dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1)
                guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == "name" else { continue }
                return pair[1].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return nil
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        var index = start
        while index <= haystack.count - needle.count {
            if haystack[index] == needle[0], haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
