"""Tools from MCP servers (Model Context Protocol) for a chat: the servers the user added
(:mod:`.servers`), one live server (:mod:`.connection`, over :mod:`.transport`), and the
tools of the servers one chat names, with approval and events (:mod:`.toolbox`).

The official ``mcp`` SDK speaks the protocol; Workbench bounds it: every wait has a
timeout, a message read from a server has a byte bound, a server's stderr is drained and
only its tail kept, and a server never gets the model (sampling) or the user (elicitation).
"""
