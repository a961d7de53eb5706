"""The window's pages, one module per page."""
