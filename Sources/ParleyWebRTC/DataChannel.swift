import ParleyWire

/// WebRTC data channel vocabulary (RFC 8831): what a channel is and what it carries. The
/// channels themselves live in `SCTPAssociation`, one per SCTP stream.
public enum DataChannel {
    /// How hard the association tries to deliver a message (RFC 8831 §6.1, RFC 3758).
    public enum Reliability: Sendable, Hashable {
        case reliable
        /// Abandon a message after this many retransmissions (0: sent once).
        case maxRetransmits(UInt32)
        /// Abandon a message not delivered this many milliseconds after it was sent.
        case maxLifetime(milliseconds: UInt32)
    }

    /// A channel's description, as negotiated by DATA_CHANNEL_OPEN (RFC 8832 §5.1).
    public struct Info: Sendable, Hashable {
        public var streamID: UInt16
        public var label: String
        public var `protocol`: String
        public var ordered: Bool
        public var reliability: Reliability
        public var priority: UInt16
        /// True when the peer sent the DATA_CHANNEL_OPEN.
        public var openedByPeer: Bool

        public init(streamID: UInt16, label: String, protocol: String = "", ordered: Bool = true,
                    reliability: Reliability = .reliable, priority: UInt16 = 256, openedByPeer: Bool) {
            self.streamID = streamID
            self.label = label
            self.protocol = `protocol`
            self.ordered = ordered
            self.reliability = reliability
            self.priority = priority
            self.openedByPeer = openedByPeer
        }

        init(streamID: UInt16, open: DCEPOpen) {
            let reliability: Reliability = switch open.channelType {
            case .reliable, .reliableUnordered: .reliable
            case .partialReliableRetransmit, .partialReliableRetransmitUnordered: .maxRetransmits(open.reliabilityParameter)
            case .partialReliableTimed, .partialReliableTimedUnordered: .maxLifetime(milliseconds: open.reliabilityParameter)
            }
            self.init(streamID: streamID, label: open.label, protocol: open.protocol, ordered: !open.channelType.isUnordered,
                      reliability: reliability, priority: open.priority, openedByPeer: true)
        }

        var openMessage: DCEPOpen {
            let (channelType, parameter): (DCEPOpen.ChannelType, UInt32) = switch reliability {
            case .reliable: (ordered ? .reliable : .reliableUnordered, 0)
            case .maxRetransmits(let count):
                (ordered ? .partialReliableRetransmit : .partialReliableRetransmitUnordered, count)
            case .maxLifetime(let milliseconds):
                (ordered ? .partialReliableTimed : .partialReliableTimedUnordered, milliseconds)
            }
            return DCEPOpen(channelType: channelType, priority: priority, reliabilityParameter: parameter,
                            label: label, protocol: `protocol`)
        }
    }

    /// One user message (RFC 8831 §6.6): a string or binary data, empty or not.
    public enum Message: Sendable, Hashable {
        case text(String)
        case binary([UInt8])

        /// The Payload Protocol Identifier and the bytes on the wire (RFC 8831 §8): an empty
        /// message is sent as one zero byte with its own PPID.
        var encoded: (payloadProtocolIdentifier: UInt32, payload: [UInt8]) {
            switch self {
            case .text(let string) where string.isEmpty: (PayloadProtocol.emptyString, [0])
            case .text(let string): (PayloadProtocol.string, Array(string.utf8))
            case .binary(let bytes) where bytes.isEmpty: (PayloadProtocol.emptyBinary, [0])
            case .binary(let bytes): (PayloadProtocol.binary, bytes)
            }
        }

        /// The message a received payload carries, or nil for a PPID that is not a user message
        /// or text that is not UTF-8.
        init?(payloadProtocolIdentifier: UInt32, payload: [UInt8]) {
            switch payloadProtocolIdentifier {
            case PayloadProtocol.string:
                guard let string = String(validating: payload, as: UTF8.self) else { return nil }
                self = .text(string)
            case PayloadProtocol.binary: self = .binary(payload)
            case PayloadProtocol.emptyString: self = .text("")
            case PayloadProtocol.emptyBinary: self = .binary([])
            default: return nil
            }
        }
    }

    /// WebRTC Payload Protocol Identifiers (RFC 8831 §8).
    enum PayloadProtocol {
        static let string: UInt32 = 51
        static let binary: UInt32 = 53
        static let emptyString: UInt32 = 56
        static let emptyBinary: UInt32 = 57
    }
}
