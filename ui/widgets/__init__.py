"""Reusable widgets: messages, Markdown with copyable code blocks."""
