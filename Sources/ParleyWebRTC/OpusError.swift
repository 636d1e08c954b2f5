import COpus

/// A libopus failure (RFC 6716): its error code and `opus_strerror` text.
public enum OpusError: Error, Sendable, Equatable {
    case library(code: Int32, message: String)

    init(code: Int32) {
        self = .library(code: code, message: String(cString: opus_strerror(code)))
    }
}
