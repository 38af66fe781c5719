"""The wire between game engines and the runtime (DESIGN §7).

``bridge`` never imports ``models`` or ``runtime``: the runtime plugs in through the handler
interface this package defines. The transports (ZeroMQ data plane, gRPC control plane) and the
protocol spec land here.
"""
