import XCTest
@testable import AggregationKit

/// How a call's end maps to an outcome result (a bounded label set for metrics, breakers and health).
final class UpstreamOutcomeTests: XCTestCase {
    func testEveryErrorKindHasAResult() {
        let expected: [UpstreamError.Kind: UpstreamOutcome.Result] = [
            .connectFailed: .connectFailure,
            .connectTimeout: .timeout, .responseTimeout: .timeout, .poolWaitTimeout: .timeout,
            .invalidResponse: .protocolError, .responseTooLarge: .protocolError, .connectionClosed: .protocolError,
            .cancelled: .cancelled,
            .poolExhausted: .rejected, .memoryBudgetExhausted: .rejected, .noAvailableInstance: .rejected, .shutDown: .rejected,
        ]
        XCTAssertEqual(Set(expected.keys), Set(UpstreamError.Kind.allCases), "a new kind needs a result")
        for (kind, result) in expected { XCTAssertEqual(UpstreamOutcome.Result(kind), result, kind.rawValue) }
    }

    func testResponsesAreSuccessBelow500() {
        func result(_ status: Int) -> UpstreamOutcome.Result { UpstreamOutcome.Result(.success(HTTPResponse(status: status))) }
        XCTAssertEqual([200, 304, 404, 499].map(result), [.success, .success, .success, .success])
        XCTAssertEqual([500, 503, 599].map(result), [.serverError, .serverError, .serverError])
    }

    func testLabelsAreStable() {
        XCTAssertEqual(UpstreamOutcome.Result.allCases.map(\.label),
                       ["success", "server_error", "connect_failure", "timeout", "protocol_error", "cancelled", "rejected"])
    }
}
