import Foundation

/// A one-line progress display on standard error, redrawn in place — only when standard error is
/// a terminal and the user did not ask for quiet, so piped and scripted runs stay clean.
///
/// Redraws are throttled to five per second: a training loop may call `update` thousands of times
/// a second, and a terminal write per step would cost more than the step.
final class ProgressLine {
    private let enabled: Bool
    private var lastDraw = ContinuousClock.now - .seconds(1)
    private var drawn = false

    init(quiet: Bool) {
        enabled = !quiet && isatty(STDERR_FILENO) == 1
    }

    /// Shows `text` (with a bar when `fraction` is known), unless the last redraw was under 0.2 s ago.
    func update(_ text: String, fraction: Double? = nil) {
        guard enabled, ContinuousClock.now - lastDraw >= .milliseconds(200) else { return }
        lastDraw = .now
        var line = text
        if let fraction {
            let width = 24, filled = Int((min(max(fraction, 0), 1) * Double(width)).rounded(.down))
            line = "▕" + String(repeating: "█", count: filled) + String(repeating: " ", count: width - filled) + "▏ " + text
        }
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line).utf8))
        drawn = true
    }

    /// Clears the line so the results print on a clean terminal.
    func finish() {
        guard enabled, drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
        drawn = false
    }
}
