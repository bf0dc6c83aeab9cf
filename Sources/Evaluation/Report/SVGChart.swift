import Foundation

/// Colours of the chart series (Tableau-like, readable on white and for most colour-blind readers).
enum ChartPalette {
    static let blue = "#4c78a8"
    static let orange = "#f58518"
    static let green = "#54a24b"
    static let red = "#e45756"
    static let purple = "#b279a2"
    static let teal = "#72b7b2"
    static let brown = "#9d755d"
    static let all = [blue, orange, green, red, purple, teal, brown]

    static func color(_ index: Int) -> String { all[index % all.count] }
}

/// One line of a `LineChart`.
struct ChartSeries {
    enum Axis { case left, right }

    var name: String
    /// Finite points only, in drawing order.
    var points: [(x: Double, y: Double)]
    var color: String
    var dashed = false
    var markers = false
    var axis = Axis.left

    init(
        name: String, points: [(x: Double, y: Double)], color: String, dashed: Bool = false, markers: Bool = false,
        axis: Axis = .left
    ) {
        self.name = name
        self.points = points.filter { $0.x.isFinite && $0.y.isFinite }
        self.color = color
        self.dashed = dashed
        self.markers = markers || self.points.count == 1
        self.axis = axis
    }
}

/// Sizes shared by the charts, in viewBox units (the SVG scales to its container).
private enum Metrics {
    static let fontSize = 12.0
    static let smallFontSize = 10.5
    /// A generous average glyph width, to keep estimated text boxes from overlapping.
    static func textWidth(_ text: String, fontSize: Double = fontSize) -> Double { Double(text.count) * fontSize * 0.6 }
    static let legendRowHeight = 18.0
    static let fontFamily = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
}

/// A legend laid out in rows above the plot.
private struct Legend {
    enum Swatch { case line(dashed: Bool, marker: Bool), box }
    struct Item {
        var name: String
        var color: String
        var swatch: Swatch
    }

    let items: [Item]
    let left: Double
    let width: Double

    private var positions: [(x: Double, row: Int)] {
        var result: [(x: Double, row: Int)] = []
        var x = 0.0, row = 0
        for item in items {
            let itemWidth = 30 + Metrics.textWidth(item.name) + 18
            if x > 0, x + itemWidth > width { x = 0; row += 1 }
            result.append((x, row))
            x += itemWidth
        }
        return result
    }

    var height: Double {
        guard let last = positions.last else { return 0 }
        return Double(last.row + 1) * Metrics.legendRowHeight
    }

    func svg(top: Double) -> String {
        var out = "<g class=\"legend\">"
        for (item, position) in zip(items, positions) {
            let x = left + position.x
            let y = top + Double(position.row) * Metrics.legendRowHeight + Metrics.legendRowHeight / 2
            switch item.swatch {
            case .line(let dashed, let marker):
                out += "<line x1=\"\(svgNumber(x))\" y1=\"\(svgNumber(y))\" x2=\"\(svgNumber(x + 24))\" y2=\"\(svgNumber(y))\" stroke=\"\(item.color)\" stroke-width=\"2.5\"\(dashed ? " stroke-dasharray=\"5 3\"" : "")/>"
                if marker {
                    out += "<circle cx=\"\(svgNumber(x + 12))\" cy=\"\(svgNumber(y))\" r=\"3.5\" fill=\"\(item.color)\" stroke=\"#fff\" stroke-width=\"1\"/>"
                }
            case .box:
                out += "<rect x=\"\(svgNumber(x + 6))\" y=\"\(svgNumber(y - 6))\" width=\"12\" height=\"12\" rx=\"2\" fill=\"\(item.color)\"/>"
            }
            out += "<text x=\"\(svgNumber(x + 30))\" y=\"\(svgNumber(y))\" dominant-baseline=\"central\">\(item.name.htmlEscaped)</text>"
        }
        return out + "</g>"
    }
}

private func svgOpen(width: Double, height: Double, title: String) -> String {
    "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 \(svgNumber(width)) \(svgNumber(height))\" "
        + "role=\"img\" font-family=\"\(Metrics.fontFamily)\" font-size=\"\(svgNumber(Metrics.fontSize))\" fill=\"#333\">"
        + "<title>\(title.htmlEscaped)</title>"
}

