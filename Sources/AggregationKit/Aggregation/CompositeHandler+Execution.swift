extension CompositeHandler {
    /// One request's run of a composite endpoint, driven on the request's loop by the completions of its
    /// upstream calls (`Upstream.start`), like a proxy route: no Swift task for the request, no child task
    /// and continuation per call. Those cost more CPU than the JSON work of a three-call endpoint (task
    /// creation, executor hops, status-record locks: ~10% of a composite request in a profile).
    ///
    ///     start ─▶ pump ─▶ start every ready call (dependencies finished) ─▶ wait
    ///       call completes ─▶ outcome (status, JSON parse) queued ─▶ pump ─▶ take it: result or fallback,
    ///         or end early (required failure, deadline: cancel the calls still running, problem document)
    ///       ─▶ newly ready calls start ─▶ … ─▶ no call left ─▶ response (template, schema, body, ETag)
    ///
    /// Outcomes are queued and taken by one `pump` loop, never handled inside the call that delivered
    /// them: a call may complete before `Upstream.start` returns (a pool that refuses at once), and a
    /// handler that ran there would start or finish calls in the middle of another's start. The order
    /// of events is the one the task group had: ready calls start in contract order, outcomes are taken
    /// in arrival order.
    ///
    /// Loop thread only: created, started and completed there; `completion` runs there, once.
    final class Execution {
        let handler: CompositeHandler
        let request: HTTPRequest
        let context: RequestContext
        let completion: ResponseCompletion
        private var scope: EvaluationScope
        private let deadlineAt: UInt64
        /// The time the endpoint had (for the problem document's wording).
        private let deadline: UInt64
        private var started: [Bool]
        private var finished: [Bool]
        private var remaining: Int
        private var failed: [String] = []
        private var passedByCall: [Int: HTTPHeaders] = [:]
        /// Results kept as canonical text (`CompositeHandler.keepsText`), by call; empty when none can be.
        private var texts: [CanonicalJSON?]
        /// Outcomes delivered and not yet taken, in arrival order.
        private var arrived: [(Int, Outcome)] = []
        /// Calls started whose outcome has not been delivered (a fan-out counts once).
        private var inFlight = 0
        /// Every upstream call still running when it was started, to cancel when the request ends early.
        private var upstreamCalls: [UpstreamCall] = []
        private var pumping = false
        private var isDone = false

        init(handler: CompositeHandler, request: HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
            self.handler = handler
            self.request = request
            self.context = context
            self.completion = completion
            var pathParameters: [String: String] = [:]
            // A path is not a form: `+` is a plus there (only the query string turns `+` into a space).
            for p in context.pathParameters { pathParameters[p.name] = EvaluationScope.percentDecode(Substring(p.value), plusIsSpace: false) }
            scope = EvaluationScope(pathParameters: pathParameters, query: handler.readsQuery ? EvaluationScope.parseQuery(request.query) : [:],
                                    headers: request.headers)
            // `claims.*`: the identity the route's auth stage verified. Only endpoints that read claims take
            // them (a reference copy, no per-request building); the configuration refuses such an endpoint
            // without auth, so an anonymous request never reaches one.
            if handler.endpoint.usesClaims { scope.claims = context.identity.claims }
            let count = handler.endpoint.calls.count
            started = [Bool](repeating: false, count: count)
            finished = [Bool](repeating: false, count: count)
            remaining = count
            texts = handler.bodyPlan == nil ? [] : [CanonicalJSON?](repeating: nil, count: count)
            // The deadline is enforced by giving every call at most the time that is left, on the loop's
            // own timers. Read from the loop's clock, the one its timers use (a manual one in tests).
            let now = context.loop.clock.monotonicNanoseconds()
            // The endpoint's own deadline, or the route policy's `timeoutMs` when that ends sooner.
            var deadlineAt = now + handler.endpoint.deadline
            if let policyDeadline = context.deadline, policyDeadline < deadlineAt { deadlineAt = policyDeadline }
            self.deadlineAt = deadlineAt
            deadline = deadlineAt > now ? deadlineAt - now : 0
        }

        /// Starts the ready calls; the client going away cancels the rest of the run.
        func start() {
            precondition(context.loop.inEventLoop, "a composite request runs on its loop")
            context.cancellation = { [self] in clientWentAway() }
            // The deadline holds in every phase of every call (a wait for a pooled connection and a
            // connect included, which the calls' own response timeouts do not bound).
            deadlineTimer = context.loop.schedule(at: deadlineAt) { [self] in end(.failure(deadlineProblem()), expiringCalls: true) }
            pump()
        }

        /// Ends the request at its deadline; cancelled when it ends before.
        private var deadlineTimer: TimerHandle?

        // MARK: The run

        private var calls: [CompiledCall] { handler.endpoint.calls }

        private func pump() {
            guard !pumping else { return }  // the loop below takes what was delivered meanwhile
            pumping = true
            defer { pumping = false }
            while !isDone {
                if let problem = startReadyCalls() { return end(.failure(problem)) }
                if remaining == 0 || (arrived.isEmpty && inFlight == 0) { return respond() }
                guard !arrived.isEmpty else { return }  // the next completion pumps again
                let (i, outcome) = arrived.removeFirst()
                if let problem = take(i, outcome) { return end(.failure(problem)) }
            }
        }

        /// Starts every call whose inputs are there, in contract order; a problem ends the request.
        private func startReadyCalls() -> HTTPError? {
            let clock = context.loop.clock
            for i in calls.indices where !started[i] && handler.endpoint.dependencies[i].allSatisfy({ finished[$0] }) {
                let now = clock.monotonicNanoseconds()
                guard now < deadlineAt else { return deadlineProblem() }
                started[i] = true
                let call = calls[i]
                switch CompositeHandler.plan(call, scope: scope, requestID: context.requestID) {
                case .refused(let error):
                    return error
                case .failed(let why):
                    arrived.append((i, .failure(CallFailure(status: nil, upstream: nil, reason: why))))
                case .requests(let requests):
                    let upstream = handler.upstreams[i]
                    let timeout = min(call.timeout ?? upstream.responseTimeout, deadlineAt - now)
                    inFlight += 1
                    if case .single = call.expansion {
                        send(call, requests[0], upstream: upstream, timeout: timeout, keepText: handler.keepsText(i),
                             member: handler.bodyPlan?.memberKeys[i]) { [self] outcome in delivered(i, outcome) }
                    } else {
                        Fanout(execution: self, index: i, call: call, requests: requests, upstream: upstream, timeout: timeout).start()
                    }
                }
            }
            return nil
        }

        /// Sends one request of `call`; `completion` gets its outcome on the loop, unless the run has ended
        /// by then (a cancelled call's answer is not parsed: nobody waits for it).
        @discardableResult
        fileprivate func send(_ call: CompiledCall, _ request: UpstreamRequest, upstream: Upstream, timeout: UInt64, keepText: Bool = false,
                              member: [UInt8]? = nil, _ completion: @escaping (Outcome) -> Void) -> UpstreamCall {
            let upstreamCall = upstream.start(request, on: context.loop, timeout: timeout) { [self] result, _ in
                guard !isDone else { return }
                completion(CompositeHandler.outcome(of: call, request, result, keepText: keepText, member: member))
            }
            if !upstreamCall.isFinished { upstreamCalls.append(upstreamCall) }
            return upstreamCall
        }

        /// Call `i` has its outcome (a fan-out: all of its requests have).
        fileprivate func delivered(_ i: Int, _ outcome: Outcome) {
            inFlight -= 1
            arrived.append((i, outcome))
            pump()
        }

        /// A call's outcome: its result (or fallback) joins the scope; a problem ends the request.
        private func take(_ i: Int, _ outcome: Outcome) -> HTTPError? {
            // Fields read where they are: a copy of the whole call retains each of its parts.
            let calls = handler.endpoint.calls
            switch outcome {
            case .success(let value, let headers):
                scope.results[calls[i].name] = value
                if !calls[i].passHeaders.isEmpty { passedByCall[i] = headers }
            case .text(let text, let headers):
                texts[i] = text
                if !calls[i].passHeaders.isEmpty { passedByCall[i] = headers }
            case .failure(let failure):
                let call = calls[i]
                let loop = context.loop
                if let metrics = handler.metrics { metrics.callFailed(call: i, shard: loop.index) }
                if failure.isTimeout && loop.clock.monotonicNanoseconds() >= deadlineAt { return deadlineProblem() }
                if call.required { return CompositeHandler.problem(for: call, failure) }
                failed.append(call.name)
                scope.results[call.name] = call.fallback
            }
            finished[i] = true
            remaining -= 1
            return nil
        }

        private func deadlineProblem() -> HTTPError {
            let waiting = calls.indices.filter { !finished[$0] }.map { calls[$0].name }
            return HTTPError(status: 504, code: "deadline_exceeded",
                             detail: "the endpoint's \(deadline / 1_000_000) ms deadline passed while waiting for: \(waiting.joined(separator: ", "))",
                             extensions: [("calls", waiting.joined(separator: ","))])
        }

        private func respond() {
            // Contract order, not arrival order: the output never depends on timing.
            if failed.count > 1 {
                let order = Dictionary(uniqueKeysWithValues: calls.indices.map { (calls[$0].name, $0) })
                failed.sort { order[$0]! < order[$1]! }
            }
            end(Result { try handler.response(to: request, context: context, scope: scope, texts: texts, failed: failed, passedByCall: passedByCall) })
        }

        private func clientWentAway() {
            end(.failure(HTTPError(status: 499, code: "client_closed_request", detail: "the client closed the connection")))
        }

        /// Answers once; the calls still running are cancelled (their connections closed, not pooled), or,
        /// at the deadline, expired (reported as timeouts, which is what they were).
        private func end(_ result: Result<HTTPResponse, any Error>, expiringCalls: Bool = false) {
            guard !isDone else { return }
            isDone = true
            deadlineTimer?.cancel()
            deadlineTimer = nil
            let running = upstreamCalls
            upstreamCalls = []
            for call in running {  // their completions see `isDone` and stop there
                if expiringCalls { call.expire() } else { call.cancel() }
            }
            context.cancellation = nil
            switch result {
            case .success(let response):
                completion(response, nil)
            case .failure(let error as HTTPError):
                completion(error.response(requestID: context.requestID), error.logText)
            case .failure(let error):
                completion(HTTPError(status: 500, code: "internal_error", detail: "the gateway failed to handle the request").response(requestID: context.requestID),
                           "internal_error: \(error)")
            }
        }
    }

    /// A `forEach` or `batch` call: its requests, at most `concurrency` at a time, results in request
    /// order. The call's outcome is delivered once every request has answered; the first failure cancels
    /// the requests still running and is the call's failure (the cancellations it causes are not).
    fileprivate final class Fanout {
        let execution: Execution
        let index: Int
        let call: CompiledCall
        let requests: [UpstreamRequest]
        let upstream: Upstream
        let timeout: UInt64
        private var results: [JSONValue?]
        private var headers = HTTPHeaders()
        private var failure: CallFailure?
        private var next = 0
        private var running = 0
        private var started: [UpstreamCall] = []
        private var isDelivered = false

        init(execution: Execution, index: Int, call: CompiledCall, requests: [UpstreamRequest], upstream: Upstream, timeout: UInt64) {
            self.execution = execution
            self.index = index
            self.call = call
            self.requests = requests
            self.upstream = upstream
            self.timeout = timeout
            results = [JSONValue?](repeating: nil, count: requests.count)
        }

        private var concurrency: Int {
            switch call.expansion {
            case .forEach(_, _, let concurrency), .batch(_, _, _, let concurrency, _): return concurrency
            case .single: return 1
            }
        }

        func start() {
            // Held while the first requests start: one that answers at once must not deliver the outcome
            // before its siblings have even started.
            running += 1
            while next < min(concurrency, requests.count) { startNext() }
            running -= 1
            deliverIfDone()
        }

        private func startNext() {
            let r = next
            next += 1
            running += 1
            started.append(execution.send(call, requests[r], upstream: upstream, timeout: timeout) { [self] outcome in
                running -= 1
                switch outcome {
                case .success(let value, let h):
                    results[r] = value
                    if headers.count == 0 { headers = h }
                    if next < requests.count && failure == nil { startNext() }
                case .text:
                    preconditionFailure("a fan-out's bodies are parsed (sent with keepText false)")
                case .failure(let f):
                    if failure == nil {
                        failure = f
                        for sibling in started { sibling.cancel() }  // may answer right here: `failure` is already set
                    }
                }
                deliverIfDone()
            })
        }

        private func deliverIfDone() {
            guard running == 0, !isDelivered else { return }
            isDelivered = true
            started = []
            execution.delivered(index, outcome())
        }

        private func outcome() -> Outcome {
            if let failure { return .failure(failure) }
            let values = results.map { $0 ?? .null }
            if case .batch(_, _, _, _, let resultPath) = call.expansion {
                var joined: [JSONValue] = []
                for v in values {
                    let part = resultPath.map { $0.follow(v) ?? .null } ?? v
                    if case .array(let items) = part { joined.append(contentsOf: items) } else if !part.isNull { joined.append(part) }
                }
                return .success(.array(joined), headers)
            }
            return .success(.array(values), headers)
        }
    }
}
