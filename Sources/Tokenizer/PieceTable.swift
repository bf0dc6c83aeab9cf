/// An immutable map from a piece's UTF-8 bytes to its id that looks byte ranges up in place:
/// the BPE loop probes it once per candidate pair, and building a `String` for each probe
/// would dominate the encoding time.
struct PieceTable {
    private let storage: [UInt8]
    /// Entry `e` has the bytes `storage[offsets[e] ..< offsets[e + 1]]`.
    private let offsets: [Int]
    private let ids: [Int32]
    /// Open addressing with linear probing; -1 marks an empty slot, others index entries.
    private let slots: [Int32]
    /// The longest key in bytes: longer ranges are rejected without hashing.
    let maxKeyLength: Int

    /// Builds the table; on a repeated key the first entry wins.
    init<Key: Collection<UInt8>>(_ entries: [(key: Key, id: Int32)]) {
        var storage: [UInt8] = []
        var offsets = [0]
        var ids: [Int32] = []
        var capacity = 16
        while capacity < entries.count * 2 { capacity *= 2 }
        var slots = [Int32](repeating: -1, count: capacity)
        var maxKeyLength = 0
        for (key, id) in entries {
            let start = storage.count
            storage.append(contentsOf: key)
            let length = storage.count - start
            var slot = Self.hash(storage, start, length) & (capacity - 1)
            var isDuplicate = false
            while slots[slot] >= 0 {
                let other = Int(slots[slot])
                if offsets[other + 1] - offsets[other] == length,
                   storage[offsets[other]..<offsets[other + 1]].elementsEqual(storage[start...])
                {
                    isDuplicate = true
                    break
                }
                slot = (slot + 1) & (capacity - 1)
            }
            if isDuplicate {
                storage.removeLast(length)
                continue
            }
            slots[slot] = Int32(ids.count)
            ids.append(id)
            offsets.append(storage.count)
            maxKeyLength = max(maxKeyLength, length)
        }
        self.storage = storage
        self.offsets = offsets
        self.ids = ids
        self.slots = slots
        self.maxKeyLength = maxKeyLength
    }

    /// The id of the piece whose bytes are `bytes[start ..< start + length]`.
    func id(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ length: Int) -> Int32? {
        guard length <= maxKeyLength else { return nil }
        let mask = slots.count - 1
        var slot = Self.hash(bytes, start, length) & mask
        while true {
            let entry = Int(slots[slot])
            if entry < 0 { return nil }
            let entryStart = offsets[entry]
            if offsets[entry + 1] - entryStart == length {
                var index = 0
                while index < length, storage[entryStart + index] == bytes[start + index] { index += 1 }
                if index == length { return ids[entry] }
            }
            slot = (slot + 1) & mask
        }
    }

    func id(of piece: String) -> Int32? {
        Array(piece.utf8).withUnsafeBufferPointer { id($0, 0, $0.count) }
    }

    /// FNV-1a over the key bytes.
    private static func hash<Bytes: Collection<UInt8>>(_ bytes: Bytes, _ start: Bytes.Index, _ length: Int) -> Int
    where Bytes.Index == Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for index in start..<(start + length) {
            hash = (hash ^ UInt64(bytes[index])) &* 0x0000_0100_0000_01b3
        }
        return Int(truncatingIfNeeded: hash ^ (hash >> 32))
    }
}