/// A line chart over a numeric x axis, with an optional second y axis on the right.
struct LineChart {
    var title: String
    var xLabel: String
    var yLabel: String
    var rightLabel: String?
    var series: [ChartSeries]
    /// Values each y axis must cover besides the data (e.g. 0...1 for accuracies).
    var leftIncludes: [Double] = []
    var rightIncludes: [Double] = []
    var integerX = true
    /// Room left of the first and right of the last x tick, in x units (keeps markers off the axes).
    var xPadding = 0.0
    var width = 540.0
    var height = 320.0

    func svg() -> String {
        let drawn = series.filter { !$0.points.isEmpty }
        let left = drawn.filter { $0.axis == .left }, right = drawn.filter { $0.axis == .right }
        let xScale = NiceScale(drawn.flatMap { $0.points.map(\.x) }, targetTicks: 6, integerSteps: integerX)
        let yScale = NiceScale(left.flatMap { $0.points.map(\.y) }, including: leftIncludes)
        let hasRight = rightLabel != nil && !right.isEmpty
        let rightScale = NiceScale(right.flatMap { $0.points.map(\.y) }, including: rightIncludes)

        let leftTickWidth = yScale.ticks.map { Metrics.textWidth(yScale.label($0)) }.max() ?? 0
        let rightTickWidth = hasRight ? rightScale.ticks.map { Metrics.textWidth(rightScale.label($0)) }.max() ?? 0 : 0
        let plotLeft = 26 + leftTickWidth + 10
        let plotRight = width - (hasRight ? 26 + rightTickWidth + 10 : 24)
        let legend = Legend(
            items: drawn.map { .init(name: $0.name, color: $0.color, swatch: .line(dashed: $0.dashed, marker: $0.markers)) },
            left: plotLeft, width: plotRight - plotLeft)
        let plotTop = 12 + legend.height + 10
        let plotBottom = height - 46
        let plotWidth = plotRight - plotLeft, plotHeight = plotBottom - plotTop

        let xSpan = xScale.upper - xScale.lower + 2 * xPadding
        func x(_ value: Double) -> Double { plotLeft + (value - xScale.lower + xPadding) / xSpan * plotWidth }
        func y(_ value: Double, _ scale: NiceScale) -> Double { plotBottom - scale.fraction(value) * plotHeight }

        var out = svgOpen(width: width, height: height, title: title)
        out += legend.svg(top: 12)
        // Gridlines and tick labels.
        out += "<g class=\"grid\" stroke=\"#e3e3e3\" stroke-width=\"1\">"
        for tick in yScale.ticks {
            out += "<line x1=\"\(svgNumber(plotLeft))\" y1=\"\(svgNumber(y(tick, yScale)))\" x2=\"\(svgNumber(plotRight))\" y2=\"\(svgNumber(y(tick, yScale)))\"/>"
        }
        for tick in xScale.ticks {
            out += "<line x1=\"\(svgNumber(x(tick)))\" y1=\"\(svgNumber(plotTop))\" x2=\"\(svgNumber(x(tick)))\" y2=\"\(svgNumber(plotBottom))\"/>"
        }
        out += "</g>"
        out += "<g class=\"ticks\" fill=\"#555\">"
        for tick in yScale.ticks {
            out += "<text x=\"\(svgNumber(plotLeft - 6))\" y=\"\(svgNumber(y(tick, yScale)))\" text-anchor=\"end\" dominant-baseline=\"central\">\(yScale.label(tick))</text>"
        }
        if hasRight {
            for tick in rightScale.ticks {
                let position = y(tick, rightScale)
                out += "<line x1=\"\(svgNumber(plotRight))\" y1=\"\(svgNumber(position))\" x2=\"\(svgNumber(plotRight + 4))\" y2=\"\(svgNumber(position))\" stroke=\"#999\"/>"
                out += "<text x=\"\(svgNumber(plotRight + 7))\" y=\"\(svgNumber(position))\" dominant-baseline=\"central\">\(rightScale.label(tick))</text>"
            }
        }
        for tick in xScale.ticks {
            out += "<text x=\"\(svgNumber(x(tick)))\" y=\"\(svgNumber(plotBottom + 16))\" text-anchor=\"middle\">\(xScale.label(tick))</text>"
        }
        out += "</g>"
        // Axes and their titles.
        out += "<g stroke=\"#999\" stroke-width=\"1\">"
        out += "<line x1=\"\(svgNumber(plotLeft))\" y1=\"\(svgNumber(plotBottom))\" x2=\"\(svgNumber(plotRight))\" y2=\"\(svgNumber(plotBottom))\"/>"
        out += "<line x1=\"\(svgNumber(plotLeft))\" y1=\"\(svgNumber(plotTop))\" x2=\"\(svgNumber(plotLeft))\" y2=\"\(svgNumber(plotBottom))\"/>"
        if hasRight {
            out += "<line x1=\"\(svgNumber(plotRight))\" y1=\"\(svgNumber(plotTop))\" x2=\"\(svgNumber(plotRight))\" y2=\"\(svgNumber(plotBottom))\"/>"
        }
        out += "</g>"
        let middleY = svgNumber((plotTop + plotBottom) / 2)
        out += "<text x=\"\(svgNumber((plotLeft + plotRight) / 2))\" y=\"\(svgNumber(height - 8))\" text-anchor=\"middle\" fill=\"#444\">\(xLabel.htmlEscaped)</text>"
        out += "<text transform=\"translate(14 \(middleY)) rotate(-90)\" text-anchor=\"middle\" dominant-baseline=\"central\" fill=\"\(hasRight ? left.first?.color ?? "#444" : "#444")\">\(yLabel.htmlEscaped)</text>"
        if hasRight, let rightLabel {
            out += "<text transform=\"translate(\(svgNumber(width - 12)) \(middleY)) rotate(90)\" text-anchor=\"middle\" dominant-baseline=\"central\" fill=\"\(right.first?.color ?? "#444")\">\(rightLabel.htmlEscaped)</text>"
        }
        // The series, left axis last so it is drawn on top.
        for series in right + left {
            let scale = series.axis == .right && hasRight ? rightScale : yScale
            let coordinates = series.points.map { "\(svgNumber(x($0.x))),\(svgNumber(y($0.y, scale)))" }
            if coordinates.count > 1 {
                out += "<polyline points=\"\(coordinates.joined(separator: " "))\" fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"2\" stroke-linejoin=\"round\" stroke-linecap=\"round\"\(series.dashed ? " stroke-dasharray=\"6 4\"" : "")/>"
            }
            if series.markers {
                for point in series.points {
                    out += "<circle cx=\"\(svgNumber(x(point.x)))\" cy=\"\(svgNumber(y(point.y, scale)))\" r=\"3.5\" fill=\"\(series.color)\" stroke=\"#fff\" stroke-width=\"1\"/>"
                }
            }
        }
        return out + "</svg>"
    }
}

