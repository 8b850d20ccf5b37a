// swift-tools-version:6.0
import PackageDescription

// No package dependencies: Foundation, Dispatch, Glibc and OpenSSL only.
let swiftSettings: [SwiftSetting] = [
    .unsafeFlags(["-warnings-as-errors"], .when(configuration: .debug)),
]

let package = Package(
    name: "BFFGateway",
    products: [
        .library(name: "AggregationKit", targets: ["AggregationKit"]),
        .executable(name: "BFFWeb", targets: ["BFFWeb"]),
        .executable(name: "BFFMobile", targets: ["BFFMobile"]),
        .executable(name: "BFFPartner", targets: ["BFFPartner"]),
    ],
    targets: [
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CLinuxIO", path: "Sources/CLinuxIO"),
        .target(name: "AggregationKit", dependencies: ["CLinuxIO", "COpenSSL"], swiftSettings: swiftSettings),
        .executableTarget(name: "BFFWeb", dependencies: ["AggregationKit"], swiftSettings: swiftSettings),
        .executableTarget(name: "BFFMobile", dependencies: ["AggregationKit"], swiftSettings: swiftSettings),
        .executableTarget(name: "BFFPartner", dependencies: ["AggregationKit"], swiftSettings: swiftSettings),
        .testTarget(name: "AggregationKitTests", dependencies: ["AggregationKit"],
                    exclude: ["Support/downstream.py"], resources: [.copy("Fixtures")], swiftSettings: swiftSettings),
    ],
    swiftLanguageModes: [.v6]
)
