import ParleyAgent
import ParleyWire

/// What a backend asks of its call.
public enum BackendOutput: Equatable, Sendable {
    /// Audio for the caller, PCM16 mono at 24 kHz, any length; `responseID` ties it to a
    /// `response.created` so playback events can name it.
    case audio([Int16], responseID: String?)
    /// An event for the caller (the `oai-events` data channel).
    case event(RealtimeEvent)
    /// Drop every queued frame now.
    case clearOutput
    /// The backend is gone; the call ends after the caller is told why (`backend_failed`).
    case failed(reason: String)
    /// The backend stopped taking what the call sends it; the call ends after the caller is
    /// told why (`backend_unresponsive`).
    case unresponsive(reason: String)
    /// The backend ends the call cleanly (`parley.call.end`, backend protocol v2): queued
    /// audio plays out, then the call closes with no error for the caller.
    case endCall(reason: String?)
}

/// A call's AI side, driven by its `Call` on the thread that owns the call. Parley's backend
/// protocol (docs/backend-protocol.md) is this interface carried over a WebSocket; the
/// built-in agent and the echo implement it in process.
///
/// A backend that produces output on its own (off the call's thread) asks its runtime to
/// hand the endpoint `wakeCall(_:now:)`, which polls it.
public protocol CallBackend: AnyObject {
    /// One 20 ms frame of the caller's audio, PCM16 mono at 24 kHz; `mediaTime` counts
    /// samples since the call's audio began.
    func receiveAudio(_ frame: [Int16], mediaTime: UInt32)
    /// An event the caller sent on the `oai-events` data channel.
    func receiveClientEvent(_ event: RealtimeEvent)
    /// Playback of `responseID` stopped: everything queued was played.
    func outputStopped(responseID: String?)
    /// Queued output was dropped; `playedMilliseconds` of `responseID` had been played.
    func outputCleared(responseID: String?, playedMilliseconds: Int)
    func pollOutput() -> BackendOutput?
    /// What the edge knows of the call beyond its audio and events (backend protocol v2):
    /// `parley.call.connected` once the caller's path is up, `parley.link.stats` every
    /// `Call.linkStatisticsInterval`. In-process backends ignore it.
    func receiveEdgeEvent(_ event: RealtimeEvent)
    /// The call ended; release what the backend holds.
    func close()
}

extension CallBackend {
    public func receiveEdgeEvent(_ event: RealtimeEvent) {}
}

/// Plays the caller's audio back: the transport and codec path with no AI in it.
public final class EchoBackend: CallBackend {
    private var outputs = FIFO<BackendOutput>()

    public init() {}

    public func receiveAudio(_ frame: [Int16], mediaTime: UInt32) {
        outputs.append(.audio(frame, responseID: nil))
    }

    public func receiveClientEvent(_ event: RealtimeEvent) {
        if event.type == "session.update" {
            outputs.append(.event(RealtimeEvent(type: "session.updated", fields: ["session": event["session"] ?? [:]])))
        }
    }

    public func outputStopped(responseID: String?) {}
    public func outputCleared(responseID: String?, playedMilliseconds: Int) {}

    public func pollOutput() -> BackendOutput? {
        outputs.popFirst()
    }

    public func close() {
        outputs.removeAll()
    }
}

/// The built-in agent as a backend.
public final class AgentBackend: CallBackend {
    private var agent = BuiltInAgent()

    public init() {}

    public func receiveAudio(_ frame: [Int16], mediaTime: UInt32) {
        agent.handleAudio(frame)
    }

    public func receiveClientEvent(_ event: RealtimeEvent) {
        agent.handleClientEvent(event)
    }

    public func outputStopped(responseID: String?) {
        if let responseID { agent.outputFinished(responseID: responseID) }
    }

    /// The edge dropped the response's audio (a clear or cancel from the caller or a
    /// sideband): whatever the agent was told, that response is no longer playing.
    public func outputCleared(responseID: String?, playedMilliseconds: Int) {
        if let responseID { agent.outputFinished(responseID: responseID) }
    }

    public func pollOutput() -> BackendOutput? {
        switch agent.pollAction() {
        case .send(let event)?: return .event(event)
        case .play(let frame, let responseID)?: return .audio(frame, responseID: responseID)
        case .clearOutput?: return .clearOutput
        case nil: return nil
        }
    }

    public func close() {}
}
