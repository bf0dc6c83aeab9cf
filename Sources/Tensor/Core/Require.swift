/// A precondition whose message survives optimized builds (the standard `precondition`
/// drops its message under -O): a caller's bad shape stops the program with a sentence that
/// names the shapes, never with memory corruption.
@inline(__always)
public func require(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
    file: StaticString = #fileID, line: UInt = #line
) {
    if !condition() { fatalError(message(), file: file, line: line) }
}
