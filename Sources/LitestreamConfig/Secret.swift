/// A credential read from the configuration. Printing, interpolating, `dump`-ing or mirroring it never shows the
/// value (`<redacted>`), so that a configuration struct can be logged safely; read ``value`` to use it.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var value: String

    public init(_ value: String) { self.value = value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}
