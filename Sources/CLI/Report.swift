import ArgumentParser
import Evaluation
import Foundation

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render DIR/report.json into a self-contained DIR/report.html (inline CSS and SVG charts).")

    @Argument(help: "Folder holding report.json; metrics paths in it are relative to this folder.")
    var directory: String

    func run() throws {
        try reportingErrors {
            let page = try HTMLReport.write(folder: URL(fileURLWithPath: directory))
            print(page.path)
        }
    }
}
