import ParleyWire

/// Every way the endpoint finds a call, kept consistent in one place: by session id (the
/// signaling API), by server ufrag (STUN requests, RFC 8445 §7.2.2), by path (every other
/// datagram), by client address (a known client arriving through a new relay), plus the ids
/// that ended lately so DELETE stays idempotent (RFC 9110 §9.2.2).
struct SessionTable {
    /// Addresses one call may be reached from (RFC 8445 peer-reflexive candidates); more are ignored.
    static let maxPathsPerCall = 8

    private(set) var byID: [SessionID: Call] = [:]
    private var byUfrag: [String: Call] = [:]
    private var byPath: [MediaPath: Call] = [:]
    /// Clients by address and transport, whatever relay they came through: a restarted relay,
    /// or another relay replica, may carry a known client on a new path before its next ICE check.
    private var byClient: [ClientKey: Call] = [:]
    /// Calls that ended lately, a ring whose oldest entry `recentlyEndedNext` overwrites, so
    /// a client that hangs up the WebRTC way (RTCP BYE, DTLS close) and then sends DELETE
    /// still gets 204, not 404.
    private var recentlyEnded: [SessionID] = []
    private var recentlyEndedNext = 0
    private var recentlyEndedSet: Set<SessionID> = []
    private let recentlyEndedLimit: Int

    init(recentlyEndedLimit: Int) {
        self.recentlyEndedLimit = recentlyEndedLimit
    }

    var count: Int { byID.count }

    /// Entries of the indexes that follow live calls; none is left once every call ended.
    var indexSizes: (ufrags: Int, paths: Int, clients: Int) {
        (byUfrag.count, byPath.count, byClient.count)
    }

    func call(_ id: SessionID) -> Call? {
        byID[id]
    }

    func call(ufrag: some StringProtocol) -> Call? {
        byUfrag[String(ufrag)]
    }

    func containsUfrag(_ ufrag: String) -> Bool {
        byUfrag[ufrag] != nil
    }

    func hasRecentlyEnded(_ id: SessionID) -> Bool {
        recentlyEndedSet.contains(id)
    }

    /// The call a datagram on `path` belongs to. A client the table knows, arriving through a
    /// relay it has not used yet, keeps its call (relays are trusted to vouch for client
    /// addresses: only allowed networks may encapsulate) and the new path is learned.
    mutating func call(on path: MediaPath) -> Call? {
        if let call = byPath[path] { return call }
        guard path.relay != nil, let known = byClient[ClientKey(path)] else { return nil }
        learn(path, for: known)
        return known
    }

    mutating func insert(_ call: Call) {
        byID[call.id] = call
        byUfrag[call.serverUfrag] = call
    }

    /// Remembers a path that passed an ICE check, so its other packets find the call and
    /// answers to that client go back the way it came (through its relay, or direct). A
    /// known path becomes the latest again: the client's latest accepted packet chose it, so
    /// replies take it (a client that fails over between two relays, and back, is followed).
    mutating func learn(_ path: MediaPath, for call: Call) {
        guard call.paths.last != path else { return }
        if let index = call.paths.firstIndex(of: path) {
            call.paths.remove(at: index)
            call.paths.append(path)
            return
        }
        guard call.paths.count < Self.maxPathsPerCall else { return }
        if let previous = byPath[path], previous !== call {
            previous.paths.removeAll { $0 == path }
        }
        call.paths.append(path)
        byPath[path] = call
        byClient[ClientKey(path)] = call
    }

    /// Forgets every entry of `call` and remembers its id as recently ended.
    mutating func remove(_ call: Call) {
        guard byID[call.id] === call else { return }
        byID[call.id] = nil
        byUfrag[call.serverUfrag] = nil
        for path in call.paths {
            if byPath[path] === call { byPath[path] = nil }
            if byClient[ClientKey(path)] === call { byClient[ClientKey(path)] = nil }
        }
        guard recentlyEndedLimit > 0 else { return }
        if recentlyEnded.count < recentlyEndedLimit {
            recentlyEnded.append(call.id)
        } else {
            recentlyEndedSet.remove(recentlyEnded[recentlyEndedNext])
            recentlyEnded[recentlyEndedNext] = call.id
            recentlyEndedNext = (recentlyEndedNext + 1) % recentlyEndedLimit
        }
        recentlyEndedSet.insert(call.id)
    }
}

/// A client as the session table finds it whatever relay carried it: its address and the
/// transport it reached the relay over.
private struct ClientKey: Hashable {
    let client: PeerAddress
    let transport: ClientTransport

    init(_ path: MediaPath) {
        client = path.client
        transport = path.transport
    }
}
