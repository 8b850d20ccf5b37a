import Glibc

/// `<executable> speed [--seconds S] [ALG…]`: how many JWS signatures this machine verifies per second on
/// one thread, token parsing and base64url included — the ceiling of the auth stage's cache-miss path,
/// to set beside `openssl speed` for the same primitive (bench/verify.sh does both, pinned).
///
/// Each algorithm gets a fresh key and one typical access token (about 250 bytes of claims); the loop
/// verifies that token for the given time and prints `ALG verify/s N` (and `sign/s`).
enum SpeedCommand {
    static let usage = """
    Usage: speed [--seconds S] [ALG ...]
      Verifies one typical JWT repeatedly on this thread and prints verifications per second.
      ALG: HS256 HS384 HS512 RS256 PS256 ES256 ES384 ES512 EdDSA (default: ES256 HS256 RS256 EdDSA)
      --seconds S   time per algorithm, 0.1 to 60 (default 3)
    """

    static func main(_ arguments: [String], profile: ClientProfile) -> Never {
        var seconds = 3.0
        var algorithms: [JWSAlgorithm] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if a == "--help" || a == "-h" { print(usage); exit(0) }
            if a == "--seconds" {
                guard i + 1 < arguments.count, let s = Double(arguments[i + 1]), s >= 0.1, s <= 60 else {
                    GatewayCommand.printError("\(profile.executable) speed: --seconds takes a number from 0.1 to 60")
                    exit(2)
                }
                seconds = s
                i += 2
                continue
            }
            guard let algorithm = JWSAlgorithm(rawValue: a) else {
                GatewayCommand.printError("\(profile.executable) speed: unknown algorithm '\(a)'\n\(usage)")
                exit(2)
            }
            algorithms.append(algorithm)
            i += 1
        }
        if algorithms.isEmpty { algorithms = [.es256, .hs256, .rs256, .edDSA] }
        do {
            for algorithm in algorithms {
                let result = try measure(algorithm, seconds: seconds)
                print("\(algorithm.rawValue) verify/s \(Int(result.verify)) sign/s \(Int(result.sign))")
            }
        } catch {
            GatewayCommand.printError("\(profile.executable) speed: \(error)")
            exit(1)
        }
        exit(0)
    }

    static func key(for algorithm: JWSAlgorithm) throws -> JWSKey {
        switch algorithm {
        case .hs256, .hs384, .hs512: return try JWSKey.hmac(secret: try SecureRandom.bytes(64), algorithm: algorithm, keyID: "k")
        case .rs256, .rs384, .rs512, .ps256, .ps384, .ps512: return try JWSKey(key: try .generateRSA(bits: 2048), algorithm: algorithm, keyID: "k")
        case .es256: return try JWSKey(key: try .generateEC(curve: .p256), algorithm: algorithm, keyID: "k")
        case .es384: return try JWSKey(key: try .generateEC(curve: .p384), algorithm: algorithm, keyID: "k")
        case .es512: return try JWSKey(key: try .generateEC(curve: .p521), algorithm: algorithm, keyID: "k")
        case .edDSA: return try JWSKey(key: try .generateEd25519(), algorithm: algorithm, keyID: "k")
        }
    }

    /// Operations per second (verify, sign) of `algorithm` over `seconds` each.
    static func measure(_ algorithm: JWSAlgorithm, seconds: Double) throws -> (verify: Double, sign: Double) {
        let signingKey = try key(for: algorithm)
        let verifyingKey: JWSKey
        switch signingKey.material {
        case .hmac: verifyingKey = signingKey
        case .asymmetric(let k): verifyingKey = try JWSKey(key: try k.publicKey(), algorithm: algorithm, keyID: "k")
        }
        let signer = try JWSSigner(key: signingKey)
        let claims = JSONObject([
            ("iss", .string("https://id.example.com")), ("aud", .string("bff-web")), ("sub", .string("248289761001")),
            ("iat", .number(JSONNumber(1_764_000_000))), ("exp", .number(JSONNumber(1_764_000_300))),
            ("roles", .array([.string("user")])), ("scope", .string("orders:read profile:read")),
            ("sid", .string("3q2-7wEjRnKbCe9kQwK1dA")), ("jti", .string("n9Yp0bq2Fh3b8G0cq2YhAg")),
        ])
        let token = Array(try signer.sign(claims: claims).utf8)
        let verifier = JWSVerifier(keys: [verifyingKey])
        _ = try verifier.verify(token)

        let verify = try rate(seconds) { _ = try verifier.verify(token) }
        let sign = try rate(seconds) { _ = try signer.sign(claims: claims) }
        return (verify, sign)
    }

    /// Runs `body` in batches until `seconds` of monotonic time have passed; operations per second.
    private static func rate(_ seconds: Double, _ body: () throws -> Void) throws -> Double {
        let clock = SystemClock()
        let start = clock.monotonicNanoseconds()
        let end = start + UInt64(seconds * 1e9)
        var count = 0
        var now = start
        while now < end {
            for _ in 0..<16 { try body() }
            count += 16
            now = clock.monotonicNanoseconds()
        }
        return Double(count) / (Double(now - start) / 1e9)
    }
}
