import Dispatch
import Foundation
import Training

/// Ctrl-C (SIGINT) and a scheduler's pre-emption (SIGTERM) during training: the first asks the
/// trainer to stop after its current step and save a checkpoint; a second one exits at once.
/// The exit status is the shell's 128 + signal number: 130 or 143. Under mpirun every rank
/// receives the signal; only the one that `announces` (rank 0) says so.
final class Interruption {
    private let lock = NSLock()
    private var received: Int32?
    private var sources = [DispatchSourceSignal]()
    private let announces: Bool

    init(stopping stop: StopRequest, announces: Bool = true) {
        self.announces = announces
        let queue = DispatchQueue(label: "facet.signals")
        for signalNumber in [SIGINT, SIGTERM] {
            // The default action would end the process before the dispatch source sees the signal.
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler { [unowned self] in self.receive(signalNumber, stop: stop) }
            source.resume()
            sources.append(source)
        }
    }

    /// The first signal received, if any.
    var signalNumber: Int32? { lock.withLock { received } }

    static func exitStatus(_ signalNumber: Int32) -> Int32 { 128 + signalNumber }

    private func receive(_ signalNumber: Int32, stop: StopRequest) {
        let first = lock.withLock {
            defer { received = received ?? signalNumber }
            return received == nil
        }
        guard first else {
            if announces {
                FileHandle.standardError.write(Data("\n\(Self.name(signalNumber)) again: exiting now, without a checkpoint\n".utf8))
            }
            _exit(Self.exitStatus(signalNumber))
        }
        if announces {
            FileHandle.standardError.write(Data(
                "\n\(Self.name(signalNumber)): stopping after the current step to save a checkpoint (send it again to exit now)\n".utf8))
        }
        stop.request()
    }

    static func name(_ signalNumber: Int32) -> String {
        signalNumber == SIGINT ? "SIGINT" : signalNumber == SIGTERM ? "SIGTERM" : "signal \(signalNumber)"
    }
}
