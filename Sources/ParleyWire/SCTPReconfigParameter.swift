/// A re-configuration parameter of a RE-CONFIG chunk (RFC 6525 §4): the stream resets a data
/// channel close uses (RFC 8831 §6.7), and the response to them.
public enum SCTPReconfigParameter: Sendable, Equatable {
    /// Outgoing SSN Reset Request (RFC 6525 §4.1): the sender resets its outgoing streams
    /// (all of them when `streams` is empty) after `senderLastAssignedTSN`.
    case outgoingResetRequest(requestSequence: UInt32, responseSequence: UInt32,
                              senderLastAssignedTSN: UInt32, streams: [UInt16])
    /// Incoming SSN Reset Request (RFC 6525 §4.2): the sender asks the receiver to reset its
    /// outgoing streams.
    case incomingResetRequest(requestSequence: UInt32, streams: [UInt16])
    /// Re-configuration Response (RFC 6525 §4.4), without the optional TSN fields.
    case response(responseSequence: UInt32, result: SCTPReconfigResult)
    case unknown(type: UInt16, value: [UInt8])

    public enum ParameterType {
        public static let outgoingResetRequest: UInt16 = 13
        public static let incomingResetRequest: UInt16 = 14
        public static let response: UInt16 = 16
    }

    static func parseList(_ value: [UInt8]) throws(SCTPParseError) -> [SCTPReconfigParameter] {
        var parameters: [SCTPReconfigParameter] = []
        for (type, body) in try SCTPTLV.parseList(value) {
            parameters.append(try SCTPReconfigParameter(type: type, value: body))
        }
        return parameters
    }

    init(type: UInt16, value: [UInt8]) throws(SCTPParseError) {
        var reader = BigEndianReader(value)
        switch type {
        case ParameterType.outgoingResetRequest:
            guard value.count >= 12, value.count % 2 == 0 else { throw .malformedParameter(type: type) }
            let request = reader.read(UInt32.self) ?? 0
            let response = reader.read(UInt32.self) ?? 0
            let lastTSN = reader.read(UInt32.self) ?? 0
            let streams = (0..<reader.remaining / 2).map { _ in reader.read(UInt16.self) ?? 0 }
            self = .outgoingResetRequest(requestSequence: request, responseSequence: response,
                                         senderLastAssignedTSN: lastTSN, streams: streams)
        case ParameterType.incomingResetRequest:
            guard value.count >= 4, value.count % 2 == 0 else { throw .malformedParameter(type: type) }
            let request = reader.read(UInt32.self) ?? 0
            let streams = (0..<reader.remaining / 2).map { _ in reader.read(UInt16.self) ?? 0 }
            self = .incomingResetRequest(requestSequence: request, streams: streams)
        case ParameterType.response:
            // 8 bytes, or 16 with the Sender's and Receiver's Next TSN (§4.4), ignored here.
            guard value.count == 8 || value.count == 16 else { throw .malformedParameter(type: type) }
            let response = reader.read(UInt32.self) ?? 0
            self = .response(responseSequence: response, result: SCTPReconfigResult(rawValue: reader.read(UInt32.self) ?? 0))
        default:
            self = .unknown(type: type, value: value)
        }
    }

    func append(to bytes: inout [UInt8]) {
        var value: [UInt8] = []
        let type: UInt16
        switch self {
        case .outgoingResetRequest(let request, let response, let lastTSN, let streams):
            type = ParameterType.outgoingResetRequest
            value.appendBigEndian(request)
            value.appendBigEndian(response)
            value.appendBigEndian(lastTSN)
            for stream in streams { value.appendBigEndian(stream) }
        case .incomingResetRequest(let request, let streams):
            type = ParameterType.incomingResetRequest
            value.appendBigEndian(request)
            for stream in streams { value.appendBigEndian(stream) }
        case .response(let response, let result):
            type = ParameterType.response
            value.appendBigEndian(response)
            value.appendBigEndian(result.rawValue)
        case .unknown(let unknownType, let unknownValue):
            type = unknownType
            value = unknownValue
        }
        SCTPTLV.append(type: type, value: value, to: &bytes)
    }
}

/// The result of a re-configuration request (RFC 6525 §4.4).
public struct SCTPReconfigResult: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt32

    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    public static let successNothingToDo = SCTPReconfigResult(rawValue: 0)
    public static let successPerformed = SCTPReconfigResult(rawValue: 1)
    public static let denied = SCTPReconfigResult(rawValue: 2)
    public static let errorWrongSSN = SCTPReconfigResult(rawValue: 3)
    public static let errorRequestAlreadyInProgress = SCTPReconfigResult(rawValue: 4)
    public static let errorBadSequenceNumber = SCTPReconfigResult(rawValue: 5)
    public static let inProgress = SCTPReconfigResult(rawValue: 6)
}
