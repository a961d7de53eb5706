"""The chat page: the message list, the composer, the sampling panel and the empty-chat welcome."""
