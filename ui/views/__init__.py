"""The window's pages: one folder per page with several parts (chat, trials, models, compare),
one module per page or widget otherwise; widgets shared by pages stay at this level."""
