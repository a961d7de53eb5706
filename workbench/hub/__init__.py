"""The Hugging Face Hub: search, files, fit before download, safe resumable downloads.

Every call goes through :class:`~workbench.hub.client.HubClient` (address, token, offline mode,
errors as one line). Nothing here runs unless the user searches or downloads.

Import the modules themselves (``workbench.hub.search``): this ``__init__`` re-exports nothing,
so reading the unfinished downloads or the reachability does not load the whole downloader.
"""
