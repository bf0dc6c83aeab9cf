import Foundation

/// Element type of a tensor's storage. Computation is always Float32; bfloat16 exists so that
/// frozen weights take half the memory and are widened on use.
public enum DType: String, Sendable {
    case float32
    case bfloat16

    public var byteSize: Int { self == .float32 ? 4 : 2 }
}

/// A contiguous buffer owned by this object, or borrowed from an owner (a memory-mapped file)
/// that is kept alive as long as the storage is.
public final class Storage {
    public let dtype: DType
    public let count: Int
    public let raw: UnsafeMutableRawPointer
    private let owner: AnyObject?

    /// Fresh memory, zero-filled unless `zeroed` is false (for outputs every element of which
    /// is written next).
    public init(count: Int, dtype: DType = .float32, zeroed: Bool = true) {
        require(count >= 0, "Storage: negative element count \(count)")
        self.dtype = dtype
        self.count = count
        raw = BufferPool.allocate(byteCount: count * dtype.byteSize)
        if zeroed { raw.initializeMemory(as: UInt8.self, repeating: 0, count: count * dtype.byteSize) }
        owner = nil
    }

    /// Memory that belongs to `owner` (for example a mapped safetensors file).
    public init(borrowing raw: UnsafeMutableRawPointer, count: Int, dtype: DType, owner: AnyObject) {
        self.dtype = dtype
        self.count = count
        self.raw = raw
        self.owner = owner
    }

    deinit {
        if owner == nil { BufferPool.release(raw, byteCount: count * dtype.byteSize) }
    }

    public var floats: UnsafeMutablePointer<Float> {
        require(dtype == .float32, "Storage: expected float32 storage, found \(dtype)")
        return raw.assumingMemoryBound(to: Float.self)
    }

    public var bfloat16s: UnsafeMutablePointer<UInt16> {
        require(dtype == .bfloat16, "Storage: expected bfloat16 storage, found \(dtype)")
        return raw.assumingMemoryBound(to: UInt16.self)
    }
}

/// Large freed buffers kept for reuse by size. A training step allocates the same sizes every
/// step, and fresh pages from the OS cost a page fault and a kernel memset each.
enum BufferPool {
    /// Buffers smaller than this come from malloc directly.
    static let minimumBytes = 1 << 16
    /// The most memory kept idle in the pool: an eighth of the machine (3 GiB of 24), enough
    /// for a 7B LoRA step's activations to be reused by the next step, at least 1 GiB.
    static let limitBytes = max(1 << 30, Int(ProcessInfo.processInfo.physicalMemory / 8))
    private static let lock = NSLock()
    nonisolated(unsafe) private static var buffers = [Int: [UnsafeMutableRawPointer]]()
    nonisolated(unsafe) private static var idleBytes = 0

    /// Sizes are rounded up to one of four classes per power of two (at most 25% slack), so
    /// that batches of varying length still reuse each other's buffers.
    static func sizeClass(_ byteCount: Int) -> Int {
        guard byteCount >= minimumBytes else { return max(byteCount, 1) }
        let step = 1 << (Int.bitWidth - byteCount.leadingZeroBitCount - 3)
        return (byteCount + step - 1) / step * step
    }

    static func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        let size = sizeClass(byteCount)
        if size >= minimumBytes {
            lock.lock()
            defer { lock.unlock() }
            if let buffer = buffers[size]?.popLast() {
                idleBytes -= size
                return buffer
            }
        }
        return UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    }

    static func release(_ buffer: UnsafeMutableRawPointer, byteCount: Int) {
        let size = sizeClass(byteCount)
        if size >= minimumBytes {
            lock.lock()
            defer { lock.unlock() }
            if idleBytes + size <= limitBytes {
                buffers[size, default: []].append(buffer)
                idleBytes += size
                return
            }
        }
        buffer.deallocate()
    }
}

/// bfloat16 <-> Float32, round-to-nearest-even like PyTorch.
@inline(__always) public func floatFromBFloat16(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

@inline(__always) public func bfloat16FromFloat(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x40 }
    let roundingBias: UInt32 = 0x7FFF + ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: (bits &+ roundingBias) >> 16)
}

/// IEEE half precision -> Float32 (safetensors `F16`).
@inline(__always) public func floatFromFloat16(_ bits: UInt16) -> Float {
    Float(Float16(bitPattern: bits))
}
