/// What one reply may make the client hold, so a broken or hostile server can never make it allocate
/// without bound. Every limit is checked before the memory is taken: a bulk string's declared length at
/// its header (nothing is buffered for an oversized one), an aggregate's declared element count at its
/// header (and capacity is never reserved from a declared count, only grown with elements that arrived).
///
/// With the defaults one reply costs at most about 16 MiB of wire bytes and 256 Ki values
/// (about 20 MiB of `RedisValue`s in the worst shape), per connection.
public struct RedisReplyLimits: Sendable, Equatable {
    /// The longest bulk string, bulk error or verbatim string. Default 8 MiB.
    public var maxBulkBytes: Int
    /// The longest line: a simple string, a simple error, a number or a type header. Default 64 KiB.
    public var maxLineBytes: Int
    /// The most values one reply may hold, counting every nested value (map keys and values count
    /// separately, attributes count too). Default 262,144.
    public var maxElements: Int
    /// The deepest nesting of aggregates (arrays, maps, sets, attributes). Default 32.
    public var maxDepth: Int
    /// The most wire bytes of one reply, from its first byte to its last. Default 16 MiB.
    public var maxReplyBytes: Int

    public init(maxBulkBytes: Int = 8 << 20, maxLineBytes: Int = 64 << 10, maxElements: Int = 262_144,
                maxDepth: Int = 32, maxReplyBytes: Int = 16 << 20) {
        precondition(maxBulkBytes >= 0 && maxLineBytes >= 16 && maxElements >= 1 && maxDepth >= 1 && maxReplyBytes >= 16)
        self.maxBulkBytes = maxBulkBytes
        self.maxLineBytes = maxLineBytes
        self.maxElements = maxElements
        self.maxDepth = maxDepth
        self.maxReplyBytes = maxReplyBytes
    }
}
