import ParleyAgent
import ParleyEndpoint
import ParleyNIO

/// One sideband's hold on a live call (`GET /v1/realtime?call_id=`, the Realtime API's way for
/// an application server to join a call a browser holds): the call's server events as they
/// are sent to the caller, and a way to send client events that take effect as if the caller
/// had sent them. Made by `MediaEngine.attachSideband(_:)`; `detach()` when done.
public struct Sideband: Sendable {
    public enum Message: Sendable, Equatable {
        /// A server event (the first is `session.created` with the session as it stands).
        case event(RealtimeEvent)
        /// The call ended; `reason` as `parley_sessions_ended_total` names it.
        case ended(reason: String)
    }

    typealias Continuation = AsyncStream<Message>.Continuation

    /// Events a sideband may fall behind by before it is cut off (its stream ends without
    /// `.ended`): a reader that slow would otherwise hold the shard's memory without bound.
    static let bufferLimit = 1_024

    public let callID: SessionID
    /// Ends after `.ended`, or without it when the sideband fell `bufferLimit` events behind.
    public let messages: AsyncStream<Message>
    let driver: UDPDriver<MediaShard>
    let number: Int

    /// Sends a client event into the call; false when the call is gone.
    public func send(_ event: RealtimeEvent) async -> Bool {
        let id = callID
        return (try? await driver.run { shard, now in shard.endpoint.receiveClientEvent(event, for: id, now: now) }) ?? false
    }

    /// Leaves the call: its events stop coming here.
    public func detach() {
        let id = callID
        let number = number
        driver.execute { shard, _ in shard.detachSideband(id, sideband: number) }
    }
}