/// Bars grouped by category (x), one bar per group member, with the value above each bar.
struct GroupedBarChart {
    var title: String
    var yLabel: String
    var categories: [String]
    /// One entry per bar colour; `values` follow `categories` (non-finite values draw no bar).
    var groups: [(name: String, values: [Double])]
    var width = 1000.0
    var height = 380.0

    func svg() -> String {
        let values = groups.flatMap(\.values)
        let yScale = NiceScale(values, including: [0])
        let tickWidth = yScale.ticks.map { Metrics.textWidth(yScale.label($0)) }.max() ?? 0
        let plotLeft = 26 + tickWidth + 10
        let plotRight = width - 16
        let legend = Legend(
            items: groups.enumerated().map { .init(name: $0.element.name, color: ChartPalette.color($0.offset), swatch: .box) },
            left: plotLeft, width: plotRight - plotLeft)
        let slot = (plotRight - plotLeft) / Double(max(categories.count, 1))
        let labelLines = categories.map { wrap($0.replacingOccurrences(of: "_", with: " "), width: slot - 6) }
        let lineCount = Double(labelLines.map(\.count).max() ?? 1)
        let plotTop = 12 + legend.height + 16
        let plotBottom = height - 14 - lineCount * 14
        let plotHeight = plotBottom - plotTop
        let barWidth = slot * 0.8 / Double(max(groups.count, 1))
        let showValues = barWidth >= Metrics.textWidth("0.00", fontSize: Metrics.smallFontSize) + 2

        func y(_ value: Double) -> Double { plotBottom - yScale.fraction(value) * plotHeight }

        var out = svgOpen(width: width, height: height, title: title)
        out += legend.svg(top: 12)
        out += "<g class=\"grid\" stroke=\"#e3e3e3\" stroke-width=\"1\">"
        for tick in yScale.ticks {
            out += "<line x1=\"\(svgNumber(plotLeft))\" y1=\"\(svgNumber(y(tick)))\" x2=\"\(svgNumber(plotRight))\" y2=\"\(svgNumber(y(tick)))\"/>"
        }
        out += "</g><g class=\"ticks\" fill=\"#555\">"
        for tick in yScale.ticks {
            out += "<text x=\"\(svgNumber(plotLeft - 6))\" y=\"\(svgNumber(y(tick)))\" text-anchor=\"end\" dominant-baseline=\"central\">\(yScale.label(tick))</text>"
        }
        for (index, lines) in labelLines.enumerated() {
            let centre = plotLeft + (Double(index) + 0.5) * slot
            out += "<text x=\"\(svgNumber(centre))\" y=\"\(svgNumber(plotBottom + 16))\" text-anchor=\"middle\">"
            for (lineIndex, line) in lines.enumerated() {
                out += "<tspan x=\"\(svgNumber(centre))\" dy=\"\(lineIndex == 0 ? "0" : "14")\">\(line.htmlEscaped)</tspan>"
            }
            out += "</text>"
        }
        out += "</g>"
        let zero = y(max(yScale.lower, min(0, yScale.upper)))
        for (groupIndex, group) in groups.enumerated() {
            let color = ChartPalette.color(groupIndex)
            out += "<g fill=\"\(color)\">"
            for (index, value) in group.values.prefix(categories.count).enumerated() where value.isFinite {
                let left = plotLeft + Double(index) * slot + slot * 0.1 + Double(groupIndex) * barWidth
                let top = min(y(value), zero), bottom = max(y(value), zero)
                out += "<rect x=\"\(svgNumber(left + 1))\" y=\"\(svgNumber(top))\" width=\"\(svgNumber(max(barWidth - 2, 1)))\" height=\"\(svgNumber(bottom - top))\" rx=\"1.5\"><title>\("\(group.name), \(categories[index]): \(String(format: "%.2f", value))".htmlEscaped)</title></rect>"
                if showValues {
                    out += "<text x=\"\(svgNumber(left + barWidth / 2))\" y=\"\(svgNumber(top - 4))\" text-anchor=\"middle\" font-size=\"\(svgNumber(Metrics.smallFontSize))\" fill=\"#444\">\(String(format: "%.2f", value))</text>"
                }
            }
            out += "</g>"
        }
        out += "<line x1=\"\(svgNumber(plotLeft))\" y1=\"\(svgNumber(zero))\" x2=\"\(svgNumber(plotRight))\" y2=\"\(svgNumber(zero))\" stroke=\"#999\"/>"
        out += "<text transform=\"translate(14 \(svgNumber((plotTop + plotBottom) / 2))) rotate(-90)\" text-anchor=\"middle\" dominant-baseline=\"central\" fill=\"#444\">\(yLabel.htmlEscaped)</text>"
        return out + "</svg>"
    }

    /// Words packed greedily into lines that fit `width`.
    private func wrap(_ text: String, width: Double) -> [String] {
        var lines: [String] = []
        var current = ""
        for word in text.split(separator: " ") {
            let candidate = current.isEmpty ? String(word) : current + " " + word
            if !current.isEmpty, Metrics.textWidth(candidate) > width {
                lines.append(current)
                current = String(word)
            } else {
                current = candidate
            }
        }
        if !current.isEmpty { lines.append(current) }
        return lines.isEmpty ? [""] : lines
    }
}
